//! Hook calls into a plugin whose hooks hang (`tests/fixtures/hang`): the threads they hold stay
//! bounded, another plugin keeps answering, a runtime's next call waits for its hung one, and
//! a hung hook's late calls into the host are refused.

mod common;

use common::fixture;
use fluid_host::controller::hooks::{hook_threads, HookCallError, HookCaller};
use fluid_host::controller::ControllerConfig;
use fluid_host::http::{respond, Health};
use fluid_host::metrics::{Metrics, StuckPlugin};
use fluid_host::services::{Cluster, HostPorts};
use fluid_plugin_api::loader::Plugin;
use fluid_plugin_api::protocol::Hook;
use fluid_test_support::{kubectl, wait_until, TestNamespace};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(1);

/// The thread count is the process's: the tests of this file run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The process's thread count, as the kernel reports it.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

fn runtime(kind: &str, ns: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "fixtures.fluid.io/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}")},
        "spec": spec
    })
}

async fn caller(plugin: &str, config: &ControllerConfig, metrics: &Arc<Metrics>) -> HookCaller {
    let cluster = Arc::new(Cluster::new(
        fluid_test_support::client().await.unwrap(),
        None,
    ));
    let helm = Arc::new(common::helm("fluid-rs-hooks-test"));
    let plugin = Arc::new(Plugin::open(&fixture(plugin)).unwrap());
    let ports = Arc::new(HostPorts::new(config.port_range));
    HookCaller::new(plugin, cluster, helm, config, metrics.clone(), ports)
}

/// 120 runtimes whose `validate` never returns, called twice each (a retry), as in the issue
/// (there threads grew 19 -> 515, tokio's blocking pool limit, and a healthy plugin timed out).
/// The pool is cut to 64 threads here so that exhausting it takes 64 hung hooks, not 512.
#[test]
fn hung_hooks_hold_a_bounded_number_of_threads_and_another_plugin_keeps_answering() {
    let _serial = SERIAL.blocking_lock();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .unwrap();
    let config = ControllerConfig {
        hook_timeout: TIMEOUT,
        concurrency: 4,
        ..Default::default()
    };
    let (before, after, answer) = rt.block_on(async {
        let metrics = Arc::new(Metrics::default());
        let hang = caller("hang", &config, &metrics).await;
        let alpha = caller("alpha", &config, &metrics).await;
        let before = threads();
        let mut retried = Vec::new();
        for _retry in 0..2 {
            let calls = (0..120).map(|i| {
                let hang = hang.clone();
                async move {
                    let rt = runtime("HangRuntime", "default", &format!("rt-{i}"), json!({}));
                    hang.call(Hook::Validate, &rt, None, Value::Null).await
                }
            });
            retried = futures::future::join_all(calls).await;
        }
        let after = threads();
        // The retry started nothing: each runtime's call is still running, or every thread
        // of the plugin is held by one.
        for result in &retried {
            assert!(
                matches!(
                    result,
                    Err(HookCallError::StillRunning { .. } | HookCallError::Stuck { .. })
                ),
                "{result:?}"
            );
        }
        let threads = hook_threads(config.concurrency);
        assert_eq!(
            metrics.stuck_plugins(),
            [StuckPlugin {
                plugin: "hang".into(),
                threads: threads as i64
            }]
        );
        let text = metrics.encode();
        assert!(
            text.contains(&format!("fluid_hooks_stuck{{plugin=\"hang\"}} {threads}")),
            "{text}"
        );
        let health = Health {
            ready: true.into(),
            metrics: metrics.clone(),
        };
        let (code, _, body) = respond("GET /readyz HTTP/1.1", &health);
        assert_eq!(code, 503);
        assert!(
            body.starts_with("plugin hang: all 8 hook threads"),
            "{body}"
        );
        let answer = alpha
            .call(
                Hook::Transform,
                &runtime("AlphaRuntime", "default", "a1", json!({})),
                None,
                Value::Null,
            )
            .await;
        (before, after, answer)
    });
    // The hung threads never return: dropping the runtime would wait for them.
    rt.shutdown_background();
    eprintln!("threads: {before} before, {after} after 240 calls of a hanging hook");
    assert!(
        matches!(&answer, Ok(Some(out)) if out["engine"] == "alpha"),
        "alpha's transform: {answer:?}"
    );
    // The plugin's threads, and a few the test harness may start meanwhile.
    assert!(
        after <= before + hook_threads(config.concurrency) + 4,
        "threads grew from {before} to {after}"
    );
}

/// A runtime's next hook call is refused while its previous one still runs (naming it), goes
/// ahead once it returned, and what the hung hook asks of the host after its deadline is
/// refused: the ConfigMap it applies late never exists.
#[tokio::test(flavor = "multi_thread")]
async fn a_runtimes_next_call_waits_for_its_hung_one_whose_late_host_calls_are_refused() {
    let _serial = SERIAL.lock().await;
    let ns = TestNamespace::create("hooks").await.unwrap();
    let config = ControllerConfig {
        hook_timeout: TIMEOUT,
        ..Default::default()
    };
    let metrics = Arc::new(Metrics::default());
    let hang = caller("hang", &config, &metrics).await;
    let slow = runtime(
        "HangRuntime",
        ns.name(),
        "slow",
        json!({"hangSeconds": 3, "thenApply": "late"}),
    );
    let prompt = runtime(
        "HangRuntime",
        ns.name(),
        "slow",
        json!({"hangSeconds": 0, "thenApply": "prompt"}),
    );

    let err = hang
        .call(Hook::Validate, &slow, None, Value::Null)
        .await
        .unwrap_err();
    assert!(matches!(err, HookCallError::Timeout { .. }), "{err}");
    let err = hang
        .call(Hook::Validate, &prompt, None, Value::Null)
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "hook validate of {}/slow is still running, started ",
            ns.name()
        )),
        "{err}"
    );

    wait_until(
        "the hung call to return",
        Duration::from_secs(10),
        || async {
            match hang.call(Hook::Validate, &prompt, None, Value::Null).await {
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
    .unwrap();
    assert!(kubectl(["get", "configmap", "prompt", "-n", ns.name()]).is_ok());
    // The hung hook's ConfigMap, applied after its deadline, was refused.
    common::objects::assert_absent(&["get", "configmap", "late", "-n", ns.name()]);
    ns.cleanup().await.unwrap();
}
