//! `fluid-controller run`: load the plugins, take the lease, run the controllers.

use crate::controller::hooks::HookCaller;
use crate::controller::{dataset, dataset_resource, runtime, schema, ControllerConfig};
use crate::http::{self, Health};
use crate::leader::{self, LeaseConfig};
use crate::metrics::Metrics;
use crate::plugins::Registry;
use crate::services::{Cluster, Helm};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller};
use kube::{Client, ResourceExt};
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
    /// The helm binary.
    pub helm: PathBuf,
    /// Leader election; `None` runs without (a single replica).
    pub lease: Option<LeaseConfig>,
    /// Timings.
    pub config: ControllerConfig,
}

/// Runs until a shutdown signal (or the loss of the lease).
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    Helm::check_binary(&opts.helm).await?;
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
    let helm = Arc::new(Helm::new(
        opts.helm.clone(),
        std::env::temp_dir().join("fluid-rs-charts"),
    ));

    let mut tasks = Vec::new();
    let dataset_defaults = schema::required_status_defaults(&fluid_plugin_api::types::crd_json(
        &fluid_plugin_api::types::dataset_crd(),
    ));
    let dataset_ar = dataset_resource();
    {
        let ctx = Arc::new(dataset::DatasetContext {
            cluster: cluster.clone(),
            status_defaults: dataset_defaults.clone(),
        });
        let api = Api::<DynamicObject>::all_with(client.clone(), &dataset_ar);
        tasks.push(tokio::spawn(
            Controller::new_with(api, watcher::Config::default(), dataset_ar.clone())
                .shutdown_on_signal()
                .run(dataset::reconcile, dataset::error_policy, ctx)
                .for_each(|_| async {}),
        ));
    }
    for plugin in registry.plugins() {
        let info = plugin.info();
        let helm =
            Arc::new(helm.for_engine(&info.name, &info.cluster_scoped_kinds, cluster.clone()));
        let kind = ApiResource {
            group: info.runtime.group.clone(),
            version: info.runtime.version.clone(),
            api_version: format!("{}/{}", info.runtime.group, info.runtime.version),
            kind: info.runtime.kind.clone(),
            plural: info.runtime.plural.clone(),
        };
        let ctx = Arc::new(runtime::RuntimeContext {
            hooks: HookCaller::new(
                plugin.clone(),
                cluster.clone(),
                helm.clone(),
                &opts.config,
                metrics.clone(),
            ),
            kind: kind.clone(),
            cluster: cluster.clone(),
            helm: helm.clone(),
            config: opts.config.clone(),
            failures: Default::default(),
            runtime_status_defaults: schema::required_status_defaults(&plugin.crd()?),
            dataset_status_defaults: dataset_defaults.clone(),
        });
        let runtimes = Api::<DynamicObject>::all_with(client.clone(), &kind);
        let datasets = Api::<DynamicObject>::all_with(client.clone(), &dataset_ar);
        let mapped_kind = kind.clone();
        tracing::info!(kind = %kind.kind, plugin = %info.name, "starting runtime controller");
        tasks.push(tokio::spawn(
            Controller::new_with(runtimes, watcher::Config::default(), kind.clone())
                .with_config(
                    kube::runtime::controller::Config::default()
                        .concurrency(opts.config.concurrency),
                )
                .owns(
                    Api::<StatefulSet>::all(client.clone()),
                    watcher::Config::default().labels("release"),
                )
                .owns(
                    Api::<DaemonSet>::all(client.clone()),
                    watcher::Config::default().labels("release"),
                )
                // A Dataset binds to the runtime of the same namespace and name.
                .watches_with(
                    datasets,
                    dataset_ar.clone(),
                    watcher::Config::default(),
                    move |ds| {
                        let ns = ds.namespace()?;
                        Some(ObjectRef::new_with(&ds.name_any(), mapped_kind.clone()).within(&ns))
                    },
                )
                .shutdown_on_signal()
                .run(runtime::reconcile, runtime::error_policy, ctx)
                .for_each(|_| async {}),
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
