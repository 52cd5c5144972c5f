//! Engine `gamma`, built against fluid-plugin-api 1.4: it implements a hook and calls a
//! service that 1.3 does not have, and falls back when its host is older.

use fluid_plugin_api::{export_engine, hooks, Engine, HookContext, HookResult, Host, Outcome};
use serde_json::{json, Value};

struct Gamma;

#[hooks]
impl Engine for Gamma {
    fn transform(&self, cx: &HookContext, _host: &Host) -> HookResult<Value> {
        Ok(Outcome::Done(json!({
            "engine": "gamma",
            "hostProtocol": cx.host_protocol().to_string(),
        })))
    }

    /// Reads the metrics of the master through the 1.4 `metrics` service, or, on an older
    /// host, through `get` (which every 1.x host has).
    fn setup_master(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        match host.metrics(cx.name()) {
            Ok(_) => host.log(fluid_plugin_api::protocol::LogLevel::Info, "via metrics")?,
            Err(e) if e.is_unsupported() => {
                host.get("v1", "ConfigMap", cx.name())?;
                host.log(fluid_plugin_api::protocol::LogLevel::Info, "via get")?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Outcome::Done(()))
    }

    /// A hook added in 1.4.
    fn clean_cache(&self, _cx: &HookContext, _host: &Host) -> HookResult<()> {
        Ok(Outcome::Done(()))
    }
}

export_engine! {
    engine: Gamma,
    new: || Ok::<_, String>(Gamma),
    name: "gamma",
    version: "1.4.0",
    crd: json!({"spec": {
        "group": "compat.fluid.io",
        "names": {"kind": "GammaRuntime", "plural": "gammaruntimes"},
        "versions": [{"name": "v1alpha1", "served": true, "storage": true}]
    }}),
    chart: &[],
}
