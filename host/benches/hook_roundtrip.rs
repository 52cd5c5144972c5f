//! The cost of one hook call across the plugin boundary: JSON encoding of the request, the
//! `extern "C"` call, dispatch in the plugin, and the answer back; with and without a call from
//! the hook back into the host.

use criterion::{criterion_group, criterion_main, Criterion};
use fluid_plugin_api::loader::Plugin;
use serde_json::json;

#[path = "../tests/common/mod.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let plugin = Plugin::open(&common::fixture("alpha")).expect("alpha loads");
    let services = common::RecordingServices::default();
    services.objects.lock().expect("lock").push(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "demo", "namespace": "default"}, "data": {"ready": "true"}
    }));
    let plain = common::request("demo", json!(null));

    c.bench_function("hook round trip (transform, no host call)", |b| {
        b.iter(|| {
            plugin
                .call("transform", &plain, &services)
                .expect("transform")
        })
    });
    c.bench_function(
        "hook round trip with 2 host callbacks (check_master_ready: get + log)",
        |b| {
            b.iter(|| {
                services.calls.lock().expect("lock").clear();
                plugin
                    .call("check_master_ready", &plain, &services)
                    .expect("check_master_ready")
            })
        },
    );
    c.bench_function("hook left to the host default (should_setup_master)", |b| {
        b.iter(|| {
            plugin
                .call("should_setup_master", &plain, &services)
                .expect("default")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
