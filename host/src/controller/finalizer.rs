//! Adding and removing a finalizer, for runtimes and Datasets alike: a merge patch of the whole
//! list written against the object's resourceVersion, so a concurrent change of the list
//! (another controller's finalizer) is never lost: it fails with a conflict and the pass
//! decides again on fresh data.

use crate::services::{api_err, ClusterError};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;

/// Whether an object's metadata carries `finalizer`.
pub fn has(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == finalizer))
}

/// Adds `finalizer`; returns the object as written.
pub async fn add(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    finalizer: &str,
) -> Result<DynamicObject, ClusterError> {
    let mut list = obj.metadata.finalizers.clone().unwrap_or_default();
    list.push(finalizer.to_owned());
    write(api, obj, list, "add finalizer to").await
}

/// Adds `finalizer` (unless present) and `labels` in the same write; returns the object as
/// written.
pub async fn add_with_labels(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    finalizer: &str,
    labels: &[(&str, &str)],
) -> Result<DynamicObject, ClusterError> {
    let mut list = obj.metadata.finalizers.clone().unwrap_or_default();
    if !list.iter().any(|f| f == finalizer) {
        list.push(finalizer.to_owned());
    }
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    write_with(api, obj, list, Some(labels), "add finalizer and labels to").await
}

/// Removes `finalizer`; `None` when the object is gone (its deletion completed).
pub async fn remove(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    finalizer: &str,
) -> Result<Option<DynamicObject>, ClusterError> {
    let list: Vec<String> = obj
        .metadata
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    match write(api, obj, list, "remove finalizer from").await {
        Ok(o) => Ok(Some(o)),
        Err(ClusterError::Api {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

async fn write(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    finalizers: Vec<String>,
    what: &str,
) -> Result<DynamicObject, ClusterError> {
    write_with(api, obj, finalizers, None, what).await
}

async fn write_with(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    finalizers: Vec<String>,
    labels: Option<serde_json::Map<String, serde_json::Value>>,
    what: &str,
) -> Result<DynamicObject, ClusterError> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let mut patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": obj.metadata.resource_version,
    }});
    if let Some(labels) = labels {
        patch["metadata"]["labels"] = serde_json::Value::Object(labels);
    }
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("{what} {ns}/{name}")))
}
