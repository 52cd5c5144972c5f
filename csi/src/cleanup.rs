//! NodeUnstageVolume's decision: is the node's fuse released (its node label removed)? Made
//! from the PV's attributes and labels and the mount table alone; the runtime's type is never
//! needed.

use crate::attributes::CleanPolicy;
use crate::kubelet;
use crate::mountinfo::MountTable;
use std::path::{Path, PathBuf};

/// What unstage does with the node label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Remove it (once no bind mount of the volume is left on the node).
    Release,
    /// Leave it, for this reason.
    Keep(String),
}

/// Decides from the clean policy, the volume's current fuse generation (its label) and the one
/// remembered when this node was staged.
pub fn decide(policy: CleanPolicy, current: Option<&str>, staged: Option<&str>) -> Decision {
    match policy {
        CleanPolicy::OnDemand => Decision::Release,
        CleanPolicy::OnRuntimeDeleted => Decision::Keep(
            "clean policy OnRuntimeDeleted: the fuse stays until the runtime is deleted".into(),
        ),
        CleanPolicy::OnFuseChanged => match (current, staged) {
            (Some(now), Some(then)) if now != then => Decision::Release,
            (Some(now), Some(_)) => Decision::Keep(format!(
                "clean policy OnFuseChanged: the fuse is still at generation {now}"
            )),
            (None, _) => Decision::Keep(
                "clean policy OnFuseChanged: the volume carries no fuse generation label".into(),
            ),
            (Some(_), None) => Decision::Keep(
                "clean policy OnFuseChanged: no generation was remembered when the node was staged"
                    .into(),
            ),
        },
    }
}

/// The bind mounts of a volume still on the node: the kubelet's publish targets
/// `<kubelet>/pods/<pod>/volumes/kubernetes.io~csi/<volume>/mount`, and any other target
/// this plugin published the volume at that is still mounted.
pub fn remaining_binds(
    table: &MountTable,
    kubelet_dir: &Path,
    volume_id: &str,
    published: &[PathBuf],
) -> Vec<PathBuf> {
    let mut left: Vec<PathBuf> = table
        .mounts()
        .iter()
        .map(|m| PathBuf::from(&m.mount_point))
        .filter(|p| kubelet::is_csi_target(kubelet_dir, p, volume_id))
        .collect();
    left.extend(
        published
            .iter()
            .filter(|t| table.is_mount_point(t))
            .cloned(),
    );
    left.sort();
    left.dedup();
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert_eq!(decide(CleanPolicy::OnDemand, None, None), Decision::Release);
        assert!(matches!(
            decide(CleanPolicy::OnRuntimeDeleted, Some("2"), Some("1")),
            Decision::Keep(_)
        ));
        assert_eq!(
            decide(CleanPolicy::OnFuseChanged, Some("2"), Some("1")),
            Decision::Release
        );
        assert!(
            matches!(decide(CleanPolicy::OnFuseChanged, Some("1"), Some("1")), Decision::Keep(r) if r.contains("generation 1"))
        );
        assert!(matches!(
            decide(CleanPolicy::OnFuseChanged, None, Some("1")),
            Decision::Keep(_)
        ));
        assert!(matches!(
            decide(CleanPolicy::OnFuseChanged, Some("1"), None),
            Decision::Keep(_)
        ));
    }

    #[test]
    fn finds_the_binds_of_one_volume() {
        let table = MountTable::parse(
            "\
27 1 254:0 / / rw - ext4 /dev/vda rw
43 27 0:39 / /var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/ns-jfs/mount rw - fuse.juicefs JuiceFS:v rw
44 27 0:39 / /var/lib/kubelet/pods/u2/volumes/kubernetes.io~csi/ns-jfs2/mount rw - fuse.juicefs JuiceFS:v rw
45 27 0:39 / /var/lib/kubelet/pods/u3/volumes/kubernetes.io~csi/ns-jfs/mount/deeper rw - fuse.juicefs JuiceFS:v rw
46 27 0:39 / /elsewhere/target rw - fuse.juicefs JuiceFS:v rw
",
        )
        .unwrap();
        let kubelet = Path::new("/var/lib/kubelet");
        assert_eq!(
            remaining_binds(&table, kubelet, "ns-jfs", &[]),
            vec![PathBuf::from(
                "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/ns-jfs/mount"
            )]
        );
        let published = [
            PathBuf::from("/elsewhere/target"),
            PathBuf::from("/not/mounted"),
        ];
        assert_eq!(
            remaining_binds(&table, kubelet, "other", &published),
            vec![PathBuf::from("/elsewhere/target")]
        );
        assert!(remaining_binds(&table, kubelet, "none", &[]).is_empty());
    }
}
