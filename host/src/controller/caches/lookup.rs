//! Answering `get` and `list` (the controller's own and the engines' host calls) from the watch
//! caches where a cache can answer, so an idle runtime's sync costs no read request.
//!
//! A cache filtered by a label can only say "here it is": a miss there is not proof of
//! absence, and the caller asks the API server. Full caches (Datasets, runtimes) answer misses
//! too.

use super::{Caches, Stored, StoredObject, Watched};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::core::{ApiResource, Expression, Selector, SelectorExt};
use kube::runtime::reflector::{Lookup, ObjectRef};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a cache knows about one object.
#[derive(Clone, Debug, PartialEq)]
pub enum Cached {
    /// Here it is.
    Hit(Value),
    /// It does not exist (only full caches say so).
    Absent,
    /// This cache cannot tell: ask the API server.
    Unknown,
}

/// An equality-based label selector, and the labels it requires to be present.
#[derive(Clone, Debug)]
pub struct LabelQuery {
    /// The selector.
    pub selector: Selector,
    /// Labels every matching object carries (named by `k=v`, `k==v` or `k`).
    pub required: Vec<String>,
}

impl LabelQuery {
    /// Parses `a=b,c==d,e!=f,g,!h`, the form engines use; `None` for set-based terms (`in`,
    /// `notin`, parentheses), which go to the API server.
    pub fn parse(s: &str) -> Option<LabelQuery> {
        let mut exprs = vec![];
        let mut required = vec![];
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if term.contains('(') || term.contains(' ') {
                return None;
            }
            let expr = if let Some((k, v)) = term.split_once("!=") {
                Expression::NotEqual(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                required.push(k.trim().to_owned());
                Expression::Equal(k.trim().into(), v.trim().into())
            } else if let Some(k) = term.strip_prefix('!') {
                Expression::DoesNotExist(k.trim().into())
            } else {
                required.push(term.to_owned());
                Expression::Exists(term.into())
            };
            exprs.push(expr);
        }
        let mut selector = Selector::default();
        selector.extend(exprs);
        Some(LabelQuery { selector, required })
    }

    /// Whether every object it matches carries `label` (so a cache of the objects with that
    /// label holds all of them).
    pub fn requires(&self, label: &str) -> bool {
        self.required.iter().any(|l| l == label)
    }

    /// Whether `labels` match.
    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.selector.matches(labels)
    }
}

/// A cached object as the JSON a caller gets.
trait Json {
    fn json(&self) -> Value;
}

impl<K> Json for Stored<K> {
    fn json(&self) -> Value {
        self.value()
    }
}

impl Json for PersistentVolume {
    fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Json for PersistentVolumeClaim {
    fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn with_type<K: kube::Resource<DynamicType = ()> + Json>(o: &K) -> Value {
    let mut v = o.json();
    v["apiVersion"] = Value::String(<K as kube::Resource>::api_version(&()).into_owned());
    v["kind"] = Value::String(<K as kube::Resource>::kind(&()).into_owned());
    v
}

fn dynamic_with_type(o: &StoredObject, ar: &ApiResource) -> Value {
    let mut v = o.value();
    v["apiVersion"] = Value::String(ar.api_version.clone());
    v["kind"] = Value::String(ar.kind.clone());
    v
}

fn in_namespace<K: kube::Resource>(o: &K, ns: &str) -> bool {
    o.meta().namespace.as_deref() == Some(ns)
}

/// Borrowed: a list filters every object of the kind, so a copy of each one's labels would
/// cost a list time in the number of objects cached (a quarter of an idle sync's CPU).
fn labels_of<K: kube::Resource>(o: &K) -> &BTreeMap<String, String> {
    static NONE: BTreeMap<String, String> = BTreeMap::new();
    o.meta().labels.as_ref().unwrap_or(&NONE)
}

/// A typed cache filtered by `label`: answers hits, and lists whose selector requires `label`.
fn typed_get<K>(w: &Watched<K>, ns: Option<&str>, name: &str) -> Cached
where
    K: kube::Resource<DynamicType = ()>
        + Lookup<DynamicType = ()>
        + Clone
        + Json
        + Send
        + Sync
        + 'static,
{
    let key = match ns {
        Some(ns) => ObjectRef::new(name).within(ns),
        None => ObjectRef::new(name),
    };
    match w.store.get(&key) {
        Some(o) => Cached::Hit(with_type(o.as_ref())),
        None => Cached::Unknown,
    }
}

fn typed_list<K>(
    w: &Watched<K>,
    ns: Option<&str>,
    label: &str,
    query: Option<&LabelQuery>,
) -> Option<Vec<Value>>
where
    K: kube::Resource<DynamicType = ()>
        + Lookup<DynamicType = ()>
        + Clone
        + Json
        + Send
        + Sync
        + 'static,
{
    let query = query.filter(|q| q.requires(label))?;
    Some(
        w.store
            .state_filter(|o| {
                ns.is_none_or(|ns| in_namespace(o, ns)) && query.matches(labels_of(o))
            })
            .iter()
            .map(|o| with_type(o.as_ref()))
            .collect(),
    )
}

impl Caches {
    /// One object, from the cache of its kind when there is one.
    pub fn get(&self, ns: &str, api_version: &str, kind: &str, name: &str) -> Cached {
        match (api_version, kind) {
            ("apps/v1", "StatefulSet") => typed_get(&self.statefulsets, Some(ns), name),
            ("apps/v1", "DaemonSet") => typed_get(&self.daemonsets, Some(ns), name),
            ("v1", "Pod") => typed_get(&self.pods, Some(ns), name),
            ("v1", "PersistentVolumeClaim") => typed_get(&self.pvcs, Some(ns), name),
            ("v1", "PersistentVolume") => typed_get(&self.pvs, None, name),
            _ => {
                let full = std::iter::once((&self.dataset_kind, &self.datasets))
                    .chain(self.runtimes.iter().map(|(ar, w)| (ar, w)))
                    .find(|(ar, _)| ar.api_version == api_version && ar.kind == kind);
                match full {
                    Some((ar, w)) => match w
                        .store
                        .get(&ObjectRef::new_with(name, ar.clone()).within(ns))
                    {
                        Some(o) => Cached::Hit(dynamic_with_type(&o, ar)),
                        None => Cached::Absent,
                    },
                    None => Cached::Unknown,
                }
            }
        }
    }

    /// Objects of a namespace by label selector, when a cache holds all of them.
    pub fn list(
        &self,
        ns: &str,
        api_version: &str,
        kind: &str,
        selector: Option<&str>,
    ) -> Option<Vec<Value>> {
        let query = selector.and_then(LabelQuery::parse);
        if selector.is_some() && query.is_none() {
            return None;
        }
        match (api_version, kind) {
            ("apps/v1", "StatefulSet") => {
                typed_list(&self.statefulsets, Some(ns), "release", query.as_ref())
            }
            ("apps/v1", "DaemonSet") => {
                typed_list(&self.daemonsets, Some(ns), "release", query.as_ref())
            }
            ("v1", "Pod") => typed_list(&self.pods, Some(ns), "release", query.as_ref()),
            _ => {
                let (ar, w) = std::iter::once((&self.dataset_kind, &self.datasets))
                    .chain(self.runtimes.iter().map(|(ar, w)| (ar, w)))
                    .find(|(ar, _)| ar.api_version == api_version && ar.kind == kind)?;
                Some(
                    w.store
                        .state_filter(|o| {
                            in_namespace(o, ns)
                                && query.as_ref().is_none_or(|q| q.matches(labels_of(o)))
                        })
                        .iter()
                        .map(|o| dynamic_with_type(o, ar))
                        .collect(),
                )
            }
        }
    }

    /// The cache of a runtime kind.
    pub fn runtimes_of(&self, ar: &ApiResource) -> Option<&Watched<StoredObject>> {
        self.runtimes
            .iter()
            .find(|(k, _)| k.api_version == ar.api_version && k.kind == ar.kind)
            .map(|(_, w)| w)
    }

    /// A runtime of the kind `ar` by namespace and name, as its cache keeps it (`None` also
    /// when no cache serves the kind).
    pub fn stored_runtime(
        &self,
        ar: &ApiResource,
        ns: &str,
        name: &str,
    ) -> Option<Arc<StoredObject>> {
        self.runtimes_of(ar)?
            .store
            .get(&ObjectRef::new_with(name, ar.clone()).within(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn equality_selectors_parse_and_match() {
        let s = LabelQuery::parse("app=juicefs,release==demo,role!=x,tier,!old").unwrap();
        assert!(s.matches(&labels(&[
            ("app", "juicefs"),
            ("release", "demo"),
            ("role", "w"),
            ("tier", "")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "juicefs"),
            ("release", "other"),
            ("tier", "")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "juicefs"),
            ("release", "demo"),
            ("tier", ""),
            ("old", "1")
        ])));
        assert!(s.requires("release"));
        assert!(!LabelQuery::parse("app=juicefs,release!=x")
            .unwrap()
            .requires("release"));
    }

    #[test]
    fn set_based_selectors_go_to_the_api_server() {
        assert!(LabelQuery::parse("env in (a,b)").is_none());
    }
}
