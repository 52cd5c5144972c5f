use super::status::RuntimeConditionType;
use super::*;
use serde_json::json;

/// A Dataset as a Fluid user writes it, with the status Fluid's controller gives it once bound.
const SAMPLE: &str = r#"
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: imagenet
  namespace: training
spec:
  mounts:
    - name: imagenet
      mountPoint: juicefs:///datasets/imagenet
      path: /
      readOnly: true
      options:
        bucket: https://minio.storage.svc:9000/juicefs
        storage: minio
      encryptOptions:
        - name: metaurl
          valueFrom:
            secretKeyRef:
              name: jfs-secret
              key: metaurl
        - name: access-key
          valueFrom:
            secretKeyRef:
              name: jfs-secret
              key: access-key
  sharedOptions:
    cache-size: "20480"
  sharedEncryptOptions:
    - name: secret-key
      valueFrom:
        secretKeyRef:
          name: jfs-secret
          key: secret-key
  accessModes:
    - ReadOnlyMany
  placement: Exclusive
  owner:
    uid: 1000
    gid: 1000
    user: trainer
    group: trainer
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - key: node.kubernetes.io/instance-type
              operator: In
              values: [gpu-a100, gpu-h100]
  tolerations:
    - key: nvidia.com/gpu
      operator: Exists
      effect: NoSchedule
status:
  phase: Bound
  ufsTotal: 142.56GiB
  fileNum: "1281167"
  mounts:
    - name: imagenet
      mountPoint: juicefs:///datasets/imagenet
      path: /
      readOnly: true
  runtimes:
    - name: imagenet
      namespace: training
      category: Accelerate
      type: juicefs
      masterReplicas: 1
  cacheStates:
    cached: 35.64GiB
    cacheCapacity: 200.00GiB
    cachedPercentage: 25.0%
    cacheHitRatio: 81.2%
  hcfs:
    endpoint: ""
    underlayerFileSystemVersion: ""
  operationRef:
    DataLoad: warmup-imagenet
  conditions:
    - type: Ready
      status: "True"
      reason: DatasetReady
      message: The ddc runtime is ready.
      lastUpdateTime: "2026-11-25T08:00:00Z"
      lastTransitionTime: "2026-11-25T08:00:00Z"
"#;

#[test]
fn a_fluid_dataset_reads_and_writes_back_unchanged() {
    let original: serde_json::Value = serde_yaml::from_str(SAMPLE).unwrap();
    let dataset: Dataset = serde_json::from_value(original.clone()).unwrap();

    let spec = &dataset.spec;
    let mount = &spec.mounts.as_ref().unwrap()[0];
    assert_eq!(mount.mount_point, "juicefs:///datasets/imagenet");
    assert_eq!(mount.read_only, Some(true));
    let secret = mount.encrypt_options.as_ref().unwrap()[0]
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .unwrap();
    assert_eq!(
        (secret.name.as_str(), secret.key.as_deref()),
        ("jfs-secret", Some("metaurl"))
    );
    assert_eq!(spec.placement_mode, Some(PlacementMode::Exclusive));
    assert_eq!(
        spec.access_modes.as_deref(),
        Some(&["ReadOnlyMany".to_owned()][..])
    );
    assert_eq!(spec.owner.as_ref().unwrap().uid, 1000);

    let status = dataset.status.as_ref().unwrap();
    assert_eq!(status.phase, Some(DatasetPhase::Bound));
    assert_eq!(status.file_num.as_deref(), Some("1281167"));
    assert_eq!(status.conditions[0].type_, "Ready");
    assert_eq!(
        status.cache_states.as_ref().unwrap()[cache_state::CACHED_PERCENTAGE],
        "25.0%"
    );
    assert!(dataset.can_be_bound("imagenet", "training", ACCELERATE_CATEGORY));
    assert!(!dataset.can_be_bound("other", "training", ACCELERATE_CATEGORY));

    assert_eq!(serde_json::to_value(&dataset).unwrap(), original);
}

#[test]
fn a_minimal_dataset_reads_with_defaults() {
    let dataset: Dataset = serde_json::from_value(json!({
        "apiVersion": "data.fluid.io/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "demo"},
        "spec": {"mounts": [{"mountPoint": "https://mirrors.example.com/"}]},
        "status": {"phase": "", "conditions": []}
    }))
    .unwrap();
    let status = dataset.status.unwrap();
    assert_eq!(status.phase, Some(DatasetPhase::None));
    assert!(status.conditions.is_empty());
    assert!(dataset
        .spec
        .placement_mode
        .unwrap_or_default()
        .is_exclusive());
}

#[test]
fn the_runtime_status_keeps_fluid_names_and_writes_its_required_fields() {
    let status: RuntimeStatus = serde_json::from_value(json!({
        "valueFile": "imagenet-juicefs-values",
        "masterPhase": "Ready",
        "workerPhase": "PartialReady",
        "fusePhase": "Ready",
        "desiredWorkerNumberScheduled": 2,
        "currentWorkerNumberScheduled": 2,
        "workerNumberReady": 1,
        "desiredMasterNumberScheduled": 0,
        "currentMasterNumberScheduled": 0,
        "masterNumberReady": 0,
        "desiredFuseNumberScheduled": 0,
        "currentFuseNumberScheduled": 0,
        "fuseNumberReady": 0,
        "selector": "app=juicefs,release=imagenet,role=juicefs-worker",
        "apiGateway": {"endpoint": "imagenet-master-0.training:19999"},
        "conditions": [{"type": "WorkersReady", "status": "True",
                        "reason": "Workers are ready",
                        "lastProbeTime": "2026-11-25T08:00:00Z"}],
        "mountTime": "2026-11-25T08:00:00Z"
    }))
    .unwrap();
    assert_eq!(status.worker_phase, RuntimePhase::PartialReady);
    assert_eq!(status.master_number_ready, 0);
    let condition = &status.conditions.as_ref().unwrap()[0];
    assert_eq!(condition.type_, RuntimeConditionType::WorkersReady.as_str());
    assert_eq!(
        RuntimeConditionType::WorkersReady.reason(),
        condition.reason.as_deref().unwrap()
    );

    let written = serde_json::to_value(RuntimeStatus::default()).unwrap();
    let mut keys: Vec<&str> = written
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "currentFuseNumberScheduled",
            "currentMasterNumberScheduled",
            "currentWorkerNumberScheduled",
            "desiredFuseNumberScheduled",
            "desiredMasterNumberScheduled",
            "desiredWorkerNumberScheduled",
            "fuseNumberReady",
            "fusePhase",
            "masterNumberReady",
            "masterPhase",
            "valueFile",
            "workerNumberReady",
            "workerPhase",
        ]
    );
    assert_eq!(written["masterPhase"], "");
}

#[test]
fn the_dataset_crd_has_fluid_names_columns_and_status_subresource() {
    let crd = dataset_crd();
    assert_eq!(crd.metadata.name.as_deref(), Some("datasets.data.fluid.io"));
    let names = &crd.spec.names;
    assert_eq!(names.kind, "Dataset");
    assert_eq!(names.list_kind.as_deref(), Some("DatasetList"));
    assert_eq!(
        names.short_names.as_deref(),
        Some(&["dataset".to_owned()][..])
    );
    assert_eq!(names.categories.as_deref(), Some(&["fluid".to_owned()][..]));
    assert_eq!(crd.spec.scope, "Namespaced");

    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.served && version.storage);
    let subresources = version.subresources.as_ref().unwrap();
    assert!(subresources.status.is_some());
    assert!(subresources.scale.is_none());

    let columns: Vec<(&str, &str, &str, i32)> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.json_path.as_str(),
                c.type_.as_str(),
                c.priority.unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("Ufs Total Size", ".status.ufsTotal", "string", 0),
            ("Cached", ".status.cacheStates.cached", "string", 0),
            (
                "Cache Capacity",
                ".status.cacheStates.cacheCapacity",
                "string",
                0
            ),
            (
                "Cached Percentage",
                ".status.cacheStates.cachedPercentage",
                "string",
                0
            ),
            ("Phase", ".status.phase", "string", 0),
            ("HCFS URL", ".status.hcfs.endpoint", "string", 10),
            ("TOTAL FILES", ".status.fileNum", "string", 11),
            (
                "CACHE HIT RATIO",
                ".status.cacheStates.cacheHitRatio",
                "string",
                10
            ),
            ("Age", ".metadata.creationTimestamp", "date", 0),
        ]
    );
}

#[test]
fn the_dataset_schema_carries_fluid_constraints() {
    let crd = crd_json(&dataset_crd());
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let spec = &schema["properties"]["spec"]["properties"];
    assert_eq!(spec["mounts"]["minItems"], 1);
    assert_eq!(
        spec["mounts"]["items"]["properties"]["mountPoint"]["minLength"],
        5
    );
    assert_eq!(spec["mounts"]["items"]["required"], json!(["mountPoint"]));
    assert_eq!(
        spec["placement"]["enum"],
        json!(["Exclusive", "", "Shared"])
    );
    assert_eq!(
        spec["owner"]["required"],
        json!(["gid", "group", "uid", "user"])
    );
    let status = &schema["properties"]["status"];
    assert_eq!(status["required"], json!(["conditions"]));
    // Phases are free strings in Fluid's schema: no enum list.
    assert_eq!(status["properties"]["phase"]["type"], "string");
    assert!(status["properties"]["phase"].get("enum").is_none());
    // Structural: no references or unresolved unions left for the API server to reject.
    let text = crd.to_string();
    assert!(
        !text.contains("$ref") && !text.contains("\"anyOf\":[{\"$"),
        "{text}"
    );
}

/// Writes the generated CRD where `crd-compat` can read it:
/// `/work/shared/tools/crd-compat target/crds/data.fluid.io_datasets.yaml <Fluid's>`.
#[test]
fn writes_the_dataset_crd_under_target() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/crds");
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = serde_yaml::to_string(&dataset_crd()).unwrap();
    std::fs::write(dir.join("data.fluid.io_datasets.yaml"), yaml).unwrap();
}
