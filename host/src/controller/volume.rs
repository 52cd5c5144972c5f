//! The Dataset's volume in Fluid's shape: a PersistentVolume `<namespace>-<name>` served by
//! Fluid's CSI driver, and a PersistentVolumeClaim named like the Dataset, bound to it; and
//! whether objects of those names are the Dataset's own.

use super::names;
use crate::lifecycle::Ownership;
use fluid_plugin_api::conventions::Conventions;
use fluid_plugin_api::types::Dataset;
use k8s_openapi::api::core::v1::{
    CSIPersistentVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeSpec, VolumeNodeAffinity, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// Fluid's CSI driver.
pub const CSI_DRIVER: &str = "fuse.csi.fluid.io";
/// The storage class of every Fluid volume.
pub const STORAGE_CLASS: &str = "fluid";
/// The Dataset annotation that sets the volume's capacity.
pub const CAPACITY_ANNOTATION: &str = "pvc.fluid.io/resources.requests.storage";
/// Fluid's capacity when the annotation is absent.
pub const DEFAULT_CAPACITY: &str = "100Pi";

/// The PV and PVC label with the generation of the fuse DaemonSet, which the CSI plugin
/// compares under the `OnFuseChanged` clean policy (a label: volume attributes cannot change).
pub const FUSE_GENERATION_LABEL: &str = "fuse.runtime.fluid.io/generation";

/// What the engine says about how its volume is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// `mount_type`, checked by the CSI plugin in `/proc/self/mountinfo` (JuiceFS: `JuiceFS`).
    pub mount_type: String,
    /// Where the fuse mounts on the node (`fluid_path`).
    pub fluid_path: String,
    /// The runtime's `spec.fuse.cleanPolicy`, for the CSI plugin's node clean-up
    /// (`fuse_clean_policy`); absent means Fluid's default, `OnRuntimeDeleted`.
    pub clean_policy: Option<String>,
    /// The CSI driver serving the volume (`fuse.csi.fluid.io` unless configured).
    pub driver: String,
    /// The fuse DaemonSet's generation when known: labelled at creation
    /// ([`FUSE_GENERATION_LABEL`]), which spares a patch right after.
    pub fuse_generation: Option<String>,
    /// The runtime's `spec.fuse.nodeSelector`: where the fuse may run, hence (a required node
    /// affinity of the PV, as Fluid writes it) where pods using the volume may run.
    pub fuse_node_selector: BTreeMap<String, String>,
}

impl MountInfo {
    /// What the runtime's conventions say (the same the engine's chart and hooks get), with
    /// Fluid's default clean policy and CSI driver.
    pub fn of(conventions: &Conventions) -> Self {
        Self {
            mount_type: conventions.mount_type.clone(),
            fluid_path: conventions.fuse_mount_path.clone(),
            clean_policy: None,
            driver: CSI_DRIVER.to_owned(),
            fuse_generation: None,
            fuse_node_selector: BTreeMap::new(),
        }
    }
}

/// The PV and the PVC of a Dataset.
pub fn build(dataset: &Dataset, mount: &MountInfo) -> (PersistentVolume, PersistentVolumeClaim) {
    let namespace = dataset.metadata.namespace.clone().unwrap_or_default();
    let name = dataset.metadata.name.clone().unwrap_or_default();
    let uid = dataset.metadata.uid.clone().unwrap_or_default();
    let access_modes = match &dataset.spec.access_modes {
        Some(modes) if !modes.is_empty() => modes.clone(),
        _ => vec!["ReadOnlyMany".to_owned()],
    };
    let capacity = dataset
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CAPACITY_ANNOTATION))
        .cloned()
        .unwrap_or_else(|| DEFAULT_CAPACITY.to_owned());
    let mut labels = BTreeMap::from([
        (
            names::common_label(&namespace, &name, &uid),
            "true".to_owned(),
        ),
        (
            "fluid.io/dataset-id".to_owned(),
            names::dataset_id(&namespace, &name, &uid),
        ),
    ]);
    if let Some(generation) = &mount.fuse_generation {
        labels.insert(FUSE_GENERATION_LABEL.to_owned(), generation.clone());
    }
    let annotations = BTreeMap::from([("CreatedBy".to_owned(), "fluid".to_owned())]);
    let pv_name = names::pv_name(&namespace, &name);
    let mut attributes = BTreeMap::from([
        ("fluid_path".to_owned(), mount.fluid_path.clone()),
        ("mount_type".to_owned(), mount.mount_type.clone()),
        ("runtime_namespace".to_owned(), namespace.clone()),
        ("runtime_name".to_owned(), name.clone()),
        (
            "mount_pod_node_selector_key".to_owned(),
            names::fuse_label(&namespace, &name, &uid),
        ),
    ]);
    if let Some(policy) = &mount.clean_policy {
        attributes.insert("fuse_clean_policy".to_owned(), policy.clone());
    }
    let pv = PersistentVolume {
        metadata: ObjectMeta {
            name: Some(pv_name.clone()),
            labels: Some(labels.clone()),
            annotations: Some(annotations.clone()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            access_modes: Some(access_modes.clone()),
            capacity: Some(BTreeMap::from([(
                "storage".to_owned(),
                Quantity(capacity.clone()),
            )])),
            storage_class_name: Some(STORAGE_CLASS.to_owned()),
            persistent_volume_reclaim_policy: Some("Retain".to_owned()),
            claim_ref: Some(ObjectReference {
                namespace: Some(namespace.clone()),
                name: Some(name.clone()),
                ..Default::default()
            }),
            csi: Some(CSIPersistentVolumeSource {
                driver: mount.driver.clone(),
                volume_handle: pv_name.clone(),
                volume_attributes: Some(attributes),
                ..Default::default()
            }),
            node_affinity: node_affinity(&mount.fuse_node_selector),
            ..Default::default()
        }),
        status: None,
    };
    let pvc = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(access_modes),
            storage_class_name: Some(STORAGE_CLASS.to_owned()),
            volume_name: Some(pv_name),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(capacity))])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    };
    (pv, pvc)
}

/// Fluid's PV node affinity: one required term with `<key> In [<value>]` for each entry of
/// the fuse node selector (in key order); none without one.
fn node_affinity(selector: &BTreeMap<String, String>) -> Option<VolumeNodeAffinity> {
    if selector.is_empty() {
        return None;
    }
    let match_expressions = selector
        .iter()
        .map(|(k, v)| NodeSelectorRequirement {
            key: k.clone(),
            operator: "In".to_owned(),
            values: Some(vec![v.clone()]),
        })
        .collect();
    Some(VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(match_expressions),
                match_fields: None,
            }],
        }),
    })
}

/// Whether the PV of the Dataset's name is the Dataset's: its claim must be the Dataset's
/// PVC. Anyone else's PV of that name (Fluid's names collide: `a-b/c` and `a/b-c`) is never
/// touched.
pub fn pv_ownership(pv: Option<&PersistentVolume>, namespace: &str, name: &str) -> Ownership {
    let Some(pv) = pv else {
        return Ownership::Absent;
    };
    let claim = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    let pv_name = pv.metadata.name.as_deref().unwrap_or_default();
    match claim {
        Some(c) if c.namespace.as_deref() == Some(namespace) && c.name.as_deref() == Some(name) => {
            Ownership::Ours
        }
        Some(c) => Ownership::Foreign(format!(
            "PersistentVolume {pv_name} belongs to claim {}/{}",
            c.namespace.as_deref().unwrap_or_default(),
            c.name.as_deref().unwrap_or_default()
        )),
        None => Ownership::Foreign(format!(
            "PersistentVolume {pv_name} exists and is not the volume of dataset {namespace}/{name}"
        )),
    }
}

/// Whether the PVC of the Dataset's name is the Dataset's: bound (or to be bound) to the
/// Dataset's PV.
pub fn pvc_ownership(
    pvc: Option<&PersistentVolumeClaim>,
    namespace: &str,
    name: &str,
) -> Ownership {
    let Some(pvc) = pvc else {
        return Ownership::Absent;
    };
    let volume = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref());
    if volume == Some(names::pv_name(namespace, name).as_str()) {
        Ownership::Ours
    } else {
        Ownership::Foreign(format!(
            "PersistentVolumeClaim {namespace}/{name} exists and is not the dataset's (volume {})",
            volume.unwrap_or("none")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dataset(v: serde_json::Value) -> Dataset {
        serde_json::from_value(v).unwrap()
    }

    fn conventional(engine: &str, mount_type: &str, ns: &str, name: &str) -> MountInfo {
        let runtime = json!({"metadata": {"namespace": ns, "name": name}});
        MountInfo::of(&Conventions::of(engine, mount_type, &runtime, None))
    }

    #[test]
    fn pv_and_pvc_have_fluids_shape() {
        let ds = dataset(
            json!({"metadata": {"name": "demo", "namespace": "team", "uid": "u1"}, "spec": {}}),
        );
        let mount = conventional("juicefs", "JuiceFS", "team", "demo");
        let (pv, pvc) = build(&ds, &mount);
        let (pv, pvc) = (
            serde_json::to_value(pv).unwrap(),
            serde_json::to_value(pvc).unwrap(),
        );
        assert_eq!(pv["metadata"]["name"], "team-demo");
        assert_eq!(pv["spec"]["csi"]["driver"], "fuse.csi.fluid.io");
        let attrs = &pv["spec"]["csi"]["volumeAttributes"];
        assert_eq!(
            attrs["fluid_path"],
            "/runtime-mnt/juicefs/team/demo/juicefs-fuse"
        );
        assert_eq!(attrs["mount_pod_node_selector_key"], "fluid.io/f-team-demo");
        assert_eq!(attrs["mount_type"], "JuiceFS");
        assert_eq!(pv["spec"]["accessModes"], json!(["ReadOnlyMany"]));
        assert_eq!(pv["spec"]["capacity"]["storage"], "100Pi");
        assert_eq!(
            pv["spec"]["claimRef"],
            json!({"namespace": "team", "name": "demo"})
        );
        assert_eq!(pv["metadata"]["labels"]["fluid.io/s-team-demo"], "true");
        assert_eq!(pv["metadata"]["labels"]["fluid.io/dataset-id"], "team-demo");
        assert_eq!(pvc["metadata"]["name"], "demo");
        assert_eq!(pvc["spec"]["volumeName"], "team-demo");
        assert_eq!(pvc["spec"]["storageClassName"], "fluid");
        assert_eq!(pvc["metadata"]["annotations"]["CreatedBy"], "fluid");
    }

    #[test]
    fn the_clean_policy_and_the_driver_reach_the_csi_plugin() {
        let ds = dataset(json!({"metadata": {"name": "d", "namespace": "n"}, "spec": {}}));
        let mount = MountInfo {
            clean_policy: Some("OnDemand".into()),
            driver: "fuse.csi.fluid-rs.io".into(),
            fuse_generation: Some("3".into()),
            ..conventional("x", "X", "n", "d")
        };
        let (pv, pvc) = build(&ds, &mount);
        // Created with the fuse generation the CSI plugin compares: no patch after.
        for labels in [&pv.metadata.labels, &pvc.metadata.labels] {
            assert_eq!(labels.as_ref().unwrap()[FUSE_GENERATION_LABEL], "3");
        }
        let csi = pv.spec.unwrap().csi.unwrap();
        assert_eq!(csi.driver, "fuse.csi.fluid-rs.io");
        assert_eq!(
            csi.volume_attributes.unwrap()["fuse_clean_policy"],
            "OnDemand"
        );
    }

    #[test]
    fn the_fuse_node_selector_is_the_pvs_required_node_affinity() {
        let ds = dataset(json!({"metadata": {"name": "d", "namespace": "n"}, "spec": {}}));
        let (pv, _) = build(&ds, &conventional("x", "X", "n", "d"));
        assert!(pv.spec.unwrap().node_affinity.is_none());
        let mount = MountInfo {
            fuse_node_selector: BTreeMap::from([
                ("zone".to_owned(), "a".to_owned()),
                ("gpu".to_owned(), "true".to_owned()),
            ]),
            ..conventional("x", "X", "n", "d")
        };
        let (pv, _) = build(&ds, &mount);
        let pv = serde_json::to_value(pv).unwrap();
        assert_eq!(
            pv["spec"]["nodeAffinity"],
            json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "gpu", "operator": "In", "values": ["true"]},
                {"key": "zone", "operator": "In", "values": ["a"]},
            ]}]}})
        );
    }

    #[test]
    fn capacity_and_access_modes_come_from_the_dataset() {
        let ds = dataset(json!({"metadata": {"name": "d", "namespace": "n",
            "annotations": {CAPACITY_ANNOTATION: "5Gi"}}, "spec": {"accessModes": ["ReadWriteMany"]}}));
        let (pv, pvc) = build(&ds, &conventional("x", "X", "n", "d"));
        assert_eq!(pv.spec.unwrap().capacity.unwrap()["storage"].0, "5Gi");
        assert_eq!(pvc.spec.unwrap().access_modes.unwrap(), ["ReadWriteMany"]);
    }

    #[test]
    fn long_names_get_fluids_uid_based_labels() {
        let name = "d".repeat(53);
        let ns = "a-long-team";
        let ds =
            dataset(json!({"metadata": {"name": name, "namespace": ns, "uid": "u1"}, "spec": {}}));
        let (pv, _) = build(&ds, &conventional("x", "X", ns, &name));
        let pv = serde_json::to_value(pv).unwrap();
        assert_eq!(
            pv["spec"]["csi"]["volumeAttributes"]["mount_pod_node_selector_key"],
            "fluid.io/f-u1"
        );
        assert_eq!(pv["metadata"]["labels"]["fluid.io/s-u1"], "true");
        assert_eq!(pv["metadata"]["labels"]["fluid.io/dataset-id"], "u1");
    }

    #[test]
    fn a_pv_of_the_same_name_claimed_by_another_dataset_is_not_ours() {
        // `a-b/c` and `a/b-c` both map to PV `a-b-c`.
        let ds = dataset(json!({"metadata": {"name": "b-c", "namespace": "a"}, "spec": {}}));
        let (pv, pvc) = build(&ds, &conventional("x", "X", "a", "b-c"));
        assert_eq!(pv_ownership(Some(&pv), "a", "b-c"), Ownership::Ours);
        assert!(matches!(pv_ownership(Some(&pv), "a-b", "c"),
            Ownership::Foreign(m) if m.contains("belongs to claim a/b-c")));
        assert_eq!(pv_ownership(None, "a-b", "c"), Ownership::Absent);
        assert_eq!(pvc_ownership(Some(&pvc), "a", "b-c"), Ownership::Ours);
        let mut users = pvc.clone();
        users.spec.as_mut().unwrap().volume_name = Some("their-disk".into());
        assert!(matches!(
            pvc_ownership(Some(&users), "a", "b-c"),
            Ownership::Foreign(_)
        ));
    }
}
