//! A watched object kept as its JSON text and its metadata, decoded when read.
//!
//! Decoded, one JuiceFS runtime's cached objects held 129 KB of heap for 21 KB of JSON (the
//! worker StatefulSet 21 KB, the fuse DaemonSet 26 KB, the worker pod 33 KB, the Dataset and the
//! runtime as `DynamicObject`s 22 KB and 21 KB; `cargo bench -p fluid-host --bench
//! cache_bytes`): most of the controller's memory at 1000 runtimes. Kept as text they hold
//! 5-9 KB each, and a pass reads a handful of them; decoding one costs 30-70 µs. The metadata
//! stays decoded: the caches' keys, label lookups and triggers read it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;
use kube::Resource;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// An object of kind `K` as the API server sent it (without managedFields).
pub struct Stored<K> {
    /// Its metadata.
    pub metadata: ObjectMeta,
    json: Box<str>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Stored<K> {
    fn clone(&self) -> Self {
        Stored {
            metadata: self.metadata.clone(),
            json: self.json.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Stored<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stored")
            .field("name", &self.metadata.name)
            .field("namespace", &self.metadata.namespace)
            .field("bytes", &self.json.len())
            .finish()
    }
}

/// A Dataset or runtime as the caches keep it.
pub type StoredObject = Stored<DynamicObject>;

impl StoredObject {
    /// The object, decoded; `None` (logged) if it does not decode, which an object the API
    /// server sent and this cache wrote back out cannot do.
    pub fn object(&self) -> Option<Arc<DynamicObject>> {
        match self.decode() {
            Ok(o) => Some(Arc::new(o)),
            Err(e) => {
                tracing::error!(name = ?self.metadata.name, "a cached object does not decode: {e}");
                None
            }
        }
    }
}

impl<K> Stored<K> {
    /// Keeps `object` (its managedFields dropped).
    pub fn new(mut object: Value) -> Result<Self, serde_json::Error> {
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        let metadata = ObjectMeta::deserialize(&object["metadata"])?;
        Ok(Stored {
            metadata,
            json: serde_json::to_string(&object)?.into_boxed_str(),
            kind: PhantomData,
        })
    }

    /// The object as JSON.
    pub fn value(&self) -> Value {
        // Our own serialisation of a Value: it reads back.
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }

    /// The object as its type.
    pub fn decode(&self) -> Result<K, serde_json::Error>
    where
        K: DeserializeOwned,
    {
        serde_json::from_str(&self.json)
    }
}

impl<'de, K> Deserialize<'de> for Stored<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Stored::new(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl<K: Resource> Resource for Stored<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &K::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &K::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &K::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &K::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::StatefulSet;
    use serde_json::json;

    fn sts() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "demo-worker", "namespace": "team", "labels": {"release": "demo"},
                         "managedFields": [{"manager": "helm", "operation": "Apply"}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}},
                     "template": {"metadata": {"labels": {"app": "x"}},
                                  "spec": {"containers": [{"name": "w", "image": "i"}]}}},
            "status": {"replicas": 2, "readyReplicas": 1}
        })
    }

    #[test]
    fn keeps_the_object_without_its_managed_fields() {
        let s: Stored<StatefulSet> = serde_json::from_value(sts()).unwrap();
        assert_eq!(s.meta().name.as_deref(), Some("demo-worker"));
        assert_eq!(s.meta().labels.as_ref().unwrap()["release"], "demo");
        assert!(s.meta().managed_fields.is_none());
        let mut want = sts();
        want["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(s.value(), want);
        let typed = s.decode().unwrap();
        assert_eq!(typed.spec.unwrap().replicas, Some(2));
        assert_eq!(typed.status.unwrap().ready_replicas, Some(1));
    }

    #[test]
    fn is_the_resource_it_keeps() {
        assert_eq!(Stored::<StatefulSet>::kind(&()), "StatefulSet");
        assert_eq!(Stored::<StatefulSet>::api_version(&()), "apps/v1");
        assert_eq!(Stored::<StatefulSet>::plural(&()), "statefulsets");
    }

    #[test]
    fn an_object_without_metadata_is_refused() {
        assert!(serde_json::from_value::<Stored<StatefulSet>>(json!({"metadata": 3})).is_err());
    }
}
