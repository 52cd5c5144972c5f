//! The reference engine: what the smallest fluid-rs engine looks like. It brings a runtime
//! kind, a chart (a worker StatefulSet and a fuse DaemonSet) and the values for it; setup,
//! readiness, volume, scaling, spec changes and teardown are all the controller's defaults.
//! The end-to-end tests drive the controller through it.

// Several `printcolumn(...)` attributes share keys by design.
#![allow(clippy::duplicated_attributes)]

use fluid_plugin_api::types::{crd_json_of, RuntimeStatus};
use fluid_plugin_api::{
    export_engine, hooks, Engine, FieldError, HookContext, HookResult, Host, Outcome, Validation,
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A cache runtime served by the reference engine.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "data.fluid.io",
    version = "v1alpha1",
    kind = "ReferenceRuntime",
    namespaced,
    status = "RuntimeStatus",
    shortname = "refruntime",
    category = "fluid",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.currentWorkerNumberScheduled",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Ready Workers",
        type_ = "integer",
        json_path = ".status.workerNumberReady",
        priority = "10"
    ),
    printcolumn(
        name = "Desired Workers",
        type_ = "integer",
        json_path = ".status.desiredWorkerNumberScheduled",
        priority = "10"
    ),
    printcolumn(
        name = "Worker Phase",
        type_ = "string",
        json_path = ".status.workerPhase"
    ),
    printcolumn(name = "Fuse Phase", type_ = "string", json_path = ".status.fusePhase"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceRuntimeSpec {
    /// The number of workers.
    #[serde(default)]
    pub replicas: i32,
    /// Worker settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<ComponentSpec>,
    /// Fuse settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse: Option<ComponentSpec>,
}

/// Settings of one component.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentSpec {
    /// Image of the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Options passed to the component (rendered into its environment).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Node selector of the component's pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
}

struct Reference;

#[hooks]
impl Engine for Reference {
    fn validate(&self, cx: &HookContext, _host: &Host) -> HookResult<Validation> {
        let rt: ReferenceRuntime = cx.runtime_as()?;
        let mut v = Validation::default();
        if rt.spec.replicas < 0 {
            v.errors.push(FieldError {
                field: "spec.replicas".into(),
                message: format!("must not be negative, got {}", rt.spec.replicas),
            });
        }
        for (name, c) in [("worker", &rt.spec.worker), ("fuse", &rt.spec.fuse)] {
            for key in c.iter().flat_map(|c| c.options.keys()) {
                if key.is_empty()
                    || !key
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
                {
                    v.errors.push(FieldError {
                        field: format!("spec.{name}.options[{key}]"),
                        message: "option names are letters, digits, '-' and '_'".into(),
                    });
                }
            }
        }
        Ok(Outcome::Done(v))
    }

    fn transform(&self, cx: &HookContext, _host: &Host) -> HookResult<Value> {
        let rt: ReferenceRuntime = cx.runtime_as()?;
        let component = |c: &Option<ComponentSpec>| {
            let c = c.clone().unwrap_or_default();
            json!({
                "image": c.image.unwrap_or_else(|| "busybox:1.36".into()),
                "options": c.options,
                "nodeSelector": c.node_selector,
            })
        };
        let mut worker = component(&rt.spec.worker);
        worker["replicas"] = json!(rt.spec.replicas);
        Ok(Outcome::Done(json!({
            "worker": worker,
            "fuse": component(&rt.spec.fuse),
        })))
    }
}

export_engine! {
    engine: Reference,
    new: || Ok::<_, String>(Reference),
    name: "reference",
    version: env!("CARGO_PKG_VERSION"),
    crd: crd_json_of::<ReferenceRuntime>(),
    chart: include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz")),
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluid_plugin_api::testing::{Chart, HookContextBuilder, ScriptedHost};
    use fluid_plugin_api::Hook;

    /// The reference chart, rendered by helm as the controller installs it, keeps every
    /// convention (needs helm: FLUID_HELM or PATH; scripts/test sets FLUID_HELM).
    #[test]
    fn the_chart_keeps_the_controllers_conventions() {
        let runtime = ReferenceRuntime::new(
            "demo",
            ReferenceRuntimeSpec {
                replicas: 2,
                ..Default::default()
            },
        );
        let sample = HookContextBuilder::new("reference", &runtime)
            .dataset(&json!({"metadata": {"name": "demo"}}));
        let values = match ScriptedHost::new()
            .run(|h| Reference.transform(&sample.build(Hook::Transform), h))
        {
            Ok(Outcome::Done(values)) => values,
            other => panic!("{other:?}"),
        };
        let rendered = Chart::new(include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz")))
            .render(&sample, &values)
            .unwrap();
        rendered.check().unwrap();
        let fuse = rendered.get("DaemonSet", "demo-fuse").unwrap();
        assert_eq!(
            fuse["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
            "/runtime-mnt/reference/default/demo/reference-fuse"
        );
    }
}
