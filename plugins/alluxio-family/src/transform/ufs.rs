//! The Dataset's mounts, as the family's engines serve them (Fluid's rules):
//! - `local://<dir>` and `pvc://<claim>[/<sub>]` are volumes of the master and workers under
//!   `/underFSStorage`, the root of the namespace, so they appear at `/<name>` (or `path`);
//! - a single other mount whose path is `/` is the root UFS itself
//!   (`<p>.master.mount.table.root.ufs`, its options `<p>.master.mount.table.root.option.*`);
//! - every other mount is mounted at `path` (or `/<name>`) by `<cli> fs mount` in the master
//!   (see [`crate::commands`]).
//!
//! Encrypt options are never values here: each names a Secret key, mounted as a file under
//! `/etc/fluid/secrets/<secret>/` in the master and read there when used.

use super::Problem;
use fluid_plugin_api::types::{Dataset, EncryptOption, Mount};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Where native mounts live in the containers: the root UFS when no mount is the root.
pub const LOCAL_ROOT: &str = "/underFSStorage";
/// Where the master mounts the Secrets of encrypt options.
pub const SECRETS_DIR: &str = "/etc/fluid/secrets";

/// An option whose value is the content of a Secret's key, mounted as a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretOption {
    /// The option's name.
    pub name: String,
    /// The file holding the value in the master.
    pub path: String,
}

/// A mount the engine makes with `<cli> fs mount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UfsMount {
    /// The path in the Alluxio namespace.
    pub path: String,
    /// The under file system's URI.
    pub ufs: String,
    /// `--readonly`.
    pub read_only: bool,
    /// `--shared`.
    pub shared: bool,
    /// Plain options (`--option k=v`): the Dataset's shared options, then the mount's.
    pub options: BTreeMap<String, String>,
    /// Options read from Secret files at mount time.
    pub secret_options: Vec<SecretOption>,
}

/// The UFS side of a runtime.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UfsPlan {
    /// `<p>.master.mount.table.root.ufs`.
    pub root_ufs: String,
    /// Options of the root mount (`<p>.master.mount.table.root.option.<k>`), plain values.
    pub root_options: BTreeMap<String, String>,
    /// Options of the root mount read from Secret files when the master starts.
    pub root_secret_options: Vec<SecretOption>,
    /// Mounts made by exec in the master.
    pub mounts: Vec<UfsMount>,
    /// Volumes of the native mounts (master and workers).
    pub volumes: Vec<Value>,
    /// Their mounts under [`LOCAL_ROOT`].
    pub volume_mounts: Vec<Value>,
    /// The Secret volumes of the encrypt options (master only).
    pub secret_volumes: Vec<Value>,
    /// Their mounts under [`SECRETS_DIR`].
    pub secret_volume_mounts: Vec<Value>,
    /// Whether every mount is `http://` or `https://` (Fluid's bigger blocks then).
    pub all_http: bool,
}

fn native(mount_point: &str) -> bool {
    mount_point.starts_with("local://") || mount_point.starts_with("pvc://")
}

/// The path of a mount in the namespace: `path` when absolute, else `/<name>`.
pub fn namespace_path(m: &Mount) -> String {
    match m.path.as_deref() {
        Some(p) if p.starts_with('/') => p.to_owned(),
        _ => format!(
            "/{}",
            m.name
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
        ),
    }
}

/// The plan for the Dataset's mounts.
pub fn plan(dataset: &Dataset) -> Result<UfsPlan, Vec<Problem>> {
    let mounts = dataset.spec.mounts.clone().unwrap_or_default();
    let mut problems = vec![];
    let mut plan = UfsPlan {
        root_ufs: LOCAL_ROOT.to_owned(),
        all_http: !mounts.is_empty()
            && mounts.iter().all(|m| {
                m.mount_point.starts_with("http://") || m.mount_point.starts_with("https://")
            }),
        ..Default::default()
    };
    if mounts.is_empty() {
        problems.push(Problem::new(
            "spec.mounts",
            "the Dataset needs at least one mount",
        ));
    }
    let shared = dataset.spec.shared_options.clone().unwrap_or_default();
    let shared_secrets = dataset
        .spec
        .shared_encrypt_options
        .clone()
        .unwrap_or_default();
    let mut secrets: Vec<String> = vec![];
    let mut seen_paths: BTreeMap<String, usize> = BTreeMap::new();
    let single = mounts.len() == 1;
    for (i, m) in mounts.iter().enumerate() {
        let field = |f: &str| format!("spec.mounts[{i}].{f}");
        let path = namespace_path(m);
        if let Some(first) = seen_paths.insert(path.clone(), i) {
            problems.push(Problem::new(
                field("path"),
                format!("{path} is also the path of spec.mounts[{first}]"),
            ));
        }
        if native(&m.mount_point) {
            native_volume(m, i, &path, &mut plan, &mut problems);
            continue;
        }
        if !m.mount_point.contains("://") {
            problems.push(Problem::new(
                field("mountPoint"),
                format!(
                    "{:?} has no scheme (s3://, hdfs://, local://, pvc://, ...)",
                    m.mount_point
                ),
            ));
            continue;
        }
        let mut options = shared.clone();
        options.extend(m.options.clone().unwrap_or_default());
        let mut secret_options = vec![];
        let encrypted = shared_secrets
            .iter()
            .map(|e| (e, "spec.sharedEncryptOptions".to_owned()))
            .chain(
                m.encrypt_options
                    .iter()
                    .flatten()
                    .map(|e| (e, field("encryptOptions"))),
            );
        for (j, (e, f)) in encrypted.enumerate() {
            match secret_file(e) {
                Ok((secret, file)) => {
                    if options.contains_key(&e.name)
                        || secret_options
                            .iter()
                            .any(|s: &SecretOption| s.name == e.name)
                    {
                        problems.push(Problem::new(
                            f,
                            format!(
                                "option {} is set more than once (options and encryptOptions)",
                                e.name
                            ),
                        ));
                        continue;
                    }
                    if !secrets.contains(&secret) {
                        secrets.push(secret);
                    }
                    secret_options.push(SecretOption {
                        name: e.name.clone(),
                        path: file,
                    });
                }
                Err(message) => problems.push(Problem::new(format!("{f}[{j}]"), message)),
            }
        }
        if single && path == "/" {
            plan.root_ufs = m.mount_point.clone();
            plan.root_options = options;
            plan.root_secret_options = secret_options;
        } else {
            if path == "/" {
                problems.push(Problem::new(
                    field("path"),
                    "only a Dataset's single mount can be its root (/)",
                ));
                continue;
            }
            plan.mounts.push(UfsMount {
                path,
                ufs: m.mount_point.clone(),
                read_only: m.read_only.unwrap_or(false),
                shared: m.shared.unwrap_or(false),
                options,
                secret_options,
            });
        }
    }
    for (n, secret) in secrets.iter().enumerate() {
        let name = format!("ufs-secret-{}", n + 1);
        plan.secret_volumes
            .push(json!({"name": name, "secret": {"secretName": secret}}));
        plan.secret_volume_mounts.push(
            json!({"name": name, "mountPath": format!("{SECRETS_DIR}/{secret}"), "readOnly": true}),
        );
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

/// The Secret and the file of an encrypt option.
fn secret_file(e: &EncryptOption) -> Result<(String, String), String> {
    let r = e
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .ok_or_else(|| format!("option {} has no valueFrom.secretKeyRef", e.name))?;
    let key = r
        .key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| format!("option {}: the secretKeyRef has no key", e.name))?;
    if key.contains('/') || key.starts_with('.') || r.name.contains('/') {
        return Err(format!(
            "option {}: {:?}/{key:?} is not a Secret key",
            e.name, r.name
        ));
    }
    Ok((r.name.clone(), format!("{SECRETS_DIR}/{}/{key}", r.name)))
}

fn native_volume(m: &Mount, i: usize, path: &str, plan: &mut UfsPlan, problems: &mut Vec<Problem>) {
    let name = format!("ufs-{}", plan.volumes.len() + 1);
    let container_path = format!("{LOCAL_ROOT}{path}");
    if let Some(dir) = m.mount_point.strip_prefix("local://") {
        if !dir.starts_with('/') {
            problems.push(Problem::new(
                format!("spec.mounts[{i}].mountPoint"),
                format!("local://{dir}: the node directory must be absolute (local:///data)"),
            ));
            return;
        }
        plan.volumes
            .push(json!({"name": name, "hostPath": {"path": dir, "type": "Directory"}}));
        plan.volume_mounts
            .push(json!({"name": name, "mountPath": container_path}));
    } else if let Some(rest) = m.mount_point.strip_prefix("pvc://") {
        let (claim, sub) = rest.split_once('/').unwrap_or((rest, ""));
        if claim.is_empty() {
            problems.push(Problem::new(
                format!("spec.mounts[{i}].mountPoint"),
                "pvc:// needs a claim name (pvc://<claim>/<subpath>)",
            ));
            return;
        }
        plan.volumes
            .push(json!({"name": name, "persistentVolumeClaim": {"claimName": claim}}));
        let mut mount = json!({"name": name, "mountPath": container_path});
        if !sub.trim_matches('/').is_empty() {
            mount["subPath"] = sub.trim_matches('/').into();
        }
        if m.read_only.unwrap_or(false) {
            mount["readOnly"] = true.into();
        }
        plan.volume_mounts.push(mount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(mounts: Value) -> Dataset {
        serde_json::from_value(json!({
            "apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
            "metadata": {"name": "d", "namespace": "ns"},
            "spec": {"mounts": mounts, "sharedOptions": {"alluxio.underfs.s3.region": "eu"},
                     "sharedEncryptOptions": [{"name": "aws.secretKey",
                        "valueFrom": {"secretKeyRef": {"name": "s3-keys", "key": "secret"}}}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_single_mount_at_the_root_is_the_root_ufs_with_its_options_and_secret_files() {
        let p = plan(&dataset(
            json!([{"mountPoint": "s3://bucket/dir", "name": "imagenet", "path": "/",
                "options": {"aws.accessKeyId": "AKIA"}}]),
        ))
        .unwrap();
        assert_eq!(p.root_ufs, "s3://bucket/dir");
        assert_eq!(p.root_options["aws.accessKeyId"], "AKIA");
        assert_eq!(p.root_options["alluxio.underfs.s3.region"], "eu");
        assert_eq!(
            p.root_secret_options,
            [SecretOption {
                name: "aws.secretKey".into(),
                path: "/etc/fluid/secrets/s3-keys/secret".into()
            }]
        );
        assert!(p.mounts.is_empty());
        assert_eq!(
            p.secret_volumes,
            [json!({"name": "ufs-secret-1", "secret": {"secretName": "s3-keys"}})]
        );
    }

    #[test]
    fn other_mounts_are_exec_mounts_and_native_ones_volumes_under_the_local_root() {
        let p = plan(&dataset(json!([
            {"mountPoint": "s3://bucket/a", "name": "a", "readOnly": true, "shared": true},
            {"mountPoint": "hdfs://nn:8020/b", "name": "b", "path": "/data/b"},
            {"mountPoint": "local:///mnt/data", "name": "local"},
            {"mountPoint": "pvc://claim/sub/dir", "name": "claimed"}
        ])))
        .unwrap();
        assert_eq!(p.root_ufs, "/underFSStorage");
        assert_eq!(p.mounts.len(), 2);
        assert_eq!(p.mounts[0].path, "/a");
        assert!(p.mounts[0].read_only && p.mounts[0].shared);
        assert_eq!(p.mounts[1].path, "/data/b");
        assert_eq!(
            p.mounts[1].secret_options[0].path,
            "/etc/fluid/secrets/s3-keys/secret"
        );
        assert_eq!(
            p.volumes,
            [
                json!({"name": "ufs-1", "hostPath": {"path": "/mnt/data", "type": "Directory"}}),
                json!({"name": "ufs-2", "persistentVolumeClaim": {"claimName": "claim"}})
            ]
        );
        assert_eq!(
            p.volume_mounts,
            [
                json!({"name": "ufs-1", "mountPath": "/underFSStorage/local"}),
                json!({"name": "ufs-2", "mountPath": "/underFSStorage/claimed", "subPath": "sub/dir"})
            ]
        );
    }

    #[test]
    fn bad_mounts_name_their_fields() {
        let e = plan(&dataset(json!([
            {"mountPoint": "s3://b", "name": "x", "options": {"aws.secretKey": "dup"}},
            {"mountPoint": "no-scheme", "name": "y"},
            {"mountPoint": "local://relative", "name": "z"},
            {"mountPoint": "s3://c", "name": "x"},
            {"mountPoint": "s3://d", "name": "w", "encryptOptions": [{"name": "k"}]}
        ])))
        .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"spec.sharedEncryptOptions"), "{fields:?}");
        assert!(fields.contains(&"spec.mounts[1].mountPoint"), "{fields:?}");
        assert!(fields.contains(&"spec.mounts[2].mountPoint"), "{fields:?}");
        assert!(fields.contains(&"spec.mounts[3].path"), "{fields:?}");
        assert!(
            fields.contains(&"spec.mounts[4].encryptOptions[1]"),
            "{fields:?}"
        );
    }
}
