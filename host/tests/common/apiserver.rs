//! Counting a controller's API requests from the API server's own metrics: the controller runs
//! as a ServiceAccount of its own, and three FlowSchemas classify that account's requests into
//! reads (get, list), writes (create, update, patch, delete) and watches, each counted by
//! `apiserver_flowcontrol_dispatched_requests_total{flow_schema=...}`.

use fluid_test_support::{kubeconfig_path, kubectl};
use std::path::PathBuf;

/// The ServiceAccount the measured controller runs as.
pub const ACCOUNT: &str = "fluid-rs-measured";
const NAMESPACE: &str = "kube-system";

/// Requests counted by the API server, by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    /// `get` and `list`.
    pub reads: u64,
    /// `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub writes: u64,
    /// `watch`.
    pub watches: u64,
}

impl Requests {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.reads + self.writes + self.watches
    }
}

impl std::ops::Sub for Requests {
    type Output = Requests;
    fn sub(self, o: Requests) -> Requests {
        Requests {
            reads: self.reads.saturating_sub(o.reads),
            writes: self.writes.saturating_sub(o.writes),
            watches: self.watches.saturating_sub(o.watches),
        }
    }
}

impl std::fmt::Display for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} reads, {} writes, {} watches",
            self.reads, self.writes, self.watches
        )
    }
}

fn schema(class: &str, verbs: &str) -> String {
    format!(
        "apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: {ACCOUNT}-{class}
spec:
  matchingPrecedence: 200
  priorityLevelConfiguration:
    name: workload-high
  distinguisherMethod:
    type: ByUser
  rules:
    - subjects:
        - kind: ServiceAccount
          serviceAccount:
            name: {ACCOUNT}
            namespace: {NAMESPACE}
      resourceRules:
        - verbs: [{verbs}]
          apiGroups: [\"*\"]
          resources: [\"*\"]
          clusterScope: true
          namespaces: [\"*\"]
      nonResourceRules:
        - verbs: [{verbs}]
          nonResourceURLs: [\"*\"]
"
    )
}

/// Sets the account and the FlowSchemas up (idempotent) and returns a kubeconfig that acts as
/// the account (cluster-admin: the measurement is of requests, not of permissions).
pub fn measured_kubeconfig() -> PathBuf {
    let manifests = format!(
        "apiVersion: v1
kind: ServiceAccount
metadata:
  name: {ACCOUNT}
  namespace: {NAMESPACE}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {ACCOUNT}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: ServiceAccount
    name: {ACCOUNT}
    namespace: {NAMESPACE}
---
{}---
{}---
{}",
        schema("reads", "get, list"),
        schema("writes", "create, update, patch, delete, deletecollection"),
        schema("watches", "watch"),
    );
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), manifests).expect("write manifests");
    kubectl(["apply", "-f", file.path().to_str().expect("utf-8 path")])
        .expect("apply the measured account and flow schemas");
    let token = kubectl([
        "create",
        "token",
        ACCOUNT,
        "-n",
        NAMESPACE,
        "--duration=24h",
    ])
    .expect("create a token for the measured account");
    let admin =
        std::fs::read_to_string(kubeconfig_path().expect("kubeconfig")).expect("read kubeconfig");
    let mut out = String::new();
    for line in admin.lines() {
        if line.trim_start().starts_with("token:") {
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push_str(&format!("{indent}token: {}\n", token.trim()));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = std::env::temp_dir().join(format!("{ACCOUNT}-{}.kubeconfig", std::process::id()));
    std::fs::write(&path, out).expect("write the measured kubeconfig");
    path
}

/// The measured account's requests so far, as the API server counted them.
pub fn requests() -> Requests {
    let metrics = kubectl(["get", "--raw", "/metrics"]).expect("read the API server's metrics");
    let mut r = Requests::default();
    for line in metrics.lines() {
        if !line.starts_with("apiserver_flowcontrol_dispatched_requests_total{") {
            continue;
        }
        let value = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
        if line.contains(&format!("flow_schema=\"{ACCOUNT}-reads\"")) {
            r.reads += value;
        } else if line.contains(&format!("flow_schema=\"{ACCOUNT}-writes\"")) {
            r.writes += value;
        } else if line.contains(&format!("flow_schema=\"{ACCOUNT}-watches\"")) {
            r.watches += value;
        }
    }
    r
}
