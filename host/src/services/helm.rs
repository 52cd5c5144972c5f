//! Helm releases, made by one of two chart engines ([`ChartEngine`]): the resident engine
//! (one long-lived process on Helm's Go SDK, [`super::helm_engine`]) or one `helm` process per
//! call. Either way releases are ordinary helm releases kept in ConfigMaps, and values never
//! touch the disk (helm reads them on its standard input; the resident engine in its
//! request); only `helm` processes need the chart (no secrets in it) written, once per
//! content. Every chart is rendered and checked against its engine's scope before it is
//! applied.

use super::chart_scope;
use super::cluster::Cluster;
use super::helm_cli::HelmProcesses;
use super::helm_engine::{Op, Request, ResidentEngine};
use fluid_plugin_api::protocol::GroupKind;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A failed helm command.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    /// helm could not be started.
    #[error("running {binary}: {source}")]
    Spawn {
        /// The helm binary.
        binary: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// helm exited non-zero.
    #[error("helm {command} failed: {stderr}")]
    Failed {
        /// The subcommand.
        command: String,
        /// What helm printed.
        stderr: String,
    },
    /// The helm binary is missing, does not run, or is not helm 4.
    #[error(
        "helm is not usable at {binary}: {reason}; install helm 4 there, or point --helm (or \
         FLUID_HELM) at it"
    )]
    Unusable {
        /// The binary as configured.
        binary: PathBuf,
        /// Why.
        reason: String,
    },
    /// The rendered chart would create objects outside the runtime's scope; nothing was
    /// applied.
    #[error(
        "refusing to install release {release}: its chart would create objects outside \
         namespace {namespace}: {}; nothing was applied",
        objects.join("; ")
    )]
    OutOfScope {
        /// The release.
        release: String,
        /// The runtime's namespace.
        namespace: String,
        /// Each object refused, with the reason.
        objects: Vec<String>,
    },
    /// This Helm has no engine to check charts against (a controller bug: every upgrade is
    /// made for an engine, through `Helm::for_engine`).
    #[error("refusing to install release {release}: no engine scope to check its chart against")]
    Unscoped {
        /// The release.
        release: String,
    },
    /// The resident chart engine cannot be started or stopped answering.
    #[error("chart engine {binary}: {reason}")]
    Engine {
        /// The engine binary.
        binary: PathBuf,
        /// Why.
        reason: String,
    },
    /// The chart could not be written.
    #[error("writing the chart {path}: {source}")]
    Chart {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The state of a release, from helm's JSON output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleaseStatus {
    /// Helm's status word (`deployed`, `failed`, ...).
    pub status: String,
    /// The revision.
    pub revision: u64,
    /// The rendered manifest (empty from `helm status`).
    pub manifest: String,
}

/// Where helm keeps release records: ConfigMaps, as Fluid's controllers do, so the controller
/// needs no write access to Secrets and reads release state from a metadata watch.
pub const HELM_DRIVER: &str = "configmap";

/// Which chart engine makes the releases (`--chart-engine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ChartEngineKind {
    /// One long-lived `fluid-helm-engine` process on Helm's Go SDK.
    Resident,
    /// One `helm` process per call.
    Helm,
}

/// How releases are made.
#[derive(Clone, Debug)]
enum ChartEngine {
    Processes(HelmProcesses),
    Resident(Arc<ResidentEngine>),
}

/// A chart archive (`.tgz`) of an engine.
#[derive(Clone, Copy, Debug)]
pub struct Chart<'a> {
    /// The engine (names the file a `helm` process reads).
    pub name: &'a str,
    /// The archive.
    pub tgz: &'a [u8],
}

/// What one engine's charts may create (see [`chart_scope`]).
struct EngineScope {
    engine: String,
    cluster_kinds: Vec<GroupKind>,
    /// Discovery: which kinds are namespaced.
    cluster: Arc<Cluster>,
}

/// Makes helm releases.
#[derive(Clone)]
pub struct Helm {
    engine: ChartEngine,
    scope: Option<Arc<EngineScope>>,
}

impl std::fmt::Debug for Helm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helm")
            .field("backend", &self.engine)
            .field("engine", &self.scope.as_ref().map(|s| &s.engine))
            .finish_non_exhaustive()
    }
}

impl Helm {
    /// One `helm` process per call: `binary` is the helm executable; charts are written under
    /// `charts_dir`. It installs nothing until given an engine ([`Helm::for_engine`]).
    pub fn new(binary: PathBuf, charts_dir: PathBuf) -> Self {
        Self {
            engine: ChartEngine::Processes(HelmProcesses::new(binary, charts_dir)),
            scope: None,
        }
    }

    /// Releases made by the resident chart engine.
    pub fn resident(engine: Arc<ResidentEngine>) -> Self {
        Self {
            engine: ChartEngine::Resident(engine),
            scope: None,
        }
    }

    /// The same chart engine (sharing its process or its limit) for `engine`'s releases: each
    /// chart is rendered first and refused when it would create an object outside the
    /// release's namespace, or a cluster-scoped object of a kind not in `cluster_kinds`.
    /// `cluster` answers which kinds are namespaced.
    pub fn for_engine(
        &self,
        engine: &str,
        cluster_kinds: &[GroupKind],
        cluster: Arc<Cluster>,
    ) -> Helm {
        Helm {
            scope: Some(Arc::new(EngineScope {
                engine: engine.to_owned(),
                cluster_kinds: cluster_kinds.to_vec(),
                cluster,
            })),
            ..self.clone()
        }
    }

    /// Checks at start-up that `binary` (a path, or a name looked up on `PATH`) runs and is
    /// helm 4, so a missing helm stops the controller with the reason instead of failing
    /// every runtime later. Returns helm's version.
    pub async fn check_binary(binary: &Path) -> Result<String, HelmError> {
        HelmProcesses::check_binary(binary).await
    }

    /// Renders the chart as `helm template --include-crds --skip-tests` would with the same
    /// values (test hooks run only on `helm test`, which the controller never calls).
    async fn render(
        &self,
        namespace: &str,
        release: &str,
        chart: Chart<'_>,
        values: &Value,
    ) -> Result<String, HelmError> {
        match &self.engine {
            ChartEngine::Processes(helm) => helm.template(namespace, release, chart, values).await,
            ChartEngine::Resident(engine) => {
                let mut r = Request::new(Op::Template, namespace, release);
                r.chart = Some(chart.tgz);
                r.values = Some(values);
                Ok(engine.call(r).await?.manifest)
            }
        }
    }

    /// Renders the chart as the upgrade would (same values, CRDs included) and checks every
    /// object against the engine's scope.
    ///
    /// A local render rather than `helm upgrade --dry-run=server`: measured on the reference
    /// chart with `helm` processes, 0.15 s and 0.07 s of CPU against 0.4 s and 0.25 s (the
    /// install itself: ~0.5 s). What it cannot see (`lookup`, `.Release.IsUpgrade`) does not
    /// move objects to other namespaces in a chart not written to evade the check, and a
    /// plugin is trusted code anyway (docs/architecture.md).
    async fn check_chart(
        &self,
        namespace: &str,
        release: &str,
        chart: Chart<'_>,
        values: &Value,
    ) -> Result<(), HelmError> {
        let Some(scope) = &self.scope else {
            return Err(HelmError::Unscoped {
                release: release.to_owned(),
            });
        };
        let rendered = self.render(namespace, release, chart, values).await?;
        let out_of_scope = |objects| HelmError::OutOfScope {
            release: release.to_owned(),
            namespace: namespace.to_owned(),
            objects,
        };
        let objects = chart_scope::parse_manifest(&rendered).map_err(|e| out_of_scope(vec![e]))?;
        let mut scopes = chart_scope::Scopes::new();
        for object in &objects {
            if let std::collections::hash_map::Entry::Vacant(entry) =
                scopes.entry(object.type_key())
            {
                let namespaced = scope
                    .cluster
                    .resource(&object.api_version, &object.kind)
                    .await
                    .map(|(_, namespaced)| namespaced)
                    .map_err(|e| e.to_string());
                entry.insert(namespaced);
            }
        }
        let refused = chart_scope::violations(
            &objects,
            namespace,
            &scope.engine,
            &scope.cluster_kinds,
            &scopes,
        );
        if refused.is_empty() {
            Ok(())
        } else {
            Err(out_of_scope(refused))
        }
    }

    /// `helm upgrade --install` (or `upgrade` alone when `install` is false) with `values`
    /// and `labels` on the release records, once the rendered chart passed the engine's scope
    /// check. Server-side apply with conflicts forced: the scale subresource and users also
    /// write fields of the chart's objects, and the values are the engine's intent: they win.
    pub async fn upgrade(
        &self,
        namespace: &str,
        release: &str,
        chart: Chart<'_>,
        values: &Value,
        install: bool,
        labels: &[(&str, &str)],
    ) -> Result<ReleaseStatus, HelmError> {
        self.check_chart(namespace, release, chart, values).await?;
        match &self.engine {
            ChartEngine::Processes(helm) => {
                helm.upgrade(namespace, release, chart, values, install, labels)
                    .await
            }
            ChartEngine::Resident(engine) => {
                let mut r = Request::new(Op::Upgrade, namespace, release);
                r.chart = Some(chart.tgz);
                r.values = Some(values);
                r.install = install;
                r.labels = labels.iter().copied().collect();
                let answer = engine.call(r).await?;
                Ok(answer.release.map(Into::into).unwrap_or_default())
            }
        }
    }

    /// `helm status`; `None` when there is no such release.
    pub async fn status(
        &self,
        namespace: &str,
        release: &str,
    ) -> Result<Option<ReleaseStatus>, HelmError> {
        match &self.engine {
            ChartEngine::Processes(helm) => helm.status(namespace, release).await,
            ChartEngine::Resident(engine) => Ok(engine
                .call(Request::new(Op::Status, namespace, release))
                .await?
                .release
                .map(Into::into)),
        }
    }

    /// `helm rollback` to the previous revision (after an interrupted upgrade).
    pub async fn rollback(&self, namespace: &str, release: &str) -> Result<(), HelmError> {
        match &self.engine {
            ChartEngine::Processes(helm) => helm.rollback(namespace, release).await,
            ChartEngine::Resident(engine) => engine
                .call(Request::new(Op::Rollback, namespace, release))
                .await
                .map(drop),
        }
    }

    /// `helm uninstall --wait=false`; `false` when there was no such release.
    pub async fn uninstall(&self, namespace: &str, release: &str) -> Result<bool, HelmError> {
        match &self.engine {
            ChartEngine::Processes(helm) => helm.uninstall(namespace, release).await,
            ChartEngine::Resident(engine) => Ok(engine
                .call(Request::new(Op::Uninstall, namespace, release))
                .await?
                .uninstalled),
        }
    }
}
