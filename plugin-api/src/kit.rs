//! Small helpers engines share, around the [`Host`] calls and the pod specs of their charts:
//! which pods are ready, the scale subresource's selector, Secret keys, the volumes and
//! metadata of a component, and the controller settings engines read from its environment.

use crate::engine::{FieldError, HealthReport};
use crate::host::{Host, HostError};
use crate::types::{Dataset, RuntimeManagement};
use k8s_openapi::api::core::v1::{Volume, VolumeMount};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A spec problem that stops an engine's transform, with the field it is about: `spec.mounts[0]
/// ...` are the Dataset's, the others the runtime's. An engine's `validate` turns each into a
/// [`FieldError`](crate::FieldError), so the controller's condition and Event name the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a path (`spec.tieredstore.levels[0].quota`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Whether a pod (as on the wire) is running, not being deleted, and Ready.
pub fn pod_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// The names of the ready pods (see [`pod_ready`]) matching a label selector, in the
/// runtime's namespace.
pub fn ready_pods(host: &Host, selector: &str) -> Result<Vec<String>, HostError> {
    Ok(host
        .list("v1", "Pod", Some(selector))?
        .iter()
        .filter(|p| pod_ready(p))
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect())
}

/// Sets the runtime's `status.selector` (the scale subresource's label selector) to
/// `selector`, once the controller has written the status (`valueFile` set) and when it
/// differs.
pub fn ensure_scale_selector(
    host: &Host,
    api_version: &str,
    kind: &str,
    name: &str,
    selector: &str,
) -> Result<(), HostError> {
    let Some(current) = host.get(api_version, kind, name)? else {
        return Ok(());
    };
    let status = &current["status"];
    if status["valueFile"].as_str().is_some_and(|v| !v.is_empty()) && status["selector"] != selector
    {
        host.patch_status(api_version, kind, name, json!({ "selector": selector }))?;
    }
    Ok(())
}

/// `count` node ports for a runtime on the host network, from the host's allocator (protocol
/// 1.2: never the same port to two runtimes); `None` from an older host, which is said in the
/// log: the engine then uses its fixed ports.
pub fn allocate_host_ports(host: &Host, count: u16) -> Result<Option<Vec<u16>>, HostError> {
    match host.allocate_ports(count) {
        Ok(ports) => Ok(Some(ports)),
        Err(e) if e.is_unsupported() => {
            let _ = host.log(
                crate::protocol::LogLevel::Info,
                "this controller allocates no host-network ports (protocol older than 1.2): \
                 Fluid's fixed ports are used",
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Whether the engine should compute the Dataset's UFS size and file count now: the
/// runtime's metadata sync policy allows it (on unless `autoSync: false`) and the Dataset does
/// not know its total yet (empty or `[Calculating]`, as Fluid writes it).
pub fn metadata_sync_wanted(management: Option<&RuntimeManagement>, dataset: &Dataset) -> bool {
    let auto = management
        .and_then(|m| m.metadata_sync_policy.as_ref())
        .is_none_or(|p| p.auto_sync_enabled());
    let known = dataset
        .status
        .as_ref()
        .and_then(|s| s.ufs_total.as_deref())
        .is_some_and(|u| !u.is_empty() && u != "[Calculating]");
    auto && !known
}

/// Why each Secret key `(secret, key)` cannot be used, in the order given, if it cannot: the
/// Secret is missing or has no such key. Each Secret is read once, however many of its keys
/// are asked. The controller hands Secrets over with their values blanked, which is all this
/// needs.
pub fn secret_key_problems(
    host: &Host,
    refs: &[(&str, &str)],
) -> Result<Vec<Option<String>>, HostError> {
    let mut read: std::collections::HashMap<&str, Option<Value>> = Default::default();
    let mut problems = Vec::with_capacity(refs.len());
    for (secret, key) in refs {
        if !read.contains_key(secret) {
            read.insert(secret, host.get("v1", "Secret", secret)?);
        }
        problems.push(match &read[secret] {
            None => Some(format!(
                "secret {secret} not found in the dataset's namespace"
            )),
            Some(s) => {
                let has = |f: &str| s[f].as_object().is_some_and(|m| m.contains_key(*key));
                (!has("data") && !has("stringData"))
                    .then(|| format!("secret {secret} has no key {key}"))
            }
        });
    }
    Ok(problems)
}

/// A field error for each Secret reference of the Dataset's encrypt options
/// (`sharedEncryptOptions`, each mount's `encryptOptions`) whose Secret or key is missing, with
/// the field of the option list. An option without a Secret reference is left to the
/// engine's transform.
pub fn encrypt_option_errors(host: &Host, dataset: &Dataset) -> Result<Vec<FieldError>, HostError> {
    let shared = dataset
        .spec
        .shared_encrypt_options
        .iter()
        .flatten()
        .map(|e| (e, "spec.sharedEncryptOptions".to_owned()));
    let per_mount = dataset
        .spec
        .mounts
        .iter()
        .flatten()
        .enumerate()
        .flat_map(|(i, m)| {
            m.encrypt_options
                .iter()
                .flatten()
                .map(move |e| (e, format!("spec.mounts[{i}].encryptOptions")))
        });
    let refs: Vec<(String, String, String)> = shared
        .chain(per_mount)
        .filter_map(|(e, field)| {
            let r = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
            Some((field, r.name.clone(), r.key.clone().unwrap_or_default()))
        })
        .collect();
    let asked: Vec<(&str, &str)> = refs
        .iter()
        .map(|(_, name, key)| (name.as_str(), key.as_str()))
        .collect();
    Ok(refs
        .iter()
        .zip(secret_key_problems(host, &asked)?)
        .filter_map(|((field, _, _), problem)| {
            problem.map(|message| FieldError {
                field: field.clone(),
                message,
            })
        })
        .collect())
}

/// The health of an engine whose roles are StatefulSets `<name>-<role>`: healthy when each
/// exists and wants no replica or has one ready.
pub fn statefulsets_health(
    host: &Host,
    name: &str,
    roles: &[&str],
) -> Result<HealthReport, HostError> {
    for role in roles {
        let sts_name = format!("{name}-{role}");
        let Some(sts) = host.get("apps/v1", "StatefulSet", &sts_name)? else {
            return Ok(HealthReport {
                healthy: false,
                message: format!("the {role} StatefulSet {sts_name} does not exist"),
            });
        };
        let want = sts["spec"]["replicas"].as_i64().unwrap_or(0);
        let ready = sts["status"]["readyReplicas"].as_i64().unwrap_or(0);
        if want > 0 && ready == 0 {
            return Ok(HealthReport {
                healthy: false,
                message: format!("no {role} of {sts_name} is ready (0/{want})"),
            });
        }
    }
    Ok(HealthReport {
        healthy: true,
        message: String::new(),
    })
}

/// The Dataset's placement mode as Fluid reads it: `Exclusive` unless it says otherwise.
pub fn placement_mode(dataset: &Dataset) -> String {
    dataset
        .spec
        .placement_mode
        .as_ref()
        .and_then(|p| serde_json::to_value(p).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "Exclusive".into())
}

/// The keys of the ConfigMap `name` in the runtime's namespace (a runtime's `hadoopConfig`),
/// or `None` when it does not exist.
pub fn configmap_keys(host: &Host, name: &str) -> Result<Option<Vec<String>>, HostError> {
    Ok(host.get("v1", "ConfigMap", name)?.map(|cm| {
        cm["data"]
            .as_object()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default()
    }))
}

/// Which of Hadoop's files (`hdfs-site.xml`, `core-site.xml`) the ConfigMap a runtime's
/// `spec.hadoopConfig` names holds, given its keys ([`configmap_keys`]); a problem of
/// `spec.hadoopConfig` when it does not exist or holds neither.
pub fn hadoop_config_files(
    name: &str,
    keys: Option<&[String]>,
) -> Result<Vec<&'static str>, Problem> {
    let keys = keys.ok_or_else(|| {
        Problem::new(
            "spec.hadoopConfig",
            format!("ConfigMap {name} not found in the runtime's namespace"),
        )
    })?;
    let files: Vec<&'static str> = ["hdfs-site.xml", "core-site.xml"]
        .into_iter()
        .filter(|f| keys.iter().any(|k| k == f))
        .collect();
    if files.is_empty() {
        return Err(Problem::new(
            "spec.hadoopConfig",
            format!("ConfigMap {name} has neither hdfs-site.xml nor core-site.xml"),
        ));
    }
    Ok(files)
}

/// The runtime's `spec.volumes` a component mounts (by its `volumeMounts`), each once, or the
/// index and name of the first mount whose volume is missing.
pub fn volumes_for(
    volumes: &[Volume],
    mounts: &[VolumeMount],
) -> Result<Vec<Value>, (usize, String)> {
    let mut out: Vec<Value> = vec![];
    for (i, m) in mounts.iter().enumerate() {
        let v = volumes
            .iter()
            .find(|v| v.name == m.name)
            .ok_or_else(|| (i, m.name.clone()))?;
        if !out.iter().any(|o| o["name"] == m.name.as_str()) {
            out.push(serde_json::to_value(v).unwrap_or_default());
        }
    }
    Ok(out)
}

/// Labels or annotations of a component's pods: the runtime's, overridden by the component's.
pub fn merged(
    common: Option<&BTreeMap<String, String>>,
    component: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut m = common.cloned().unwrap_or_default();
    m.extend(component.cloned().unwrap_or_default());
    m
}

/// Image pull secrets for every engine pod, from the controller's `IMAGE_PULL_SECRETS`
/// (comma-separated, as Fluid reads it).
pub fn image_pull_secrets_from_env() -> Vec<String> {
    std::env::var("IMAGE_PULL_SECRETS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether fuse pods get `system-node-critical`, from the controller's `CRITICAL_FUSE_POD`:
/// true unless it says false, since Fluid's chart sets it true by default
/// (`runtime.criticalFusePod`).
pub fn critical_fuse_pod_from_env() -> bool {
    std::env::var("CRITICAL_FUSE_POD")
        .ok()
        .and_then(|v| parse_bool(&v))
        .unwrap_or(true)
}

/// A boolean as Go's `strconv.ParseBool` reads it (Fluid's annotations and environment).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Drops `null` members of objects, deeply: a pod built with `json!` from optional fields
/// keeps the absent ones absent.
pub fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_running_ready_pods_not_being_deleted_are_ready() {
        let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(pod_ready(&ready));
        let mut deleting = ready.clone();
        deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        assert!(!pod_ready(&deleting));
        assert!(!pod_ready(&json!({"status": {"phase": "Running"}})));
        assert!(!pod_ready(
            &json!({"status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "True"}]}})
        ));
    }

    #[test]
    fn booleans_read_as_go_reads_them() {
        for v in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(parse_bool(v), Some(true), "{v}");
        }
        for v in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(parse_bool(v), Some(false), "{v}");
        }
        assert_eq!(parse_bool("yes"), None);
    }

    #[test]
    fn only_mounted_volumes_are_given_and_missing_ones_are_named() {
        let volumes: Vec<Volume> = serde_json::from_value(json!([
            {"name": "a", "emptyDir": {}}, {"name": "b", "hostPath": {"path": "/b"}}]))
        .unwrap();
        let mounts: Vec<VolumeMount> = serde_json::from_value(
            json!([{"name": "b", "mountPath": "/b"}, {"name": "b", "mountPath": "/b2"}, {"name": "c", "mountPath": "/c"}]),
        )
        .unwrap();
        assert_eq!(
            volumes_for(&volumes, &mounts[..2]).unwrap(),
            [json!({"name": "b", "hostPath": {"path": "/b"}})]
        );
        assert_eq!(volumes_for(&volumes, &mounts).unwrap_err(), (2, "c".into()));
    }

    #[test]
    fn component_metadata_overrides_the_runtimes() {
        let common = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "1".to_owned()),
        ]);
        let own = BTreeMap::from([("b".to_owned(), "2".to_owned())]);
        let m = merged(Some(&common), Some(&own));
        assert_eq!((m["a"].as_str(), m["b"].as_str()), ("1", "2"));
    }
}
