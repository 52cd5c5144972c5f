//! Fluid's Setup (`pkg/ddc/base/setup.go`), every hook with the host's default, and
//! BindToDataset. A Dataset is bound only when the release is ours and deployed, every
//! workload the chart rendered exists and is ready, and the volume is ours (checked by the
//! caller); until then the pass ends and the watches bring the next one.

use super::defaults;
use super::pass::Pass;
use super::release::{self, Ensured};
use super::ReconcileError;
use crate::controller::conditions::{types, Condition};
use fluid_plugin_api::protocol::Hook;
use serde_json::Value;

/// How far setup got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// Ready to be bound.
    Ready,
    /// Waiting for the watched objects to change.
    Waiting,
    /// Waiting for the engine's master or workers to become ready (watched objects too).
    Starting,
    /// Waiting on something no watch reports (a helm operation that may still run).
    RecheckIn(std::time::Duration),
}

/// Runs the setup sequence.
pub(super) async fn setup(pass: &mut Pass<'_>) -> Result<Progress, ReconcileError> {
    // The host's master check is the release's state in the cache: cheap, so always asked.
    let should_master = pass
        .hook_as::<bool>(Hook::ShouldSetupMaster)
        .await?
        .unwrap_or(true);
    if should_master && pass.hook(Hook::SetupMaster).await?.is_none() {
        match release::ensure(pass).await? {
            Ensured::Refused => return Ok(Progress::Waiting),
            Ensured::Busy(secs) => {
                let message = "a helm operation on the engine's release may still be running";
                not_ready(pass, "ReleasePending", message);
                return Ok(Progress::RecheckIn(std::time::Duration::from_secs(secs)));
            }
            Ensured::Current | Ensured::Installed | Ensured::Upgraded | Ensured::Adopted => {}
        }
    }
    // Kept in every setup pass: a pass whose status write was held back loses what it set.
    if release::recorded(pass).is_some() {
        let cm = crate::controller::names::values_configmap(&pass.name, pass.ctx.engine());
        pass.status.set("valueFile", cm);
        // With `valueFile` in the same write: an engine that records the scale selector once
        // `valueFile` is written (JuiceFS, as Fluid's SetupMaster) then finds it there, instead
        // of patching it alone in the next pass.
        defaults::default_selector(pass);
    }
    let master_ready = match pass.hook_as::<bool>(Hook::CheckMasterReady).await? {
        Some(b) => b,
        None => defaults::master_ready(pass),
    };
    if !master_ready {
        return Ok(starting(
            pass,
            "MasterNotReady",
            "the engine's master is not ready yet",
        ));
    }
    if pass
        .hook_as::<bool>(Hook::ShouldCheckUfs)
        .await?
        .unwrap_or(false)
    {
        pass.hook(Hook::PrepareUfs).await?;
    }
    let should_workers = match pass.hook_as::<bool>(Hook::ShouldSetupWorkers).await? {
        Some(b) => b,
        None => pass
            .status
            .get("workerPhase")
            .as_str()
            .unwrap_or_default()
            .is_empty(),
    };
    if should_workers {
        if pass.hook(Hook::SetupWorkers).await?.is_none() {
            defaults::scale_workers(pass).await?;
        }
        pass.status
            .condition(&crate::controller::workloads::WORKERS_INITIALIZED);
    }
    let workers = match pass.hook_as::<bool>(Hook::CheckWorkersReady).await? {
        Some(true) => Ok(()),
        Some(false) => Err("the engine reports its workers not ready".to_owned()),
        None => defaults::workloads_ready(pass),
    };
    if let Err(why) = workers {
        return Ok(starting(pass, "WorkloadsNotReady", &why));
    }
    let ready = defaults::runtime_status(pass).await?;
    if !ready {
        return Ok(starting(
            pass,
            "WorkloadsNotReady",
            "the engine reports the runtime not ready",
        ));
    }
    pass.status.condition(&Condition {
        kind: types::ENGINE_READY,
        status: true,
        reason: "Ready",
        message: "",
    });
    Ok(Progress::Ready)
}

fn not_ready(pass: &mut Pass<'_>, reason: &str, message: &str) -> Progress {
    pass.status.condition(&Condition {
        kind: types::ENGINE_READY,
        status: false,
        reason,
        message,
    });
    Progress::Waiting
}

fn starting(pass: &mut Pass<'_>, reason: &str, message: &str) -> Progress {
    not_ready(pass, reason, message);
    Progress::Starting
}

/// Fluid's BindToDataset: the Dataset becomes Bound.
pub(super) fn bind(pass: &mut Pass<'_>) -> Result<(), ReconcileError> {
    let d = &mut pass.dataset_status;
    d.condition(&Condition {
        kind: "Ready",
        status: true,
        reason: "DatasetReady",
        message: "The ddc runtime is ready.",
    });
    let was = d.get("phase").as_str().unwrap_or_default().to_owned();
    if was != "DataMigrating" {
        d.set("phase", "Bound");
    }
    if d.get("mounts").as_array().is_none_or(|m| m.is_empty()) {
        let mounts = pass
            .dataset_json
            .as_ref()
            .map(|ds| ds["spec"]["mounts"].clone())
            .unwrap_or(Value::Null);
        d.set("mounts", mounts);
    }
    if pass.status.get("cacheStates").is_object() {
        let states = pass.status.get("cacheStates").clone();
        pass.dataset_status.set("cacheStates", states);
    }
    // No Event (Fluid sends none): the phase and the runtime's `DatasetBound` condition say it.
    let message = format!("dataset {}/{} is bound to this runtime", pass.ns, pass.name);
    pass.report(
        &Condition {
            kind: types::DATASET_BOUND,
            status: true,
            reason: "DatasetBound",
            message: &message,
        },
        None,
    );
    Ok(())
}
