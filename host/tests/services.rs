//! The host services against the local control plane: what reaches the API server and what
//! reaches an engine.

mod common;

use fluid_host::services::Cluster;
use fluid_test_support::{kubectl, wait_until, TestNamespace};
use k8s_openapi::api::core::v1::ObjectReference;
use serde_json::Value;
use std::time::Duration;

/// An Event note over 1024 bytes is refused by the API server (the whole Event is lost): the
/// host cuts it, keeping valid UTF-8 and saying it did. (Before: no Event was recorded, and
/// this test timed out waiting for it.)
#[tokio::test(flavor = "multi_thread")]
async fn a_long_event_note_is_cut_to_the_api_limit_and_recorded() {
    let ns = TestNamespace::create("events").await.unwrap();
    kubectl(["create", "configmap", "target", "-n", ns.name()]).unwrap();
    let cluster = Cluster::new(ns.client(), None);
    let regarding = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some("target".into()),
        namespace: Some(ns.name().into()),
        ..Default::default()
    };
    let note = format!("engine said: {}", "värde ".repeat(400));
    assert!(note.len() > 2000);
    cluster.event(&regarding, true, "LongNote", &note).await;

    let recorded = wait_until("the LongNote Event", Duration::from_secs(20), || async {
        let out = kubectl([
            "get",
            "events.v1.events.k8s.io",
            "-n",
            ns.name(),
            "-o",
            "json",
        ])
        .map_err(|e| e.to_string())?;
        let list: Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
        list["items"]
            .as_array()
            .and_then(|items| items.iter().find(|e| e["reason"] == "LongNote").cloned())
            .ok_or_else(|| "not recorded".to_owned())
    })
    .await
    .unwrap();
    let text = recorded["note"].as_str().unwrap();
    assert!(text.len() <= 1024, "{} bytes", text.len());
    assert!(text.starts_with("engine said: värde värde"), "{text}");
    assert!(text.ends_with(" …[truncated]"), "{text}");
    ns.cleanup().await.unwrap();
}
