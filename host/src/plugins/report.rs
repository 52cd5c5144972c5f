//! The JSON description of a loaded plugin printed by `fluid-controller plugins ...`.

use fluid_plugin_api::loader::Plugin;
use fluid_plugin_api::protocol::{GroupKind, RuntimeKind};
use serde::Serialize;

/// What `plugins list` and `plugins inspect` print for a loaded plugin.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginReport {
    /// The file.
    pub path: String,
    /// The engine's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// The `fluid-plugin-api` version it was built against.
    pub plugin_api_version: String,
    /// The protocol version it speaks.
    pub protocol: String,
    /// The runtime kind it serves.
    pub runtime: RuntimeKind,
    /// The hooks it implements; every other hook gets the controller's default.
    pub hooks: Vec<String>,
    /// Size of the embedded chart in bytes (0: none).
    pub chart_bytes: usize,
    /// The file system type written into the PV (the engine's name unless it says).
    pub mount_type: String,
    /// The cluster-scoped kinds its charts may create.
    pub cluster_scoped_kinds: Vec<GroupKind>,
}

impl From<&Plugin> for PluginReport {
    fn from(p: &Plugin) -> Self {
        let info = p.info();
        PluginReport {
            path: p.path().display().to_string(),
            name: info.name.clone(),
            version: info.version.clone(),
            plugin_api_version: info.plugin_api_version.clone(),
            protocol: info.protocol.to_string(),
            runtime: info.runtime.clone(),
            hooks: info.hooks.clone(),
            chart_bytes: p.chart().len(),
            mount_type: info.fuse_mount_type().to_owned(),
            cluster_scoped_kinds: info.cluster_scoped_kinds.clone(),
        }
    }
}
