//! Deletion: the volume first (once no pod uses the claim), then the engine (only a release
//! this runtime installed), then this runtime's claim on the Dataset, then the finalizer. Each
//! step only ever touches what is this runtime's own, so deleting a runtime that was refused
//! (another's release, another Dataset's volume) completes without harm.

use super::pass::Pass;
use super::volume;
use super::ReconcileError;
use crate::controller::caches::VALUES_KIND;
use crate::controller::conditions::{types, Condition, Flavor};
use crate::controller::status::StatusDraft;
use crate::controller::{dataset, finalizer, names};
use fluid_plugin_api::protocol::Hook;
use kube::runtime::controller::Action;
use std::time::Duration;

/// A safety net while waiting on other objects during deletion: their watch events normally
/// end the wait first.
const DELETION_RECHECK: Duration = Duration::from_secs(30);

/// Deletion, first step: the volume, once no pod uses the claim.
pub(super) async fn delete_volume(pass: &mut Pass<'_>) -> Result<Action, ReconcileError> {
    if pass.hook(Hook::DeleteVolume).await?.is_some() {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let users = pass.ctx.caches.claims.users(&pass.ns, &pass.name);
    if let Some(pod) = users.first() {
        let message = format!(
            "waiting for pod {pod} to stop using the volume {} before deleting it",
            pass.name
        );
        pass.report(
            &Condition {
                kind: types::RECONCILED,
                status: false,
                reason: "VolumeInUse",
                message: &message,
            },
            Some((false, "VolumeInUse")),
        );
        return Ok(Action::requeue(DELETION_RECHECK));
    }
    volume::delete_ours(pass).await?;
    Ok(Action::requeue(DELETION_RECHECK))
}

/// Deletion, last step: shut the engine down (when there is a release of ours, or the engine
/// installs nothing through the host), release our claim on the Dataset, let go.
pub(super) async fn teardown(
    pass: &mut Pass<'_>,
    uninstall: bool,
) -> Result<Action, ReconcileError> {
    let has_chart = !pass.ctx.hooks.plugin.chart().is_empty();
    if uninstall || !has_chart {
        let handled = pass.hook(Hook::Shutdown).await?.is_some();
        if !handled && uninstall {
            pass.ctx.helm.uninstall(&pass.ns, &pass.name).await?;
        }
    }
    // The engine is gone: its host-network ports may go to another runtime.
    pass.ctx.hooks.ports.release(pass.uid());
    volume::unlabel_nodes(pass).await?;
    // The values ConfigMap goes with its owner (garbage collection); delete ours now, as Fluid.
    let cm = names::values_configmap(&pass.name, pass.ctx.engine());
    if pass
        .ctx
        .caches
        .values_configmap(&pass.ns, &cm)
        .is_some_and(|c| {
            c.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == pass.uid())
        })
    {
        pass.ctx
            .cluster
            .delete(&pass.ns, "v1", "ConfigMap", &cm)
            .await?;
    }
    release_claim(pass).await?;
    match finalizer::remove(&pass.runtimes_api(), &pass.runtime, &pass.ctx.finalizer()).await? {
        Some(written) => pass.wrote_runtime(written),
        None => pass
            .ctx
            .caches
            .recent
            .forget(&pass.ctx.kind.kind, &pass.ns, &pass.name),
    }
    // Nothing more to say about a runtime that is going.
    pass.status = StatusDraft::new(Flavor::Runtime, &pass.runtime_json["status"]);
    let key = format!("{}/{}", pass.ns, pass.name);
    pass.ctx.forget(&key);
    if let Ok(mut m) = pass.ctx.validated.lock() {
        m.remove(pass.uid());
    }
    for map in [&pass.ctx.starting, &pass.ctx.reported] {
        if let Ok(mut m) = map.lock() {
            m.remove(pass.uid());
        }
    }
    let values = names::values_configmap(&pass.name, pass.ctx.engine());
    pass.ctx
        .caches
        .recent
        .forget(VALUES_KIND, &pass.ns, &values);
    Ok(Action::await_change())
}

/// Removes this runtime from the Dataset's `status.runtimes` and returns the Dataset to
/// NotBound (Fluid clears its runtime-derived status), against its resourceVersion.
async fn release_claim(pass: &mut Pass<'_>) -> Result<(), ReconcileError> {
    if !pass.observe()?.claimed() {
        return Ok(());
    }
    let Some(dataset) = pass.dataset.clone() else {
        return Ok(());
    };
    let released = [(pass.name.clone(), pass.ctx.engine().to_owned())];
    let written = dataset::release_claims(
        &pass.datasets_api(),
        &dataset,
        &released,
        &pass.ctx.dataset_status.required,
    )
    .await?;
    pass.wrote_dataset(written);
    Ok(())
}
