//! The names and paths the controller decides for a runtime, and Fluid's rules behind them.
//!
//! They are part of the compatibility contract (Fluid's CSI plugin and scheduler plugins read
//! them), so they follow Fluid's rules exactly, including how long names are shortened. The
//! controller computes them once per runtime ([`Conventions::of`]) and passes them in: to the
//! chart as values ([`Conventions::chart_values`]) and to every hook
//! ([`HookContext::conventions`](crate::HookContext::conventions)). An engine uses what it is
//! given rather than computing its own, so its fuse mounts exactly where the PV says.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A label key's name part, and a label value, are at most this long (Kubernetes).
pub const LABEL_MAX: usize = 63;

/// Fluid's rule for names built from `<prefix><namespace>-<name>`: kept while shorter than 63
/// characters (prefix included), otherwise `<prefix><dataset uid>`, which is unique and short.
fn namespaced_with_prefix(prefix: &str, namespace: &str, name: &str, dataset_uid: &str) -> String {
    let full = format!("{prefix}{namespace}-{name}");
    if full.len() < LABEL_MAX || dataset_uid.is_empty() {
        full
    } else {
        format!("{prefix}{dataset_uid}")
    }
}

/// The `fluid.io/dataset-id` label value of a Dataset.
pub fn dataset_id(namespace: &str, name: &str, dataset_uid: &str) -> String {
    namespaced_with_prefix("", namespace, name, dataset_uid)
}

/// The node label that schedules an engine's fuse on a node (`fluid.io/f-<ns>-<name>`), which
/// the CSI plugin sets on the nodes where a pod mounts the Dataset's volume.
pub fn fuse_label(namespace: &str, name: &str, dataset_uid: &str) -> String {
    namespaced_with_prefix("fluid.io/f-", namespace, name, dataset_uid)
}

/// The label on a Dataset's PV and PVC (`fluid.io/s-<ns>-<name>`).
pub fn common_label(namespace: &str, name: &str, dataset_uid: &str) -> String {
    namespaced_with_prefix("fluid.io/s-", namespace, name, dataset_uid)
}

/// Where engines mount on the nodes (Fluid's `MOUNT_ROOT`).
pub const MOUNT_ROOT: &str = "/runtime-mnt";

/// The node directory an engine's fuse DaemonSet mounts from the host (with bidirectional
/// mount propagation): `/runtime-mnt/<engine>/<namespace>/<name>`.
pub fn fuse_host_mount_path(engine: &str, namespace: &str, name: &str) -> String {
    format!("{MOUNT_ROOT}/{engine}/{namespace}/{name}")
}

/// Where the fuse mounts the file system on the node,
/// `/runtime-mnt/<engine>/<namespace>/<name>/<leaf>`: the PV's `fluid_path`, which the CSI
/// plugin binds into the pods that use the volume. The leaf is Fluid's: the fuse's name when
/// the mount type is `fuse.<name>-fuse` (`fuse.jindofs-fuse` mounts at `.../jindofs-fuse`),
/// else `<engine>-fuse` (`juicefs-fuse`, `vendorfs-fuse` for `fuse.rclone`;
/// `fuse.alluxio-fuse` agrees).
pub fn fuse_mount_path(engine: &str, mount_type: &str, namespace: &str, name: &str) -> String {
    let leaf = mount_type
        .strip_prefix("fuse.")
        .filter(|l| l.len() > "-fuse".len() && l.ends_with("-fuse") && !l.contains('/'))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{engine}-fuse"));
    format!("{}/{leaf}", fuse_host_mount_path(engine, namespace, name))
}

/// The runtime that owns everything the engine creates (the `ownerReferences` entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// The runtime's `apiVersion`, e.g. `data.fluid.io/v1alpha1`.
    pub api_version: String,
    /// The runtime's kind, e.g. `JuiceFSRuntime`.
    pub kind: String,
    /// The runtime's name.
    pub name: String,
    /// The runtime's uid.
    pub uid: String,
}

/// What the controller decided for one runtime: the names its objects take, where its fuse
/// mounts, and who owns them. Passed to every hook (protocol 1.1) and, as
/// [`chart_values`](Self::chart_values), to the engine's chart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conventions {
    /// The engine's name (`juicefs`), as in the paths.
    pub engine: String,
    /// The runtime's (and its Dataset's) namespace.
    pub namespace: String,
    /// The runtime's (and its Dataset's) name. Also the Helm release's name and the chart's
    /// `fullnameOverride`: the workloads are `<name>-master`, `<name>-worker`, `<name>-fuse`.
    pub name: String,
    /// The `fluid.io/dataset-id` label value ([`dataset_id`]).
    pub dataset_id: String,
    /// The node label key that schedules the fuse ([`fuse_label`]); its value is `"true"`.
    pub fuse_node_selector_key: String,
    /// Where the fuse mounts on the node ([`fuse_mount_path`]): the PV's `fluid_path`.
    pub fuse_mount_path: String,
    /// The node directory the fuse DaemonSet mounts ([`fuse_host_mount_path`]).
    pub fuse_host_mount_path: String,
    /// The file system type the fuse mount shows in the node's mount table: the PV's
    /// `mount_type` (the plugin's `mount_type`, else its name).
    pub mount_type: String,
    /// The runtime, owner of the engine's objects.
    pub owner: Owner,
}

impl Conventions {
    /// The conventions of a runtime served by `engine`, from the runtime and its Dataset as on
    /// the wire (the Dataset's uid only matters for names too long for Fluid's short form).
    /// This is how the controller computes them.
    pub fn of(engine: &str, mount_type: &str, runtime: &Value, dataset: Option<&Value>) -> Self {
        let text = |v: &Value, pointer: &str| -> String {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let namespace = text(runtime, "/metadata/namespace");
        let name = text(runtime, "/metadata/name");
        let dataset_uid = dataset
            .map(|d| text(d, "/metadata/uid"))
            .unwrap_or_default();
        Conventions {
            engine: engine.to_owned(),
            dataset_id: dataset_id(&namespace, &name, &dataset_uid),
            fuse_node_selector_key: fuse_label(&namespace, &name, &dataset_uid),
            fuse_mount_path: fuse_mount_path(engine, mount_type, &namespace, &name),
            fuse_host_mount_path: fuse_host_mount_path(engine, &namespace, &name),
            mount_type: mount_type.to_owned(),
            owner: Owner {
                api_version: text(runtime, "/apiVersion"),
                kind: text(runtime, "/kind"),
                name: name.clone(),
                uid: text(runtime, "/metadata/uid"),
            },
            namespace,
            name,
        }
    }

    /// The master StatefulSet the controller's readiness looks for: `<name>-master`.
    pub fn master_name(&self) -> String {
        format!("{}-master", self.name)
    }

    /// The worker StatefulSet the controller's readiness and scaling look for: `<name>-worker`.
    pub fn worker_name(&self) -> String {
        format!("{}-worker", self.name)
    }

    /// The fuse DaemonSet the controller's readiness and the CSI plugin look for:
    /// `<name>-fuse`.
    pub fn fuse_name(&self) -> String {
        format!("{}-fuse", self.name)
    }

    /// The values the controller adds to every engine chart, under the engine's own values
    /// (the engine's `transform` output is merged over them with [`merge_values`]): Fluid's
    /// common keys (`fullnameOverride`, `ownerDatasetId`, `runtimeIdentity`, `owner`) and the
    /// conventions (`fuseNodeSelectorKey`, `fuseMountPath`, `fuseHostMountPath`, `mountType`).
    pub fn chart_values(&self) -> Value {
        json!({
            "fullnameOverride": self.name,
            "ownerDatasetId": self.dataset_id,
            "runtimeIdentity": {"namespace": self.namespace, "name": self.name},
            "fuseNodeSelectorKey": self.fuse_node_selector_key,
            "fuseMountPath": self.fuse_mount_path,
            "fuseHostMountPath": self.fuse_host_mount_path,
            "mountType": self.mount_type,
            "owner": {
                "enabled": true,
                "name": self.owner.name,
                "kind": self.owner.kind,
                "apiVersion": self.owner.api_version,
                "uid": self.owner.uid,
                "blockOwnerDeletion": false,
                "controller": true,
            },
        })
    }
}

/// Deep-merges `overlay` into `base`: objects merge key by key, anything else replaces. How
/// the controller lays an engine's values over [`Conventions::chart_values`].
pub fn merge_values(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge_values(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "5f0c1c39-0a3c-4c1e-9d0a-3b1f0e6a2b7d";

    #[test]
    fn short_names_are_namespace_dash_name() {
        assert_eq!(dataset_id("ns", "demo", UID), "ns-demo");
        assert_eq!(fuse_label("ns", "demo", UID), "fluid.io/f-ns-demo");
        assert_eq!(common_label("ns", "demo", UID), "fluid.io/s-ns-demo");
    }

    #[test]
    fn long_names_fall_back_to_the_dataset_uid_at_63_characters_as_fluid() {
        // 62 characters with the prefix: kept.
        let name = "n".repeat(62 - "fluid.io/f-ns-".len());
        assert_eq!(
            fuse_label("ns", &name, UID),
            format!("fluid.io/f-ns-{name}")
        );
        // 63: replaced (Fluid keeps only what is strictly shorter than 63).
        let name = "n".repeat(63 - "fluid.io/f-ns-".len());
        assert_eq!(fuse_label("ns", &name, UID), format!("fluid.io/f-{UID}"));
        let long = "x".repeat(61);
        assert_eq!(dataset_id("ns", &long, UID), UID);
        assert_eq!(common_label("ns", &long, UID), format!("fluid.io/s-{UID}"));
        let key = fuse_label("a-very-long-namespace-name", &"y".repeat(53), UID);
        assert!(key.split('/').nth(1).unwrap().len() <= LABEL_MAX, "{key}");
    }

    fn runtime() -> Value {
        json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "JuiceFSRuntime",
            "metadata": {"name": "demo", "namespace": "team", "uid": "r1"}})
    }

    #[test]
    fn the_fuse_mount_path_ends_with_fluids_fuse_name() {
        let path = |engine, mount_type| fuse_mount_path(engine, mount_type, "ns", "demo");
        assert_eq!(
            path("jindo", "fuse.jindofs-fuse"),
            "/runtime-mnt/jindo/ns/demo/jindofs-fuse"
        );
        assert_eq!(
            path("alluxio", "fuse.alluxio-fuse"),
            "/runtime-mnt/alluxio/ns/demo/alluxio-fuse"
        );
        assert_eq!(
            path("juicefs", "JuiceFS"),
            "/runtime-mnt/juicefs/ns/demo/juicefs-fuse"
        );
        assert_eq!(
            path("vendorfs", "fuse."),
            "/runtime-mnt/vendorfs/ns/demo/vendorfs-fuse"
        );
    }

    #[test]
    fn the_conventions_of_a_runtime_are_fluids() {
        let ds = json!({"metadata": {"name": "demo", "namespace": "team", "uid": UID}});
        let c = Conventions::of("juicefs", "JuiceFS", &runtime(), Some(&ds));
        assert_eq!(c.dataset_id, "team-demo");
        assert_eq!(c.fuse_node_selector_key, "fluid.io/f-team-demo");
        assert_eq!(
            c.fuse_mount_path,
            "/runtime-mnt/juicefs/team/demo/juicefs-fuse"
        );
        assert_eq!(c.fuse_host_mount_path, "/runtime-mnt/juicefs/team/demo");
        assert_eq!(
            (c.master_name(), c.worker_name(), c.fuse_name()),
            (
                "demo-master".into(),
                "demo-worker".into(),
                "demo-fuse".into()
            )
        );
        assert_eq!(
            c.owner,
            Owner {
                api_version: "data.fluid.io/v1alpha1".into(),
                kind: "JuiceFSRuntime".into(),
                name: "demo".into(),
                uid: "r1".into()
            }
        );
        let values = c.chart_values();
        assert_eq!(values["fullnameOverride"], "demo");
        assert_eq!(values["fuseMountPath"], c.fuse_mount_path.as_str());
        assert_eq!(values["mountType"], "JuiceFS");
        assert_eq!(values["owner"]["uid"], "r1");
        assert_eq!(values["owner"]["enabled"], true);
        // What travels in a hook request reads back the same.
        let wire = serde_json::to_value(&c).unwrap();
        assert_eq!(wire["fuseNodeSelectorKey"], "fluid.io/f-team-demo");
        assert_eq!(serde_json::from_value::<Conventions>(wire).unwrap(), c);
    }

    #[test]
    fn long_names_take_the_dataset_uid_and_paths_stay_whole() {
        let name = "d".repeat(60);
        let mut rt = runtime();
        rt["metadata"]["name"] = json!(name);
        let ds = json!({"metadata": {"uid": UID}});
        let c = Conventions::of("vendorfs", "VendorFS", &rt, Some(&ds));
        assert_eq!(c.fuse_node_selector_key, format!("fluid.io/f-{UID}"));
        assert_eq!(c.dataset_id, UID);
        assert!(c
            .fuse_mount_path
            .ends_with(&format!("/team/{name}/vendorfs-fuse")));
        // Without a Dataset (yet) the long form is kept, as the controller does.
        let c = Conventions::of("vendorfs", "VendorFS", &rt, None);
        assert_eq!(c.dataset_id, format!("team-{name}"));
    }

    #[test]
    fn engine_values_merge_over_the_hosts() {
        let mut base = json!({"owner": {"enabled": true, "name": "a"}, "fullnameOverride": "a"});
        merge_values(
            &mut base,
            json!({"owner": {"name": "b"}, "worker": {"replicas": 0}}),
        );
        assert_eq!(
            base,
            json!({"owner": {"enabled": true, "name": "b"}, "fullnameOverride": "a", "worker": {"replicas": 0}})
        );
    }
}
