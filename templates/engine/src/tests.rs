//! The engine tested as the controller will call it, without a cluster: hooks through the
//! SDK's scripted host, the chart rendered by helm with the controller's values.

use super::*;
use fluid_plugin_api::protocol::{Hook, ProtocolVersion};
use fluid_plugin_api::testing::{Chart, HookContextBuilder, ScriptedHost};

const CHART: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz"));

fn sample(replicas: i32, mount_point: &str) -> HookContextBuilder {
    let runtime = VendorFSRuntime::new(
        "demo",
        VendorFSRuntimeSpec {
            replicas,
            cache_size: Some("5Gi".into()),
        },
    );
    let dataset: Dataset = serde_json::from_value(json!({
        "apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
        "metadata": {"name": "demo"},
        "spec": {"mounts": [{"mountPoint": mount_point, "name": "data"}]}
    }))
    .expect("a Dataset");
    HookContextBuilder::new("vendorfs", &runtime)
        .mount_type("fuse.rclone")
        .dataset(&dataset)
}

fn transform(sample: &HookContextBuilder) -> Result<Value, HookError> {
    match ScriptedHost::new().run(|h| VendorFs.transform(&sample.build(Hook::Transform), h))? {
        Outcome::Done(values) => Ok(values),
        Outcome::Default => panic!("transform is implemented"),
    }
}

#[test]
fn the_fuse_mounts_where_the_controller_says() {
    let sample = sample(2, "vendorfs://bucket/data");
    let values = transform(&sample).unwrap();
    assert_eq!(values["worker"]["replicas"], 2);
    assert_eq!(
        values["fuse"]["command"],
        json!([
            "rclone",
            "mount",
            "vendorfs:bucket/data",
            "/runtime-mnt/vendorfs/default/demo/vendorfs-fuse",
            "--allow-other",
            "--vfs-cache-mode=full",
            "--vfs-cache-max-size=5Gi"
        ])
    );
}

#[test]
fn a_mount_point_of_another_scheme_is_a_field_error() {
    let sample = sample(1, "s3://bucket/data");
    let validation =
        ScriptedHost::new().run(|h| VendorFs.validate(&sample.build(Hook::Validate), h));
    let Ok(Outcome::Done(v)) = validation else {
        panic!("validate is implemented: {validation:?}")
    };
    assert_eq!(v.errors.len(), 1);
    assert_eq!(v.errors[0].field, "spec.mounts[0].mountPoint");
    assert!(transform(&sample).is_err());
}

#[test]
fn a_controller_older_than_protocol_1_1_is_named() {
    let sample = sample(1, "vendorfs://b").host_protocol(ProtocolVersion { major: 1, minor: 0 });
    let err = transform(&sample).unwrap_err();
    assert!(err.message().contains("1.1 or later"), "{err}");
}

/// Needs `helm` on PATH (or FLUID_HELM), as the controller does.
#[test]
fn the_chart_follows_the_controllers_conventions() {
    for replicas in [0, 3] {
        let sample = sample(replicas, "vendorfs://bucket/data");
        let rendered = Chart::new(CHART)
            .render(&sample, &transform(&sample).unwrap())
            .unwrap();
        rendered.check().unwrap();
        let c = sample.conventions();
        let fuse = rendered
            .get("DaemonSet", &c.fuse_name())
            .expect("a fuse DaemonSet");
        let pod = &fuse["spec"]["template"]["spec"];
        assert_eq!(
            pod["containers"][0]["command"][3],
            c.fuse_mount_path.as_str()
        );
        assert_eq!(
            pod["volumes"][0]["hostPath"]["path"],
            c.fuse_host_mount_path.as_str()
        );
        // The worker StatefulSet is optional.
        let worker = rendered.get("StatefulSet", &c.worker_name());
        assert_eq!(worker.is_some(), replicas > 0);
        if let Some(worker) = worker {
            assert_eq!(worker["spec"]["replicas"], replicas);
        }
    }
}

#[test]
fn the_crd_serves_the_runtime_kind_with_its_scale_subresource() {
    let crd = crd_json_of::<VendorFSRuntime>();
    assert_eq!(crd["spec"]["group"], "vendor.example.com");
    assert_eq!(crd["spec"]["names"]["kind"], "VendorFSRuntime");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(
        version["subresources"]["scale"]["specReplicasPath"],
        ".spec.replicas"
    );
}
