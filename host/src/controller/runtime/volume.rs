//! The Dataset's PV and PVC (the host's default for `create_volume` and `delete_volume`):
//! created when absent (a create, never an apply, so an object of the same name that is not the
//! Dataset's is never taken over), left alone when ours, and a clear refusal when someone
//! else's stands in the way. Deleted only when ours, with the uid seen as a precondition.

use super::pass::Pass;
use super::ReconcileError;
use crate::controller::conditions::{types, Condition};
use crate::controller::names;
use crate::controller::volume::{self as shape, MountInfo};
use crate::lifecycle::Ownership;
use crate::services::{api_err, FIELD_MANAGER};
use fluid_plugin_api::protocol::Hook;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};

/// Creates what is missing; returns whether the PV and PVC are the Dataset's.
pub(super) async fn ensure(pass: &mut Pass<'_>) -> Result<bool, ReconcileError> {
    if pass.hook(Hook::CreateVolume).await?.is_some() {
        return Ok(true);
    }
    let Some(dataset) = pass.dataset_typed()? else {
        return Ok(false);
    };
    let mount = MountInfo {
        clean_policy: pass.runtime_json["spec"]["fuse"]["cleanPolicy"]
            .as_str()
            .map(str::to_owned),
        driver: pass.ctx.config.csi_driver.clone(),
        fuse_generation: fuse_generation(pass),
        fuse_node_selector: serde_json::from_value(
            pass.runtime_json["spec"]["fuse"]["nodeSelector"].clone(),
        )
        .unwrap_or_default(),
        ..MountInfo::of(&pass.conventions())
    };
    let (pv, pvc) = shape::build(&dataset, &mount);
    let (ns, name) = (pass.ns.clone(), pass.name.clone());
    let client = pass.ctx.cluster.client().clone();
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client, &ns);
    let pv_name = names::pv_name(&ns, &name);
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };

    let cached = pass.ctx.caches.pv(&pv_name);
    let pv_owner = match shape::pv_ownership(cached.as_deref(), &ns, &name) {
        Ownership::Absent => match pvs.create(&pp, &pv).await {
            Ok(_) => Ownership::Ours,
            // Not in the cache (it holds only Fluid-labelled PVs, or lags): look.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let found = pvs
                    .get_opt(&pv_name)
                    .await
                    .map_err(api_err(format!("get PersistentVolume {pv_name}")))?;
                shape::pv_ownership(found.as_ref(), &ns, &name)
            }
            Err(e) => return Err(api_err(format!("create PersistentVolume {pv_name}"))(e).into()),
        },
        other => other,
    };
    if let Ownership::Foreign(whose) = pv_owner {
        return Ok(conflict(pass, &whose));
    }
    let cached = pass.ctx.caches.pvc(&ns, &name);
    let pvc_owner = match shape::pvc_ownership(cached.as_deref(), &ns, &name) {
        Ownership::Absent => match pvcs.create(&pp, &pvc).await {
            Ok(_) => Ownership::Ours,
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let found = pvcs
                    .get_opt(&name)
                    .await
                    .map_err(api_err(format!("get PersistentVolumeClaim {ns}/{name}")))?;
                shape::pvc_ownership(found.as_ref(), &ns, &name)
            }
            Err(e) => {
                return Err(api_err(format!("create PersistentVolumeClaim {ns}/{name}"))(e).into())
            }
        },
        other => other,
    };
    if let Ownership::Foreign(whose) = pvc_owner {
        return Ok(conflict(pass, &whose));
    }
    Ok(true)
}

fn conflict(pass: &mut Pass<'_>, whose: &str) -> bool {
    let message = format!(
        "{whose}; fluid-rs never takes over another volume: remove it or rename the Dataset"
    );
    pass.report(
        &Condition {
            kind: types::ENGINE_READY,
            status: false,
            reason: "VolumeConflict",
            message: &message,
        },
        Some((true, "VolumeConflict")),
    );
    false
}

/// Keeps the fuse DaemonSet's generation on the PV and PVC (label
/// `fuse.runtime.fluid.io/generation`), which the CSI plugin compares under the `OnFuseChanged`
/// clean policy. Writes only when it changed.
pub(super) async fn sync_fuse_generation(pass: &Pass<'_>) -> Result<(), ReconcileError> {
    let (ns, name) = (&pass.ns, &pass.name);
    let caches = &pass.ctx.caches;
    let Some(generation) = fuse_generation(pass) else {
        return Ok(());
    };
    let stale = |labels: Option<&std::collections::BTreeMap<String, String>>| {
        labels.and_then(|l| l.get(shape::FUSE_GENERATION_LABEL)) != Some(&generation)
    };
    let patch = Patch::Merge(
        serde_json::json!({"metadata": {"labels": {shape::FUSE_GENERATION_LABEL: generation}}}),
    );
    let client = pass.ctx.cluster.client().clone();
    let pv_name = names::pv_name(ns, name);
    if let Some(pv) = caches
        .pv(&pv_name)
        .filter(|pv| shape::pv_ownership(Some(pv), ns, name).is_ours())
    {
        if stale(pv.metadata.labels.as_ref()) {
            Api::<PersistentVolume>::all(client.clone())
                .patch(&pv_name, &PatchParams::default(), &patch)
                .await
                .map_err(api_err(format!("label PersistentVolume {pv_name}")))?;
        }
    }
    if let Some(pvc) = caches
        .pvc(ns, name)
        .filter(|c| shape::pvc_ownership(Some(c), ns, name).is_ours())
    {
        if stale(pvc.metadata.labels.as_ref()) {
            Api::<PersistentVolumeClaim>::namespaced(client, ns)
                .patch(name, &PatchParams::default(), &patch)
                .await
                .map_err(api_err(format!("label PersistentVolumeClaim {ns}/{name}")))?;
        }
    }
    Ok(())
}

/// Removes the fuse node label (`fluid.io/f-...`) from every node: with Fluid's default clean
/// policy (`OnRuntimeDeleted`) the CSI plugin leaves it for the runtime's deletion to remove.
pub(super) async fn unlabel_nodes(pass: &Pass<'_>) -> Result<(), ReconcileError> {
    let key = names::fuse_label(&pass.ns, &pass.name, pass.dataset_uid());
    let nodes: Api<Node> = Api::all(pass.ctx.cluster.client().clone());
    let labelled = nodes
        .list_metadata(&ListParams::default().labels(&key))
        .await
        .map_err(api_err(format!("list nodes labelled {key}")))?;
    let patch = Patch::Merge(serde_json::json!({"metadata": {"labels": {&key: null}}}));
    for node in labelled.items {
        let node = node.metadata.name.unwrap_or_default();
        nodes
            .patch(&node, &PatchParams::default(), &patch)
            .await
            .map_err(api_err(format!("remove label {key} from node {node}")))?;
    }
    Ok(())
}

/// Deletes the PVC and the PV when they are ours (the uid seen in the cache as a
/// precondition, so an object re-created by someone else in between is not deleted).
pub(super) async fn delete_ours(pass: &Pass<'_>) -> Result<(), ReconcileError> {
    let (ns, name) = (&pass.ns, &pass.name);
    let client = pass.ctx.cluster.client().clone();
    // One deletion each: an object already going (finalizers such as pvc-protection hold it)
    // is not deleted again by every pass that waits for it.
    let going = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.deletion_timestamp.is_some()
    };
    if let Some(pvc) = pass
        .ctx
        .caches
        .pvc(ns, name)
        .filter(|c| !going(&c.metadata))
    {
        if shape::pvc_ownership(Some(&pvc), ns, name).is_ours() {
            let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
            delete(
                &api,
                name,
                pvc.metadata.uid.clone(),
                &format!("PersistentVolumeClaim {ns}/{name}"),
            )
            .await?;
        }
    }
    let pv_name = names::pv_name(ns, name);
    if let Some(pv) = pass.ctx.caches.pv(&pv_name).filter(|v| !going(&v.metadata)) {
        if shape::pv_ownership(Some(&pv), ns, name).is_ours() {
            let api: Api<PersistentVolume> = Api::all(client);
            delete(
                &api,
                &pv_name,
                pv.metadata.uid.clone(),
                &format!("PersistentVolume {pv_name}"),
            )
            .await?;
        }
    }
    Ok(())
}

async fn delete<K>(
    api: &Api<K>,
    name: &str,
    uid: Option<String>,
    what: &str,
) -> Result<(), ReconcileError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(()),
        // Gone, or replaced by someone else's (the uid no longer matches): nothing of ours.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(api_err(format!("delete {what}"))(e).into()),
    }
}

/// The generation of the runtime's fuse DaemonSet, from the watch cache.
fn fuse_generation(pass: &Pass<'_>) -> Option<String> {
    pass.ctx
        .caches
        .daemonset(&pass.ns, &format!("{}-fuse", pass.name))
        .and_then(|d| d.metadata.generation)
        .map(|g| g.to_string())
}
