//! The controller's own latest writes of runtimes and Datasets, laid over the watch caches: a
//! pass that starts before the watch has delivered the previous pass's write must not decide
//! (or write a status) from the older copy. The copy with the newer resourceVersion wins; an
//! entry is dropped as soon as the cache has caught up.

use kube::api::DynamicObject;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// `(kind, namespace, name)`.
type Key = (String, String, String);

/// The latest objects this controller wrote.
#[derive(Clone, Default)]
pub struct RecentWrites {
    objects: Arc<Mutex<HashMap<Key, Arc<DynamicObject>>>>,
}

/// A resourceVersion as a number: etcd's revisions, which only grow. `None` for an API server
/// whose versions are not numbers (then the cache is trusted).
fn version(o: &DynamicObject) -> Option<u64> {
    o.metadata.resource_version.as_deref()?.parse().ok()
}

fn key(kind: &str, o: &DynamicObject) -> Key {
    (
        kind.to_owned(),
        o.metadata.namespace.clone().unwrap_or_default(),
        o.metadata.name.clone().unwrap_or_default(),
    )
}

impl RecentWrites {
    /// Records an object as written (returned by the API server).
    pub fn remember(&self, kind: &str, o: &DynamicObject) {
        if let Ok(mut m) = self.objects.lock() {
            m.insert(key(kind, o), Arc::new(o.clone()));
        }
    }

    /// The fresher of the cached copy and our last write; `None` when the cache has none (the
    /// object is gone, or was never seen).
    pub fn fresher(
        &self,
        kind: &str,
        cached: Option<Arc<DynamicObject>>,
    ) -> Option<Arc<DynamicObject>> {
        let cached = cached?;
        let Ok(mut m) = self.objects.lock() else {
            return Some(cached);
        };
        let k = key(kind, &cached);
        match m.get(&k) {
            Some(mine) if cached.metadata.uid == mine.metadata.uid => {
                match (version(&cached), version(mine)) {
                    (Some(c), Some(w)) if w > c => Some(mine.clone()),
                    _ => {
                        m.remove(&k);
                        Some(cached)
                    }
                }
            }
            Some(_) => {
                // Another object of that name (deleted and created again).
                m.remove(&k);
                Some(cached)
            }
            None => Some(cached),
        }
    }

    /// Forgets an object (it is gone).
    pub fn forget(&self, kind: &str, namespace: &str, name: &str) {
        if let Ok(mut m) = self.objects.lock() {
            m.remove(&(kind.to_owned(), namespace.to_owned(), name.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(rv: &str, uid: &str) -> Arc<DynamicObject> {
        let mut o: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "X",
            "metadata": {"name": "demo", "namespace": "team", "resourceVersion": rv, "uid": uid}
        }))
        .unwrap();
        o.metadata.resource_version = Some(rv.to_owned());
        Arc::new(o)
    }

    #[test]
    fn our_newer_write_wins_until_the_cache_catches_up() {
        let r = RecentWrites::default();
        r.remember("X", &obj("12", "u"));
        assert_eq!(
            r.fresher("X", Some(obj("10", "u")))
                .unwrap()
                .metadata
                .resource_version
                .as_deref(),
            Some("12")
        );
        assert_eq!(
            r.fresher("X", Some(obj("13", "u")))
                .unwrap()
                .metadata
                .resource_version
                .as_deref(),
            Some("13")
        );
        // Caught up: dropped, the cache is used from now on.
        assert_eq!(
            r.fresher("X", Some(obj("10", "u")))
                .unwrap()
                .metadata
                .resource_version
                .as_deref(),
            Some("10")
        );
    }

    #[test]
    fn a_gone_or_recreated_object_is_not_resurrected() {
        let r = RecentWrites::default();
        r.remember("X", &obj("12", "u"));
        assert!(r.fresher("X", None).is_none());
        assert_eq!(
            r.fresher("X", Some(obj("5", "other")))
                .unwrap()
                .metadata
                .uid
                .as_deref(),
            Some("other")
        );
    }
}
