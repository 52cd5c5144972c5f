//! What wakes a controller: each change in the shared caches, mapped to the runtime or Dataset
//! it concerns (both share the Dataset's namespace and name). A controller that fell behind a
//! watch reconsiders every object it has.

use super::caches::{Caches, Change, Stored, StoredObject, Watched};
use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim};
use kube::api::PartialObjectMeta;
use kube::core::ApiResource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Resource;

/// `(namespace, name)` of the runtime / Dataset a change concerns.
type Target = (String, String);

/// The runtime a workload belongs to: its controller owner of the runtime kind, else the Helm
/// release that made it (whose name is the runtime's).
pub fn workload_target<K: Resource>(o: &K, kind: &str) -> Option<Target> {
    let meta = o.meta();
    let ns = meta.namespace.clone()?;
    let owner = meta
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.kind == kind)
        .map(|r| r.name.clone());
    let release = || {
        meta.annotations
            .as_ref()
            .and_then(|a| a.get("meta.helm.sh/release-name"))
            .or_else(|| meta.labels.as_ref().and_then(|l| l.get("release")))
            .cloned()
    };
    Some((ns, owner.or_else(release)?))
}

/// The Dataset a PV serves: its claim.
pub fn pv_target(pv: &PersistentVolume) -> Option<Target> {
    let c = pv.spec.as_ref()?.claim_ref.as_ref()?;
    Some((c.namespace.clone()?, c.name.clone()?))
}

/// The runtime whose values a ConfigMap `<name>-<engine>-values` records.
pub fn values_target(cm: &PartialObjectMeta<ConfigMap>, engine: &str) -> Option<Target> {
    let name = cm.metadata.name.as_deref()?;
    let runtime = name.strip_suffix(&format!("-{engine}-values"))?;
    Some((cm.metadata.namespace.clone()?, runtime.to_owned()))
}

/// The release a Helm record belongs to (its name is the runtime's).
pub fn release_target(cm: &PartialObjectMeta<ConfigMap>) -> Option<Target> {
    let release = cm.metadata.labels.as_ref()?.get("name")?;
    Some((cm.metadata.namespace.clone()?, release.clone()))
}

fn object_target<K: Resource>(o: &K) -> Option<Target> {
    Some((o.meta().namespace.clone()?, o.meta().name.clone()?))
}

/// Targets from one cache's changes; `None` items (a lag) stay `None`.
fn mapped<K, F>(w: &Watched<K>, f: F) -> BoxStream<'static, Option<Target>>
where
    K: kube::runtime::reflector::Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
    F: Fn(&K) -> Option<Target> + Send + 'static,
{
    w.subscribe()
        .filter_map(move |c: Option<Change<K>>| {
            let out = match c {
                None => Some(None),
                Some(c) => f(&c.object).map(Some),
            };
            futures::future::ready(out)
        })
        .boxed()
}

/// Turns targets into object references of `ar`, every object of `store` after a lag.
fn to_refs(
    targets: BoxStream<'static, Option<Target>>,
    ar: ApiResource,
    store: Store<StoredObject>,
) -> BoxStream<'static, ObjectRef<StoredObject>> {
    targets
        .flat_map(move |t| {
            let refs: Vec<ObjectRef<StoredObject>> = match t {
                Some((ns, name)) => vec![ObjectRef::new_with(&name, ar.clone()).within(&ns)],
                None => store
                    .state()
                    .iter()
                    .map(|o| ObjectRef::from_obj_with(o.as_ref(), ar.clone()))
                    .collect(),
            };
            stream::iter(refs)
        })
        .boxed()
}

/// The triggers of the controller of runtimes of `ar`, served by engine `engine`.
pub fn for_runtimes(
    caches: &Caches,
    ar: &ApiResource,
    engine: &str,
    store: Store<StoredObject>,
) -> BoxStream<'static, ObjectRef<StoredObject>> {
    let kind = ar.kind.clone();
    let kind2 = ar.kind.clone();
    let engine = engine.to_owned();
    let claims = caches.claims.subscribe().boxed();
    let targets = stream::select_all([
        mapped(&caches.datasets, object_target),
        mapped(&caches.statefulsets, move |o: &Stored<StatefulSet>| {
            workload_target(o, &kind)
        }),
        mapped(&caches.daemonsets, move |o: &Stored<DaemonSet>| {
            workload_target(o, &kind2)
        }),
        mapped(&caches.pvs, pv_target),
        mapped(&caches.pvcs, |o: &PersistentVolumeClaim| object_target(o)),
        mapped(&caches.releases, release_target),
        mapped(&caches.values, move |o| values_target(o, &engine)),
        claims,
    ])
    .boxed();
    to_refs(targets, ar.clone(), store)
}

/// The triggers of the Dataset controller: pods using a Dataset's claim, and runtimes of every
/// served kind (a deleted runtime may leave a claim to release).
pub fn for_datasets(
    caches: &Caches,
    store: Store<StoredObject>,
) -> BoxStream<'static, ObjectRef<StoredObject>> {
    let mut sources = vec![caches.claims.subscribe().boxed()];
    for (_, w) in &caches.runtimes {
        sources.push(mapped(w, object_target));
    }
    to_refs(
        stream::select_all(sources).boxed(),
        caches.dataset_kind.clone(),
        store,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workloads_map_to_their_owner_runtime_or_release() {
        let sts: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "demo-worker", "namespace": "team",
            "ownerReferences": [{"apiVersion": "data.fluid.io/v1alpha1", "kind": "JuiceFSRuntime", "name": "demo", "uid": "u"}]}})).unwrap();
        assert_eq!(
            workload_target(&sts, "JuiceFSRuntime"),
            Some(("team".into(), "demo".into()))
        );
        let sts: StatefulSet =
            serde_json::from_value(json!({"metadata": {"name": "x-worker", "namespace": "team",
            "annotations": {"meta.helm.sh/release-name": "x"}}}))
            .unwrap();
        assert_eq!(
            workload_target(&sts, "JuiceFSRuntime"),
            Some(("team".into(), "x".into()))
        );
    }

    #[test]
    fn volumes_values_and_records_map_to_their_dataset() {
        let pv: PersistentVolume =
            serde_json::from_value(json!({"metadata": {"name": "team-demo"},
            "spec": {"claimRef": {"namespace": "team", "name": "demo"}}}))
            .unwrap();
        assert_eq!(pv_target(&pv), Some(("team".into(), "demo".into())));
        let mut cm = PartialObjectMeta::<ConfigMap>::default();
        cm.metadata.name = Some("demo-juicefs-values".into());
        cm.metadata.namespace = Some("team".into());
        assert_eq!(
            values_target(&cm, "juicefs"),
            Some(("team".into(), "demo".into()))
        );
        assert_eq!(values_target(&cm, "alluxio"), None);
        cm.metadata.labels = Some([("name".to_owned(), "demo".to_owned())].into());
        assert_eq!(release_target(&cm), Some(("team".into(), "demo".into())));
    }
}
