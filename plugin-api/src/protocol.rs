//! The versioned JSON messages that travel through the two `call` entries of [`crate::abi`].
//!
//! # Evolution rules
//! The protocol version is `major.minor`. Within one major:
//! - new hooks and new services may be added (minor bump);
//! - new optional fields may be added to any message (readers ignore unknown fields and default
//!   missing ones);
//! - nothing is removed or renamed, and no field changes meaning.
//!
//! A host that calls a hook the plugin does not know gets [`HookResponse::UnknownHook`] and
//! applies its own default, so an older plugin keeps working in a newer host. A plugin that
//! calls a service the host does not know gets a [`ServiceFailure`] of kind
//! [`ServiceErrorKind::Unsupported`], so a newer plugin keeps working in an older host as long
//! as it only relies on what that host offers (it can check [`HookRequest::host_protocol`]).
//! A different major is refused at load time.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The protocol major this crate speaks. A host refuses plugins of another major.
pub const PROTOCOL_MAJOR: u32 = 1;
/// The protocol minor this crate speaks: the hooks and services it knows.
pub const PROTOCOL_MINOR: u32 = 3;

/// A protocol version, `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProtocolVersion {
    /// Incompatible changes.
    pub major: u32,
    /// Additions: hooks, services, optional fields.
    pub minor: u32,
}

impl ProtocolVersion {
    /// The version this crate speaks.
    pub const CURRENT: ProtocolVersion = ProtocolVersion {
        major: PROTOCOL_MAJOR,
        minor: PROTOCOL_MINOR,
    };
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What a plugin says about itself (the `info` entry of the root module).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    /// The engine's name, e.g. `juicefs`. Used in logs and as the engine implementation name.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// The `fluid-plugin-api` crate version the plugin was built against.
    pub plugin_api_version: String,
    /// The protocol version the plugin speaks.
    pub protocol: ProtocolVersion,
    /// The runtime kind the engine serves.
    pub runtime: RuntimeKind,
    /// The hooks the engine implements itself; every other hook gets the host's default.
    pub hooks: Vec<String>,
    /// The file system type the engine's fuse mounts (the PV's `mount_type`, which Fluid's CSI
    /// plugin looks for in `/proc/self/mountinfo`), e.g. `JuiceFS`. Absent: the engine's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_type: Option<String>,
    /// The cluster-scoped kinds the engine's charts create (e.g. a `ClusterRole`). The host
    /// renders every chart before installing it and refuses one with a cluster-scoped object
    /// of another kind, or an object in another namespace than the runtime's. Absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_scoped_kinds: Vec<GroupKind>,
}

/// A Kubernetes kind in any version of its API group, e.g. `rbac.authorization.k8s.io`
/// `ClusterRole` (the group is empty for the core group).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKind {
    /// The API group, `""` for the core group.
    #[serde(default)]
    pub group: String,
    /// The kind.
    pub kind: String,
}

impl GroupKind {
    /// The group and kind of an object's `apiVersion` (`group/version` or `version`) and
    /// `kind`.
    pub fn of(api_version: &str, kind: &str) -> Self {
        GroupKind {
            group: api_version
                .rsplit_once('/')
                .map(|(group, _)| group.to_owned())
                .unwrap_or_default(),
            kind: kind.to_owned(),
        }
    }
}

impl fmt::Display for GroupKind {
    /// `ClusterRole.rbac.authorization.k8s.io`, or `Namespace` in the core group (as kubectl
    /// names resources).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

impl PluginInfo {
    /// The file system type written into the PV's `mount_type`: the plugin's `mount_type`,
    /// else its name.
    pub fn fuse_mount_type(&self) -> &str {
        self.mount_type.as_deref().unwrap_or(&self.name)
    }
}

/// The Kubernetes kind of a runtime, e.g. `data.fluid.io/v1alpha1` `JuiceFSRuntime`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeKind {
    /// API group, `data.fluid.io` for Fluid's runtimes.
    pub group: String,
    /// API version, `v1alpha1` for Fluid's runtimes.
    pub version: String,
    /// Kind, e.g. `JuiceFSRuntime`.
    pub kind: String,
    /// Plural resource name, e.g. `juicefsruntimes`.
    pub plural: String,
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.group, self.version, self.kind)
    }
}

macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every value this protocol version knows, in lifecycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The name used on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Parses a wire name; `None` for a name this protocol version does not know.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// The engine hooks, named after Fluid's engine interface (`pkg/ddc/base`), in the order the
    /// lifecycle calls them.
    pub enum Hook {
        /// Checks the runtime spec; returns field errors (`Validation`).
        Validate = "validate",
        /// Builds the Helm values of the engine's chart from the runtime and dataset.
        Transform = "transform",
        /// Whether the master still needs to be set up (`bool`).
        ShouldSetupMaster = "should_setup_master",
        /// Sets the master up (default: install the chart with the `transform` values).
        SetupMaster = "setup_master",
        /// Whether the master is ready (`bool`).
        CheckMasterReady = "check_master_ready",
        /// Whether the under file systems must be checked and prepared (`bool`).
        ShouldCheckUfs = "should_check_ufs",
        /// Prepares the under file systems (mounts them into the cache).
        PrepareUfs = "prepare_ufs",
        /// Whether the dataset's mounts changed since they were prepared (`bool`).
        ShouldUpdateUfs = "should_update_ufs",
        /// Applies changed dataset mounts.
        UpdateOnUfsChange = "update_on_ufs_change",
        /// Whether the workers still need to be set up (`bool`).
        ShouldSetupWorkers = "should_setup_workers",
        /// Sets the workers up.
        SetupWorkers = "setup_workers",
        /// Whether the workers are ready (`bool`).
        CheckWorkersReady = "check_workers_ready",
        /// Reports the runtime status from the engine's workloads (`RuntimeStatusReport`).
        CheckAndUpdateRuntimeStatus = "check_and_update_runtime_status",
        /// Creates the dataset's PersistentVolume and claim.
        CreateVolume = "create_volume",
        /// Deletes the dataset's PersistentVolume and claim.
        DeleteVolume = "delete_volume",
        /// Reacts to changes of the runtime spec (e.g. rolls the workers).
        SyncRuntime = "sync_runtime",
        /// Computes the dataset's UFS total size and file count (`MetadataReport`).
        SyncMetadata = "sync_metadata",
        /// Reports the dataset's cache states (`CacheReport`).
        UpdateCacheOfDataset = "update_cache_of_dataset",
        /// Checks the engine's health (`HealthReport`).
        CheckRuntimeHealthy = "check_runtime_healthy",
        /// Reacts to a change of `spec.replicas`.
        SyncReplicas = "sync_replicas",
        /// Reports engine-specific dataset status fields (`DatasetStatusReport`).
        UpdateDatasetStatus = "update_dataset_status",
        /// Tears the engine down (default: uninstall the chart).
        Shutdown = "shutdown",
        /// Says what runs a data operation (`OperateInput` → `OperationPlan`, protocol 1.3): the
        /// pod of its Job. `default` means the engine does not support that operation.
        Operate = "operate",
    }
}

named_enum! {
    /// The services the host offers to engines. Every call is scoped by the host to the
    /// namespace of the runtime being reconciled.
    pub enum Service {
        /// Reads one object (`GetRequest` → `ObjectResponse`).
        Get = "get",
        /// Lists objects (`ListRequest` → `ListResponse`).
        List = "list",
        /// Server-side applies an object with the host's field manager (`ApplyRequest` → `ObjectResponse`).
        Apply = "apply",
        /// Deletes an object (`DeleteRequest` → `DeleteResponse`).
        Delete = "delete",
        /// Patches an object's status subresource (`PatchStatusRequest` → `ObjectResponse`).
        PatchStatus = "patch_status",
        /// Installs or upgrades a Helm release (`HelmInstallRequest` → `HelmReleaseStatus`).
        HelmInstall = "helm_install",
        /// Upgrades an existing Helm release (`HelmInstallRequest` → `HelmReleaseStatus`).
        HelmUpgrade = "helm_upgrade",
        /// Uninstalls a Helm release (`HelmReleaseRequest` → `HelmUninstallResponse`).
        HelmUninstall = "helm_uninstall",
        /// Reads a Helm release's status (`HelmReleaseRequest` → `HelmReleaseStatus`).
        HelmStatus = "helm_status",
        /// Runs a command in a pod's container (`ExecRequest` → `ExecResponse`).
        Exec = "exec",
        /// Records a Kubernetes Event on the runtime (`EventRequest` → `{}`).
        Event = "event",
        /// Writes a line to the controller's log (`LogRequest` → `{}`).
        Log = "log",
        /// Hands out node ports for a host-network runtime, the same on every call for the
        /// same runtime, never the same to two runtimes (`AllocatePortsRequest` →
        /// `AllocatePortsResponse`). Protocol 1.2.
        AllocatePorts = "allocate_ports",
    }
}

/// What the host sends with every hook call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRequest {
    /// The protocol version of the host making the call.
    pub host_protocol: ProtocolVersion,
    /// The runtime object, as on the wire.
    pub runtime: Value,
    /// The Dataset of the same name, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Value>,
    /// Hook-specific input (see each hook); `null` for most.
    #[serde(default)]
    pub input: Value,

    // ---- Protocol 1.1 (the vendor kit): what the host decided for the runtime. ----
    /// The names, paths and owner the host decided for this runtime, the same it gives the
    /// chart as values. Absent from a host older than 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conventions: Option<crate::conventions::Conventions>,
}

impl HookRequest {
    /// A request from a host speaking this crate's protocol about `runtime`, with no Dataset,
    /// no input and no conventions; set the other fields as needed. Building requests this way
    /// keeps compiling when a minor adds a field.
    pub fn new(runtime: Value) -> Self {
        HookRequest {
            host_protocol: ProtocolVersion::CURRENT,
            runtime,
            dataset: None,
            input: Value::Null,
            conventions: None,
        }
    }
}

/// A hook's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum HookResponse {
    /// The engine ran the hook; `output` is the hook's result (`null` for hooks without one).
    Done {
        /// The hook's result.
        #[serde(default)]
        output: Value,
    },
    /// The engine leaves this hook to the host's default.
    Default,
    /// The engine does not know this hook (it was built against an older protocol): the host's
    /// default applies.
    UnknownHook,
}

/// Why a hook failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The engine returned an error.
    Failed,
    /// The engine panicked; the panic was caught at the boundary.
    Panicked,
    /// The request could not be read (malformed JSON, wrong shape).
    BadRequest,
}

/// A failed hook, sent in `RErr`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HookFailure {
    /// The hook that failed.
    pub hook: String,
    /// The kind of failure.
    pub kind: FailureKind,
    /// What went wrong, for a condition and an Event. Never contains secret values.
    pub message: String,
}

impl fmt::Display for HookFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FailureKind::Failed => write!(f, "hook {} failed: {}", self.hook, self.message),
            FailureKind::Panicked => write!(f, "hook {} panicked: {}", self.hook, self.message),
            FailureKind::BadRequest => {
                write!(f, "hook {}: bad request: {}", self.hook, self.message)
            }
        }
    }
}

/// Why a host service failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceErrorKind {
    /// The host does not offer this service (it speaks an older protocol).
    Unsupported,
    /// The request was malformed or not allowed for this runtime (e.g. another namespace).
    BadRequest,
    /// The object does not exist.
    NotFound,
    /// The Kubernetes API or the tool (helm, exec) failed.
    Failed,
    /// The host code serving the call panicked.
    Panicked,
}

/// A failed host service call, sent in `RErr`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceFailure {
    /// The service called.
    pub service: String,
    /// The kind of failure.
    pub kind: ServiceErrorKind,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ServiceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "host service {} ({:?}): {}",
            self.service, self.kind, self.message
        )
    }
}

// ---- host service messages -------------------------------------------------------------------

/// Names one object of the runtime's namespace (or a cluster-scoped object).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetRequest {
    /// `v1`, `apps/v1`, `data.fluid.io/v1alpha1`, ...
    pub api_version: String,
    /// `ConfigMap`, `StatefulSet`, ...
    pub kind: String,
    /// The object's name.
    pub name: String,
}

/// `get`, `apply` and `patch_status` answer with the object (`null` from `get` when absent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectResponse {
    /// The object as on the wire.
    pub object: Value,
}

/// Lists objects of a kind in the runtime's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRequest {
    /// API version of the kind.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// A label selector such as `app=juicefs,role=worker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

/// The listed objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListResponse {
    /// The objects as on the wire.
    pub items: Vec<Value>,
}

/// Server-side applies an object. The host sets the namespace and its field manager.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// The object as on the wire, with `apiVersion`, `kind` and `metadata.name`.
    pub object: Value,
}

/// Deletes one object.
pub type DeleteRequest = GetRequest;

/// Whether `delete` removed something.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteResponse {
    /// `false` when the object was already gone.
    pub deleted: bool,
}

/// Patches the status subresource of an object (merge patch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchStatusRequest {
    /// API version of the kind.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The status fields to merge.
    pub status: Value,
}

/// Installs (or upgrades) a Helm release in the runtime's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmInstallRequest {
    /// The release name.
    pub release: String,
    /// The values. They are handed to helm without touching the disk.
    pub values: Value,
    /// A chart as a base64 gzipped tarball; absent means the plugin's own chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_base64: Option<String>,
}

/// Names a Helm release in the runtime's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HelmReleaseRequest {
    /// The release name.
    pub release: String,
}

/// A Helm release's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HelmReleaseStatus {
    /// Whether the release exists.
    pub exists: bool,
    /// Helm's status word (`deployed`, `failed`, ...), empty when absent.
    #[serde(default)]
    pub status: String,
    /// The release revision, 0 when absent.
    #[serde(default)]
    pub revision: u64,
}

/// Whether `helm_uninstall` removed a release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HelmUninstallResponse {
    /// `false` when there was no such release.
    pub uninstalled: bool,
}

/// Runs a command in a container of a pod of the runtime's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecRequest {
    /// The pod's name.
    pub pod: String,
    /// The container; absent means the pod's only container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The command and its arguments (no shell unless you call one).
    pub command: Vec<String>,
    /// How long the command may run; the host applies its own limit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

/// What an exec printed and how it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecResponse {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit code (0 on success).
    pub exit_code: i32,
}

/// The type of a Kubernetes Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something the user should look at.
    Warning,
}

/// Records an Event on the runtime being reconciled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRequest {
    /// Normal or Warning.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// A CamelCase reason such as `ScaledOut`.
    pub reason: String,
    /// A human-readable message. Never put secret values here.
    pub message: String,
}

/// Asks for node ports for the runtime being reconciled ([`Service::AllocatePorts`], 1.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocatePortsRequest {
    /// How many ports the runtime needs in all. Asking again with the same count returns the
    /// same ports; a larger count keeps them and adds more, a smaller one keeps the first
    /// `count` and frees the rest.
    pub count: u16,
}

/// The ports the host reserved for the runtime, from its configured range, until the runtime
/// is deleted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocatePortsResponse {
    /// `count` distinct ports, in the order they were first handed out.
    pub ports: Vec<u16>,
}

/// Log levels for [`Service::Log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures.
    Error,
    /// Problems the controller survives.
    Warn,
    /// Milestones.
    Info,
    /// Details.
    Debug,
}

/// Writes a line to the controller's log, tagged with the plugin and runtime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogRequest {
    /// The level.
    pub level: LogLevel,
    /// The message. Never put secret values here.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for hook in Hook::ALL {
            assert!(seen.insert(hook.as_str()), "duplicate name {hook}");
            assert_eq!(Hook::from_name(hook.as_str()), Some(*hook));
        }
        assert_eq!(Hook::from_name("no_such_hook"), None);
        for service in Service::ALL {
            assert_eq!(Service::from_name(service.as_str()), Some(*service));
        }
    }

    #[test]
    fn responses_have_a_stable_wire_form() {
        let done = HookResponse::Done {
            output: serde_json::json!(true),
        };
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"outcome":"done","output":true}"#
        );
        assert_eq!(
            serde_json::to_string(&HookResponse::Default).unwrap(),
            r#"{"outcome":"default"}"#
        );
        // A response without output (from a hook with no result) still reads.
        let read: HookResponse = serde_json::from_str(r#"{"outcome":"done"}"#).unwrap();
        assert_eq!(
            read,
            HookResponse::Done {
                output: Value::Null
            }
        );
    }

    #[test]
    fn a_1_0_request_reads_without_conventions_and_a_1_1_request_carries_them() {
        let old: HookRequest = serde_json::from_str(
            r#"{"hostProtocol":{"major":1,"minor":0},"runtime":{"metadata":{"name":"a"}},"input":null}"#,
        )
        .unwrap();
        assert_eq!(old.conventions, None);
        let mut new = HookRequest::new(serde_json::json!({"metadata": {"name": "a"}}));
        assert!(!serde_json::to_string(&new).unwrap().contains("conventions"));
        new.conventions = Some(crate::conventions::Conventions {
            fuse_mount_path: "/runtime-mnt/x/ns/a/x-fuse".into(),
            ..Default::default()
        });
        let wire = serde_json::to_value(&new).unwrap();
        assert_eq!(
            wire["conventions"]["fuseMountPath"],
            "/runtime-mnt/x/ns/a/x-fuse"
        );
        assert_eq!(serde_json::from_value::<HookRequest>(wire).unwrap(), new);
    }

    #[test]
    fn plugin_info_without_cluster_scoped_kinds_reads_and_writes_as_before() {
        let old = r#"{"name":"a","version":"1","pluginApiVersion":"1.0.0",
            "protocol":{"major":1,"minor":0},
            "runtime":{"group":"g","version":"v1","kind":"K","plural":"ks"},"hooks":[]}"#;
        let info: PluginInfo = serde_json::from_str(old).unwrap();
        assert!(info.cluster_scoped_kinds.is_empty());
        assert!(!serde_json::to_string(&info)
            .unwrap()
            .contains("clusterScopedKinds"));
        let mut info = info;
        info.cluster_scoped_kinds =
            vec![GroupKind::of("rbac.authorization.k8s.io/v1", "ClusterRole")];
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(
            json["clusterScopedKinds"],
            serde_json::json!([{"group": "rbac.authorization.k8s.io", "kind": "ClusterRole"}])
        );
        assert_eq!(
            info.cluster_scoped_kinds[0].to_string(),
            "ClusterRole.rbac.authorization.k8s.io"
        );
        assert_eq!(GroupKind::of("v1", "Namespace").to_string(), "Namespace");
    }

    #[test]
    fn messages_ignore_unknown_fields_from_newer_peers() {
        let req: GetRequest = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"Pod","name":"a","addedInProtocol1_7":1}"#,
        )
        .unwrap();
        assert_eq!(req.name, "a");
    }
}
