//! Fluid's Sync (`pkg/ddc/base/syncs.go`), every hook with the host's defaults, into the
//! pass's status drafts: a runtime whose state did not change makes no write.

use super::defaults;
use super::pass::Pass;
use super::release::{self, Ensured};
use super::volume;
use super::ReconcileError;
use crate::controller::conditions::{types, Condition};
use fluid_plugin_api::protocol::Hook;
use fluid_plugin_api::types::size::human_bytes;
use fluid_plugin_api::{CacheReport, HealthReport, MetadataReport};
use serde_json::Value;

pub(super) async fn sync(pass: &mut Pass<'_>) -> Result<(), ReconcileError> {
    // Hooks see the runtime as this pass will write it (the pass that binds has not written
    // its worker counts yet; a report made from the older copy would be corrected, and
    // written, by the next pass).
    let mut status = pass.status.as_value();
    crate::controller::schema::complete(
        &mut status,
        &serde_json::Value::Null,
        &pass.ctx.runtime_status.required,
    );
    pass.runtime_json["status"] = status;
    // Reports that may cost the engine an exec in its pods (metadata, cache states) are asked
    // once per sync period, as Fluid does, not on every change a watch brings.
    let reports_due = reports_due(pass);
    if !reports_due {
        tracing::trace!(runtime = %pass.name, "reports asked less than a sync period ago");
    } else if let Some(m) = pass.hook_as::<MetadataReport>(Hook::SyncMetadata).await? {
        let d = &mut pass.dataset_status;
        if m.calculating {
            d.set("ufsTotal", "[Calculating]");
            d.set("fileNum", "[Calculating]");
        } else {
            if let Some(b) = m.ufs_total_bytes {
                d.set("ufsTotal", human_bytes(b));
            }
            if let Some(n) = m.file_count {
                d.set("fileNum", n.to_string());
            }
        }
    }

    if pass.hook(Hook::SyncReplicas).await?.is_none() {
        if let Some((have, want)) = defaults::scale_workers(pass).await? {
            let (kind, verb) = if want > have {
                ("WorkersScaledOut", "out")
            } else {
                ("WorkersScaledIn", "in")
            };
            let message = format!("workers scaled {verb} from {have} to {want}");
            pass.status.condition(&Condition {
                kind,
                status: true,
                reason: kind,
                message: &message,
            });
            pass.event(false, "Succeed", &format!("Runtime scaled {verb}"));
        }
    }

    let mut release_ok = true;
    if pass.hook(Hook::SyncRuntime).await?.is_none() && !pass.ctx.hooks.plugin.chart().is_empty() {
        match release::ensure(pass).await? {
            Ensured::Current | Ensured::Busy(_) => {}
            Ensured::Upgraded => pass.event(
                false,
                "RuntimeUpdated",
                "the runtime spec changed; the engine's release was upgraded",
            ),
            Ensured::Adopted => pass.event(
                false,
                "ReleaseAdopted",
                "the release Fluid's controller installed for this runtime was adopted: \
                 upgraded with fluid-rs' chart (running pods are kept: workers and fuses \
                 update on delete)",
            ),
            Ensured::Installed => pass.event(
                true,
                "ReleaseReinstalled",
                "the engine's release was missing or broken and was installed again",
            ),
            Ensured::Refused => release_ok = false,
        }
    }

    let health = pass
        .hook_as::<HealthReport>(Hook::CheckRuntimeHealthy)
        .await?;
    let ready = defaults::runtime_status(pass).await?;
    let healthy = release_ok && health.map(|r| r.healthy).unwrap_or(ready);
    let phase = if healthy { "Bound" } else { "Failed" };
    if pass.dataset_status.get("phase").as_str() != Some("DataMigrating") {
        pass.dataset_status.set("phase", phase);
    }

    let report = if reports_due {
        pass.hook_as::<CacheReport>(Hook::UpdateCacheOfDataset)
            .await?
    } else {
        None
    };
    let cache = match report {
        Some(c) => Some(serde_json::to_value(c.cache_states).unwrap_or(Value::Null)),
        None if reports_due => {
            Some(pass.status.get("cacheStates").clone()).filter(Value::is_object)
        }
        None => None,
    };
    if let Some(states) = cache {
        // Fluid keeps them on the runtime and copies them to the Dataset.
        pass.status.set("cacheStates", states.clone());
        pass.dataset_status.set("cacheStates", states);
    }
    if let Some(report) = pass.hook(Hook::UpdateDatasetStatus).await? {
        if let Some(status) = report.get("status").filter(|s| s.is_object()) {
            pass.dataset_status.set_all(status);
        }
    }
    if pass
        .hook_as::<bool>(Hook::ShouldUpdateUfs)
        .await?
        .unwrap_or(false)
    {
        pass.hook(Hook::UpdateOnUfsChange).await?;
    }
    volume::sync_fuse_generation(pass).await?;
    pass.status.condition(&Condition {
        kind: types::RECONCILED,
        status: true,
        reason: "Synced",
        message: "",
    });
    Ok(())
}

/// Whether the exec-based reports are due for this runtime: never asked by this process, or
/// asked at least a sync period ago (recorded now when due).
fn reports_due(pass: &Pass<'_>) -> bool {
    let period = pass.ctx.config.sync_period;
    let Ok(mut asked) = pass.ctx.reported.lock() else {
        return true;
    };
    let now = std::time::Instant::now();
    match asked.get(pass.uid()) {
        // A pass requeued for the sync comes a little early or late: within a tenth of the
        // period counts as due.
        Some(at) if now.duration_since(*at) + period / 10 < period => false,
        _ => {
            asked.insert(pass.uid().to_owned(), now);
            true
        }
    }
}
