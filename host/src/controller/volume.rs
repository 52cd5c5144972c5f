//! The Dataset's volume in Fluid's shape: a PersistentVolume `<namespace>-<name>` served by
//! Fluid's CSI driver, and a PersistentVolumeClaim named like the Dataset, bound to it.

use serde_json::{json, Value};

/// Fluid's CSI driver.
pub const CSI_DRIVER: &str = "fuse.csi.fluid.io";
/// The storage class of every Fluid volume.
pub const STORAGE_CLASS: &str = "fluid";
/// The Dataset annotation that sets the volume's capacity.
pub const CAPACITY_ANNOTATION: &str = "pvc.fluid.io/resources.requests.storage";
/// Fluid's capacity when the annotation is absent.
pub const DEFAULT_CAPACITY: &str = "100Pi";
/// Where engines mount on the node (Fluid's `MOUNT_ROOT`).
pub const MOUNT_ROOT: &str = "/runtime-mnt";

/// The name of the PV of a Dataset.
pub fn pv_name(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}")
}

/// Fluid's `fluid.io/dataset-id` label value: `<ns>-<name>`, or the Dataset's uid when that
/// is longer than a label value may be.
pub fn dataset_id(namespace: &str, name: &str, uid: &str) -> String {
    let id = format!("{namespace}-{name}");
    if id.len() > 63 {
        uid.to_owned()
    } else {
        id
    }
}

/// What the engine says about how its volume is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// `mount_type`, checked by the CSI plugin in `/proc/self/mountinfo` (JuiceFS: `JuiceFS`).
    pub mount_type: String,
    /// Where the fuse mounts on the node (`fluid_path`).
    pub fluid_path: String,
}

impl MountInfo {
    /// Fluid's convention for an engine: `/runtime-mnt/<engine>/<ns>/<name>/<engine>-fuse`.
    pub fn conventional(engine: &str, mount_type: &str, namespace: &str, name: &str) -> Self {
        Self {
            mount_type: mount_type.to_owned(),
            fluid_path: format!("{MOUNT_ROOT}/{engine}/{namespace}/{name}/{engine}-fuse"),
        }
    }
}

/// The inputs of [`build`].
pub struct VolumeInput<'a> {
    /// Dataset namespace.
    pub namespace: &'a str,
    /// Dataset (and runtime) name.
    pub name: &'a str,
    /// The Dataset object.
    pub dataset: &'a Value,
    /// How the engine mounts.
    pub mount: &'a MountInfo,
}

/// Builds the PV and the PVC.
pub fn build(input: &VolumeInput<'_>) -> (Value, Value) {
    let VolumeInput {
        namespace,
        name,
        dataset,
        mount,
    } = input;
    let uid = dataset["metadata"]["uid"].as_str().unwrap_or_default();
    let id = dataset_id(namespace, name, uid);
    let access_modes = match dataset["spec"]["accessModes"].as_array() {
        Some(modes) if !modes.is_empty() => Value::Array(modes.clone()),
        _ => json!(["ReadOnlyMany"]),
    };
    let capacity = dataset["metadata"]["annotations"][CAPACITY_ANNOTATION]
        .as_str()
        .unwrap_or(DEFAULT_CAPACITY);
    let labels = json!({
        format!("fluid.io/s-{namespace}-{name}"): "true",
        "fluid.io/dataset-id": id,
    });
    let annotations = json!({ "CreatedBy": "fluid" });
    let pv_name = pv_name(namespace, name);
    let pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": { "name": pv_name, "labels": labels, "annotations": annotations },
        "spec": {
            "accessModes": access_modes,
            "capacity": { "storage": capacity },
            "storageClassName": STORAGE_CLASS,
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": { "namespace": namespace, "name": name },
            "csi": {
                "driver": CSI_DRIVER,
                "volumeHandle": pv_name,
                "volumeAttributes": {
                    "fluid_path": mount.fluid_path,
                    "mount_type": mount.mount_type,
                    "runtime_namespace": namespace,
                    "runtime_name": name,
                    "mount_pod_node_selector_key": format!("fluid.io/f-{namespace}-{name}"),
                }
            }
        }
    });
    let pvc = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": { "name": name, "namespace": namespace, "labels": labels, "annotations": annotations },
        "spec": {
            "accessModes": access_modes,
            "storageClassName": STORAGE_CLASS,
            "volumeName": pv_name,
            "resources": { "requests": { "storage": capacity } }
        }
    });
    (pv, pvc)
}

/// Whether a pod uses the claim `claim` (the Dataset's PVC) in any volume.
pub fn pod_uses_claim(pod: &Value, claim: &str) -> bool {
    let finished = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    !finished
        && pod["spec"]["volumes"].as_array().is_some_and(|vs| {
            vs.iter()
                .any(|v| v["persistentVolumeClaim"]["claimName"] == claim)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_and_pvc_have_fluids_shape() {
        let dataset =
            json!({"metadata": {"name": "demo", "namespace": "team", "uid": "u1"}, "spec": {}});
        let mount = MountInfo::conventional("juicefs", "JuiceFS", "team", "demo");
        let (pv, pvc) = build(&VolumeInput {
            namespace: "team",
            name: "demo",
            dataset: &dataset,
            mount: &mount,
        });
        assert_eq!(pv["metadata"]["name"], "team-demo");
        assert_eq!(pv["spec"]["csi"]["driver"], "fuse.csi.fluid.io");
        assert_eq!(
            pv["spec"]["csi"]["volumeAttributes"]["fluid_path"],
            "/runtime-mnt/juicefs/team/demo/juicefs-fuse"
        );
        assert_eq!(
            pv["spec"]["csi"]["volumeAttributes"]["mount_pod_node_selector_key"],
            "fluid.io/f-team-demo"
        );
        assert_eq!(pv["spec"]["accessModes"], json!(["ReadOnlyMany"]));
        assert_eq!(pv["spec"]["capacity"]["storage"], "100Pi");
        assert_eq!(pv["metadata"]["labels"]["fluid.io/s-team-demo"], "true");
        assert_eq!(pvc["metadata"]["name"], "demo");
        assert_eq!(pvc["spec"]["volumeName"], "team-demo");
        assert_eq!(pvc["spec"]["storageClassName"], "fluid");
        assert_eq!(pvc["metadata"]["annotations"]["CreatedBy"], "fluid");
    }

    #[test]
    fn capacity_and_access_modes_come_from_the_dataset() {
        let dataset = json!({"metadata": {"annotations": {CAPACITY_ANNOTATION: "5Gi"}},
            "spec": {"accessModes": ["ReadWriteMany"]}});
        let mount = MountInfo::conventional("x", "X", "n", "d");
        let (pv, pvc) = build(&VolumeInput {
            namespace: "n",
            name: "d",
            dataset: &dataset,
            mount: &mount,
        });
        assert_eq!(pv["spec"]["capacity"]["storage"], "5Gi");
        assert_eq!(pvc["spec"]["accessModes"], json!(["ReadWriteMany"]));
    }

    #[test]
    fn long_dataset_ids_fall_back_to_the_uid() {
        let long = "x".repeat(61);
        assert_eq!(dataset_id("ns", &long, "the-uid"), "the-uid");
        assert_eq!(dataset_id("ns", "demo", "the-uid"), "ns-demo");
    }

    #[test]
    fn finished_pods_do_not_hold_the_claim() {
        let pod = json!({"spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "demo"}}]}, "status": {"phase": "Running"}});
        assert!(pod_uses_claim(&pod, "demo"));
        assert!(!pod_uses_claim(&pod, "other"));
        let done = json!({"spec": pod["spec"], "status": {"phase": "Succeeded"}});
        assert!(!pod_uses_claim(&done, "demo"));
    }
}
