//! Where the kubelet mounts volumes for pods, under its root directory.

use std::ffi::OsStr;
use std::path::Path;

/// The components of `mount_point` below `<kubelet_dir>/pods/`, if it is there.
fn below_pods<'a>(kubelet_dir: &Path, mount_point: &'a Path) -> Option<Vec<&'a OsStr>> {
    let rest = mount_point.strip_prefix(kubelet_dir.join("pods")).ok()?;
    Some(rest.components().map(|c| c.as_os_str()).collect())
}

/// Whether `mount_point` is a pod's publish target of the CSI volume `volume_id`:
/// `<kubelet>/pods/<pod>/volumes/kubernetes.io~csi/<volume>/mount`.
pub fn is_csi_target(kubelet_dir: &Path, mount_point: &Path, volume_id: &str) -> bool {
    below_pods(kubelet_dir, mount_point).is_some_and(|p| {
        p.len() == 5
            && p[1] == "volumes"
            && p[2] == "kubernetes.io~csi"
            && p[3] == volume_id
            && p[4] == "mount"
    })
}

/// Whether `mount_point` is a container's `subPath` bind:
/// `<kubelet>/pods/<pod>/volume-subpaths/<volume>/<container>/<n>`.
pub fn is_subpath_bind(kubelet_dir: &Path, mount_point: &Path) -> bool {
    below_pods(kubelet_dir, mount_point).is_some_and(|p| p.len() == 5 && p[1] == "volume-subpaths")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_paths() {
        let k = Path::new("/var/lib/kubelet");
        let target = Path::new("/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/ns-ds/mount");
        assert!(is_csi_target(k, target, "ns-ds"));
        assert!(!is_csi_target(k, target, "ns-other"));
        assert!(!is_csi_target(k, &target.join("deeper"), "ns-ds"));
        assert!(!is_csi_target(Path::new("/other"), target, "ns-ds"));
        assert!(is_subpath_bind(
            k,
            Path::new("/var/lib/kubelet/pods/u1/volume-subpaths/ns-ds/app/0")
        ));
        assert!(!is_subpath_bind(k, target));
    }
}
