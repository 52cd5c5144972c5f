//! `fluid-controller run`: load the plugins, take the lease, run the controllers.

use crate::controller::caches::{Caches, Watched};
use crate::controller::hooks::HookCaller;
use crate::controller::schema::StatusSchema;
use crate::controller::{
    dataset, dataset_resource, operations, runtime, triggers, unserved, ControllerConfig,
};
use crate::http::{self, Health};
use crate::leader::{self, LeaseConfig};
use crate::metrics::Metrics;
use crate::plugins::Registry;
use crate::services::{ChartEngineKind, Cluster, Helm, HostPorts, ResidentEngine};
use futures::StreamExt;
use kube::core::ApiResource;
use kube::runtime::{watcher, Controller};
use kube::Client;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The plugin directory.
    pub plugin_dir: PathBuf,
    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    pub http_addr: SocketAddr,
    /// The helm binary (`--chart-engine=helm`).
    pub helm: PathBuf,
    /// Which chart engine makes the releases.
    pub chart_engine: ChartEngineKind,
    /// The resident chart engine's binary (`--chart-engine=resident`).
    pub helm_engine: PathBuf,
    /// Leader election; `None` runs without (a single replica).
    pub lease: Option<LeaseConfig>,
    /// Timings.
    pub config: ControllerConfig,
}

/// Runs until a shutdown signal (or the loss of the lease).
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    // The chart engine is checked (and the resident one started) before anything else, so a
    // missing binary stops the controller with the reason.
    let helm = match opts.chart_engine {
        ChartEngineKind::Helm => {
            Helm::check_binary(&opts.helm).await?;
            Helm::new(
                opts.helm.clone(),
                std::env::temp_dir().join("fluid-rs-charts"),
            )
        }
        ChartEngineKind::Resident => {
            let engine = Arc::new(ResidentEngine::new(opts.helm_engine.clone()));
            engine.start().await?;
            Helm::resident(engine)
        }
    };
    let registry = Registry::load_dir(&opts.plugin_dir)?;
    if registry.plugins().is_empty() {
        tracing::warn!(dir = %opts.plugin_dir.display(), "no plugin loaded: only Datasets are served");
    }
    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health {
        ready: Default::default(),
        metrics: metrics.clone(),
    });
    let listener = tokio::net::TcpListener::bind(opts.http_addr).await?;
    tracing::info!(addr = %opts.http_addr, "serving /metrics, /healthz, /readyz");
    tokio::spawn(http::serve(listener, health.clone()));

    if let Some(lease) = &opts.lease {
        health.ready.store(true, Ordering::Relaxed);
        leader::acquire(&client, lease).await;
        let (c, l) = (client.clone(), lease.clone());
        tokio::spawn(async move {
            leader::hold(c, l).await;
            // Two leaders must never run: stop now, the Deployment restarts us as a candidate.
            std::process::exit(1);
        });
    }

    let instance = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok());
    let cluster = Arc::new(Cluster::new(client.clone(), instance));

    let dataset_crd = fluid_plugin_api::types::crd_json(&fluid_plugin_api::types::dataset_crd());
    let dataset_status = StatusSchema::of(&dataset_crd);
    let dataset_ar = dataset_resource();
    let kinds: Vec<ApiResource> = registry
        .plugins()
        .iter()
        .map(|p| {
            let k = &p.info().runtime;
            ApiResource {
                group: k.group.clone(),
                version: k.version.clone(),
                api_version: format!("{}/{}", k.group, k.version),
                kind: k.kind.clone(),
                plural: k.plural.clone(),
            }
        })
        .collect();
    let caches = Caches::start(&client, &dataset_ar, &kinds);
    cluster.use_caches(caches.clone());
    let operation_caches = operations::OperationCaches::start(&client);
    caches.ready().await;
    operation_caches.ready().await;
    tracing::info!("watch caches ready");
    // Before any runtime is reconciled: a runtime asking for ports must find its own.
    let ports = Arc::new(HostPorts::new(opts.config.port_range));
    let holders = ports.rebuild(&caches);
    tracing::info!(range = %ports.range(), runtimes = holders, "host-network ports rebuilt from the values ConfigMaps");

    let controller_config =
        kube::runtime::controller::Config::default().concurrency(opts.config.concurrency);
    let mut tasks = Vec::new();
    {
        let ctx = Arc::new(dataset::DatasetContext {
            cluster: cluster.clone(),
            caches: caches.clone(),
            status: dataset_status.clone(),
            engines: registry
                .plugins()
                .iter()
                .zip(&kinds)
                .map(|(p, k)| (p.info().name.clone(), k.clone()))
                .collect(),
        });
        let store = caches.datasets.store.clone();
        tasks.push(tokio::spawn(
            Controller::for_stream_with(
                applied(&caches.datasets),
                store.clone(),
                dataset_ar.clone(),
            )
            .with_config(controller_config.clone())
            .reconcile_on(triggers::for_datasets(&caches, store))
            .shutdown_on_signal()
            .run(dataset::reconcile, dataset::error_policy, ctx)
            .for_each(|_| async {}),
        ));
    }
    let mut operation_engines = Vec::new();
    for (plugin, kind) in registry.plugins().iter().zip(&kinds) {
        let Some(watched) = caches.runtimes_of(kind).cloned() else {
            continue;
        };
        let info = plugin.info();
        let helm =
            Arc::new(helm.for_engine(&info.name, &info.cluster_scoped_kinds, cluster.clone()));
        operation_engines.push(operations::OperationEngine {
            name: info.name.clone(),
            kind: kind.clone(),
            hooks: HookCaller::new(
                plugin.clone(),
                cluster.clone(),
                helm.clone(),
                &opts.config,
                metrics.clone(),
                ports.clone(),
            ),
        });
        // At most half as many syncs wait or run as the controller has workers: triggers keep
        // the rest.
        let periodic = Arc::new(runtime::periodic::Periodic::new(
            opts.config.sync_period,
            usize::from(opts.config.concurrency / 2),
            opts.config.sync_period.max(opts.config.hook_timeout) * 2,
        ));
        let ctx = Arc::new(runtime::RuntimeContext {
            hooks: HookCaller::new(
                plugin.clone(),
                cluster.clone(),
                helm.clone(),
                &opts.config,
                metrics.clone(),
                ports.clone(),
            ),
            kind: kind.clone(),
            cluster: cluster.clone(),
            helm: helm.clone(),
            caches: caches.clone(),
            config: opts.config.clone(),
            failures: Default::default(),
            validated: Default::default(),
            starting: Default::default(),
            reported: Default::default(),
            periodic: periodic.clone(),
            runtime_status: StatusSchema::of(&plugin.crd()?),
            dataset_status: dataset_status.clone(),
        });
        tracing::info!(kind = %kind.kind, plugin = %info.name, "starting runtime controller");
        let store = watched.store.clone();
        tasks.push(tokio::spawn(
            Controller::for_stream_with(applied(&watched), store.clone(), kind.clone())
                .with_config(controller_config.clone())
                .reconcile_on(triggers::for_runtimes(
                    &caches,
                    kind,
                    &info.name,
                    store.clone(),
                ))
                .reconcile_on(periodic.triggers(kind.clone(), store))
                .shutdown_on_signal()
                .run(runtime::reconcile, runtime::error_policy, ctx)
                .for_each(|_| async {}),
        ));
    }
    let operation_engines = Arc::new(operation_engines);
    for (kind, watched) in &operation_caches.kinds {
        let ctx = Arc::new(operations::reconcile::OperationContext {
            kind: *kind,
            cluster: cluster.clone(),
            caches: caches.clone(),
            ops: operation_caches.clone(),
            engines: operation_engines.clone(),
            refusals: Default::default(),
        });
        let store = watched.store.clone();
        tasks.push(tokio::spawn(
            Controller::for_stream_with(applied(watched), store, operations::resource(*kind))
                .with_config(controller_config.clone())
                .reconcile_on(operations::triggers(*kind, &caches, &operation_caches))
                .shutdown_on_signal()
                .run(
                    operations::reconcile::reconcile,
                    operations::reconcile::error_policy,
                    ctx,
                )
                .for_each(|_| async {}),
        ));
    }
    for kind in unserved::unserved_kinds(&client, &kinds).await {
        tokio::spawn(unserved::run(
            client.clone(),
            cluster.clone(),
            kind,
            opts.plugin_dir.display().to_string(),
        ));
    }
    health.ready.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!("controllers stopped");
    if let Some(lease) = &opts.lease {
        leader::release(&client, lease).await;
    }
    Ok(())
}

/// The objects a controller reconciles: every object in the cache now, then each change (a
/// controller that lags behind reconsiders them all).
fn applied<K>(w: &Watched<K>) -> futures::stream::BoxStream<'static, Result<K, watcher::Error>>
where
    K: kube::runtime::reflector::Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    let store = w.store.clone();
    // Subscribe before taking the snapshot: nothing falls between them.
    let subscription = w.subscribe();
    let now: Vec<_> = store
        .state()
        .iter()
        .map(|o| Ok(o.as_ref().clone()))
        .collect();
    let changes = subscription.flat_map(move |c| {
        let objects: Vec<Result<K, watcher::Error>> = match c {
            Some(c) if !c.deleted => vec![Ok(c.object.as_ref().clone())],
            Some(_) => vec![],
            None => store
                .state()
                .iter()
                .map(|o| Ok(o.as_ref().clone()))
                .collect(),
        };
        futures::stream::iter(objects)
    });
    futures::stream::iter(now).chain(changes).boxed()
}
