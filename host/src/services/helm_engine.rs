//! The resident chart engine: one `fluid-helm-engine` process (Go, Helm's own SDK; source in
//! `helm-engine/`) started by the controller and driven over its stdin/stdout, one JSON object
//! per line each way. It keeps the cluster's discovery and each chart parsed, and serves
//! requests concurrently; a `helm` process per call re-reads both every time.
//!
//! The engine exits when its stdin closes, so it dies with the controller. If it dies first,
//! the requests in flight fail with the reason and the next request starts a new one.

use super::helm::{HelmError, ReleaseStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

/// The protocol this controller speaks (the engine's `ProtocolVersion`).
pub const ENGINE_PROTOCOL: u32 = 1;

/// How long a starting engine may take to say hello (it reads its kubeconfig, nothing more).
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// The engine's first line.
#[derive(Debug, Deserialize)]
struct Hello {
    hello: HelloBody,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HelloBody {
    protocol: u32,
    helm: String,
    max_concurrent: u32,
    pid: u32,
}

/// An operation of the engine (`Op*` in `helm-engine/protocol.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `helm upgrade [--install]`.
    Upgrade,
    /// `helm template` (rendered locally).
    Template,
    /// `helm status`.
    Status,
    /// `helm rollback` to the previous revision.
    Rollback,
    /// `helm uninstall`.
    Uninstall,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Upgrade => "upgrade",
            Op::Template => "template",
            Op::Status => "status",
            Op::Rollback => "rollback",
            Op::Uninstall => "uninstall",
        }
    }
}

/// One request (`Request` in `helm-engine/protocol.go`).
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    id: u64,
    /// What to do.
    pub op: Op,
    /// The release's namespace.
    pub namespace: &'a str,
    /// The release.
    pub release: &'a str,
    /// The chart archive, base64 (upgrade and template).
    #[serde(skip_serializing_if = "Option::is_none", with = "base64_opt")]
    pub chart: Option<&'a [u8]>,
    /// The values (upgrade and template).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<&'a Value>,
    /// `upgrade --install`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub install: bool,
    /// Labels of the release records.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub labels: HashMap<&'a str, &'a str>,
}

impl<'a> Request<'a> {
    /// A request of `op` on `namespace`/`release` with nothing else.
    pub fn new(op: Op, namespace: &'a str, release: &'a str) -> Self {
        Request {
            id: 0,
            op,
            namespace,
            release,
            chart: None,
            values: None,
            install: false,
            labels: HashMap::new(),
        }
    }
}

mod base64_opt {
    use base64::Engine as _;
    pub fn serialize<S: serde::Serializer>(v: &Option<&[u8]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            None => s.serialize_none(),
        }
    }
}

/// One response (`Response` in `helm-engine/protocol.go`).
#[derive(Debug, Deserialize)]
struct Response {
    id: u64,
    #[serde(default)]
    result: Option<Answer>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

/// What an op returns.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Answer {
    /// Upgrade and status (`None` when status finds no release).
    #[serde(default)]
    pub release: Option<EngineRelease>,
    /// Template.
    #[serde(default)]
    pub manifest: String,
    /// Uninstall: whether there was a release.
    #[serde(default)]
    pub uninstalled: bool,
}

/// A release as the engine reports it.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub struct EngineRelease {
    status: String,
    revision: u64,
    #[serde(default)]
    manifest: String,
}

impl From<EngineRelease> for ReleaseStatus {
    fn from(r: EngineRelease) -> Self {
        ReleaseStatus {
            status: r.status,
            revision: r.revision,
            manifest: r.manifest,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    kind: String,
    message: String,
}

type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Response>>>>>;

/// One running engine process.
struct Connection {
    stdin: tokio::sync::Mutex<ChildStdin>,
    /// Requests waiting for their response; `None` once the engine's output ended.
    pending: Pending,
    next_id: AtomicU64,
    pid: u32,
    /// Kept so that dropping the connection kills the process.
    _child: Child,
}

impl Connection {
    fn alive(&self) -> bool {
        self.pending.lock().map(|p| p.is_some()).unwrap_or(false)
    }
}

/// The resident chart engine: starts `fluid-helm-engine` on first use (or at start-up through
/// [`ResidentEngine::start`]) and again after it died.
pub struct ResidentEngine {
    binary: PathBuf,
    conn: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

impl std::fmt::Debug for ResidentEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentEngine")
            .field("binary", &self.binary)
            .finish_non_exhaustive()
    }
}

impl ResidentEngine {
    /// An engine run from `binary` (a path, or a name looked up on `PATH`), not yet started.
    pub fn new(binary: PathBuf) -> Self {
        ResidentEngine {
            binary,
            conn: tokio::sync::Mutex::new(None),
        }
    }

    /// Starts the engine now, so a missing or wrong binary stops the controller at start-up
    /// with the reason. Returns the helm version built into it.
    pub async fn start(&self) -> Result<String, HelmError> {
        let (_, helm) = self.connection().await?;
        Ok(helm)
    }

    /// The live connection, starting the engine when there is none (or it died).
    async fn connection(&self) -> Result<(Arc<Connection>, String), HelmError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| c.alive()) {
            return Ok((c.clone(), String::new()));
        }
        if let Some(dead) = slot.take() {
            tracing::warn!(pid = dead.pid, "the chart engine exited; starting it again");
        }
        let (conn, helm) = spawn(&self.binary).await?;
        let conn = Arc::new(conn);
        *slot = Some(conn.clone());
        Ok((conn, helm))
    }

    /// Sends `request` and waits for its answer. An error of the op is
    /// [`HelmError::Failed`], as helm's exit status would be.
    pub async fn call(&self, mut request: Request<'_>) -> Result<Answer, HelmError> {
        let (conn, _) = self.connection().await?;
        let id = conn.next_id.fetch_add(1, Ordering::Relaxed);
        request.id = id;
        let (tx, rx) = oneshot::channel();
        match conn.pending.lock().as_deref_mut() {
            Ok(Some(p)) => {
                p.insert(id, tx);
            }
            _ => return Err(self.gone(conn.pid, "before the request was sent")),
        }
        let mut line = serde_json::to_vec(&request).map_err(|e| HelmError::Engine {
            binary: self.binary.clone(),
            reason: format!("encoding a {} request: {e}", request.op.name()),
        })?;
        line.push(b'\n');
        {
            let mut stdin = conn.stdin.lock().await;
            if let Err(e) = async {
                stdin.write_all(&line).await?;
                stdin.flush().await
            }
            .await
            {
                if let Ok(Some(p)) = conn.pending.lock().as_deref_mut() {
                    p.remove(&id);
                }
                return Err(self.gone(conn.pid, &format!("writing a request: {e}")));
            }
        }
        let response = rx.await.map_err(|_| {
            self.gone(
                conn.pid,
                &format!("during {} of {}", request.op.name(), request.release),
            )
        })?;
        match (response.result, response.error) {
            (_, Some(e)) if e.kind == "badRequest" => Err(HelmError::Engine {
                binary: self.binary.clone(),
                reason: format!(
                    "refused {} of {}: {}",
                    request.op.name(),
                    request.release,
                    e.message
                ),
            }),
            (_, Some(e)) => Err(HelmError::Failed {
                command: format!("{} {}", request.op.name(), request.release),
                stderr: e.message,
            }),
            (Some(answer), None) => Ok(answer),
            (None, None) => Ok(Answer::default()),
        }
    }

    fn gone(&self, pid: u32, when: &str) -> HelmError {
        HelmError::Engine {
            binary: self.binary.clone(),
            reason: format!("the engine (pid {pid}) exited {when}; it is started again on the next request, its log is the controller's stderr"),
        }
    }
}

/// Starts the engine and reads its hello.
async fn spawn(binary: &Path) -> Result<(Connection, String), HelmError> {
    let unusable = |reason: String| HelmError::Engine {
        binary: binary.to_path_buf(),
        reason,
    };
    let mut child = Command::new(binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Its log lines join the controller's.
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| unusable(format!("cannot start it: {e}")))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(unusable("its pipes were not opened".into()));
    };
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(HELLO_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| unusable(format!("it said nothing in {}s", HELLO_TIMEOUT.as_secs())))?
        .map_err(|e| unusable(format!("reading its first line: {e}")))?;
    let Some(first) = first else {
        let status = child
            .wait()
            .await
            .map(|s| s.to_string())
            .unwrap_or_default();
        return Err(unusable(format!(
            "it exited ({status}) before saying hello; see its message above in the log"
        )));
    };
    let hello: Hello = serde_json::from_str(&first)
        .map_err(|e| unusable(format!("its first line is not a hello ({e}): {first:.200}")))?;
    let hello = hello.hello;
    if hello.protocol != ENGINE_PROTOCOL {
        return Err(unusable(format!(
            "it speaks protocol {}, this controller {ENGINE_PROTOCOL}: install the engine built with this controller",
            hello.protocol
        )));
    }
    tracing::info!(engine = %binary.display(), pid = hello.pid, helm = %hello.helm,
        max_concurrent = hello.max_concurrent, "chart engine started");
    let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
    tokio::spawn(read_responses(lines, pending.clone(), hello.pid));
    Ok((
        Connection {
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
            next_id: AtomicU64::new(1),
            pid: hello.pid,
            _child: child,
        },
        hello.helm,
    ))
}

/// Hands each response to its request until the engine's output ends; then fails the requests
/// still waiting (their senders are dropped).
async fn read_responses(
    mut lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    pending: Pending,
    pid: u32,
) {
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => match serde_json::from_str::<Response>(&line) {
                Ok(r) => {
                    let waiter = pending
                        .lock()
                        .ok()
                        .and_then(|mut p| p.as_mut().and_then(|p| p.remove(&r.id)));
                    match waiter {
                        // The caller may have gone (its task was cancelled): nothing to do.
                        Some(tx) => drop(tx.send(r)),
                        None => tracing::warn!(
                            pid,
                            id = r.id,
                            "chart engine answered an unknown request"
                        ),
                    }
                }
                Err(e) => {
                    tracing::error!(pid, error = %e, line = %format!("{line:.200}"), "chart engine sent a line that is not a response")
                }
            },
            Ok(None) => break,
            Err(e) => {
                tracing::error!(pid, error = %e, "reading the chart engine's output");
                break;
            }
        }
    }
    if let Ok(mut p) = pending.lock() {
        *p = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_encoded_as_the_engine_reads_them() {
        let values = json!({"a": 1});
        let mut r = Request::new(Op::Upgrade, "ns", "demo");
        r.id = 7;
        r.chart = Some(b"tgz");
        r.values = Some(&values);
        r.install = true;
        r.labels.insert("fluid.io/runtime-uid", "u1");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"id": 7, "op": "upgrade", "namespace": "ns", "release": "demo",
                "chart": "dGd6", "values": {"a": 1}, "install": true,
                "labels": {"fluid.io/runtime-uid": "u1"}})
        );
        let mut s = Request::new(Op::Status, "ns", "demo");
        s.id = 8;
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"id": 8, "op": "status", "namespace": "ns", "release": "demo"})
        );
    }

    #[test]
    fn responses_are_read_as_the_engine_writes_them() {
        let r: Response = serde_json::from_str(
            r#"{"id":3,"result":{"release":{"status":"deployed","revision":2,"manifest":"m"}}}"#,
        )
        .unwrap();
        assert_eq!(r.id, 3);
        assert_eq!(
            ReleaseStatus::from(r.result.unwrap().release.unwrap()),
            ReleaseStatus {
                status: "deployed".into(),
                revision: 2,
                manifest: "m".into()
            }
        );
        let e: Response =
            serde_json::from_str(r#"{"id":4,"error":{"kind":"failed","message":"boom"}}"#).unwrap();
        assert_eq!(e.error.unwrap().message, "boom");
        let none: Response = serde_json::from_str(r#"{"id":5,"result":{}}"#).unwrap();
        assert_eq!(none.result.unwrap(), Answer::default());
    }
}
