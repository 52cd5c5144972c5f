//! `fluid-csi --endpoint unix://PATH --node-id NAME`: the CSI node plugin of fluid-rs.

use clap::Parser;
use fluid_csi::cluster::Cluster;
use fluid_csi::controller::ControllerService;
use fluid_csi::csi::controller_server::ControllerServer;
use fluid_csi::csi::identity_server::IdentityServer;
use fluid_csi::csi::node_server::NodeServer;
use fluid_csi::identity::IdentityService;
use fluid_csi::locks::Locks;
use fluid_csi::node::{self, NodeService};
use fluid_csi::recovery::{self, Recovery};
use fluid_csi::registration::RegistrationServer;
use fluid_csi::server;
use fluid_csi::state::State;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic::transport::Server;

#[derive(Parser)]
#[command(
    name = "fluid-csi",
    version,
    about = "CSI node plugin for Fluid Dataset volumes, for any engine (docs/csi.md)"
)]
struct Cli {
    /// The CSI socket the kubelet calls: unix:///path/csi.sock.
    #[arg(long, env = "CSI_ENDPOINT")]
    endpoint: String,
    /// This node's name: the Node the plugin labels for the engines' fuse.
    #[arg(long, env = "NODE_NAME")]
    node_id: String,
    /// The CSI driver name (the PVs' `spec.csi.driver`).
    #[arg(long, default_value = fluid_csi::DEFAULT_DRIVER_NAME, env = "FLUID_CSI_DRIVER_NAME")]
    driver_name: String,
    /// The kubelet's root directory.
    #[arg(long, default_value = "/var/lib/kubelet", env = "KUBELET_ROOT_DIR")]
    kubelet_dir: PathBuf,
    /// Register the driver with the kubelet through a socket in this directory (normally
    /// `<kubelet-dir>/plugins_registry`). Without it the plugin does not register itself.
    #[arg(long)]
    registration_dir: Option<PathBuf>,
    /// The plugin's state file [default: <kubelet-dir>/plugins/<driver-name>/state.json].
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// How long NodePublishVolume waits for the engine's fuse to mount the volume.
    #[arg(long, default_value_t = 30)]
    mount_wait_seconds: u64,
    /// Seconds between fuse-recovery passes; 0 turns recovery off.
    #[arg(long, default_value_t = 5)]
    recovery_period_seconds: u64,
    /// The most binds stacked at one target by recoveries before the dead ones are unmounted.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(2..))]
    max_stacked_mounts: u64,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text", env = "FLUID_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
enum Fatal {
    #[error(transparent)]
    Serve(#[from] server::ServeError),
    #[error(transparent)]
    State(#[from] fluid_csi::state::StateError),
    #[error("no Kubernetes client (in-cluster or KUBECONFIG): {0}")]
    Kube(#[from] kube::Error),
    #[error("the kubelet refused to register the driver: {0}")]
    Refused(String),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves once `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn run(cli: Cli) -> Result<(), Fatal> {
    let socket = server::socket_path(&cli.endpoint)?;
    let state_file = cli.state_file.clone().unwrap_or_else(|| {
        cli.kubelet_dir
            .join("plugins")
            .join(&cli.driver_name)
            .join("state.json")
    });
    let state = Arc::new(State::load(&state_file)?);
    let client = kube::Client::try_default().await?;
    let cluster = Arc::new(Cluster::new(client, cli.node_id.clone()));
    let locks = Locks::default();
    let probe_timeout = Duration::from_secs(5);
    let max_stacked = usize::try_from(cli.max_stacked_mounts).unwrap_or(usize::MAX);

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("stopping");
            stop_tx.send_replace(true);
        });
    }

    if cli.recovery_period_seconds > 0 {
        let recovery = Recovery {
            settings: recovery::Settings {
                kubelet_dir: cli.kubelet_dir.clone(),
                max_stacked,
                probe_timeout,
            },
            state: state.clone(),
            locks: locks.clone(),
            cluster: cluster.clone(),
        };
        let period = Duration::from_secs(cli.recovery_period_seconds);
        tokio::spawn(recovery.run(period, stopped(stop_rx.clone())));
    }

    let mut refused = None;
    let mut registration_served = None;
    if let Some(dir) = &cli.registration_dir {
        let reg_socket = dir.join(format!("{}-reg.sock", cli.driver_name));
        let endpoint = socket.display().to_string();
        let (registration, mut verdict) = RegistrationServer::new(&cli.driver_name, &endpoint);
        let router = Server::builder().add_service(registration);
        let stop = stopped(stop_rx.clone());
        let stop_on_error = stop_tx.clone();
        registration_served = Some(tokio::spawn(async move {
            if let Err(e) = server::serve(router, &reg_socket, stop).await {
                tracing::error!(error = %e, "the registration socket failed");
                stop_on_error.send_replace(true);
            }
        }));
        // A refusal ends the plugin, so its pod restarts and registers again (what
        // node-driver-registrar does).
        let stop_on_refusal = stop_tx.clone();
        refused = Some(tokio::spawn(async move {
            while verdict.changed().await.is_ok() {
                let refusal = verdict
                    .borrow()
                    .as_ref()
                    .filter(|s| !s.plugin_registered)
                    .map(|s| s.error.clone());
                if let Some(error) = refusal {
                    stop_on_refusal.send_replace(true);
                    return Some(error);
                }
            }
            None
        }));
    }

    let node = NodeService::new(
        node::Settings {
            node_id: cli.node_id.clone(),
            kubelet_dir: cli.kubelet_dir.clone(),
            mount_wait: Duration::from_secs(cli.mount_wait_seconds),
            mount_poll: Duration::from_secs(1),
            probe_timeout,
            max_unmounts: max_stacked.saturating_mul(2).max(100),
        },
        cluster.clone(),
        state,
        locks,
    );
    let identity = IdentityService {
        driver_name: cli.driver_name.clone(),
    };
    let router = Server::builder()
        .add_service(IdentityServer::new(identity))
        .add_service(NodeServer::new(node))
        .add_service(ControllerServer::new(ControllerService {
            driver_name: cli.driver_name.clone(),
            cluster,
        }));
    tracing::info!(driver = %cli.driver_name, node = %cli.node_id, "fluid-csi starting");
    server::serve(router, &socket, stopped(stop_rx)).await?;
    // The registration socket ends its calls too (the kubelet gets its answer to a refusal).
    if let Some(task) = registration_served {
        let _ = task.await;
    }
    if let Some(task) = refused {
        task.abort();
        if let Ok(Some(error)) = task.await {
            return Err(Fatal::Refused(error));
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "fluid-csi failed");
            ExitCode::FAILURE
        }
    }
}
