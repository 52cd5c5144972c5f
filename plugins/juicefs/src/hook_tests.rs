//! The hooks through a scripted host: validation of Secrets, transform, cache states from a
//! real `.stats`, metadata in the background, health, and the chart rendered by helm.

use super::*;
use crate::transform::tests::{conventions, sample, COMMUNITY, ENTERPRISE};
use fluid_plugin_api::conventions::merge_values;
use fluid_plugin_api::protocol::{Hook, HookRequest, ServiceErrorKind, ServiceFailure};
use fluid_plugin_api::{with_host, ServiceHandler};
use serde_json::json;
use std::sync::Mutex;

/// A scripted exec: (stdout, exit code) for a request.
type ExecFn = Box<dyn Fn(&ExecRequest) -> (String, i32) + Sync>;

/// Answers from a list of objects; exec answers come from `exec`.
#[derive(Default)]
pub(crate) struct Fake {
    pub(crate) objects: Vec<Value>,
    exec: Option<ExecFn>,
    calls: Mutex<Vec<(String, Value)>>,
}

impl ServiceHandler for Fake {
    fn call(&self, service: &str, request: &str) -> Result<String, ServiceFailure> {
        let req: Value = serde_json::from_str(request).unwrap();
        self.calls
            .lock()
            .unwrap()
            .push((service.to_owned(), req.clone()));
        let answer = match service {
            "get" => json!({"object": self.objects.iter()
                .find(|o| o["kind"] == req["kind"] && o["metadata"]["name"] == req["name"]).cloned()}),
            "list" => {
                let selector = req["labelSelector"].as_str().unwrap_or_default().to_owned();
                json!({"items": self.objects.iter().filter(|o| o["kind"] == req["kind"]
                    && selector.split(',').filter(|s| !s.is_empty()).all(|kv| {
                        let (k, v) = kv.split_once('=').unwrap();
                        o["metadata"]["labels"][k] == v
                    })).cloned().collect::<Vec<_>>()})
            }
            "exec" => {
                let r: ExecRequest = serde_json::from_value(req).unwrap();
                match &self.exec {
                    Some(f) => {
                        let (stdout, code) = f(&r);
                        json!({"stdout": stdout, "stderr": "", "exitCode": code})
                    }
                    None => {
                        return Err(ServiceFailure {
                            service: service.into(),
                            kind: ServiceErrorKind::Failed,
                            message: "no kubelet".into(),
                        })
                    }
                }
            }
            "patch_status" | "event" | "log" => json!({"object": {}}),
            "helm_uninstall" => json!({"uninstalled": true}),
            "delete" => json!({"deleted": true}),
            other => {
                return Err(ServiceFailure {
                    service: other.into(),
                    kind: ServiceErrorKind::Unsupported,
                    message: other.into(),
                })
            }
        };
        Ok(answer.to_string())
    }
}

pub(crate) fn cx(hook: Hook, runtime: &JuiceFSRuntime, dataset: &Dataset) -> HookContext {
    HookContext::new(
        hook,
        HookRequest {
            dataset: Some(serde_json::to_value(dataset).unwrap()),
            conventions: Some(conventions(runtime, dataset)),
            ..HookRequest::new(serde_json::to_value(runtime).unwrap())
        },
    )
}

/// The Secret as the host hands it over: keys kept, values blanked.
pub(crate) fn blanked(secret: &Value) -> Value {
    let mut s = secret.clone();
    let data: serde_json::Map<String, Value> = s["stringData"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), json!("")))
        .collect();
    s["data"] = Value::Object(data);
    s.as_object_mut().unwrap().remove("stringData");
    s
}

fn pod(name: &str, role: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name,
        "labels": {"app": "juicefs", "release": "jfsdemo", "role": role}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
}

pub(crate) fn done<T>(o: HookResult<T>) -> T {
    match o.unwrap() {
        Outcome::Done(v) => v,
        Outcome::Default => panic!("the hook answered Default"),
    }
}

#[test]
fn a_valid_sample_validates_and_reports_nothing_ignored() {
    for text in [COMMUNITY, ENTERPRISE] {
        let (secret, ds, rt) = sample(text);
        let fake = Fake {
            objects: vec![blanked(&secret)],
            ..Default::default()
        };
        let v = with_host(&fake, |h| {
            done(JuiceFs.validate(&cx(Hook::Validate, &rt, &ds), h))
        });
        assert_eq!(v, Validation::default());
    }
}

#[test]
fn a_missing_secret_or_key_is_a_field_error_naming_them() {
    let (secret, ds, rt) = sample(COMMUNITY);
    let none = Fake::default();
    let v = with_host(&none, |h| {
        done(JuiceFs.validate(&cx(Hook::Validate, &rt, &ds), h))
    });
    assert_eq!(v.errors.len(), 3);
    assert_eq!(v.errors[0].field, "spec.mounts[0].encryptOptions[metaurl]");
    assert!(
        v.errors[0].message.contains("secret jfs-secret not found"),
        "{:?}",
        v.errors[0]
    );

    let mut partial = blanked(&secret);
    partial["data"]
        .as_object_mut()
        .unwrap()
        .remove("secret-key");
    let fake = Fake {
        objects: vec![partial],
        ..Default::default()
    };
    let v = with_host(&fake, |h| {
        done(JuiceFs.validate(&cx(Hook::Validate, &rt, &ds), h))
    });
    assert_eq!(
        v.errors,
        [FieldError {
            field: "spec.mounts[0].encryptOptions[secret-key]".into(),
            message: "secret jfs-secret has no key secret-key".into()
        }]
    );
}

#[test]
fn ignored_fields_reach_the_validation() {
    let (secret, ds, mut rt) = sample(COMMUNITY);
    rt.spec.disable_prometheus = Some(true);
    let fake = Fake {
        objects: vec![blanked(&secret)],
        ..Default::default()
    };
    let v = with_host(&fake, |h| {
        done(JuiceFs.validate(&cx(Hook::Validate, &rt, &ds), h))
    });
    assert_eq!(v.ignored_fields, ["spec.disablePrometheus"]);
}

#[test]
fn cache_states_come_from_the_fuse_stats_in_the_community_edition() {
    let (_, ds, mut rt) = sample(COMMUNITY);
    rt.status = Some(fluid_plugin_api::types::RuntimeStatus {
        worker_number_ready: 1,
        ..Default::default()
    });
    let fake = Fake {
        objects: vec![
            pod("jfsdemo-fuse-a", "juicefs-fuse"),
            pod("jfsdemo-worker-0", "juicefs-worker"),
        ],
        exec: Some(Box::new(|r: &ExecRequest| {
            assert_eq!(r.container.as_deref(), Some("juicefs-fuse"));
            assert_eq!(
                r.command,
                ["cat", "/runtime-mnt/juicefs/ns/jfsdemo/juicefs-fuse/.stats"]
            );
            (include_str!("../tests/fixtures/stats.txt").to_owned(), 0)
        })),
        ..Default::default()
    };
    let report = with_host(&fake, |h| {
        done(JuiceFs.update_cache_of_dataset(&cx(Hook::UpdateCacheOfDataset, &rt, &ds), h))
    });
    assert_eq!(report.cache_states["cacheCapacity"], "40.00GiB");
    assert_eq!(report.cache_states["cached"], "4.01MiB");
    assert_eq!(report.cache_states["cacheHitRatio"], "100.0%");
}

#[test]
fn without_exec_the_cache_report_knows_the_capacity_only() {
    let (_, ds, rt) = sample(COMMUNITY);
    let fake = Fake {
        objects: vec![pod("jfsdemo-fuse-a", "juicefs-fuse")],
        ..Default::default()
    };
    let report = with_host(&fake, |h| {
        done(JuiceFs.update_cache_of_dataset(&cx(Hook::UpdateCacheOfDataset, &rt, &ds), h))
    });
    let known: Vec<_> = report
        .cache_states
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(known, ["cacheCapacity"]);
    assert_eq!(report.cache_states.len(), 5, "{:?}", report.cache_states);
}

#[test]
fn metadata_is_calculating_until_the_worker_job_has_a_result() {
    let (_, ds, rt) = sample(COMMUNITY);
    let df = include_str!("../tests/fixtures/df.txt");
    let answered = Mutex::new(0);
    let fake = Fake {
        objects: vec![pod("jfsdemo-worker-0", "juicefs-worker")],
        exec: Some(Box::new(move |r: &ExecRequest| {
            assert_eq!(r.command[..2], ["sh".to_owned(), "-c".to_owned()]);
            let mut n = answered.lock().unwrap();
            *n += 1;
            if *n == 1 {
                (String::new(), 3)
            } else {
                (format!("{df}files 3\n"), 0)
            }
        })),
        ..Default::default()
    };
    let first = with_host(&fake, |h| {
        done(JuiceFs.sync_metadata(&cx(Hook::SyncMetadata, &rt, &ds), h))
    });
    assert!(first.calculating);
    let second = with_host(&fake, |h| {
        done(JuiceFs.sync_metadata(&cx(Hook::SyncMetadata, &rt, &ds), h))
    });
    assert!(!second.calculating);
    assert_eq!(second.file_count, Some(3));
    assert!(second.ufs_total_bytes.unwrap() > 4 << 20);
    // Once known, the Dataset keeps it: the hook leaves it alone.
    let mut known = ds.clone();
    known.status =
        Some(serde_json::from_value(json!({"conditions": [], "ufsTotal": "4.01MiB"})).unwrap());
    let r = with_host(&fake, |h| {
        JuiceFs
            .sync_metadata(&cx(Hook::SyncMetadata, &rt, &known), h)
            .unwrap()
    });
    assert_eq!(r, Outcome::Default);
}

#[test]
fn health_follows_the_worker_statefulset_and_sets_the_selector() {
    let (_, ds, rt) = sample(COMMUNITY);
    let sts = |ready: i64| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "jfsdemo-worker"},
        "spec": {"replicas": 1}, "status": {"readyReplicas": ready}})
    };
    let runtime = json!({"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "jfsdemo"},
        "status": {"valueFile": "jfsdemo-juicefs-values"}});
    let fake = Fake {
        objects: vec![sts(1), runtime.clone()],
        ..Default::default()
    };
    let h1 = with_host(&fake, |h| {
        done(JuiceFs.check_runtime_healthy(&cx(Hook::CheckRuntimeHealthy, &rt, &ds), h))
    });
    assert!(h1.healthy);
    let calls = fake.calls.lock().unwrap();
    let patch = calls
        .iter()
        .find(|(s, _)| s == "patch_status")
        .expect("the selector was patched");
    assert_eq!(
        patch.1["status"]["selector"],
        "app=juicefs,release=jfsdemo,role=juicefs-worker"
    );
    drop(calls);
    let fake = Fake {
        objects: vec![sts(0), runtime],
        ..Default::default()
    };
    let h0 = with_host(&fake, |h| {
        done(JuiceFs.check_runtime_healthy(&cx(Hook::CheckRuntimeHealthy, &rt, &ds), h))
    });
    assert!(!h0.healthy);
    assert!(h0.message.contains("0/1"), "{}", h0.message);
}

#[test]
fn shutdown_cleans_the_chunks_of_this_volume_then_uninstalls() {
    let (_, ds, rt) = sample(COMMUNITY);
    let fake = Fake {
        objects: vec![pod("jfsdemo-worker-0", "juicefs-worker")],
        exec: Some(Box::new(|r: &ExecRequest| {
            assert_eq!(r.container.as_deref(), Some("juicefs-worker"));
            if r.command[0] == "sh" {
                assert_eq!(
                    r.command[2],
                    "exec /usr/local/bin/juicefs status \"$METAURL\""
                );
                (include_str!("../tests/fixtures/status.json").to_owned(), 0)
            } else {
                (String::new(), 0)
            }
        })),
        ..Default::default()
    };
    with_host(&fake, |h| {
        done(JuiceFs.shutdown(&cx(Hook::Shutdown, &rt, &ds), h))
    });
    let calls = fake.calls.lock().unwrap();
    let uuid = parse::status_uuid(include_str!("../tests/fixtures/status.json")).unwrap();
    let rm = calls
        .iter()
        .find(|(s, r)| s == "exec" && r["command"][0] == "rm")
        .expect("an rm in the worker");
    assert_eq!(
        rm.1["command"],
        json!(["rm", "-rf", "--", format!("/cache/{uuid}/raw/chunks")])
    );
    let services: Vec<&str> = calls.iter().map(|(s, _)| s.as_str()).collect();
    assert!(
        services.ends_with(&["helm_uninstall", "delete"]),
        "{services:?}"
    );
    assert_eq!(calls.last().unwrap().1["name"], "jfsdemo-juicefs-values");
    assert!(!services.contains(&"event"), "{services:?}");
}

#[test]
fn a_cache_that_cannot_be_cleaned_is_reported_and_does_not_block() {
    let (_, ds, rt) = sample(COMMUNITY);
    let fake = Fake {
        objects: vec![pod("jfsdemo-worker-0", "juicefs-worker")],
        ..Default::default()
    };
    with_host(&fake, |h| {
        done(JuiceFs.shutdown(&cx(Hook::Shutdown, &rt, &ds), h))
    });
    let calls = fake.calls.lock().unwrap();
    let event = calls.iter().find(|(s, _)| s == "event").expect("a warning");
    assert_eq!(event.1["reason"], "CacheCleanSkipped");
    assert!(calls.iter().any(|(s, _)| s == "helm_uninstall"));
}

#[test]
fn the_fuse_node_selector_is_kept_once_the_daemonset_exists() {
    let (_, ds, mut rt) = sample(COMMUNITY);
    rt.spec.fuse = Some(serde_json::from_value(json!({"nodeSelector": {"zone": "b"}})).unwrap());
    let fresh = Fake::default();
    let v = with_host(&fresh, |h| {
        done(JuiceFs.transform(&cx(Hook::Transform, &rt, &ds), h))
    });
    assert_eq!(
        v["fuse"]["nodeSelector"],
        json!({"zone": "b", "fluid.io/f-ns-jfsdemo": "true"})
    );
    let existing = Fake {
        objects: vec![
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "jfsdemo-fuse",
                "labels": {"app": "juicefs", "release": "jfsdemo", "role": "juicefs-fuse"}},
            "spec": {"template": {"spec": {"nodeSelector": {"fluid.io/f-ns-jfsdemo": "true"}}}}}),
        ],
        ..Default::default()
    };
    let v = with_host(&existing, |h| {
        done(JuiceFs.transform(&cx(Hook::Transform, &rt, &ds), h))
    });
    assert_eq!(
        v["fuse"]["nodeSelector"],
        json!({"fluid.io/f-ns-jfsdemo": "true"})
    );
}

/// helm at the pinned tools path, if installed (`scripts/install-tools`).
fn helm() -> Option<std::path::PathBuf> {
    let cache = std::env::var_os("FLUID_RS_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache/fluid-rs"))
        })?;
    let helm = cache.join("tools/bin/helm");
    helm.is_file().then_some(helm)
}

/// A sample rendered as the controller installs it: the transform hook's values (with
/// `existing` objects in the namespace) merged over the host's, then `helm template`.
pub(crate) struct Rendered {
    pub(crate) secret: Value,
    pub(crate) values: Value,
    pub(crate) text: String,
    pub(crate) docs: Vec<Value>,
}

impl Rendered {
    pub(crate) fn get(&self, kind: &str, name: &str) -> Value {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} not rendered"))
            .clone()
    }
}

/// `None` (with a message) when helm is not installed.
pub(crate) fn render(text: &str, existing: Vec<Value>) -> Option<Rendered> {
    let Some(helm) = helm() else {
        eprintln!("SKIPPED: helm is not installed (run scripts/install-tools)");
        return None;
    };
    let (secret, ds, rt) = sample(text);
    let mut objects = vec![blanked(&secret)];
    objects.extend(existing);
    let fake = Fake {
        objects,
        ..Default::default()
    };
    let engine_values = with_host(&fake, |h| {
        done(JuiceFs.transform(&cx(Hook::Transform, &rt, &ds), h))
    });
    // As the controller installs it: its values, the engine's merged over them.
    let mut values = conventions(&rt, &ds).chart_values();
    merge_values(&mut values, engine_values);
    let dir = tempfile_dir();
    let values_file = dir.join("values.yaml");
    std::fs::write(&values_file, serde_yaml::to_string(&values).unwrap()).unwrap();
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/juicefs");
    let out = std::process::Command::new(&helm)
        .args(["template", rt.metadata.name.as_deref().unwrap()])
        .arg(&chart)
        .args(["--namespace", "ns", "-f"])
        .arg(&values_file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(dir).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| Option::<Value>::deserialize(d).ok().flatten())
        .collect();
    Some(Rendered {
        secret,
        values,
        text,
        docs,
    })
}

/// The chart, rendered by helm with the transform's values (plus the host's), is what the
/// cluster gets: check its objects, and that no secret value is anywhere in it.
#[test]
fn helm_renders_the_chart_with_the_transform_values() {
    for text in [COMMUNITY, ENTERPRISE] {
        let Some(r) = render(text, vec![]) else {
            return;
        };
        let (secret, values) = (&r.secret, &r.values);
        for v in secret["stringData"].as_object().unwrap().values() {
            assert!(
                !r.text.contains(v.as_str().unwrap()),
                "secret value {v} rendered"
            );
        }
        let get = |kind: &str, name: &str| r.get(kind, name);
        let sts = get("StatefulSet", "jfsdemo-worker");
        assert_eq!(sts["spec"]["replicas"], 1);
        assert_eq!(sts["metadata"]["ownerReferences"][0]["uid"], "0000-1111");
        let labels = &sts["spec"]["template"]["metadata"]["labels"];
        for (k, v) in [
            ("app", "juicefs"),
            ("role", "juicefs-worker"),
            ("release", "jfsdemo"),
            ("fluid.io/dataset-id", "ns-jfsdemo"),
            ("app.kubernetes.io/name", "juicefs"),
        ] {
            assert_eq!(labels[k], v, "{labels}");
        }
        let container = &sts["spec"]["template"]["spec"]["containers"][0];
        let env = container["env"].as_array().unwrap();
        let secret_env: Vec<&Value> = env
            .iter()
            .filter(|e| e["valueFrom"]["secretKeyRef"].is_object())
            .collect();
        assert_eq!(secret_env.len(), 3, "{env:?}");
        let ds_ = get("DaemonSet", "jfsdemo-fuse");
        let spec = &ds_["spec"]["template"]["spec"];
        assert_eq!(spec["nodeSelector"]["fluid.io/f-ns-jfsdemo"], "true");
        assert_eq!(spec["containers"][0]["securityContext"]["privileged"], true);
        let mount = &spec["containers"][0]["volumeMounts"][0];
        assert_eq!(mount["mountPath"], "/runtime-mnt/juicefs/ns/jfsdemo");
        assert_eq!(mount["mountPropagation"], "Bidirectional");
        assert_eq!(
            ds_["spec"]["template"]["metadata"]["labels"]["role"],
            "juicefs-fuse"
        );
        let script = get("ConfigMap", "jfsdemo-fuse-script");
        let script = script["data"]["script.sh"].as_str().unwrap();
        assert!(
            script.contains(values["configs"]["formatCmd"].as_str().unwrap()),
            "{script}"
        );
        assert!(
            script.contains(&format!(
                "exec {}",
                values["fuse"]["command"].as_str().unwrap()
            )),
            "{script}"
        );
        let worker_script = get("ConfigMap", "jfsdemo-worker-script");
        assert!(worker_script["data"]["script.sh"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "exec {}",
                values["worker"]["command"].as_str().unwrap()
            )));
    }
}

pub(crate) fn tempfile_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "fluid-juicefs-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

use serde::Deserialize;
