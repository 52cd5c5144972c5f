use super::*;
use fluid_plugin_api::export::runtime_kind_from_crd;
use fluid_plugin_api::types::{crd_json, FuseCleanPolicy, MediumType, NetworkMode, RuntimePhase};

/// A JuiceFSRuntime as a Fluid user writes it, with a status as Fluid reports it.
const SAMPLE: &str = r#"
apiVersion: data.fluid.io/v1alpha1
kind: JuiceFSRuntime
metadata:
  name: imagenet
  namespace: training
spec:
  replicas: 2
  juicefsVersion:
    image: juicedata/juicefs-fuse
    imageTag: ce-v1.2.3
    imagePullPolicy: IfNotPresent
  configs:
    - --trash-days=0
  worker:
    networkMode: ContainerNetwork
    options:
      cache-size: "40960"
    resources:
      requests:
        cpu: "1"
        memory: 4Gi
      limits:
        memory: 8Gi
    nodeSelector:
      node-role.example.com/cache: "true"
    env:
      - name: JFS_LOG_LEVEL
        value: info
    podMetadata:
      labels:
        team: ml
  fuse:
    cleanPolicy: OnDemand
    options:
      writeback: ""
    volumeMounts:
      - name: extra-cache
        mountPath: /var/extra-cache
  tieredstore:
    levels:
      - mediumtype: SSD
        path: /mnt/cache1,/mnt/cache2
        quotaList: 100Gi,50Gi
        low: "0.1"
      - mediumtype: MEM
        volumeType: emptyDir
        volumeSource:
          emptyDir:
            medium: Memory
            sizeLimit: 2Gi
        path: /dev/shm/juicefs
        quota: 2Gi
  volumes:
    - name: extra-cache
      hostPath:
        path: /var/extra-cache
        type: DirectoryOrCreate
  podMetadata:
    annotations:
      example.com/owner: ml-platform
  management:
    cleanCachePolicy:
      gracePeriodSeconds: 30
      maxRetryAttempts: 5
    metadataSyncPolicy:
      autoSync: false
status:
  valueFile: imagenet-juicefs-values
  masterPhase: Ready
  workerPhase: PartialReady
  fusePhase: Ready
  desiredMasterNumberScheduled: 1
  currentMasterNumberScheduled: 1
  masterNumberReady: 1
  desiredWorkerNumberScheduled: 2
  currentWorkerNumberScheduled: 2
  workerNumberReady: 1
  workerNumberAvailable: 1
  workerNumberUnavailable: 1
  desiredFuseNumberScheduled: 0
  currentFuseNumberScheduled: 0
  fuseNumberReady: 0
  setupDuration: 1m12s
  selector: app=juicefs,release=imagenet,role=juicefs-worker
  cacheStates:
    cacheCapacity: 150.00GiB
    cached: 12.00GiB
  conditions:
    - type: WorkersInitialized
      status: "True"
      reason: Workers are initialized
      lastProbeTime: "2026-11-25T08:00:00Z"
      lastTransitionTime: "2026-11-25T08:00:00Z"
"#;

#[test]
fn a_fluid_juicefs_runtime_reads_and_writes_back_unchanged() {
    let original: serde_json::Value = serde_yaml::from_str(SAMPLE).unwrap();
    let runtime: JuiceFSRuntime = serde_json::from_value(original.clone()).unwrap();

    let spec = &runtime.spec;
    assert_eq!(spec.replicas, Some(2));
    let worker = spec.worker.as_ref().unwrap();
    assert_eq!(worker.network_mode, Some(NetworkMode::ContainerNetwork));
    let fuse = spec.fuse.as_ref().unwrap();
    assert_eq!(fuse.clean_policy, Some(FuseCleanPolicy::OnDemand));
    let levels = spec.tiered_store.as_ref().unwrap().levels.as_ref().unwrap();
    assert_eq!(levels[0].medium_type, MediumType::Ssd);
    let memory = levels[1].volume_source.as_ref().unwrap();
    assert_eq!(
        memory.0.empty_dir.as_ref().unwrap().medium.as_deref(),
        Some("Memory")
    );
    assert!(!spec
        .runtime_management
        .as_ref()
        .unwrap()
        .metadata_sync_policy
        .as_ref()
        .unwrap()
        .auto_sync_enabled());

    let status = runtime.status.as_ref().unwrap();
    assert_eq!(status.worker_phase, RuntimePhase::PartialReady);
    assert_eq!(status.current_worker_number_scheduled, 2);

    // Written back, the only addition is the default tier volume type of the first level.
    let mut expected = original;
    expected["spec"]["tieredstore"]["levels"][0]["volumeType"] = "hostPath".into();
    assert_eq!(serde_json::to_value(&runtime).unwrap(), expected);
}

#[test]
fn the_crd_has_fluid_names_scale_subresource_and_columns() {
    let crd = juicefs_runtime_crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("juicefsruntimes.data.fluid.io")
    );
    let names = &crd.spec.names;
    assert_eq!(
        names.short_names.as_deref(),
        Some(&["juicefs".to_owned()][..])
    );
    assert_eq!(names.categories.as_deref(), Some(&["fluid".to_owned()][..]));
    assert_eq!(names.list_kind.as_deref(), Some("JuiceFSRuntimeList"));
    assert_eq!(crd.spec.scope, "Namespaced");

    let version = &crd.spec.versions[0];
    let subresources = version.subresources.as_ref().unwrap();
    assert!(subresources.status.is_some());
    let scale = subresources.scale.as_ref().unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(
        scale.status_replicas_path,
        ".status.currentWorkerNumberScheduled"
    );
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );

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
            ("Ready Workers", ".status.workerNumberReady", "integer", 10),
            (
                "Desired Workers",
                ".status.desiredWorkerNumberScheduled",
                "integer",
                10
            ),
            ("Worker Phase", ".status.workerPhase", "string", 0),
            ("Ready Fuses", ".status.fuseNumberReady", "integer", 10),
            (
                "Desired Fuses",
                ".status.desiredFuseNumberScheduled",
                "integer",
                10
            ),
            ("Fuse Phase", ".status.fusePhase", "string", 0),
            ("Age", ".metadata.creationTimestamp", "date", 0),
        ]
    );
}

#[test]
fn the_schema_carries_fluid_constraints() {
    let crd = crd_json(&juicefs_runtime_crd());
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let spec = &schema["properties"]["spec"]["properties"];
    // k8s-openapi holds `minimum` as a float: 1.0, the same bound as Fluid's 1.
    assert_eq!(
        spec["worker"]["properties"]["replicas"]["minimum"].as_f64(),
        Some(1.0)
    );
    let network_modes = &spec["worker"]["properties"]["networkMode"]["enum"];
    assert_eq!(
        network_modes,
        &serde_json::json!(["HostNetwork", "", "ContainerNetwork"])
    );
    assert_eq!(
        spec["volumeClaimTemplates"]["x-kubernetes-list-type"],
        "atomic"
    );
    let level = &spec["tieredstore"]["properties"]["levels"]["items"];
    assert_eq!(level["required"], serde_json::json!(["mediumtype"]));
    assert_eq!(level["properties"]["volumeType"]["default"], "hostPath");
    assert_eq!(
        level["properties"]["mediumtype"]["enum"],
        serde_json::json!(["MEM", "SSD", "HDD"])
    );
    let clean = &spec["management"]["properties"]["cleanCachePolicy"]["properties"];
    assert_eq!(
        (
            &clean["gracePeriodSeconds"]["default"],
            &clean["maxRetryAttempts"]["default"]
        ),
        (&60.into(), &3.into())
    );
    let text = crd.to_string();
    assert!(
        !text.contains("$ref") && !text.contains("\"null\""),
        "{text}"
    );
}

#[test]
fn the_plugin_serves_the_juicefs_runtime_kind() {
    let kind = runtime_kind_from_crd(&crd_json(&juicefs_runtime_crd())).unwrap();
    assert_eq!(
        (
            kind.group.as_str(),
            kind.version.as_str(),
            kind.kind.as_str(),
            kind.plural.as_str()
        ),
        (
            "data.fluid.io",
            "v1alpha1",
            "JuiceFSRuntime",
            "juicefsruntimes"
        )
    );
}

/// Writes the generated CRD where `crd-compat` can read it:
/// `/work/shared/tools/crd-compat target/crds/data.fluid.io_juicefsruntimes.yaml <Fluid's>`.
#[test]
fn writes_the_crd_under_target() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/crds");
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = serde_yaml::to_string(&juicefs_runtime_crd()).unwrap();
    std::fs::write(dir.join("data.fluid.io_juicefsruntimes.yaml"), yaml).unwrap();
}
