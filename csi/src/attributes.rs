//! The PV's `volumeAttributes` (the CSI volume context) and labels: everything the plugin knows
//! about a volume. Names and meanings are Fluid's (`pkg/common/volume.go`), plus the additive
//! ones fluid-rs writes so that no call needs the runtime's type (docs/csi.md).

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Where the engine's fuse mounts the volume on the node.
pub const FLUID_PATH: &str = "fluid_path";
/// What must appear in the fuse mount's mountinfo line (fs type or source).
pub const MOUNT_TYPE: &str = "mount_type";
/// A directory of the volume to publish instead of its root.
pub const SUB_PATH: &str = "fluid_sub_path";
/// The runtime's (and Dataset's) namespace.
pub const RUNTIME_NAMESPACE: &str = "runtime_namespace";
/// The runtime's (and Dataset's) name.
pub const RUNTIME_NAME: &str = "runtime_name";
/// The node label that schedules the engine's fuse on a node.
pub const NODE_SELECTOR_KEY: &str = "mount_pod_node_selector_key";
/// Fluid's opt-out of the fuse readiness check (`All`, `None`, `MountPod`, `Sidecar`).
pub const SKIP_CHECK_MOUNT_READY: &str = "fluid.io/skip-check-mount-ready-target";
/// `symlink` publishes a symlink instead of a bind mount.
pub const PUBLISH_METHOD: &str = "node_publish_method";
/// fluid-rs: the fuse clean policy of the runtime (`OnDemand`, `OnRuntimeDeleted`,
/// `OnFuseChanged`; absent means `OnRuntimeDeleted`, Fluid's default).
pub const FUSE_CLEAN_POLICY: &str = "fuse_clean_policy";
/// The label (on the PV, else on the PVC as Fluid writes it) holding the generation of the
/// runtime's fuse; the controller raises it whenever the fuse changes.
pub const FUSE_GENERATION_LABEL: &str = "fuse.runtime.fluid.io/generation";

/// An attribute that is missing or wrong.
#[derive(Debug, thiserror::Error)]
#[error("volume attribute {name}: {reason}")]
pub struct AttributeError {
    /// The attribute.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(name: &'static str, reason: impl Into<String>) -> AttributeError {
    AttributeError {
        name,
        reason: reason.into(),
    }
}

/// The volume context of a request.
pub type VolumeContext = HashMap<String, String>;

fn get<'a>(ctx: &'a VolumeContext, name: &str) -> Option<&'a str> {
    ctx.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// The Dataset a volume belongs to (Events are reported on it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatasetRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The Dataset named by `runtime_namespace`/`runtime_name`, when both are there.
pub fn dataset<S: std::hash::BuildHasher>(ctx: &HashMap<String, String, S>) -> Option<DatasetRef> {
    let ns = ctx.get(RUNTIME_NAMESPACE).filter(|v| !v.is_empty())?;
    let name = ctx.get(RUNTIME_NAME).filter(|v| !v.is_empty())?;
    Some(DatasetRef {
        namespace: ns.clone(),
        name: name.clone(),
    })
}

/// The node label key of the volume's fuse, checked as a Kubernetes label key.
pub fn node_selector_key(ctx: &VolumeContext) -> Result<String, AttributeError> {
    let key = get(ctx, NODE_SELECTOR_KEY).ok_or_else(|| {
        bad(
            NODE_SELECTOR_KEY,
            "missing (PVs written before the attribute existed are not supported: recreate the \
             Dataset's volume with a current controller)",
        )
    })?;
    check_label_key(key).map_err(|reason| bad(NODE_SELECTOR_KEY, format!("{key:?}: {reason}")))?;
    Ok(key.to_owned())
}

fn check_label_key(key: &str) -> Result<(), &'static str> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() || p.len() > 253 {
            return Err("the prefix must be 1 to 253 characters");
        }
        if !p
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err("the prefix must be a DNS subdomain");
        }
    }
    if name.is_empty() || name.len() > 63 {
        return Err("the name must be 1 to 63 characters");
    }
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !ends_ok(name.chars().next()) || !ends_ok(name.chars().last()) {
        return Err("the name must start and end with a letter or digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("the name may hold only letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

/// When the node's fuse is released (the node label removed) at NodeUnstageVolume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CleanPolicy {
    /// As soon as no pod on the node uses the volume.
    OnDemand,
    /// Never by the plugin: the controller removes the labels when the runtime is deleted.
    OnRuntimeDeleted,
    /// When no pod uses it and the fuse changed since the node's fuse started.
    OnFuseChanged,
}

impl CleanPolicy {
    /// Parses a policy name (absent or empty: `OnRuntimeDeleted`, Fluid's default).
    pub fn parse(value: Option<&str>) -> Result<Self, AttributeError> {
        match value.unwrap_or_default() {
            "" | "OnRuntimeDeleted" => Ok(Self::OnRuntimeDeleted),
            "OnDemand" => Ok(Self::OnDemand),
            "OnFuseChanged" => Ok(Self::OnFuseChanged),
            other => Err(bad(
                FUSE_CLEAN_POLICY,
                format!("unknown policy {other:?} (expected OnDemand, OnRuntimeDeleted or OnFuseChanged)"),
            )),
        }
    }

    /// The policy in a volume context.
    pub fn of<S: std::hash::BuildHasher>(
        ctx: &HashMap<String, String, S>,
    ) -> Result<Self, AttributeError> {
        Self::parse(ctx.get(FUSE_CLEAN_POLICY).map(String::as_str))
    }
}

/// How a publish makes the volume appear at the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishMethod {
    /// A bind mount (the default).
    Bind,
    /// A symlink to the fuse path (`node_publish_method=symlink`).
    Symlink,
}

/// What a publish waits for before it binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// `fluid_path` is a live mount whose mountinfo line names `mount_type`.
    FuseMounted {
        /// The attribute `mount_type`.
        mount_type: String,
    },
    /// Only that the source path exists (`fluid.io/skip-check-mount-ready-target` selects
    /// `MountPod`): the engine mounts in a way mountinfo does not show as the fuse.
    PathExists,
}

/// What NodePublishVolume publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishSource {
    /// The fuse mount point.
    pub fluid_path: PathBuf,
    /// The directory under it to publish, if not its root.
    pub sub_path: Option<PathBuf>,
    /// What to wait for.
    pub readiness: Readiness,
    /// Bind mount or symlink.
    pub method: PublishMethod,
}

impl PublishSource {
    /// Reads the publish attributes of a volume context.
    pub fn from_context(ctx: &VolumeContext) -> Result<Self, AttributeError> {
        let fluid_path =
            PathBuf::from(get(ctx, FLUID_PATH).ok_or_else(|| bad(FLUID_PATH, "missing"))?);
        if !fluid_path.is_absolute() {
            return Err(bad(
                FLUID_PATH,
                format!("{} is not an absolute path", fluid_path.display()),
            ));
        }
        let sub_path = get(ctx, SUB_PATH).map(relative_path).transpose()?;
        let skip = skip_fuse_check(get(ctx, SKIP_CHECK_MOUNT_READY))?;
        let readiness = if skip {
            Readiness::PathExists
        } else {
            let mount_type = get(ctx, MOUNT_TYPE).ok_or_else(|| bad(MOUNT_TYPE, "missing"))?;
            Readiness::FuseMounted {
                mount_type: mount_type.to_owned(),
            }
        };
        let method = match get(ctx, PUBLISH_METHOD) {
            None | Some("bind") => PublishMethod::Bind,
            Some("symlink") => PublishMethod::Symlink,
            Some(other) => {
                return Err(bad(
                    PUBLISH_METHOD,
                    format!("unknown method {other:?} (expected symlink)"),
                ))
            }
        };
        Ok(Self {
            fluid_path,
            sub_path,
            readiness,
            method,
        })
    }

    /// The path that is published: `fluid_path`, or its sub path.
    pub fn source(&self) -> PathBuf {
        match &self.sub_path {
            Some(sub) => self.fluid_path.join(sub),
            None => self.fluid_path.clone(),
        }
    }

    /// The mount type to check, if the check is not skipped.
    pub fn mount_type(&self) -> Option<&str> {
        match &self.readiness {
            Readiness::FuseMounted { mount_type } => Some(mount_type),
            Readiness::PathExists => None,
        }
    }
}

/// A sub path must stay inside the volume.
fn relative_path(value: &str) -> Result<PathBuf, AttributeError> {
    let path = Path::new(value.trim_start_matches('/'));
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(bad(SUB_PATH, format!("{value:?} leaves the volume (`..`)")));
    }
    Ok(path.to_path_buf())
}

/// Fluid's mount-mode selector: the fuse check is skipped when it selects `MountPod`.
fn skip_fuse_check(value: Option<&str>) -> Result<bool, AttributeError> {
    let mut skip = false;
    for mode in value
        .unwrap_or_default()
        .split(',')
        .filter(|m| !m.is_empty())
    {
        match mode {
            "All" | "MountPod" => skip = true,
            "None" => return Ok(false),
            "Sidecar" => {}
            other => {
                return Err(bad(
                    SKIP_CHECK_MOUNT_READY,
                    format!(
                        "unknown mount mode {other:?} (expected All, None, MountPod or Sidecar)"
                    ),
                ))
            }
        }
    }
    Ok(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> VolumeContext {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn fluid_rs_pv() -> VolumeContext {
        ctx(&[
            (FLUID_PATH, "/runtime-mnt/juicefs/team/demo/juicefs-fuse"),
            (MOUNT_TYPE, "JuiceFS"),
            (RUNTIME_NAMESPACE, "team"),
            (RUNTIME_NAME, "demo"),
            (NODE_SELECTOR_KEY, "fluid.io/f-team-demo"),
        ])
    }

    #[test]
    fn reads_what_fluid_rs_and_fluid_write() {
        let c = fluid_rs_pv();
        let s = PublishSource::from_context(&c).unwrap();
        assert_eq!(
            s.source(),
            Path::new("/runtime-mnt/juicefs/team/demo/juicefs-fuse")
        );
        assert_eq!(s.mount_type(), Some("JuiceFS"));
        assert_eq!(s.method, PublishMethod::Bind);
        assert_eq!(node_selector_key(&c).unwrap(), "fluid.io/f-team-demo");
        assert_eq!(
            dataset(&c),
            Some(DatasetRef {
                namespace: "team".into(),
                name: "demo".into()
            })
        );
        assert_eq!(CleanPolicy::of(&c).unwrap(), CleanPolicy::OnRuntimeDeleted);
    }

    #[test]
    fn sub_path_stays_inside_the_volume() {
        let mut c = fluid_rs_pv();
        c.insert(SUB_PATH.into(), "/data/train".into());
        let s = PublishSource::from_context(&c).unwrap();
        assert_eq!(
            s.source(),
            Path::new("/runtime-mnt/juicefs/team/demo/juicefs-fuse/data/train")
        );
        c.insert(SUB_PATH.into(), "data/../../etc".into());
        let err = PublishSource::from_context(&c).unwrap_err();
        assert_eq!(err.name, SUB_PATH);
    }

    #[test]
    fn missing_and_bad_attributes_are_named() {
        let mut c = fluid_rs_pv();
        c.remove(FLUID_PATH);
        assert_eq!(
            PublishSource::from_context(&c).unwrap_err().name,
            FLUID_PATH
        );
        let mut c = fluid_rs_pv();
        c.remove(MOUNT_TYPE);
        assert_eq!(
            PublishSource::from_context(&c).unwrap_err().name,
            MOUNT_TYPE
        );
        let mut c = fluid_rs_pv();
        c.insert(FLUID_PATH.into(), "relative/path".into());
        assert!(PublishSource::from_context(&c)
            .unwrap_err()
            .to_string()
            .contains("absolute"));
        let mut c = fluid_rs_pv();
        c.remove(NODE_SELECTOR_KEY);
        assert_eq!(node_selector_key(&c).unwrap_err().name, NODE_SELECTOR_KEY);
        c.insert(
            NODE_SELECTOR_KEY.into(),
            format!("fluid.io/f-{}", "x".repeat(70)),
        );
        assert!(node_selector_key(&c)
            .unwrap_err()
            .to_string()
            .contains("63"));
        c.insert(NODE_SELECTOR_KEY.into(), "fluid.io/f-Bad Key".into());
        assert!(node_selector_key(&c).is_err());
        let err = CleanPolicy::parse(Some("Sometimes")).unwrap_err();
        assert!(err.to_string().contains("fuse_clean_policy"), "{err}");
    }

    #[test]
    fn hashed_keys_of_long_names_are_accepted() {
        // Fluid hashes keys of long names into fluid.io/f-<truncated>-<hash>: read, not rebuilt.
        let mut c = fluid_rs_pv();
        c.insert(
            NODE_SELECTOR_KEY.into(),
            "fluid.io/f-a-very-long-namespace-and-a-very-lon-2c3f4b1a".into(),
        );
        assert!(node_selector_key(&c).is_ok());
    }

    #[test]
    fn skip_check_and_symlink_follow_fluid() {
        let mut c = fluid_rs_pv();
        c.remove(MOUNT_TYPE);
        c.insert(SKIP_CHECK_MOUNT_READY.into(), "MountPod".into());
        assert_eq!(
            PublishSource::from_context(&c).unwrap().readiness,
            Readiness::PathExists
        );
        c.insert(SKIP_CHECK_MOUNT_READY.into(), "Sidecar".into());
        assert!(
            PublishSource::from_context(&c).is_err(),
            "Sidecar keeps the check: mount_type needed"
        );
        c.insert(SKIP_CHECK_MOUNT_READY.into(), "Everything".into());
        assert_eq!(
            PublishSource::from_context(&c).unwrap_err().name,
            SKIP_CHECK_MOUNT_READY
        );
        let mut c = fluid_rs_pv();
        c.insert(PUBLISH_METHOD.into(), "symlink".into());
        assert_eq!(
            PublishSource::from_context(&c).unwrap().method,
            PublishMethod::Symlink
        );
    }

    #[test]
    fn clean_policies() {
        assert_eq!(
            CleanPolicy::parse(None).unwrap(),
            CleanPolicy::OnRuntimeDeleted
        );
        assert_eq!(
            CleanPolicy::parse(Some("OnDemand")).unwrap(),
            CleanPolicy::OnDemand
        );
        assert_eq!(
            CleanPolicy::parse(Some("OnFuseChanged")).unwrap(),
            CleanPolicy::OnFuseChanged
        );
    }
}
