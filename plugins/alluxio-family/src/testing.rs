//! What the tests of the family's members share (feature `testing`): a sample's objects as the
//! controller hands them over, a ready master pod, exec answers, hook outcomes.

use crate::flavor::Flavor;
use fluid_plugin_api::protocol::{ExecRequest, ExecResponse};
use fluid_plugin_api::testing::ScriptedHost;
use fluid_plugin_api::{HookResult, Outcome};
use serde::Deserialize;
use serde_json::{json, Value};

/// The objects of a YAML sample, in namespace `ns`, each with uid `uid`.
pub fn docs(text: &str, uid: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|d| Value::deserialize(d).ok())
        .map(|mut v| {
            v["metadata"]["namespace"] = "ns".into();
            v["metadata"]["uid"] = uid.into();
            v
        })
        .collect()
}

/// The first object of `kind`.
///
/// # Panics
/// When there is none (a test's sample is wrong).
pub fn find(docs: &[Value], kind: &str) -> Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the sample"))
        .clone()
}

/// A hook's output.
///
/// # Panics
/// When the hook failed or left it to the controller.
pub fn done<T>(o: HookResult<T>) -> T {
    match o {
        Ok(Outcome::Done(v)) => v,
        Ok(Outcome::Default) => panic!("the hook left it to the controller"),
        Err(e) => panic!("hook failed: {}", e.message()),
    }
}

/// The running, ready master pod `<name>-master-0` of a runtime of `flavor` in `ns`, its
/// master container started at 09:00.
pub fn master_pod(flavor: &Flavor, name: &str) -> Value {
    let app = flavor.app();
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{name}-master-0"), "namespace": "ns",
            "labels": {"app": app, "release": name, "role": format!("{app}-master")}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": crate::engine::master_container(flavor),
                "state": {"running": {"startedAt": "2026-11-26T09:00:00Z"}}}]}})
}

/// An exec that printed `stdout` and exited 0.
pub fn ok(stdout: &str) -> ExecResponse {
    ExecResponse {
        stdout: stdout.into(),
        stderr: String::new(),
        exit_code: 0,
    }
}

/// The execs a scripted host was asked for, in order.
pub fn execs(host: &ScriptedHost) -> Vec<ExecRequest> {
    host.calls()
        .into_iter()
        .filter(|(s, _)| s == "exec")
        .filter_map(|(_, r)| serde_json::from_value(r).ok())
        .collect()
}

/// The chart rendered by helm with the engine's `values` and the controller's, checked against
/// the controller's conventions; `None` (said on stderr) when helm is not installed.
///
/// # Panics
/// When helm refuses the chart or the rendered objects break the conventions.
pub fn render(
    chart: &[u8],
    builder: &fluid_plugin_api::testing::HookContextBuilder,
    values: &Value,
) -> Option<fluid_plugin_api::testing::Rendered> {
    use fluid_plugin_api::testing::{Chart, ChartError};
    match Chart::new(chart).render(builder, values) {
        Ok(r) => {
            if let Err(e) = r.check() {
                panic!("{e}");
            }
            Some(r)
        }
        Err(ChartError::Helm { .. }) => {
            eprintln!(
                "SKIPPED: helm is not installed (run scripts/install-tools, or set FLUID_HELM)"
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}
