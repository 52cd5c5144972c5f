//! The CSI Node service: stage (schedule the engine's fuse on the node), publish (bind the fuse
//! mount into the pod), unpublish, unstage (release the fuse when the policy says so).

use crate::attributes::{
    self, CleanPolicy, PublishMethod, PublishSource, Readiness, VolumeContext,
};
use crate::cleanup::{self, Decision};
use crate::cluster::{Cluster, EventType, Volume};
use crate::csi::node_server::Node;
use crate::csi::node_service_capability::{rpc, Rpc, Type as CapabilityType};
use crate::csi::volume_capability::access_mode::Mode;
use crate::csi::volume_capability::AccessType;
use crate::csi::*;
use crate::error::Error;
use crate::locks::{Guard, Locks};
use crate::mountinfo::MountTable;
use crate::mounts::{self, Liveness};
use crate::state::{Publication, State};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

/// Settings of the Node service.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This node's name (the CSI node id).
    pub node_id: String,
    /// The kubelet's root directory (`/var/lib/kubelet`).
    pub kubelet_dir: PathBuf,
    /// How long publish waits for the engine's fuse to mount the volume.
    pub mount_wait: Duration,
    /// How often publish looks while it waits.
    pub mount_poll: Duration,
    /// How long a `stat` of a fuse path may take.
    pub probe_timeout: Duration,
    /// The most unmounts unpublish makes at one target.
    pub max_unmounts: usize,
}

/// The Node service.
pub struct NodeService {
    settings: Settings,
    cluster: Arc<Cluster>,
    state: Arc<State>,
    locks: Locks,
}

fn require(value: &str, name: &'static str) -> Result<(), Error> {
    if value.is_empty() {
        Err(Error::Missing(name))
    } else {
        Ok(())
    }
}

/// A Fluid volume is a file system: the capability must be present and ask for a mount.
fn check_capability(cap: Option<&VolumeCapability>) -> Result<&VolumeCapability, Error> {
    let cap = cap.ok_or(Error::Missing("volume_capability"))?;
    match cap.access_type {
        Some(AccessType::Block(_)) => Err(Error::Unsupported(
            "block access is not supported: a Fluid volume is a file system".into(),
        )),
        _ => Ok(cap),
    }
}

/// Read-only for reader-only access modes (as Fluid), and when the pod asks (`readOnly`).
pub fn read_only(cap: &VolumeCapability, readonly_flag: bool) -> bool {
    let mode = cap.access_mode.as_ref().map(|m| m.mode());
    readonly_flag
        || matches!(
            mode,
            Some(Mode::MultiNodeReaderOnly | Mode::SingleNodeReaderOnly)
        )
}

/// Whether the fuse of a volume is mounted at its path, from the mount table alone.
pub fn fuse_mounted(table: &MountTable, fluid_path: &Path, mount_type: &str) -> Result<(), String> {
    match table.top(fluid_path) {
        None => Err("not a mount point yet".into()),
        Some(m) if !m.has_type(mount_type) => Err(format!(
            "mounted as {} {}, which is not of mount_type {mount_type}",
            m.fs_type, m.source
        )),
        Some(_) => Ok(()),
    }
}

impl NodeService {
    /// A Node service.
    pub fn new(settings: Settings, cluster: Arc<Cluster>, state: Arc<State>, locks: Locks) -> Self {
        Self {
            settings,
            cluster,
            state,
            locks,
        }
    }

    fn lock(&self, key: String) -> Result<Guard, Error> {
        self.locks.try_lock(key.clone()).ok_or(Error::Busy(key))
    }

    async fn stage(&self, r: NodeStageVolumeRequest) -> Result<(), Error> {
        require(&r.volume_id, "volume_id")?;
        require(&r.staging_target_path, "staging_target_path")?;
        check_capability(r.volume_capability.as_ref())?;
        let key = attributes::node_selector_key(&r.volume_context)?;
        let policy = CleanPolicy::of(&r.volume_context)?;
        let id = &r.volume_id;
        let _guard = self.lock(Locks::volume(id))?;

        // A dead FUSE left at the fuse path would stop the engine's fuse from mounting again.
        if let Some(fluid_path) = r.volume_context.get(attributes::FLUID_PATH) {
            self.clear_dead_fuse(Path::new(fluid_path)).await;
        }
        if policy == CleanPolicy::OnFuseChanged && self.state.stage_generation(id).is_none() {
            if let Some(vol) = self.cluster.volume(id).await? {
                if let Some(generation) = self.fuse_generation(&vol).await? {
                    self.state.set_stage_generation(id, &generation)?;
                }
            }
        }
        self.cluster.set_node_label(&key, true).await?;
        tracing::info!(volume = %id, label = %key, node = %self.settings.node_id, "staged: the node is labelled for the volume's fuse");
        Ok(())
    }

    /// Detaches dead FUSE mounts at `path` until what is visible there answers (a fuse that
    /// died more than once may have left several).
    async fn clear_dead_fuse(&self, path: &Path) {
        for _ in 0..self.settings.max_unmounts {
            if !matches!(
                mounts::probe(path, self.settings.probe_timeout).await,
                Liveness::Disconnected
            ) {
                return;
            }
            match mounts::detach(path) {
                Ok(()) => tracing::info!(path = %path.display(), "detached a dead fuse mount"),
                Err(e) => {
                    tracing::warn!(error = %e, "detaching a dead fuse mount");
                    return;
                }
            }
        }
    }

    async fn fuse_generation(&self, vol: &Volume) -> Result<Option<String>, Error> {
        if vol.fuse_generation.is_some() {
            return Ok(vol.fuse_generation.clone());
        }
        match &vol.claim {
            Some((ns, name)) => Ok(self.cluster.claim_fuse_generation(ns, name).await?),
            None => Ok(None),
        }
    }

    async fn publish(&self, r: NodePublishVolumeRequest) -> Result<(), Error> {
        require(&r.volume_id, "volume_id")?;
        require(&r.target_path, "target_path")?;
        let cap = check_capability(r.volume_capability.as_ref())?;
        let source = PublishSource::from_context(&r.volume_context)?;
        let read_only = read_only(cap, r.readonly);
        let target = PathBuf::from(&r.target_path);
        let _guard = self.lock(Locks::target(&target))?;
        let publication = Publication {
            volume_id: r.volume_id.clone(),
            target: target.clone(),
            fluid_path: source.fluid_path.clone(),
            sub_path: source.sub_path.clone(),
            mount_type: source.mount_type().map(str::to_owned),
            read_only,
            dataset: attributes::dataset(&r.volume_context),
        };

        let is_link = std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink());
        if is_link || MountTable::read()?.is_mount_point(&target) {
            tracing::info!(target = %target.display(), "already published");
            if source.method == PublishMethod::Bind && self.state.publication(&target).is_none() {
                self.state.put_publication(publication)?;
            }
            return Ok(());
        }
        self.wait_ready(&source).await?;
        let from = source.source();
        match source.method {
            PublishMethod::Bind => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o750)
                    .create(&target)
                    .map_err(Error::io("creating the target directory", &target))?;
                mounts::bind(&from, &target, read_only)?;
                self.state.put_publication(publication)?;
            }
            PublishMethod::Symlink => {
                match std::fs::remove_dir(&target) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::io(
                            "removing the target directory for a symlink",
                            &target,
                        )(e))
                    }
                    _ => {}
                }
                std::os::unix::fs::symlink(&from, &target)
                    .map_err(Error::io("creating the target symlink", &target))?;
            }
        }
        tracing::info!(target = %target.display(), from = %from.display(), read_only, "published");
        Ok(())
    }

    /// Waits until the volume's fuse serves `fluid_path` (and the sub path exists).
    async fn wait_ready(&self, source: &PublishSource) -> Result<(), Error> {
        let start = Instant::now();
        loop {
            let why = match self.ready(source).await {
                Ok(()) => return Ok(()),
                Err(why) => why,
            };
            if start.elapsed() >= self.settings.mount_wait {
                return Err(match why {
                    NotReady::SubPathMissing => Error::SubPathMissing(source.source()),
                    NotReady::Fuse(why) => Error::FuseNotReady {
                        path: source.fluid_path.clone(),
                        waited_secs: start.elapsed().as_secs(),
                        why,
                    },
                });
            }
            tokio::time::sleep(self.settings.mount_poll).await;
        }
    }

    async fn ready(&self, source: &PublishSource) -> Result<(), NotReady> {
        let timeout = self.settings.probe_timeout;
        if let Readiness::FuseMounted { mount_type } = &source.readiness {
            let table = MountTable::read().map_err(|e| NotReady::Fuse(e.to_string()))?;
            fuse_mounted(&table, &source.fluid_path, mount_type).map_err(NotReady::Fuse)?;
            match mounts::probe(&source.fluid_path, timeout).await {
                Liveness::Live => {}
                other => {
                    return Err(NotReady::Fuse(format!(
                        "mounted, but stat answers {other:?}"
                    )))
                }
            }
        }
        match mounts::probe(&source.source(), timeout).await {
            Liveness::Live => Ok(()),
            Liveness::Missing if source.sub_path.is_some() => Err(NotReady::SubPathMissing),
            other => Err(NotReady::Fuse(format!("stat answers {other:?}"))),
        }
    }

    async fn unpublish(&self, r: NodeUnpublishVolumeRequest) -> Result<(), Error> {
        require(&r.volume_id, "volume_id")?;
        require(&r.target_path, "target_path")?;
        let target = PathBuf::from(&r.target_path);
        let _guard = self.lock(Locks::target(&target))?;
        match std::fs::symlink_metadata(&target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOTCONN as i32) => {
                self.unmount_and_remove(&target)?;
            }
            Err(e) => return Err(Error::io("looking at the target", &target)(e)),
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::remove_file(&target)
                    .map_err(Error::io("removing the target symlink", &target))?;
            }
            Ok(_) => self.unmount_and_remove(&target)?,
        }
        self.state.remove_publication(&target)?;
        tracing::info!(target = %target.display(), volume = %r.volume_id, "unpublished");
        Ok(())
    }

    fn unmount_and_remove(&self, target: &Path) -> Result<(), Error> {
        let count = mounts::unmount_all(target, self.settings.max_unmounts)?;
        if count > 1 {
            tracing::info!(target = %target.display(), count, "unmounted stacked binds");
        }
        match std::fs::remove_dir(target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("removing the target directory", target)(e))
            }
            _ => Ok(()),
        }
    }

    async fn unstage(&self, r: NodeUnstageVolumeRequest) -> Result<(), Error> {
        require(&r.volume_id, "volume_id")?;
        require(&r.staging_target_path, "staging_target_path")?;
        let id = &r.volume_id;
        let _guard = self.lock(Locks::volume(id))?;
        let Some(vol) = self.cluster.volume(id).await? else {
            tracing::info!(volume = %id, "unstaged: the PV is gone, nothing to release");
            self.state.remove_stage_generation(id)?;
            return Ok(());
        };
        let ctx: VolumeContext = vol.attributes.clone().into_iter().collect();
        let policy = match CleanPolicy::of(&ctx) {
            Ok(p) => p,
            Err(e) => {
                // Stage refuses such a PV; one that got here keeps its fuse rather than
                // failing unstage for ever.
                tracing::warn!(volume = %id, error = %e, "unstaged without releasing the fuse");
                if let Some(ds) = attributes::dataset(&ctx) {
                    self.cluster
                        .dataset_event(
                            &ds,
                            EventType::Warning,
                            ("NodeUnstageVolume", "FuseNotReleased"),
                            e.to_string(),
                        )
                        .await;
                }
                return Ok(());
            }
        };
        let generation = match policy {
            CleanPolicy::OnFuseChanged => self.fuse_generation(&vol).await?,
            _ => None,
        };
        let staged = self.state.stage_generation(id);
        match cleanup::decide(policy, generation.as_deref(), staged.as_deref()) {
            Decision::Keep(reason) => {
                tracing::info!(volume = %id, %reason, "unstaged; the node keeps the fuse");
            }
            Decision::Release => {
                let published: Vec<PathBuf> = self
                    .state
                    .publications()
                    .into_iter()
                    .filter(|p| &p.volume_id == id)
                    .map(|p| p.target)
                    .collect();
                let table = MountTable::read()?;
                let left =
                    cleanup::remaining_binds(&table, &self.settings.kubelet_dir, id, &published);
                if !left.is_empty() {
                    return Err(Error::InUse {
                        volume: id.clone(),
                        targets: left
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                let key = attributes::node_selector_key(&ctx)?;
                self.cluster.set_node_label(&key, false).await?;
                self.state.remove_stage_generation(id)?;
                tracing::info!(volume = %id, label = %key, "unstaged: the node label is removed, the fuse goes");
            }
        }
        Ok(())
    }
}

/// Why the fuse is not ready for a publish yet.
enum NotReady {
    Fuse(String),
    SubPathMissing,
}

// `Status` is the error type of tonic's service traits.
#[allow(clippy::result_large_err)]
fn answer<T>(call: &'static str, result: Result<(), Error>, ok: T) -> Result<Response<T>, Status> {
    match result {
        Ok(()) => Ok(Response::new(ok)),
        Err(e) => {
            tracing::warn!(call, code = ?e.code(), error = %e, "refused");
            Err(e.into())
        }
    }
}

#[tonic::async_trait]
impl Node for NodeService {
    async fn node_stage_volume(
        &self,
        request: Request<NodeStageVolumeRequest>,
    ) -> Result<Response<NodeStageVolumeResponse>, Status> {
        let r = self.stage(request.into_inner()).await;
        answer("NodeStageVolume", r, NodeStageVolumeResponse {})
    }

    async fn node_unstage_volume(
        &self,
        request: Request<NodeUnstageVolumeRequest>,
    ) -> Result<Response<NodeUnstageVolumeResponse>, Status> {
        let r = self.unstage(request.into_inner()).await;
        answer("NodeUnstageVolume", r, NodeUnstageVolumeResponse {})
    }

    async fn node_publish_volume(
        &self,
        request: Request<NodePublishVolumeRequest>,
    ) -> Result<Response<NodePublishVolumeResponse>, Status> {
        let r = self.publish(request.into_inner()).await;
        answer("NodePublishVolume", r, NodePublishVolumeResponse {})
    }

    async fn node_unpublish_volume(
        &self,
        request: Request<NodeUnpublishVolumeRequest>,
    ) -> Result<Response<NodeUnpublishVolumeResponse>, Status> {
        let r = self.unpublish(request.into_inner()).await;
        answer("NodeUnpublishVolume", r, NodeUnpublishVolumeResponse {})
    }

    async fn node_get_volume_stats(
        &self,
        _request: Request<NodeGetVolumeStatsRequest>,
    ) -> Result<Response<NodeGetVolumeStatsResponse>, Status> {
        Err(Status::unimplemented(
            "NodeGetVolumeStats is not offered (no GET_VOLUME_STATS capability)",
        ))
    }

    async fn node_expand_volume(
        &self,
        _request: Request<NodeExpandVolumeRequest>,
    ) -> Result<Response<NodeExpandVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "NodeExpandVolume is not offered (no EXPAND_VOLUME capability)",
        ))
    }

    async fn node_get_capabilities(
        &self,
        _request: Request<NodeGetCapabilitiesRequest>,
    ) -> Result<Response<NodeGetCapabilitiesResponse>, Status> {
        Ok(Response::new(NodeGetCapabilitiesResponse {
            capabilities: vec![NodeServiceCapability {
                r#type: Some(CapabilityType::Rpc(Rpc {
                    r#type: rpc::Type::StageUnstageVolume as i32,
                })),
            }],
        }))
    }

    async fn node_get_info(
        &self,
        _request: Request<NodeGetInfoRequest>,
    ) -> Result<Response<NodeGetInfoResponse>, Status> {
        Ok(Response::new(NodeGetInfoResponse {
            node_id: self.settings.node_id.clone(),
            max_volumes_per_node: 0,
            accessible_topology: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csi::volume_capability::{AccessMode, BlockVolume, MountVolume};

    fn cap(mode: Mode) -> VolumeCapability {
        VolumeCapability {
            access_mode: Some(AccessMode { mode: mode as i32 }),
            access_type: Some(AccessType::Mount(MountVolume::default())),
        }
    }

    #[test]
    fn reader_only_modes_and_the_readonly_flag_bind_read_only() {
        assert!(read_only(&cap(Mode::MultiNodeReaderOnly), false));
        assert!(read_only(&cap(Mode::SingleNodeReaderOnly), false));
        assert!(!read_only(&cap(Mode::MultiNodeMultiWriter), false));
        assert!(read_only(&cap(Mode::MultiNodeMultiWriter), true));
    }

    #[test]
    fn block_access_and_missing_capabilities_are_refused() {
        assert!(matches!(
            check_capability(None),
            Err(Error::Missing("volume_capability"))
        ));
        let block = VolumeCapability {
            access_mode: None,
            access_type: Some(AccessType::Block(BlockVolume {})),
        };
        assert!(matches!(
            check_capability(Some(&block)),
            Err(Error::Unsupported(_))
        ));
        assert!(check_capability(Some(&cap(Mode::MultiNodeReaderOnly))).is_ok());
    }

    #[test]
    fn the_fuse_must_be_mounted_with_its_type() {
        let table = MountTable::parse(
            "27 1 254:0 / / rw - ext4 /dev/vda rw\n\
             40 27 0:39 / /runtime-mnt/juicefs/ns/a/juicefs-fuse rw - fuse.juicefs JuiceFS:a rw\n",
        )
        .unwrap();
        let path = Path::new("/runtime-mnt/juicefs/ns/a/juicefs-fuse");
        assert!(fuse_mounted(&table, path, "JuiceFS").is_ok());
        assert!(fuse_mounted(&table, path, "fuse.alluxio-fuse")
            .unwrap_err()
            .contains("not of mount_type"));
        assert!(
            fuse_mounted(&table, Path::new("/runtime-mnt/other"), "JuiceFS")
                .unwrap_err()
                .contains("not a mount point")
        );
    }
}
