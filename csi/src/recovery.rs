//! Fuse recovery: when an engine's fuse process dies, every bind mount of it (the pods'
//! volumes) keeps pointing at the dead FUSE connection ("Transport endpoint is not connected")
//! even after the fuse pod mounts the volume again. This loop finds those binds and binds the
//! new fuse mount over them, so running pods read again without being restarted.
//!
//! A bind is broken when the visible mount at its target is not on the file system now mounted
//! at `fluid_path`: each FUSE mount has its own device number, shared by its binds. That also
//! covers the kubelet's `volume-subpaths` binds (a container's `subPath`) made from a target:
//! they carry a device number seen in the target's stack that is no longer the live one.
//! Each repair mounts on top (unmounting the dead bind underneath would also take it out of the
//! running containers that received it); the stack is bounded by unmounting the dead ones on
//! top of the first when it reaches `max_stacked`, as Fluid does.

use crate::attributes::DatasetRef;
use crate::cluster::{Cluster, EventType};
use crate::kubelet;
use crate::locks::Locks;
use crate::mountinfo::MountTable;
use crate::mounts::{self, Liveness};
use crate::state::{Publication, State};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Event reason of a repaired bind (Fluid's).
pub const RECOVER_SUCCEED: &str = "FuseRecoverSucceed";
/// Event reason of a failed repair (Fluid's).
pub const RECOVER_FAILED: &str = "FuseRecoverFailed";
/// Event reason of unmounting stacked binds (Fluid's).
pub const UNMOUNT_DUPLICATE: &str = "UnmountDuplicateMountpoint";

/// One broken bind and how to repair it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// The broken bind's mount point.
    pub target: PathBuf,
    /// What to bind there now.
    pub from: PathBuf,
    /// Bind read-only.
    pub read_only: bool,
    /// Mounts stacked at the target now.
    pub stacked: usize,
    /// Mounts to take off the top first, to keep the stack bounded.
    pub unmount_first: usize,
    /// Where to report.
    pub dataset: Option<DatasetRef>,
}

/// The repairs the mount table calls for. `live` holds the fluid paths whose fuse answered.
pub fn plan(
    publications: &[Publication],
    table: &MountTable,
    live: &HashSet<PathBuf>,
    kubelet_dir: &Path,
    max_stacked: usize,
) -> Vec<Repair> {
    let mut repairs: Vec<Repair> = vec![];
    let mut planned = HashSet::new();
    let subpath_binds = subpath_mount_points(table, kubelet_dir);
    for p in publications {
        let Some(fuse) = table.top(&p.fluid_path) else {
            continue;
        };
        if p.mount_type.as_deref().is_some_and(|t| !fuse.has_type(t))
            || !live.contains(&p.fluid_path)
        {
            continue; // the fuse is not back yet: nothing to bind to
        }
        let stack = table.stack(&p.target);
        let Some(top) = stack.last() else {
            continue; // not mounted: unpublished, or not published yet
        };
        let stale: HashSet<&str> = stack
            .iter()
            .map(|m| m.dev.as_str())
            .filter(|d| *d != fuse.dev)
            .collect();
        let mut add = |target: &Path, from: PathBuf, read_only: bool, stacked: usize| {
            if planned.insert(target.to_owned()) {
                repairs.push(Repair {
                    target: target.to_owned(),
                    from,
                    read_only,
                    stacked,
                    unmount_first: if stacked >= max_stacked {
                        stacked - 1
                    } else {
                        0
                    },
                    dataset: p.dataset.clone(),
                });
            }
        };
        if top.dev != fuse.dev {
            add(&p.target, p.source(), p.read_only, stack.len());
        }
        for point in &subpath_binds {
            let sub_stack = table.stack(point);
            let Some(sub_top) = sub_stack.last() else {
                continue;
            };
            if !stale.contains(sub_top.dev.as_str()) {
                continue;
            }
            // The bind shows `root` of the dead file system: the same directory of the new one.
            let Ok(rel) = Path::new(&sub_top.root).strip_prefix(&fuse.root) else {
                continue;
            };
            add(
                point,
                p.fluid_path.join(rel),
                sub_top.read_only(),
                sub_stack.len(),
            );
        }
    }
    repairs
}

/// The kubelet's subPath binds: `<kubelet>/pods/<pod>/volume-subpaths/<volume>/<container>/<n>`.
fn subpath_mount_points(table: &MountTable, kubelet_dir: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = table
        .mounts()
        .iter()
        .map(|m| PathBuf::from(&m.mount_point))
        .filter(|p| kubelet::is_subpath_bind(kubelet_dir, p))
        .collect();
    points.sort();
    points.dedup();
    points
}

/// The loop's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The kubelet's root directory.
    pub kubelet_dir: PathBuf,
    /// The bound on binds stacked at one target.
    pub max_stacked: usize,
    /// How long a `stat` of a fuse path may take.
    pub probe_timeout: Duration,
}

/// The recovery loop.
pub struct Recovery {
    /// Settings.
    pub settings: Settings,
    /// Remembered publications.
    pub state: Arc<State>,
    /// Shared with publish/unpublish.
    pub locks: Locks,
    /// For Events on the Dataset.
    pub cluster: Arc<Cluster>,
}

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Binds repaired.
    pub repaired: usize,
    /// Repairs that failed.
    pub failed: usize,
    /// Stacked mounts removed.
    pub unmounted: usize,
}

impl Recovery {
    /// Runs a pass every `period` until `stop` resolves.
    pub async fn run(self, period: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {
                    let report = self.pass().await;
                    if report != PassReport::default() {
                        tracing::info!(?report, "fuse recovery pass");
                    }
                }
            }
        }
    }

    /// One look at the mount table, and the repairs it calls for.
    pub async fn pass(&self) -> PassReport {
        let mut report = PassReport::default();
        let table = match MountTable::read() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "fuse recovery cannot read the mount table");
                return report;
            }
        };
        let publications = self.state.publications();
        let mut live = HashSet::new();
        let fuse_paths: HashSet<&PathBuf> = publications.iter().map(|p| &p.fluid_path).collect();
        for path in fuse_paths {
            if table.is_mount_point(path)
                && matches!(
                    mounts::probe(path, self.settings.probe_timeout).await,
                    Liveness::Live
                )
            {
                live.insert(path.clone());
            }
        }
        let repairs = plan(
            &publications,
            &table,
            &live,
            &self.settings.kubelet_dir,
            self.settings.max_stacked,
        );
        for repair in repairs {
            self.repair(&repair, &mut report).await;
        }
        report
    }

    async fn repair(&self, r: &Repair, report: &mut PassReport) {
        // Publish and unpublish of the same target go first; the next pass sees their result.
        let Some(_guard) = self.locks.try_lock(Locks::target(&r.target)) else {
            return;
        };
        match MountTable::read() {
            Ok(t) if t.is_mount_point(&r.target) => {}
            _ => return, // unpublished meanwhile
        }
        let target = r.target.display();
        if r.unmount_first > 0 {
            tracing::warn!(%target, stacked = r.stacked, "unmounting stacked binds of a dead fuse");
            self.event(
                r,
                EventType::Warning,
                UNMOUNT_DUPLICATE,
                format!(
                "{target} has {} mounts stacked; unmounting {} dead ones above the first to keep \
                 the mount table small",
                r.stacked, r.unmount_first
            ),
            )
            .await;
            for _ in 0..r.unmount_first {
                match mounts::unmount(&r.target) {
                    Ok(()) => report.unmounted += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "unmounting a stacked bind");
                        break;
                    }
                }
            }
        }
        let from = r.from.display();
        match mounts::bind(&r.from, &r.target, r.read_only) {
            Ok(()) => {
                report.repaired += 1;
                tracing::info!(%target, %from, "re-bound a mount of a remounted fuse");
                self.event(
                    r,
                    EventType::Normal,
                    RECOVER_SUCCEED,
                    format!("fuse recovered: {target} is bound to the remounted {from} again"),
                )
                .await;
            }
            Err(e) => {
                report.failed += 1;
                tracing::warn!(%target, error = %e, "fuse recovery failed; retrying next pass");
                self.event(
                    r,
                    EventType::Warning,
                    RECOVER_FAILED,
                    format!("fuse recovery of {target} failed: {e}"),
                )
                .await;
            }
        }
    }

    async fn event(&self, r: &Repair, kind: EventType, reason: &str, note: String) {
        if let Some(ds) = &r.dataset {
            self.cluster
                .dataset_event(ds, kind, ("FuseRecovery", reason), note)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FUSE: &str = "/runtime-mnt/juicefs/ns/jfs/juicefs-fuse";
    const TARGET: &str = "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/ns-jfs/mount";

    fn publication() -> Publication {
        Publication {
            volume_id: "ns-jfs".into(),
            target: TARGET.into(),
            fluid_path: FUSE.into(),
            sub_path: None,
            mount_type: Some("JuiceFS".into()),
            read_only: false,
            dataset: Some(DatasetRef {
                namespace: "ns".into(),
                name: "jfs".into(),
            }),
        }
    }

    fn line(id: u32, parent: u32, dev: &str, root: &str, at: &str) -> String {
        format!("{id} {parent} {dev} {root} {at} rw,nosuid,nodev - fuse.juicefs JuiceFS:vol rw\n")
    }

    fn table(lines: &[String]) -> MountTable {
        let mut text = "27 1 254:0 / / rw - ext4 /dev/vda rw\n".to_owned();
        text.extend(lines.iter().cloned());
        MountTable::parse(&text).unwrap()
    }

    fn live() -> HashSet<PathBuf> {
        [PathBuf::from(FUSE)].into()
    }

    fn plan_for(t: &MountTable, max: usize) -> Vec<Repair> {
        plan(
            &[publication()],
            t,
            &live(),
            Path::new("/var/lib/kubelet"),
            max,
        )
    }

    #[test]
    fn a_healthy_bind_is_left_alone() {
        let t = table(&[
            line(40, 27, "0:39", "/", FUSE),
            line(41, 27, "0:39", "/", TARGET),
        ]);
        assert!(plan_for(&t, 50).is_empty());
    }

    #[test]
    fn a_bind_of_a_dead_fuse_is_rebound_once_the_fuse_is_back() {
        // The fuse was remounted (0:39 -> 0:45); the target still shows the old one.
        let t = table(&[
            line(41, 27, "0:39", "/", TARGET),
            line(50, 27, "0:45", "/", FUSE),
        ]);
        assert_eq!(
            plan_for(&t, 50),
            vec![Repair {
                target: TARGET.into(),
                from: FUSE.into(),
                read_only: false,
                stacked: 1,
                unmount_first: 0,
                dataset: publication().dataset,
            }]
        );
        // Not while the fuse is not answering, not while it is not remounted.
        assert!(plan(
            &[publication()],
            &t,
            &HashSet::new(),
            Path::new("/var/lib/kubelet"),
            50
        )
        .is_empty());
        let gone = table(&[line(41, 27, "0:39", "/", TARGET)]);
        assert!(plan_for(&gone, 50).is_empty());
        // Not when what is mounted there is not the volume's type.
        let other = "50 27 0:45 / /runtime-mnt/juicefs/ns/jfs/juicefs-fuse rw - tmpfs tmpfs rw\n";
        let wrong =
            MountTable::parse(&format!("{}{other}", line(41, 27, "0:39", "/", TARGET))).unwrap();
        assert!(plan_for(&wrong, 50).is_empty());
    }

    #[test]
    fn a_repaired_stack_is_healthy() {
        let t = table(&[
            line(41, 27, "0:39", "/", TARGET),
            line(50, 27, "0:45", "/", FUSE),
            line(51, 41, "0:45", "/", TARGET),
        ]);
        assert!(plan_for(&t, 50).is_empty());
    }

    #[test]
    fn the_stack_is_bounded() {
        // Three dead binds stacked after two crashes of a fuse that is now at 0:47.
        let t = table(&[
            line(41, 27, "0:39", "/", TARGET),
            line(51, 41, "0:45", "/", TARGET),
            line(52, 51, "0:46", "/", TARGET),
            line(60, 27, "0:47", "/", FUSE),
        ]);
        let r = plan_for(&t, 3);
        assert_eq!((r[0].stacked, r[0].unmount_first), (3, 2));
        assert_eq!(plan_for(&t, 4)[0].unmount_first, 0);
    }

    #[test]
    fn sub_paths_and_subpath_binds_follow_the_volume() {
        let mut p = publication();
        p.sub_path = Some("data".into());
        p.read_only = true;
        let sub = "/var/lib/kubelet/pods/u1/volume-subpaths/ns-jfs/app/0";
        let other_pod = "/var/lib/kubelet/pods/u2/volume-subpaths/other/app/0";
        let t = table(&[
            line(41, 27, "0:39", "/data", TARGET),
            line(42, 27, "0:39", "/data/train", sub),
            line(43, 27, "0:30", "/x", other_pod),
            line(50, 27, "0:45", "/", FUSE),
        ]);
        let r = plan(&[p], &t, &live(), Path::new("/var/lib/kubelet"), 50);
        let got: Vec<(String, String, bool)> = r
            .iter()
            .map(|r| {
                (
                    r.target.display().to_string(),
                    r.from.display().to_string(),
                    r.read_only,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (TARGET.into(), format!("{FUSE}/data"), true),
                (sub.into(), format!("{FUSE}/data/train"), false),
            ]
        );
    }
}
