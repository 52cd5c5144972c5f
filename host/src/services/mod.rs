//! The host services engines call back into (get, list, apply, delete, patch status, helm,
//! exec, events, logs), served against the cluster and scoped to one runtime's namespace.
//!
//! Hooks run on blocking threads; each service call blocks that thread on the controller's
//! async runtime, so the one kube client serves every engine.

mod chart_scope;
mod cluster;
mod helm;
mod helm_cli;
mod helm_engine;
mod scope;

pub use cluster::{api_err, Cluster, ClusterError, FIELD_MANAGER};
pub use helm::{Chart, ChartEngineKind, Helm, HelmError, Install, HELM_DRIVER};
pub use helm_cli::fnv1a;
pub use helm_engine::{ResidentEngine, ENGINE_PROTOCOL};
pub use scope::{Expiry, OwnRuntime, ScopedServices, StatusPatches};
