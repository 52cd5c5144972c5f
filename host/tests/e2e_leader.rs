//! End to end against the local control plane: two `fluid-controller run --leader-elect`
//! replicas. Exactly one holds the Lease and runs the controllers (a pair goes Bound); the other
//! stands by, ready. When the leader is killed, the other takes the Lease once it expires and
//! carries a second pair to Bound.

mod common;

use common::objects::{apply, get, reference_pair, wait_bound, WAIT};
use fluid_test_support::{kubeconfig_path, kubectl, tool_path, wait_until, TestNamespace};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Lease lasts 15 s and a standby retries every 2 s: generous on a loaded machine.
const TAKEOVER: Duration = Duration::from_secs(90);
const LEASE: &str = "fluid-controller";

/// A `fluid-controller run --leader-elect` replica, killed on drop; its log goes to a file.
struct Replica {
    identity: String,
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Replica {
    fn start(plugin_dir: &Path, lease_ns: &str, identity: &str, log: PathBuf) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_fluid-controller"))
            .args(["run", "--leader-elect", "--lease-namespace", lease_ns])
            .arg("--plugin-dir")
            .arg(plugin_dir)
            .args([
                "--http-addr",
                &format!("127.0.0.1:{port}"),
                "--sync-period-seconds",
                "5",
            ])
            .env("KUBECONFIG", kubeconfig_path().unwrap())
            .env("FLUID_HELM", tool_path("helm").unwrap())
            .env("FLUID_HELM_ENGINE", tool_path("fluid-helm-engine").unwrap())
            .env("POD_NAME", identity)
            .env("RUST_LOG", "info,fluid_host=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start fluid-controller");
        Replica {
            identity: identity.to_owned(),
            child,
            port,
            log,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- log of {} ---\n{}",
            self.identity,
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    /// `GET path` on the replica's HTTP port: status code and body.
    fn get(&self, path: &str) -> Result<(u16, String), String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| format!("connect to {}: {e}", self.identity))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
        let mut text = String::new();
        s.read_to_string(&mut text).map_err(|e| e.to_string())?;
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no status line in {text:?}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((code, body))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Lease's `spec.holderIdentity`, if the Lease exists and names one.
fn holder(ns: &str) -> Option<String> {
    get(ns, &format!("lease/{LEASE}"))?["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
}

async fn wait_ready(r: &Replica) -> fluid_test_support::Result<()> {
    wait_until(&format!("/readyz of {}", r.identity), WAIT, || async {
        match r.get("/readyz")? {
            (200, _) => Ok(()),
            (code, body) => Err(format!("{code} {body}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_leads_and_the_other_takes_over_when_it_dies() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::reference_plugin(),
        plugins.path().join("reference.so"),
    )
    .unwrap();
    common::controller::install_crds(plugins.path());

    let test_ns = TestNamespace::create("e2e-leader").await.unwrap();
    let ns = test_ns.name().to_owned();
    let logs = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let mut replicas = vec![
        Replica::start(
            plugins.path(),
            &ns,
            &format!("replica-a-{pid}"),
            logs.path().join("a.log"),
        ),
        Replica::start(
            plugins.path(),
            &ns,
            &format!("replica-b-{pid}"),
            logs.path().join("b.log"),
        ),
    ];
    let ids: Vec<String> = replicas.iter().map(|r| r.identity.clone()).collect();
    let dump = |rs: &[Replica]| {
        rs.iter()
            .map(Replica::log_tail)
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Exactly one holds the Lease: the Lease names one of the two, and the other stands by.
    let first = wait_until("a replica to hold the Lease", WAIT, || async {
        match holder(&ns) {
            Some(h) if ids.contains(&h) => Ok(h),
            other => Err(format!("holderIdentity {other:?}")),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));
    let leader = ids.iter().position(|id| *id == first).unwrap();
    let standby = 1 - leader;
    wait_until("the other replica to stand by", WAIT, || async {
        let log = replicas[standby].log_text();
        if log.contains("another replica leads; standing by") {
            Ok(())
        } else {
            Err("no standing-by line yet".to_owned())
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));
    for r in &replicas {
        wait_ready(r)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));
    }

    // The leader carries a pair to Bound; the lease stays with it.
    apply(&ns, &reference_pair("before", 1));
    wait_bound(&ns, "before")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));
    assert_eq!(
        holder(&ns).as_deref(),
        Some(first.as_str()),
        "{}",
        dump(&replicas)
    );
    let (code, metrics) = replicas[leader].get("/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("fluid_reconciles_total{kind=\"ReferenceRuntime\"}"),
        "{metrics}"
    );
    // The standby ran no controller: no runtime controller started, no reconcile counted.
    let standby_log = replicas[standby].log_text();
    assert!(
        !standby_log.contains("starting runtime controller"),
        "the standby runs controllers too:\n{}",
        dump(&replicas)
    );
    let (code, metrics) = replicas[standby].get("/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(!metrics.contains("fluid_reconciles_total{"), "{metrics}");

    // The leader dies without releasing the Lease; the standby takes it once it expires.
    replicas[leader].kill();
    let second = ids[standby].clone();
    wait_until("the standby to take the Lease", TAKEOVER, || async {
        match holder(&ns) {
            Some(h) if h == second => Ok(()),
            other => Err(format!("holderIdentity {other:?}")),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));
    wait_until("the new leader to log it", WAIT, || async {
        if replicas[standby].log_text().contains("became leader") {
            Ok(())
        } else {
            Err("no 'became leader' line yet".to_owned())
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));

    apply(&ns, &reference_pair("after", 1));
    wait_bound(&ns, "after")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));
    wait_bound(&ns, "before")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));
    wait_ready(&replicas[standby])
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));
    let (code, metrics) = replicas[standby].get("/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("fluid_reconciles_total{kind=\"ReferenceRuntime\"}"),
        "{metrics}"
    );
    assert_eq!(holder(&ns).as_deref(), Some(second.as_str()));

    // Tear down while a leader runs (the runtimes carry its finalizer).
    kubectl([
        "delete",
        "referenceruntime/before",
        "referenceruntime/after",
        "-n",
        &ns,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));
    kubectl([
        "delete",
        "dataset/before",
        "dataset/after",
        "-n",
        &ns,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap_or_else(|e| panic!("{e}\n{}", dump(&replicas)));
    for r in &mut replicas {
        r.kill();
    }
    let _ = test_ns.cleanup().await;
}
