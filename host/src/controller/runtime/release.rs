//! The engine's Helm release (the host's default for `setup_master` and `sync_runtime`): only
//! ever a release this runtime installed (marked with its uid), installed again when a failed
//! or interrupted operation left it unusable, upgraded when the chart values change. The values
//! it was installed with are recorded in the `<name>-<engine>-values` ConfigMap (Fluid's), with
//! their hash and the workloads the chart rendered as annotations, so that later passes compare
//! and check readiness from the watch caches alone.

use super::pass::Pass;
use super::ReconcileError;
use crate::controller::caches::{RUNTIME_UID_LABEL, VALUES_KIND};
use crate::controller::conditions::{types, Condition};
use crate::controller::names;
use crate::lifecycle::{release_action, Ownership, ReleaseAction, ReleaseView, Repair};
use crate::ports::format_ports;
use crate::services::{fnv1a, Chart, Install, HOST_PORTS};
use fluid_plugin_api::conventions::merge_values;
use fluid_plugin_api::protocol::Hook;
use kube::api::DynamicObject;
use serde::Deserialize;
use serde_json::{json, Value};

/// The annotation on the values ConfigMap with the hash of the values.
pub const VALUES_HASH: &str = "fluid.io/values-hash";
/// The annotation on the values ConfigMap listing the workloads the chart rendered, as
/// `Kind/name` separated by commas.
pub const WORKLOADS: &str = "fluid.io/workloads";

/// What [`ensure`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ensured {
    /// The release is ours, deployed, with the current values: nothing was done.
    Current,
    /// It was installed (or installed again after a repair).
    Installed,
    /// It was upgraded with changed values.
    Upgraded,
    /// A release Fluid's controller installed for this runtime was taken over: upgraded with
    /// this engine's chart and marked as this runtime's.
    Adopted,
    /// Someone else's release stands in the way; the condition says whose.
    Refused,
    /// An operation may still be running; look again after this many seconds.
    Busy(u64),
}

/// The chart values: the host's (the runtime's conventions), overlaid with the engine's
/// `transform`.
pub async fn values(pass: &Pass<'_>) -> Result<Value, ReconcileError> {
    let mut values = pass.conventions().chart_values();
    if let Some(engine_values) = pass.hook(Hook::Transform).await? {
        merge_values(&mut values, engine_values);
    }
    Ok(values)
}

/// A stable hash of the values (serde_json maps are ordered).
pub fn values_hash(values: &Value) -> String {
    format!("{:016x}", fnv1a(values.to_string().as_bytes()))
}

/// The workloads a rendered manifest holds, as `Kind/name`.
pub fn workloads_in(manifest: &str) -> Vec<String> {
    let mut found = vec![];
    for doc in serde_yaml::Deserializer::from_str(manifest) {
        let Ok(v) = Value::deserialize(doc) else {
            continue;
        };
        let kind = v["kind"].as_str().unwrap_or_default();
        if matches!(kind, "StatefulSet" | "DaemonSet" | "Deployment") {
            if let Some(name) = v["metadata"]["name"].as_str() {
                found.push(format!("{kind}/{name}"));
            }
        }
    }
    found.sort();
    found
}

/// The recorded values' hash and workloads, from the values ConfigMap in the cache.
pub fn recorded(pass: &Pass<'_>) -> Option<(String, Vec<String>)> {
    let cm = pass.ctx.caches.values_configmap(
        &pass.ns,
        &names::values_configmap(&pass.name, pass.ctx.engine()),
    )?;
    let ours = cm
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == pass.uid());
    if !ours {
        return None;
    }
    let a = cm.metadata.annotations.clone().unwrap_or_default();
    let workloads = a
        .get(WORKLOADS)
        .map(|w| {
            w.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Some((a.get(VALUES_HASH).cloned().unwrap_or_default(), workloads))
}

/// The release of the runtime's name as the lifecycle sees it at `now` (unix seconds).
pub(super) fn view(pass: &Pass<'_>, now: i64) -> ReleaseView {
    pass.ctx
        .caches
        .release(&pass.ns, &pass.name)
        .view(pass.uid(), now, installed_for_runtime(pass))
}

/// Whether the worker StatefulSet was installed by a helm release of the runtime's name and
/// is controlled by this runtime: what a release Fluid's controller installed for it shows
/// (Fluid's chart sets the runtime as the owner of its objects), so it is adopted.
fn installed_for_runtime(pass: &Pass<'_>) -> bool {
    let Some(sts) = pass
        .ctx
        .caches
        .statefulset(&pass.ns, &format!("{}-worker", pass.name))
    else {
        return false;
    };
    let meta = &sts.metadata;
    let by_release = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get("meta.helm.sh/release-name"))
        == Some(&pass.name);
    let owned = meta
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == pass.uid() && o.controller == Some(true));
    by_release && owned
}

/// Makes the release ours, deployed and current, or says why it cannot be.
pub(super) async fn ensure(pass: &mut Pass<'_>) -> Result<Ensured, ReconcileError> {
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let view = view(pass, now);
    let adopting = pass
        .ctx
        .caches
        .release(&pass.ns, &pass.name)
        .adoptable(installed_for_runtime(pass));
    match release_action(&view) {
        ReleaseAction::Refuse(whose) => {
            refuse(pass, &whose);
            Ok(Ensured::Refused)
        }
        ReleaseAction::Install => {
            if let Some(whose) = release_in_secrets(pass) {
                refuse(pass, &whose);
                return Ok(Ensured::Refused);
            }
            let fresh = view.ownership == Ownership::Absent;
            install(pass, if fresh { Install::Fresh } else { Install::Yes }).await?;
            Ok(Ensured::Installed)
        }
        ReleaseAction::Keep => {
            let values = values(pass).await?;
            if recorded(pass).is_some_and(|(hash, _)| hash == values_hash(&values)) {
                return Ok(Ensured::Current);
            }
            install_values(pass, values, Install::Yes).await?;
            Ok(if adopting {
                Ensured::Adopted
            } else {
                Ensured::Upgraded
            })
        }
        ReleaseAction::Wait(secs) => Ok(Ensured::Busy(secs)),
        ReleaseAction::Repair { status, how } => {
            let message = format!(
                "the engine's release {}/{} was left {status} by an interrupted helm; {}",
                pass.ns,
                pass.name,
                match how {
                    Repair::Uninstall => "uninstalling it and installing again",
                    Repair::Rollback => "rolling it back and upgrading again",
                }
            );
            pass.event(true, "ReleaseRepaired", &message);
            match how {
                Repair::Uninstall => {
                    pass.ctx.helm.uninstall(&pass.ns, &pass.name).await?;
                }
                Repair::Rollback => pass.ctx.helm.rollback(&pass.ns, &pass.name).await?,
            }
            install(pass, Install::Yes).await?;
            Ok(Ensured::Installed)
        }
    }
}

fn refuse(pass: &mut Pass<'_>, whose: &str) {
    let message = format!("{whose}; fluid-rs installs its own release of this name and will not touch this one: rename the Dataset and runtime, or remove that release");
    pass.report(
        &Condition {
            kind: types::ENGINE_READY,
            status: false,
            reason: "ReleaseNotOwned",
            message: &message,
        },
        Some((true, "ReleaseNotOwned")),
    );
}

/// A release of the runtime's name kept by helm's default storage (Secrets), made by someone
/// else's helm: the controller's helm (ConfigMap storage) would not see it, and would adopt its
/// objects. Read from the watch of those records' metadata.
fn release_in_secrets(pass: &Pass<'_>) -> Option<String> {
    pass.ctx
        .caches
        .release_in_secrets(&pass.ns, &pass.name)
        .then(|| {
            format!(
                "Helm release {}/{} exists (stored in Secrets) and was not installed by fluid-rs",
                pass.ns, pass.name
            )
        })
}

/// Installs (or upgrades) the release with the current values.
async fn install(pass: &mut Pass<'_>, how: Install) -> Result<(), ReconcileError> {
    let values = values(pass).await?;
    install_values(pass, values, how).await
}

async fn install_values(
    pass: &mut Pass<'_>,
    values: Value,
    how: Install,
) -> Result<(), ReconcileError> {
    let chart = pass.ctx.hooks.plugin.chart();
    if chart.is_empty() {
        return Err(ReconcileError::Invalid(format!(
            "plugin {} has no chart and does not set the master up itself",
            pass.ctx.engine()
        )));
    }
    let uid = pass.uid().to_owned();
    let release = pass
        .ctx
        .helm
        .upgrade(
            &pass.ns,
            &pass.name,
            Chart {
                name: pass.ctx.engine(),
                tgz: chart,
            },
            &values,
            how,
            &[(RUNTIME_UID_LABEL, uid.as_str())],
        )
        .await?;
    let workloads = workloads_in(&release.manifest);
    let cm_name = names::values_configmap(&pass.name, pass.ctx.engine());
    let mut annotations =
        json!({VALUES_HASH: values_hash(&values), WORKLOADS: workloads.join(",")});
    // The host-network ports the engine was given: the record the book is rebuilt from.
    let ports = pass.ctx.hooks.ports.of(&uid);
    if !ports.is_empty() {
        annotations[HOST_PORTS] = json!(format_ports(&ports));
    }
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": cm_name,
            "labels": {"fluid.io/dataset-id": values["ownerDatasetId"]},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": pass.ctx.kind.api_version, "kind": pass.ctx.kind.kind,
                "name": pass.name, "uid": uid}],
        },
        // Secret *references* only: engines put no secret values in chart values.
        "data": {"data": serde_yaml::to_string(&values).unwrap_or_default()},
    });
    let applied = pass.ctx.cluster.apply(&pass.ns, cm).await?;
    if let Ok(o) = serde_json::from_value::<DynamicObject>(applied) {
        pass.ctx.caches.recent.remember(VALUES_KIND, &o);
    }
    pass.status.set("valueFile", &cm_name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workloads_of_a_manifest_are_found() {
        let manifest = "---\n# Source: x/templates/worker.yaml\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: demo-worker\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo-script\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: demo-fuse\n";
        assert_eq!(
            workloads_in(manifest),
            ["DaemonSet/demo-fuse", "StatefulSet/demo-worker"]
        );
        assert!(workloads_in("").is_empty());
    }

    #[test]
    fn the_values_hash_is_stable_and_sensitive() {
        let a = json!({"b": 1, "a": {"x": [1, 2]}});
        let b = json!({"a": {"x": [1, 2]}, "b": 1});
        assert_eq!(values_hash(&a), values_hash(&b));
        assert_ne!(
            values_hash(&a),
            values_hash(&json!({"a": {"x": [2, 1]}, "b": 1}))
        );
    }
}
