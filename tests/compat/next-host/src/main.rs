//! A host built against fluid-plugin-api 1.4: loads the plugin file given as argument, runs
//! hooks against in-memory services that include the 1.4 `metrics` service, and prints
//! `{"info": ..., "answers": {hook: answer-or-error}, "services": [called services]}`.

use fluid_plugin_api::loader::Plugin;
use fluid_plugin_api::protocol::{HookRequest, ProtocolVersion, ServiceErrorKind, ServiceFailure};
use fluid_plugin_api::ServiceHandler;
use serde_json::{json, Value};
use std::sync::Mutex;

#[derive(Default)]
struct Services {
    called: Mutex<Vec<String>>,
}

impl ServiceHandler for Services {
    fn call(&self, service: &str, _request: &str) -> Result<String, ServiceFailure> {
        if let Ok(mut called) = self.called.lock() {
            called.push(service.to_owned());
        }
        match service {
            "metrics" => Ok(json!({"cacheHitRatio": "0.5"}).to_string()),
            "get" => Ok(json!({"object": null}).to_string()),
            "list" => Ok(json!({"items": []}).to_string()),
            "log" | "event" => Ok("{}".into()),
            other => Err(ServiceFailure {
                service: other.into(),
                kind: ServiceErrorKind::Unsupported,
                message: "not served by the compat host".into(),
            }),
        }
    }
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: fluid-compat-next-host PLUGIN.so");
    let plugin = match Plugin::open(std::path::Path::new(&path)) {
        Ok(p) => p,
        Err(e) => {
            println!("{}", json!({"refused": e.to_string()}));
            return;
        }
    };
    let services = Services::default();
    let request = HookRequest::new(json!({"metadata": {"name": "demo", "namespace": "default"}}));
    let mut answers = serde_json::Map::new();
    for hook in ["transform", "setup_master", "clean_cache"] {
        let answer = match plugin.call(hook, &request, &services) {
            Ok(r) => serde_json::to_value(r).unwrap_or(Value::Null),
            Err(e) => json!({"error": e.to_string()}),
        };
        answers.insert(hook.into(), answer);
    }
    let called = services.called.lock().map(|c| c.clone()).unwrap_or_default();
    println!(
        "{}",
        json!({"info": plugin.info(), "answers": answers, "services": called, "hostProtocol": ProtocolVersion::CURRENT.to_string()})
    );
}
