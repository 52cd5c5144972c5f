//! The data operation controller: one controller per kind (DataLoad, DataMigrate, DataProcess,
//! DataBackup), the same logic for all. An operation waits until its Dataset is bound, the
//! operation it runs after is complete and no other operation of its kind holds the Dataset
//! (Fluid's `status.operationRef` lock); then the engine serving the Dataset says what pod
//! does the work (the `operate` hook; the host itself for DataProcess), and the controller
//! runs it as a Job (a CronJob for `policy: Cron`) and follows it to Complete or Failed.
//!
//! [`decide`] is the pure decision, [`reconcile`] the I/O around it; [`affinity`] places an
//! operation's pod where an operation before it ran (`runAfter.affinityStrategy`).

pub mod affinity;
pub mod cron;
pub mod decide;
pub mod job;
pub mod reconcile;
pub mod view;

use super::caches::{watch, Caches, Change, Watched};
use super::hooks::HookCaller;
use fluid_plugin_api::types::OperationKind;
use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource};
use std::sync::Arc;

/// The finalizer that releases an operation's hold on its Dataset and removes its Job.
pub const FINALIZER: &str = "data.fluid.io/operation-controller";

/// The resource of an operation kind.
pub fn resource(kind: OperationKind) -> ApiResource {
    ApiResource {
        group: "data.fluid.io".into(),
        version: "v1alpha1".into(),
        api_version: "data.fluid.io/v1alpha1".into(),
        kind: kind.as_str().into(),
        plural: kind.plural().into(),
    }
}

/// An engine that may run operations: its plugin's name (a Dataset's `status.runtimes[].type`),
/// its runtime kind, and a hook caller of its own (operations never wait for a runtime's
/// reconcile to return).
pub struct OperationEngine {
    /// The plugin's name, e.g. `juicefs`.
    pub name: String,
    /// The runtime kind it serves.
    pub kind: ApiResource,
    /// Its hooks.
    pub hooks: HookCaller,
}

/// The watches of the operations and of the Jobs and CronJobs they run.
#[derive(Clone)]
pub struct OperationCaches {
    /// Every operation, per kind.
    pub kinds: Vec<(OperationKind, Watched<DynamicObject>)>,
    /// Jobs run by operations (label [`job::KIND_LABEL`]).
    pub jobs: Watched<Job>,
    /// CronJobs run by operations (label [`job::KIND_LABEL`]).
    pub cron_jobs: Watched<CronJob>,
}

impl OperationCaches {
    /// Starts the watches (cluster-wide).
    pub fn start(client: &Client) -> Self {
        let labelled = || watcher::Config::default().labels(job::KIND_LABEL);
        OperationCaches {
            kinds: OperationKind::ALL
                .iter()
                .map(|k| {
                    let ar = resource(*k);
                    (
                        *k,
                        watch(
                            Api::all_with(client.clone(), &ar),
                            watcher::Config::default(),
                            ar,
                            "data operations",
                        ),
                    )
                })
                .collect(),
            jobs: watch(Api::all(client.clone()), labelled(), (), "operation jobs"),
            cron_jobs: watch(
                Api::all(client.clone()),
                labelled(),
                (),
                "operation cronjobs",
            ),
        }
    }

    /// Waits until every watch has listed once.
    pub async fn ready(&self) {
        let _ = futures::join!(
            futures::future::join_all(self.kinds.iter().map(|(_, w)| w.store.wait_until_ready())),
            self.jobs.store.wait_until_ready(),
            self.cron_jobs.store.wait_until_ready(),
        );
    }

    /// The operations of `kind`.
    pub fn of(&self, kind: OperationKind) -> &Watched<DynamicObject> {
        // Every kind is watched (`start` makes one per kind).
        &self
            .kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .expect("every operation kind is watched")
            .1
    }

    /// An operation by kind, namespace and name.
    pub fn operation(
        &self,
        kind: OperationKind,
        ns: &str,
        name: &str,
    ) -> Option<Arc<DynamicObject>> {
        self.of(kind)
            .store
            .get(&ObjectRef::new_with(name, resource(kind)).within(ns))
    }

    /// A Job by namespace and name.
    pub fn job(&self, ns: &str, name: &str) -> Option<Arc<Job>> {
        self.jobs.store.get(&ObjectRef::new(name).within(ns))
    }

    /// A CronJob by namespace and name.
    pub fn cron_job(&self, ns: &str, name: &str) -> Option<Arc<CronJob>> {
        self.cron_jobs.store.get(&ObjectRef::new(name).within(ns))
    }
}

/// The operation of `kind` a Job or CronJob belongs to: its controller owner.
fn owner_of<K: Resource>(o: &K, kind: OperationKind) -> Option<(String, String)> {
    let meta = o.meta();
    let owner = meta
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.kind == kind.as_str() && r.api_version.starts_with("data.fluid.io/"))?;
    Some((meta.namespace.clone()?, owner.name.clone()))
}

/// The namespace and name of a changed object; `None` after a lag.
fn changed<K: Resource>(c: Option<Change<K>>) -> Option<(Option<String>, Option<String>)> {
    let c = c?;
    let meta = c.object.meta();
    Some((meta.namespace.clone(), meta.name.clone()))
}

/// What wakes the controller of `kind`: its Jobs and CronJobs, its Datasets (a Dataset bound
/// or a lock released), and the operations it runs after or whose placement it follows (of
/// any kind). After a lag, every operation of the kind.
pub fn triggers(
    kind: OperationKind,
    caches: &Caches,
    ops: &OperationCaches,
) -> BoxStream<'static, ObjectRef<DynamicObject>> {
    type Found = Option<Vec<(String, String)>>;
    let store = ops.of(kind).store.clone();
    let one = |t: Option<(String, String)>| -> Found { Some(t.into_iter().collect()) };
    let jobs = ops
        .jobs
        .subscribe()
        .map(move |c: Option<Change<Job>>| c.and_then(|c| one(owner_of(&*c.object, kind))))
        .boxed();
    let cron_jobs = ops
        .cron_jobs
        .subscribe()
        .map(move |c: Option<Change<CronJob>>| c.and_then(|c| one(owner_of(&*c.object, kind))))
        .boxed();
    // The operations of this kind whose spec `wanted` picks, for a change of `(ns, name)`.
    let picked = |wanted: fn(&view::SpecView, OperationKind, &str, &str) -> bool, other| {
        let s = store.clone();
        move |changed: Option<(Option<String>, Option<String>)>| -> Found {
            let (ns, name) = changed?;
            let (ns, name) = (ns?, name?);
            Some(
                s.state()
                    .iter()
                    .filter(|o| wanted(&view::spec_view(kind, &to_wire(o)), other, &ns, &name))
                    .filter_map(|o| Some((o.metadata.namespace.clone()?, o.metadata.name.clone()?)))
                    .collect(),
            )
        }
    };
    let on_dataset = |v: &view::SpecView, _: OperationKind, ns: &str, name: &str| {
        v.dataset_namespace == ns && v.dataset_name == name
    };
    let after = |v: &view::SpecView, other: OperationKind, ns: &str, name: &str| {
        v.run_after.as_ref().is_some_and(|r| r.is(other, ns, name))
            || v.follow
                .as_ref()
                .is_some_and(|f| f.depend_on.is(other, ns, name))
    };
    let datasets = caches
        .datasets
        .subscribe()
        .map(changed)
        .map(picked(on_dataset, kind))
        .boxed();
    let mut sources = vec![jobs, cron_jobs, datasets];
    for (other, w) in &ops.kinds {
        sources.push(
            w.subscribe()
                .map(changed)
                .map(picked(after, *other))
                .boxed(),
        );
    }
    let ar = resource(kind);
    stream::select_all(sources)
        .flat_map(move |found: Found| {
            let refs: Vec<ObjectRef<DynamicObject>> = match found {
                Some(targets) => targets
                    .into_iter()
                    .map(|(ns, name)| ObjectRef::new_with(&name, ar.clone()).within(&ns))
                    .collect(),
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

/// An object as on the wire.
pub fn to_wire(o: &DynamicObject) -> serde_json::Value {
    // A DynamicObject is plain JSON data: encoding it cannot fail.
    serde_json::to_value(o).unwrap_or_default()
}
