//! Shared watch caches, built once at start-up: every controller and the host services read
//! Datasets, runtimes, workloads, volumes, release records and the pods that use claims from
//! here instead of asking the API server, and every change is fanned out to the controllers as
//! a trigger (deletions included, which kube's shared reflectors do not dispatch).

mod claims;
mod lookup;
mod recent;
mod releases;
mod stored;
mod watch;

pub use claims::ClaimIndex;
pub use lookup::{Cached, LabelQuery};
pub use recent::RecentWrites;
pub use releases::{ReleaseIndex, ReleaseRecord, RUNTIME_UID_LABEL};
pub use stored::{Stored, StoredObject};
pub use watch::{backoff, watch, Change, Watched};

use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret};
use kube::api::{Api, DynamicObject, PartialObjectMeta, PartialObjectMetaExt};
use kube::core::ApiResource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::Client;
use std::sync::Arc;

/// The label every object of a Dataset's volume carries (Fluid's); PV and PVC caches hold
/// only objects with it.
pub const DATASET_ID_LABEL: &str = "fluid.io/dataset-id";

/// The kind under which our writes of values ConfigMaps are remembered in [`RecentWrites`].
pub const VALUES_KIND: &str = "ConfigMap";

/// The shared caches.
#[derive(Clone)]
pub struct Caches {
    /// The Dataset resource.
    pub dataset_kind: ApiResource,
    /// Every Dataset.
    pub datasets: Watched<StoredObject>,
    /// StatefulSets made by engine charts (label `release`).
    pub statefulsets: Watched<Stored<StatefulSet>>,
    /// DaemonSets made by engine charts (label `release`).
    pub daemonsets: Watched<Stored<DaemonSet>>,
    /// PersistentVolumes of Datasets (label `fluid.io/dataset-id`).
    pub pvs: Watched<PersistentVolume>,
    /// PersistentVolumeClaims of Datasets (label `fluid.io/dataset-id`).
    pub pvcs: Watched<PersistentVolumeClaim>,
    /// Metadata of Helm's release records (ConfigMaps `owner=helm`).
    pub releases: Watched<PartialObjectMeta<ConfigMap>>,
    /// Metadata of Helm's release records kept in Secrets (`owner=helm`, helm's default
    /// storage): another helm's releases, which the controller never adopts. Metadata only:
    /// no Secret value reaches the process.
    pub secret_releases: Watched<PartialObjectMeta<Secret>>,
    /// Metadata of the values ConfigMaps (label `fluid.io/dataset-id`).
    pub values: Watched<PartialObjectMeta<ConfigMap>>,
    /// Pods made by engine charts (label `release`), for engines' pod lists.
    pub pods: Watched<Stored<Pod>>,
    /// Every runtime, per runtime kind served by a plugin.
    pub runtimes: Vec<(ApiResource, Watched<StoredObject>)>,
    /// Which pods use which claims.
    pub claims: ClaimIndex,
    /// The controller's own latest writes of runtimes and Datasets.
    pub recent: RecentWrites,
}

impl Caches {
    /// Starts every watch (cluster-wide); `runtime_kinds` are the kinds the plugins serve.
    pub fn start(client: &Client, dataset: &ApiResource, runtime_kinds: &[ApiResource]) -> Caches {
        let labelled = |l: &str| watcher::Config::default().labels(l);
        Caches {
            dataset_kind: dataset.clone(),
            datasets: watch(
                Api::all_with(client.clone(), dataset),
                watcher::Config::default(),
                dataset.clone(),
                "datasets",
            ),
            statefulsets: watch(
                Api::all(client.clone()),
                labelled("release"),
                (),
                "statefulsets",
            ),
            daemonsets: watch(
                Api::all(client.clone()),
                labelled("release"),
                (),
                "daemonsets",
            ),
            pvs: watch(
                Api::all(client.clone()),
                labelled(DATASET_ID_LABEL),
                (),
                "persistentvolumes",
            ),
            pvcs: watch(
                Api::all(client.clone()),
                labelled(DATASET_ID_LABEL),
                (),
                "persistentvolumeclaims",
            ),
            releases: watch(
                Api::all(client.clone()),
                labelled("owner=helm"),
                (),
                "helm releases",
            ),
            secret_releases: watch(
                Api::all(client.clone()),
                labelled("owner=helm"),
                (),
                "helm releases in secrets",
            ),
            values: watch(
                Api::all(client.clone()),
                labelled(DATASET_ID_LABEL),
                (),
                "values configmaps",
            ),
            pods: watch(
                Api::all(client.clone()),
                labelled("release"),
                (),
                "engine pods",
            ),
            runtimes: runtime_kinds
                .iter()
                .map(|ar| {
                    let w = watch(
                        Api::all_with(client.clone(), ar),
                        watcher::Config::default(),
                        ar.clone(),
                        "runtimes",
                    );
                    (ar.clone(), w)
                })
                .collect(),
            claims: ClaimIndex::start(Api::<Pod>::all(client.clone()), backoff()),
            recent: RecentWrites::default(),
        }
    }

    /// Waits until every cache has listed once (a decision on an empty cache would be wrong).
    pub async fn ready(&self) {
        let _ = futures::join!(
            self.datasets.store.wait_until_ready(),
            self.statefulsets.store.wait_until_ready(),
            self.daemonsets.store.wait_until_ready(),
            self.pvs.store.wait_until_ready(),
            self.pvcs.store.wait_until_ready(),
            self.releases.store.wait_until_ready(),
            self.secret_releases.store.wait_until_ready(),
            self.values.store.wait_until_ready(),
            self.pods.store.wait_until_ready(),
            futures::future::join_all(
                self.runtimes
                    .iter()
                    .map(|(_, w)| w.store.wait_until_ready())
            ),
            self.claims.ready(),
        );
    }

    /// A Dataset by namespace and name.
    pub fn dataset(&self, ns: &str, name: &str) -> Option<Arc<DynamicObject>> {
        let cached = self.stored_dataset(ns, name).and_then(|s| s.object());
        self.recent.fresher(&self.dataset_kind.kind, cached)
    }

    /// A Dataset as the cache keeps it (its metadata without decoding it).
    pub fn stored_dataset(&self, ns: &str, name: &str) -> Option<Arc<StoredObject>> {
        self.datasets
            .store
            .get(&ObjectRef::new_with(name, self.dataset_kind.clone()).within(ns))
    }

    /// A StatefulSet by namespace and name.
    pub fn statefulset(&self, ns: &str, name: &str) -> Option<Arc<Stored<StatefulSet>>> {
        self.statefulsets
            .store
            .get(&ObjectRef::new(name).within(ns))
    }

    /// A DaemonSet by namespace and name.
    pub fn daemonset(&self, ns: &str, name: &str) -> Option<Arc<Stored<DaemonSet>>> {
        self.daemonsets.store.get(&ObjectRef::new(name).within(ns))
    }

    /// A PersistentVolume by name.
    pub fn pv(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.pvs.store.get(&ObjectRef::new(name))
    }

    /// A PersistentVolumeClaim by namespace and name.
    pub fn pvc(&self, ns: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.pvcs.store.get(&ObjectRef::new(name).within(ns))
    }

    /// A values ConfigMap's metadata by namespace and name, or our write of it while the
    /// watch has not delivered it (a pass right after the install must not take the values as
    /// unrecorded and upgrade again).
    pub fn values_configmap(
        &self,
        ns: &str,
        name: &str,
    ) -> Option<Arc<PartialObjectMeta<ConfigMap>>> {
        let partial = |o: &DynamicObject| Arc::new(o.metadata.clone().into_response_partial());
        match self.values.store.get(&ObjectRef::new(name).within(ns)) {
            Some(cached) => {
                let as_object = Arc::new(DynamicObject {
                    types: None,
                    metadata: cached.metadata.clone(),
                    data: serde_json::Value::Null,
                });
                match self.recent.fresher(VALUES_KIND, Some(as_object.clone())) {
                    Some(o) if !Arc::ptr_eq(&o, &as_object) => Some(partial(&o)),
                    _ => Some(cached),
                }
            }
            None => self
                .recent
                .created(VALUES_KIND, ns, name)
                .map(|o| partial(&o)),
        }
    }

    /// Whether helm's default storage (Secrets) holds a record of release `release` in `ns`.
    pub fn release_in_secrets(&self, ns: &str, release: &str) -> bool {
        self.secret_releases.store.state().iter().any(|s| {
            s.metadata.namespace.as_deref() == Some(ns)
                && s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("name"))
                    .map(String::as_str)
                    == Some(release)
        })
    }

    /// The records of the Helm release `release` in `ns`.
    pub fn release(&self, ns: &str, release: &str) -> ReleaseIndex {
        let records = self.releases.store.state_filter(|cm| {
            cm.metadata.namespace.as_deref() == Some(ns)
                && cm
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("name"))
                    .map(String::as_str)
                    == Some(release)
        });
        ReleaseIndex::from_records(records.iter().filter_map(|cm| ReleaseRecord::read(cm)))
    }
}
