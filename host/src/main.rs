//! `fluid-controller`: the fluid-rs controller binary.

use clap::{Parser, Subcommand};
use fluid_host::plugins::{PluginReport, Registry};
use fluid_plugin_api::loader::Plugin;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fluid-controller",
    version,
    about = "fluid-rs: Fluid's runtime controller with engines as plugins"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "FLUID_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers against the cluster of `KUBECONFIG` (else in-cluster).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions (Dataset and the runtime kind of every plugin in
    /// DIR) as one YAML bundle, for `kubectl apply -f -` or a chart's `crds/`.
    Crds {
        /// The directory holding the plugin libraries (`*.so`).
        #[arg(long, default_value = "/plugins", env = "FLUID_PLUGIN_DIR")]
        plugin_dir: PathBuf,
    },
    /// Inspect engine plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The directory holding the plugin libraries (`*.so`).
    #[arg(long, default_value = "/plugins", env = "FLUID_PLUGIN_DIR")]
    plugin_dir: PathBuf,
    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    #[arg(long, default_value = "0.0.0.0:8080", env = "FLUID_HTTP_ADDR")]
    http_addr: std::net::SocketAddr,
    /// What makes the helm releases: `resident`, one long-lived `fluid-helm-engine` process
    /// (Helm's Go SDK), or `helm`, one `helm` process per call. Releases are the same helm
    /// releases either way.
    #[arg(
        long,
        value_enum,
        default_value = "resident",
        env = "FLUID_CHART_ENGINE"
    )]
    chart_engine: fluid_host::services::ChartEngineKind,
    /// The resident chart engine (a path, or a name looked up on PATH); started at start-up.
    #[arg(long, default_value = "fluid-helm-engine", env = "FLUID_HELM_ENGINE")]
    helm_engine: PathBuf,
    /// The helm 4 binary of `--chart-engine=helm` (a path, or a name looked up on PATH);
    /// checked at start-up.
    #[arg(long, default_value = "helm", env = "FLUID_HELM")]
    helm: PathBuf,
    /// Elect a leader on a Lease, so several replicas are safe.
    #[arg(long, env = "FLUID_LEADER_ELECT")]
    leader_elect: bool,
    /// Namespace of the leader Lease.
    #[arg(long, default_value = "default", env = "POD_NAMESPACE")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "fluid-controller")]
    lease_name: String,
    /// Seconds between syncs of a set-up runtime (Fluid's FLUID_RUNTIME_RECONCILE_DURATION).
    #[arg(long, default_value_t = 90, env = "FLUID_RUNTIME_RECONCILE_DURATION")]
    sync_period_seconds: u64,
    /// Time limit of one hook call, in seconds.
    #[arg(long, default_value_t = 120)]
    hook_timeout_seconds: u64,
    /// Runtimes of one kind reconciled at once (Fluid's --runtime-workers).
    #[arg(long, default_value_t = 8)]
    runtime_workers: u16,
    /// The CSI driver the Datasets' PVs name (run fluid-csi under another name beside Fluid's).
    #[arg(long, default_value = "fuse.csi.fluid.io", env = "FLUID_CSI_DRIVER")]
    csi_driver: String,
    /// The node ports handed to host-network runtimes, FIRST-LAST (Fluid's
    /// --runtime-node-port-range).
    #[arg(
        long,
        default_value = "20000-26000",
        env = "FLUID_RUNTIME_NODE_PORT_RANGE"
    )]
    runtime_node_port_range: fluid_host::ports::PortRange,
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Load every plugin of a directory and print them as JSON. Exits non-zero when a file was
    /// refused (each refusal is logged with its path and reason).
    List {
        /// The directory holding the plugin libraries (`*.so`).
        #[arg(long, default_value = "/plugins", env = "FLUID_PLUGIN_DIR")]
        plugin_dir: PathBuf,
    },
    /// Load one plugin file and print it as JSON, or exit non-zero with the reason it is refused.
    Inspect {
        /// The plugin library.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => {
            let identity = std::env::var("POD_NAME")
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| format!("fluid-controller-{}", std::process::id()));
            let opts = fluid_host::run::RunOptions {
                plugin_dir: args.plugin_dir,
                http_addr: args.http_addr,
                helm: args.helm,
                chart_engine: args.chart_engine,
                helm_engine: args.helm_engine,
                lease: args.leader_elect.then(|| fluid_host::leader::LeaseConfig {
                    namespace: args.lease_namespace,
                    name: args.lease_name,
                    identity,
                    duration: std::time::Duration::from_secs(15),
                    renew_every: std::time::Duration::from_secs(2),
                    renew_deadline: std::time::Duration::from_secs(10),
                }),
                config: fluid_host::controller::ControllerConfig {
                    sync_period: std::time::Duration::from_secs(args.sync_period_seconds),
                    hook_timeout: std::time::Duration::from_secs(args.hook_timeout_seconds),
                    concurrency: args.runtime_workers,
                    csi_driver: args.csi_driver,
                    port_range: args.runtime_node_port_range,
                },
            };
            tokio::runtime::Runtime::new()?.block_on(fluid_host::run::run(opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Crds { plugin_dir } => {
            let registry = Registry::load_dir(&plugin_dir)?;
            let crds = registry
                .plugins()
                .iter()
                .map(|p| p.crd())
                .collect::<Result<Vec<_>, _>>()?;
            print_out(&fluid_host::crds::bundle_yaml(&crds)?)?;
            Ok(if registry.refused().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plugins {
            command: PluginsCommand::List { plugin_dir },
        } => {
            let registry = Registry::load_dir(&plugin_dir)?;
            let reports: Vec<PluginReport> = registry
                .plugins()
                .iter()
                .map(|p| PluginReport::from(p.as_ref()))
                .collect();
            print_out(&format!("{}\n", serde_json::to_string_pretty(&reports)?))?;
            Ok(if registry.refused().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plugins {
            command: PluginsCommand::Inspect { file },
        } => match Plugin::open(&file) {
            Ok(plugin) => {
                print_out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&PluginReport::from(&plugin))?
                ))?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                tracing::error!(path = %file.display(), "{e}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
}

/// Writes to stdout. A reader that stops early (`fluid-controller plugins list | head`) is not
/// an error: `println!` would panic on the broken pipe.
fn print_out(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
