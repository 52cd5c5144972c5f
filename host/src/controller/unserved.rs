//! Runtimes of a kind no loaded plugin serves (an AlluxioRuntime when only the JuiceFS plugin
//! is loaded): nothing would ever happen to them, silently. The host says so with a Warning
//! Event on each, once it is clear that no other controller (Fluid's, side by side) took it up:
//! no finalizer and no status after a grace period.

use crate::controller::hooks::object_ref;
use crate::services::Cluster;
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::discovery;
use kube::runtime::controller::Action;
use kube::runtime::{watcher, Controller};
use kube::Client;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long another controller gets to take a runtime up before the host speaks.
const GRACE: Duration = Duration::from_secs(15);

/// The runtime kinds of `data.fluid.io` installed in the cluster that no plugin serves.
pub async fn unserved_kinds(client: &Client, served: &[ApiResource]) -> Vec<ApiResource> {
    let Ok(group) = discovery::group(client, "data.fluid.io").await else {
        return vec![];
    };
    group
        .recommended_resources()
        .into_iter()
        .map(|(ar, _)| ar)
        .filter(|ar| ar.kind.ends_with("Runtime"))
        .filter(|ar| !served.iter().any(|s| s.kind == ar.kind))
        .collect()
}

/// What to do with a runtime of an unserved kind (pure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Someone else serves it, or it was already reported.
    Leave,
    /// Look again after this long.
    Wait(Duration),
    /// Say that no plugin serves it.
    Report,
}

/// Decides from the runtime's age, finalizers and status.
pub fn verdict(age: Duration, has_finalizers: bool, has_status: bool, reported: bool) -> Verdict {
    if reported || has_finalizers || has_status {
        Verdict::Leave
    } else if age < GRACE {
        Verdict::Wait(GRACE - age)
    } else {
        Verdict::Report
    }
}

struct Ctx {
    cluster: Arc<Cluster>,
    kind: ApiResource,
    plugin_dir: String,
    reported: Mutex<HashSet<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("unreachable")]
struct Never;

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Never> {
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    let age = super::age(&obj.metadata);
    let has_status = obj
        .data
        .get("status")
        .is_some_and(|s| s.as_object().is_some_and(|m| !m.is_empty()));
    let reported = ctx
        .reported
        .lock()
        .map(|r| r.contains(&uid))
        .unwrap_or(true);
    let has_finalizers = obj
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| !f.is_empty());
    match verdict(age, has_finalizers, has_status, reported) {
        Verdict::Leave => Ok(Action::await_change()),
        Verdict::Wait(d) => Ok(Action::requeue(d)),
        Verdict::Report => {
            let mut wire = serde_json::to_value(obj.as_ref()).unwrap_or_default();
            wire["apiVersion"] = ctx.kind.api_version.clone().into();
            wire["kind"] = ctx.kind.kind.clone().into();
            let message = format!(
                "no engine plugin loaded in fluid-controller serves {}; add the engine's plugin \
                 to the controller's plugin directory ({}) and restart it",
                ctx.kind.kind, ctx.plugin_dir
            );
            tracing::warn!(kind = %ctx.kind.kind, runtime = ?obj.metadata.name, "{message}");
            ctx.cluster
                .event(&object_ref(&wire), true, "NoEnginePlugin", &message)
                .await;
            if let Ok(mut r) = ctx.reported.lock() {
                r.insert(uid);
            }
            Ok(Action::await_change())
        }
    }
}

/// Watches the runtimes of `kind` and reports those nobody serves.
pub async fn run(client: Client, cluster: Arc<Cluster>, kind: ApiResource, plugin_dir: String) {
    tracing::info!(kind = %kind.kind, "no plugin serves this runtime kind: its runtimes will be reported");
    let ctx = Arc::new(Ctx {
        cluster,
        kind: kind.clone(),
        plugin_dir,
        reported: Mutex::default(),
    });
    let api = Api::<DynamicObject>::all_with(client, &kind);
    // A kind outside the controller's role (a vendor's CRD the chart's rules do not name):
    // say so once, instead of a watch retrying a refused list forever.
    if let Err(kube::Error::Api(e)) = api
        .list_metadata(&kube::api::ListParams::default().limit(1))
        .await
    {
        if e.code == 403 {
            tracing::warn!(
                kind = %kind.kind,
                "the controller's role may not list {}.{}: its runtimes are not reported \
                 (add the resource to the chart's runtimeResources or rbac.extraRules)",
                kind.plural,
                kind.group
            );
            return;
        }
    }
    Controller::new_with(api, watcher::Config::default(), kind)
        .shutdown_on_signal()
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(60)),
            ctx,
        )
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_nobody_takes_up_is_reported_once_after_the_grace() {
        let s = Duration::from_secs;
        assert_eq!(verdict(s(3), false, false, false), Verdict::Wait(s(12)));
        assert_eq!(verdict(s(20), false, false, false), Verdict::Report);
        assert_eq!(verdict(s(20), false, false, true), Verdict::Leave);
        // Fluid's controller serves it: it has a finalizer or a status.
        assert_eq!(verdict(s(20), true, false, false), Verdict::Leave);
        assert_eq!(verdict(s(20), false, true, false), Verdict::Leave);
    }
}
