//! The engine plugins: finding them in the plugin directory, refusing the bad ones, and
//! describing them.

mod registry;
mod report;

pub use registry::{Refusal, Registry, RegistryError};
pub use report::PluginReport;
