//! What the controller needs of an operation's spec, the same for every kind: its Dataset, its
//! policy and schedule, what it runs after and whose placement it follows, its time to live,
//! and what is wrong with it. Pure.

use super::affinity::{self, Follow};
use super::cron::Schedule;
use fluid_plugin_api::types::{
    DataBackup, DataLoad, DataMigrate, DataProcess, OperationKind, OperationPolicy, OperationRef,
    TargetDataset,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An operation by kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationKey {
    /// Its kind.
    pub kind: OperationKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl OperationKey {
    /// The operation of `kind` named `name` in `namespace`.
    pub fn new(kind: OperationKind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        OperationKey {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Whether this is the operation of `kind` named `name` in `namespace`.
    pub fn is(&self, kind: OperationKind, namespace: &str, name: &str) -> bool {
        self.kind == kind && self.namespace == namespace && self.name == name
    }
}

/// The parts of an operation's spec every kind has.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpecView {
    /// The target Dataset's namespace.
    pub dataset_namespace: String,
    /// The target Dataset's name.
    pub dataset_name: String,
    /// When it runs.
    pub policy: OperationPolicy,
    /// The cron schedule, for `Cron`.
    pub schedule: Option<String>,
    /// `runAfter`.
    pub run_after: Option<OperationKey>,
    /// `runAfter.affinityStrategy`, when it has a policy.
    pub follow: Option<Follow>,
    /// Whether the operation records where its pod ran (`status.nodeAffinity`).
    pub records_placement: bool,
    /// `ttlSecondsAfterFinished`.
    pub ttl_seconds: Option<i64>,
    /// What is wrong with the spec: `field: reason`.
    pub invalid: Option<String>,
}

fn typed<T: DeserializeOwned>(kind: OperationKind, op: &Value) -> Result<T, String> {
    serde_json::from_value(op.clone()).map_err(|e| format!("spec: not a valid {kind}: {e}"))
}

fn target(ns: &str, d: &TargetDataset) -> (String, String) {
    (
        d.namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| ns.to_owned()),
        d.name.clone(),
    )
}

/// Reads the spec of an operation of `kind` (as on the wire).
pub fn spec_view(kind: OperationKind, op: &Value) -> SpecView {
    let ns = op["metadata"]["namespace"].as_str().unwrap_or_default();
    let read = || -> Result<SpecView, String> {
        let mut v = SpecView::default();
        let run_after: Option<OperationRef>;
        let mut parallelism = 1;
        match kind {
            OperationKind::DataLoad => {
                let load: DataLoad = typed(kind, op)?;
                let s = load.spec;
                (v.dataset_namespace, v.dataset_name) = target(ns, &s.dataset);
                (v.policy, v.schedule, run_after) = (s.policy, s.schedule, s.run_after);
                v.ttl_seconds = s.ttl_seconds_after_finished.map(i64::from);
            }
            OperationKind::DataMigrate => {
                let migrate: DataMigrate = typed(kind, op)?;
                let s = migrate.spec;
                let side = s.to.dataset.as_ref().or(s.from.dataset.as_ref()).ok_or(
                    "spec.from, spec.to: one side of a migration must be a Dataset".to_owned(),
                )?;
                (v.dataset_namespace, v.dataset_name) = (side.namespace.clone(), side.name.clone());
                if v.dataset_namespace.is_empty() {
                    v.dataset_namespace = ns.to_owned();
                }
                (v.policy, v.schedule, run_after) = (s.policy, s.schedule, s.run_after);
                v.ttl_seconds = s.ttl_seconds_after_finished.map(i64::from);
                parallelism = s.parallelism;
            }
            OperationKind::DataProcess => {
                let process: DataProcess = typed(kind, op)?;
                let s = process.spec;
                (v.dataset_namespace, v.dataset_name) = (
                    s.dataset
                        .namespace
                        .clone()
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| ns.to_owned()),
                    s.dataset.name.clone(),
                );
                if v.dataset_namespace != ns {
                    return Err(format!(
                        "spec.dataset.namespace: a DataProcess mounts the Dataset's claim, so the \
                         Dataset must be in the DataProcess's namespace {ns}, not {}",
                        v.dataset_namespace
                    ));
                }
                (v.policy, v.schedule, run_after) = (s.policy, s.schedule, s.run_after);
                v.ttl_seconds = s.ttl_seconds_after_finished.map(i64::from);
            }
            OperationKind::DataBackup => {
                let backup: DataBackup = typed(kind, op)?;
                let s = backup.spec;
                // Fluid's check, for every engine: where the backup goes.
                let path = s.backup_path.as_deref().unwrap_or_default();
                if !path.starts_with("pvc://") && !path.starts_with("local://") {
                    return Err(format!(
                        "spec.backupPath: {path:?}: expected pvc://<claim>/<path> or local://<path>"
                    ));
                }
                (v.dataset_namespace, v.dataset_name) = (ns.to_owned(), s.dataset);
                run_after = s.run_after;
                v.ttl_seconds = s.ttl_seconds_after_finished.map(i64::from);
            }
        }
        if v.dataset_name.is_empty() {
            return Err("spec.dataset: the Dataset to work on is not named".into());
        }
        if let Some(r) = &run_after {
            v.follow = affinity::read_strategy(ns, r)?;
        }
        v.run_after = run_after.map(|r| {
            OperationKey::new(
                r.kind,
                r.namespace
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| ns.to_owned()),
                r.name,
            )
        });
        v.records_placement =
            affinity::records_placement(v.policy == OperationPolicy::Cron, kind, parallelism);
        if v.policy == OperationPolicy::Cron {
            let schedule = v
                .schedule
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .ok_or("spec.schedule: policy Cron needs a schedule")?;
            Schedule::parse(schedule).map_err(|e| format!("spec.schedule: {e}"))?;
        }
        Ok(v)
    };
    read().unwrap_or_else(|problem| {
        // Still name the Dataset when it can be read, so the operation's lock can be found.
        let dataset = &op["spec"]["dataset"];
        SpecView {
            dataset_namespace: dataset["namespace"].as_str().unwrap_or(ns).to_owned(),
            dataset_name: dataset["name"]
                .as_str()
                .or(dataset.as_str())
                .unwrap_or_default()
                .to_owned(),
            invalid: Some(problem),
            ..SpecView::default()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(kind: &str, spec: Value) -> Value {
        json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": kind,
            "metadata": {"name": "o", "namespace": "ns"}, "spec": spec})
    }

    #[test]
    fn a_dataload_names_its_dataset_policy_and_run_after() {
        let v = spec_view(
            OperationKind::DataLoad,
            &op(
                "DataLoad",
                json!({"dataset": {"name": "demo"}, "policy": "Cron", "schedule": "*/5 * * * *",
                    "runAfter": {"kind": "DataMigrate", "name": "copy"},
                    "ttlSecondsAfterFinished": 30}),
            ),
        );
        assert_eq!(v.invalid, None);
        assert_eq!(
            (v.dataset_namespace.as_str(), v.dataset_name.as_str()),
            ("ns", "demo")
        );
        assert_eq!(v.policy, OperationPolicy::Cron);
        assert_eq!(
            v.run_after,
            Some(OperationKey::new(OperationKind::DataMigrate, "ns", "copy"))
        );
        assert_eq!(v.ttl_seconds, Some(30));
        // A Cron load runs many pods: it records no placement.
        assert!(!v.records_placement);
        assert_eq!(v.follow, None);
    }

    #[test]
    fn the_affinity_strategy_is_read_and_a_bad_one_named() {
        let v = spec_view(
            OperationKind::DataProcess,
            &op(
                "DataProcess",
                json!({"dataset": {"name": "demo", "mountPath": "/d"}, "processor": {},
                    "runAfter": {"kind": "DataLoad", "name": "warm", "affinityStrategy": {
                        "policy": "Require", "requires": [{"name": "gpu"}],
                        "dependOn": {"kind": "DataMigrate", "name": "copy"}}}}),
            ),
        );
        assert_eq!(v.invalid, None);
        assert!(v.records_placement);
        assert_eq!(
            v.follow,
            Some(Follow {
                depend_on: OperationKey::new(OperationKind::DataMigrate, "ns", "copy"),
                policy: affinity::Policy::Require(vec!["gpu".into()]),
            })
        );
        let v = spec_view(
            OperationKind::DataLoad,
            &op(
                "DataLoad",
                json!({"dataset": {"name": "demo"}, "runAfter": {"kind": "DataLoad",
                    "name": "warm", "affinityStrategy": {"policy": "Sometimes"}}}),
            ),
        );
        assert!(v
            .invalid
            .unwrap()
            .starts_with("spec.runAfter.affinityStrategy.policy"),);
        // A migration by several workers records no single node.
        let v = spec_view(
            OperationKind::DataMigrate,
            &op(
                "DataMigrate",
                json!({"from": {"dataset": {"name": "demo"}},
                    "to": {"externalStorage": {"uri": "s3://c"}}, "parallelism": 2}),
            ),
        );
        assert!(!v.records_placement);
    }

    #[test]
    fn the_follow_sample_reads_as_a_require_after_its_load() {
        let sample = include_str!("../../../../samples/dataload/follow.yaml");
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(sample)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let mut process = docs[1].clone();
        process["metadata"]["namespace"] = json!("default");
        let v = spec_view(OperationKind::DataProcess, &process);
        assert_eq!(v.invalid, None);
        assert_eq!(
            v.follow,
            Some(Follow {
                depend_on: OperationKey::new(
                    OperationKind::DataLoad,
                    "default",
                    "jfsdemo-warm-train"
                ),
                policy: affinity::Policy::Require(vec![affinity::HOSTNAME_LABEL.into()]),
            })
        );
        assert!(
            docs[0]["metadata"]["annotations"][affinity::EXPOSED_LABELS_ANNOTATION].is_string()
        );
    }

    #[test]
    fn a_cron_operation_needs_a_valid_schedule() {
        let v = spec_view(
            OperationKind::DataLoad,
            &op(
                "DataLoad",
                json!({"dataset": {"name": "demo"}, "policy": "Cron"}),
            ),
        );
        assert_eq!(
            v.invalid.as_deref(),
            Some("spec.schedule: policy Cron needs a schedule")
        );
        assert_eq!(v.dataset_name, "demo");
        let v = spec_view(
            OperationKind::DataLoad,
            &op(
                "DataLoad",
                json!({"dataset": {"name": "demo"}, "policy": "Cron", "schedule": "99 * * * *"}),
            ),
        );
        assert!(v.invalid.unwrap().contains("minute"));
    }

    #[test]
    fn a_migration_targets_its_dataset_side() {
        let v = spec_view(
            OperationKind::DataMigrate,
            &op(
                "DataMigrate",
                json!({"from": {"externalStorage": {"uri": "s3://b/d"}},
                    "to": {"dataset": {"name": "demo", "namespace": "other"}}}),
            ),
        );
        assert_eq!(
            (v.dataset_namespace.as_str(), v.dataset_name.as_str()),
            ("other", "demo")
        );
        let v = spec_view(
            OperationKind::DataMigrate,
            &op(
                "DataMigrate",
                json!({"from": {"externalStorage": {"uri": "s3://b/d"}},
                    "to": {"externalStorage": {"uri": "s3://c"}}}),
            ),
        );
        assert!(v.invalid.unwrap().starts_with("spec.from, spec.to"));
    }

    #[test]
    fn a_process_must_be_beside_its_dataset_and_a_backup_names_it_by_string() {
        let v = spec_view(
            OperationKind::DataProcess,
            &op(
                "DataProcess",
                json!({"dataset": {"name": "demo", "namespace": "else", "mountPath": "/d"},
                    "processor": {}}),
            ),
        );
        assert!(v.invalid.unwrap().starts_with("spec.dataset.namespace"));
        let v = spec_view(
            OperationKind::DataBackup,
            &op(
                "DataBackup",
                json!({"dataset": "demo", "backupPath": "pvc://claim/dir"}),
            ),
        );
        assert_eq!((v.dataset_name.as_str(), v.invalid), ("demo", None));
        for path in [json!(null), json!("s3://bucket/x")] {
            let v = spec_view(
                OperationKind::DataBackup,
                &op("DataBackup", json!({"dataset": "demo", "backupPath": path})),
            );
            assert_eq!(v.dataset_name, "demo");
            assert!(v.invalid.unwrap().starts_with("spec.backupPath: "));
        }
    }
}
