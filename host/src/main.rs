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
    /// Inspect engine plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
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
        Command::Plugins {
            command: PluginsCommand::List { plugin_dir },
        } => {
            let registry = Registry::load_dir(&plugin_dir)?;
            let reports: Vec<PluginReport> = registry
                .plugins()
                .iter()
                .map(|p| PluginReport::from(p.as_ref()))
                .collect();
            println!("{}", serde_json::to_string_pretty(&reports)?);
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
                println!(
                    "{}",
                    serde_json::to_string_pretty(&PluginReport::from(&plugin))?
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                tracing::error!(path = %file.display(), "{e}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
