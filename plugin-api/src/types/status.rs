//! The status every runtime kind reports (Fluid's `RuntimeStatus`): component phases and
//! replica counts, conditions, cache figures and the label selector of the scale subresource.

use super::dataset::Mount;
use super::CacheStateList;
use k8s_openapi::api::core::v1::NodeAffinity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The phase of a runtime component (master, workers or fuse).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimePhase {
    /// Not known yet.
    #[default]
    #[serde(rename = "")]
    None,
    /// No replica ready.
    NotReady,
    /// Some replicas ready.
    PartialReady,
    /// All replicas ready.
    Ready,
}

string_schema!(RuntimePhase, "RuntimePhase");

/// The type of a [`RuntimeCondition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimeConditionType {
    /// The master is set up.
    MasterInitialized,
    /// The master is ready.
    MasterReady,
    /// The workers are set up.
    WorkersInitialized,
    /// The workers are ready.
    WorkersReady,
    /// The workers were just scaled in.
    WorkersScaledIn,
    /// The workers were just scaled out.
    WorkersScaledOut,
    /// The fuse clients are set up.
    FusesInitialized,
    /// The fuse clients are ready.
    FusesReady,
    /// The fuse clients were just scaled in.
    FusesScaledIn,
    /// The fuse clients were just scaled out.
    FusesScaledOut,
}

string_schema!(RuntimeConditionType, "RuntimeConditionType");

impl RuntimeConditionType {
    /// The name written in `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MasterInitialized => "MasterInitialized",
            Self::MasterReady => "MasterReady",
            Self::WorkersInitialized => "WorkersInitialized",
            Self::WorkersReady => "WorkersReady",
            Self::WorkersScaledIn => "WorkersScaledIn",
            Self::WorkersScaledOut => "WorkersScaledOut",
            Self::FusesInitialized => "FusesInitialized",
            Self::FusesReady => "FusesReady",
            Self::FusesScaledIn => "FusesScaledIn",
            Self::FusesScaledOut => "FusesScaledOut",
        }
    }

    /// The reason Fluid writes with a condition of this type.
    pub fn reason(self) -> &'static str {
        match self {
            Self::MasterInitialized => "Master is initialized",
            Self::MasterReady => "Master is ready",
            Self::WorkersInitialized => "Workers are initialized",
            Self::WorkersReady => "Workers are ready",
            Self::WorkersScaledIn => "Workers scaled in",
            Self::WorkersScaledOut => "Workers scaled out",
            Self::FusesInitialized => "Fuses are initialized",
            Self::FusesReady => "Fuses are ready",
            Self::FusesScaledIn => "Fuses scaled in",
            Self::FusesScaledOut => "Fuses scaled out",
        }
    }
}

/// One observation of a runtime's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeCondition {
    /// What the condition is about: a [`RuntimeConditionType`] name, or a type the
    /// controller or an engine adds (fluid-rs writes `DatasetBound`, `Validated` and
    /// `Reconciled`). A string, so conditions from newer writers still read.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Why the condition last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details of the change, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the condition was last probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When the condition's status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// The REST gateway of a runtime.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct APIGatewayStatus {
    /// The endpoint to reach it at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// The observed state of a runtime, the same for every engine.
///
/// The value file, the three phases and the scheduled/ready counts are required, as in
/// Fluid's schema: Fluid always writes them, so does fluid-rs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStatus {
    /// The ConfigMap holding the Helm values the runtime was installed with
    /// (`<name>-<engine>-values`).
    #[serde(rename = "valueFile")]
    pub value_file: String,

    /// The master's phase.
    pub master_phase: RuntimePhase,
    /// Why the master's phase last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_reason: Option<String>,

    /// The workers' phase.
    pub worker_phase: RuntimePhase,
    /// Why the workers' phase last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_reason: Option<String>,

    /// Worker replicas wanted.
    pub desired_worker_number_scheduled: i32,
    /// Worker replicas scheduled (the scale subresource's status replicas).
    pub current_worker_number_scheduled: i32,
    /// Worker replicas ready.
    pub worker_number_ready: i32,
    /// Worker replicas available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_number_available: Option<i32>,
    /// Worker replicas unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_number_unavailable: Option<i32>,

    /// Master replicas wanted.
    pub desired_master_number_scheduled: i32,
    /// Master replicas scheduled.
    pub current_master_number_scheduled: i32,
    /// Master replicas ready.
    pub master_number_ready: i32,

    /// The fuse clients' phase.
    pub fuse_phase: RuntimePhase,
    /// Why the fuse clients' phase last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse_reason: Option<String>,
    /// Fuse pods scheduled.
    pub current_fuse_number_scheduled: i32,
    /// Fuse pods wanted.
    pub desired_fuse_number_scheduled: i32,
    /// Fuse pods ready.
    pub fuse_number_ready: i32,
    /// Fuse pods unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse_number_unavailable: Option<i32>,
    /// Fuse pods available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse_number_available: Option<i32>,

    /// How long the runtime took to become ready the first time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_duration: Option<String>,

    /// The latest observations of the runtime's state, one per type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<RuntimeCondition>>,

    /// Cache figures by name (`cached`, `cacheCapacity`, `cachedPercentage`, `cacheHitRatio`,
    /// ...), as display strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_states: Option<CacheStateList>,

    /// The label selector of the worker pods, as a string (for the scale subresource and
    /// autoscalers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// The runtime's REST gateway.
    #[serde(
        rename = "apiGateway",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub api_gateway_status: Option<APIGatewayStatus>,

    /// When the under file systems were last mounted; a master started later needs a
    /// remount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_time: Option<Time>,

    /// The mounts of the bound dataset as last applied (used by engines that remount on
    /// change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,

    /// Where the workers run: their node selector and affinity merged, for locality-aware
    /// scheduling of the pods using the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_affinity: Option<NodeAffinity>,
}
