//! Typed-free access to any kind (`apiVersion` + `kind` as strings), as engines ask for it.

use crate::controller::caches::{Cached, Caches, ReleaseIndex, ReleaseRecord};
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{pinned_kind, Scope};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Client;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The field manager of every server-side apply the controller makes.
pub const FIELD_MANAGER: &str = "fluid-controller";

/// A failed cluster operation.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The request itself is wrong (unknown kind, bad object, outside the namespace).
    #[error("{0}")]
    BadRequest(String),
    /// The object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The API server refused or failed.
    #[error("{what}: {source}")]
    Api {
        /// What was attempted.
        what: String,
        /// The client error.
        source: kube::Error,
    },
    /// Anything else (exec streams, timeouts).
    #[error("{0}")]
    Failed(String),
}

/// The controller's access to the cluster, shared by all runtimes.
pub struct Cluster {
    client: Client,
    kinds: Mutex<HashMap<(String, String), (ApiResource, bool)>>,
    recorder: Recorder,
    /// The watch caches, once started: reads they can answer cost no request.
    caches: OnceLock<Caches>,
}

/// Wraps a client error with what was being attempted.
pub fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Api { what, source }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl Cluster {
    /// Wraps a client; events are reported as `fluid-controller` from `instance`.
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "fluid-controller".into(),
                instance,
            },
        );
        Self {
            client,
            kinds: Mutex::default(),
            recorder,
            caches: OnceLock::new(),
        }
    }

    /// Serves reads from these caches from now on.
    pub fn use_caches(&self, caches: Caches) {
        let _ = self.caches.set(caches);
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Resolves a kind through discovery (cached): its resource and whether it is namespaced.
    pub async fn resource(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), ClusterError> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(found) = self.kinds.lock().ok().and_then(|k| k.get(&key).cloned()) {
            return Ok(found);
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = pinned_kind(&self.client, &gvk).await.map_err(|e| {
            ClusterError::BadRequest(format!("unknown kind {api_version} {kind}: {e}"))
        })?;
        let resolved = (ar, caps.scope == Scope::Namespaced);
        if let Ok(mut kinds) = self.kinds.lock() {
            kinds.insert(key, resolved.clone());
        }
        Ok(resolved)
    }

    async fn api(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<(Api<DynamicObject>, bool), ClusterError> {
        let (ar, namespaced) = self.resource(api_version, kind).await?;
        Ok(if namespaced {
            (
                Api::namespaced_with(self.client.clone(), namespace, &ar),
                true,
            )
        } else {
            (Api::all_with(self.client.clone(), &ar), false)
        })
    }

    /// Reads one object; `None` when absent.
    pub async fn get(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        if let Some(caches) = self.caches.get() {
            match caches.get(namespace, api_version, kind, name) {
                Cached::Hit(o) => return Ok(Some(o)),
                Cached::Absent => return Ok(None),
                Cached::Unknown => {}
            }
        }
        let (api, _) = self.api(namespace, api_version, kind).await?;
        let found = api
            .get_opt(name)
            .await
            .map_err(api_err(format!("get {kind} {namespace}/{name}")))?;
        found
            .map(|o| serde_json::to_value(o).map_err(|e| ClusterError::Failed(e.to_string())))
            .transpose()
    }

    /// The storage records of the Helm release `release` in `namespace` (helm runs with
    /// `HELM_DRIVER=configmap`): from the release cache once it runs, else listed (metadata).
    pub async fn release(
        &self,
        namespace: &str,
        release: &str,
    ) -> Result<ReleaseIndex, ClusterError> {
        if let Some(caches) = self.caches.get() {
            return Ok(caches.release(namespace, release));
        }
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let lp = ListParams::default().labels(&format!("owner=helm,name={release}"));
        let list = api.list_metadata(&lp).await.map_err(api_err(format!(
            "list the records of release {namespace}/{release}"
        )))?;
        Ok(ReleaseIndex::from_records(
            list.items.iter().filter_map(ReleaseRecord::read),
        ))
    }

    /// Lists objects, optionally by label selector.
    pub async fn list(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        if let Some(items) = self
            .caches
            .get()
            .and_then(|c| c.list(namespace, api_version, kind, selector))
        {
            return Ok(items);
        }
        let (api, _) = self.api(namespace, api_version, kind).await?;
        let mut lp = ListParams::default();
        if let Some(s) = selector {
            lp = lp.labels(s);
        }
        let list = api
            .list(&lp)
            .await
            .map_err(api_err(format!("list {kind} in {namespace}")))?;
        list.items
            .into_iter()
            .map(|o| serde_json::to_value(o).map_err(|e| ClusterError::Failed(e.to_string())))
            .collect()
    }

    /// Server-side applies `object` (with `apiVersion`, `kind`, `metadata.name`).
    pub async fn apply(&self, namespace: &str, mut object: Value) -> Result<Value, ClusterError> {
        let (api_version, kind, name) = identity(&object)?;
        let (api, namespaced) = self.api(namespace, &api_version, &kind).await?;
        if namespaced {
            object["metadata"]["namespace"] = Value::String(namespace.to_owned());
        }
        let applied = api
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&object),
            )
            .await
            .map_err(api_err(format!("apply {kind} {namespace}/{name}")))?;
        serde_json::to_value(applied).map_err(|e| ClusterError::Failed(e.to_string()))
    }

    /// Deletes an object (dependents in the background); `false` when already gone.
    pub async fn delete(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<bool, ClusterError> {
        let (api, _) = self.api(namespace, api_version, kind).await?;
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(api_err(format!("delete {kind} {namespace}/{name}"))(e)),
        }
    }

    /// Merges `status` into an object's status subresource.
    pub async fn patch_status(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        name: &str,
        status: Value,
    ) -> Result<Value, ClusterError> {
        let (api, _) = self.api(namespace, api_version, kind).await?;
        let patch = serde_json::json!({ "status": status });
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(o) => serde_json::to_value(o).map_err(|e| ClusterError::Failed(e.to_string())),
            Err(e) if is_not_found(&e) => {
                Err(ClusterError::NotFound(format!("{kind} {namespace}/{name}")))
            }
            Err(e) => Err(api_err(format!(
                "patch status of {kind} {namespace}/{name}"
            ))(e)),
        }
    }

    /// Runs a command in a pod's container; returns stdout, stderr and the exit code.
    pub async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: &[String],
    ) -> Result<(String, String, i32), ClusterError> {
        use kube::api::AttachParams;
        use tokio::io::AsyncReadExt;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let mut ap = AttachParams::default()
            .stdout(true)
            .stderr(true)
            .stdin(false);
        if let Some(c) = container {
            ap = ap.container(c);
        }
        let mut attached = api
            .exec(pod, command.to_vec(), &ap)
            .await
            .map_err(api_err(format!("exec in pod {namespace}/{pod}")))?;
        let mut stdout = String::new();
        let mut stderr = String::new();
        let out = attached.stdout();
        let err = attached.stderr();
        let read_out = async {
            if let Some(mut s) = out {
                s.read_to_string(&mut stdout).await.ok();
            }
        };
        let read_err = async {
            if let Some(mut s) = err {
                s.read_to_string(&mut stderr).await.ok();
            }
        };
        futures::join!(read_out, read_err);
        let status = match attached.take_status() {
            Some(s) => s.await,
            None => None,
        };
        let code = match status {
            Some(s) if s.status.as_deref() == Some("Success") => 0,
            Some(s) => {
                let exit = s
                    .details
                    .as_ref()
                    .and_then(|d| d.causes.as_ref())
                    .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
                    .and_then(|c| c.message.as_deref())
                    .and_then(|m| m.parse().ok());
                match exit {
                    Some(code) => code,
                    // Not the command's exit: the exec itself failed; keep the reason.
                    None => {
                        return Err(ClusterError::Failed(format!(
                            "exec in pod {namespace}/{pod} failed: {}",
                            s.message.unwrap_or_else(|| s.reason.unwrap_or_default())
                        )))
                    }
                }
            }
            None => {
                return Err(ClusterError::Failed(format!(
                    "exec in pod {namespace}/{pod}: the stream ended without an exit status"
                )))
            }
        };
        Ok((stdout, stderr, code))
    }

    /// Records an Event on `regarding`. Failures to record are logged, never fatal. Texts
    /// over the API server's limits are cut (it would drop the whole Event).
    pub async fn event(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        message: &str,
    ) {
        let reason = cut_utf8(reason, EVENT_REASON_LIMIT, "").into_owned();
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.clone(),
            note: Some(cut_utf8(message, EVENT_NOTE_LIMIT, TRUNCATED).into_owned()),
            action: reason.clone(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, regarding).await {
            tracing::warn!(%reason, error = %e, "could not record an event");
        }
    }
}

/// The API server refuses an Event whose note is over 1024 bytes, or whose reason or action
/// is over 128 (`k8s.io/kubernetes/pkg/apis/core/validation/events.go`).
const EVENT_NOTE_LIMIT: usize = 1024;
const EVENT_REASON_LIMIT: usize = 128;
/// Ends a cut note, so a reader knows there was more (the full text is in the log or the
/// condition).
const TRUNCATED: &str = " …[truncated]";

/// `text` if it fits in `limit` bytes, else its longest prefix that fits with `marker`
/// appended, cut at a character boundary.
fn cut_utf8<'a>(text: &'a str, limit: usize, marker: &str) -> std::borrow::Cow<'a, str> {
    if text.len() <= limit {
        return text.into();
    }
    let mut end = limit.saturating_sub(marker.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &text[..end]).into()
}

/// `apiVersion`, `kind` and `metadata.name` of an object.
pub fn identity(object: &Value) -> Result<(String, String, String), ClusterError> {
    let field = |ptr: &str| {
        object
            .pointer(ptr)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                ClusterError::BadRequest(format!(
                    "the object has no {}",
                    ptr.trim_start_matches('/').replace('/', ".")
                ))
            })
    };
    Ok((
        field("/apiVersion")?,
        field("/kind")?,
        field("/metadata/name")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_event_texts_are_cut_to_the_api_limits_at_character_boundaries() {
        assert_eq!(cut_utf8("short", EVENT_NOTE_LIMIT, TRUNCATED), "short");
        let exact = "a".repeat(EVENT_NOTE_LIMIT);
        assert_eq!(cut_utf8(&exact, EVENT_NOTE_LIMIT, TRUNCATED), exact);

        // Three-byte characters: no cut may split one.
        let long = "€".repeat(2000);
        let cut = cut_utf8(&long, EVENT_NOTE_LIMIT, TRUNCATED);
        assert!(cut.len() <= EVENT_NOTE_LIMIT, "{}", cut.len());
        assert!(cut.len() > EVENT_NOTE_LIMIT - 3 - TRUNCATED.len());
        assert!(cut.ends_with(TRUNCATED));
        assert!(cut.trim_end_matches(TRUNCATED).chars().all(|c| c == '€'));

        let reason = "R".repeat(300);
        assert_eq!(cut_utf8(&reason, EVENT_REASON_LIMIT, ""), "R".repeat(128));
    }
}
