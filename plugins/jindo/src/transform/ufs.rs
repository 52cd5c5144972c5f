//! The Dataset's mounts, as Fluid's Jindo engines take them:
//! - each mount is a path of Jindo's namespace (`path`, else `/<name>`) backed by its URI;
//!   JindoCache and JindoFSx attach it with `<tool> -mount <path> <uri>` in the master, the
//!   legacy JindoFS through its namespace properties (`jfs.namespaces.jindo.<scheme>.uri`);
//! - `pvc://<claim>[/<sub>]` is a volume of every component at `/underFSStorage/<path>`,
//!   attached as `local:///underFSStorage/<path>/`; `local:///<dir>` is the node directory,
//!   mounted at the same path;
//! - each mount's options (the Dataset's shared ones, then its own) configure its store:
//!   the OSS bucket's endpoint, the S3/COS/OBS/DLS endpoint and region, HDFS's keys;
//! - credentials come only from `encryptOptions`, as Secret references: the keys are
//!   projected into `/token` (`<bucket>/AccessKeyId` for OSS, `AccessKeyId` otherwise) and
//!   Jindo's credential provider reads them there (`secrets:///token/`). A credential in plain
//!   `options` is refused: it would be a value in a ConfigMap.

use super::Problem;
use crate::flavor::Flavor;
use fluid_plugin_api::types::{Dataset, EncryptOption, Mount};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Where `pvc://` mounts live in the containers.
pub const LOCAL_ROOT: &str = "/underFSStorage";
/// Where the credentials are projected (Fluid's `SecretMountPath`).
pub const TOKEN_DIR: &str = "/token";
/// Jindo's credential provider reading the projected files (Fluid's).
pub const CREDENTIALS_PROVIDER: &str = "com.aliyun.jindodata.oss.auth.CustomCredentialsProvider";

/// A cache set of JindoCache (`cacheset.xml`), one per mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSet {
    /// The mount's name.
    pub name: String,
    /// The URI it caches.
    pub path: String,
    /// `DISTRIBUTED` or `DHT`.
    pub cache_strategy: String,
    /// `ONCE` or `ALWAYS`.
    pub meta_policy: String,
    /// `WRITE_AROUND`, `WRITE_THROUGH` or `CACHE_ONLY`.
    pub write_policy: String,
    /// Replicas of data read.
    pub read_cache_replica: u32,
    /// Replicas of data written.
    pub write_cache_replica: u32,
}

/// One item of the `/token` projection: a Secret's key at a path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenItem {
    /// The Secret.
    pub secret: String,
    /// Its key.
    pub key: String,
    /// The file under `/token`.
    pub path: String,
}

/// The UFS side of a runtime.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UfsPlan {
    /// `(path in Jindo, URI)` of each mount, attached by the mount command.
    pub mounts: Vec<(String, String)>,
    /// JindoCache's cache sets.
    pub cache_sets: Vec<CacheSet>,
    /// Store properties of the common section (`jindocache.oss.bucket.<b>.endpoint`, ...),
    /// keys with the flavour's store prefix.
    pub store_properties: BTreeMap<String, String>,
    /// The legacy JindoFS's namespace properties.
    pub namespace_properties: BTreeMap<String, String>,
    /// Credential provider properties, keys without prefix (`oss.bucket.<b>.provider.endpoint`,
    /// `s3.provider.endpoint`): the flavour adds its prefixes.
    pub credential_properties: BTreeMap<String, String>,
    /// The `/token` projection.
    pub token_items: Vec<TokenItem>,
    /// Volumes of `pvc://` and `local://` mounts (every component).
    pub volumes: Vec<Value>,
    /// Their mounts.
    pub volume_mounts: Vec<Value>,
    /// The scheme of the mounts (`oss`, `s3`, ...: Fluid's `mountType`, the last one).
    pub scheme: String,
}

/// The path of a mount in Jindo's namespace: `path` when absolute, else `/<name>`.
pub fn namespace_path(m: &Mount) -> String {
    match m.path.as_deref() {
        Some(p) if p.starts_with('/') => p.to_owned(),
        _ => format!("/{}", m.name.as_deref().unwrap_or_default()),
    }
}

const SCHEMES: &[&str] = &["oss", "s3", "cos", "obs", "hdfs", "dls", "local", "pvc"];

fn secret_ref(e: &EncryptOption) -> Option<(String, String)> {
    let r = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
    let key = r.key.clone().filter(|k| !k.is_empty())?;
    (!r.name.is_empty()).then(|| (r.name.clone(), key))
}

/// The plan for a Dataset's mounts under `flavor`.
pub fn plan(flavor: &Flavor, dataset: &Dataset) -> Result<UfsPlan, Vec<Problem>> {
    let mut plan = UfsPlan::default();
    let mut problems = vec![];
    let mounts = dataset.spec.mounts.clone().unwrap_or_default();
    let shared = dataset.spec.shared_options.clone().unwrap_or_default();
    let shared_encrypt = dataset
        .spec
        .shared_encrypt_options
        .clone()
        .unwrap_or_default();
    let read_only = super::read_only(dataset);
    if mounts.is_empty() {
        problems.push(Problem::new("spec.mounts", "the Dataset has no mount"));
    }
    if flavor.attach == crate::flavor::Attach::NamespaceProperties && mounts.len() > 1 {
        problems.push(Problem::new(
            "spec.mounts",
            "the legacy JindoFS engine (JINDO_ENGINE_TYPE=jindo) serves one mount",
        ));
    }
    for (i, m) in mounts.iter().enumerate() {
        let field = format!("spec.mounts[{i}]");
        let mut options = shared.clone();
        options.extend(m.options.clone().unwrap_or_default());
        let encrypt: Vec<(EncryptOption, String)> = shared_encrypt
            .iter()
            .map(|e| (e.clone(), "spec.sharedEncryptOptions".to_owned()))
            .chain(
                m.encrypt_options
                    .iter()
                    .flatten()
                    .map(|e| (e.clone(), format!("{field}.encryptOptions"))),
            )
            .collect();
        let scheme = m.mount_point.split("://").next().unwrap_or_default();
        if !m.mount_point.contains("://") || !SCHEMES.contains(&scheme) {
            problems.push(Problem::new(
                format!("{field}.mountPoint"),
                format!(
                    "{:?}: Jindo serves oss://, s3://, cos://, obs://, hdfs://, dls://, local:// and pvc://",
                    m.mount_point
                ),
            ));
            continue;
        }
        if m.name.as_deref().unwrap_or_default().is_empty() && m.path.is_none() {
            problems.push(Problem::new(
                format!("{field}.name"),
                "a mount needs a name",
            ));
            continue;
        }
        let path = namespace_path(m);
        for key in options.keys() {
            if key.ends_with(".accessKeyId")
                || key.ends_with(".accessKeySecret")
                || key.ends_with(".securityToken")
            {
                problems.push(Problem::new(
                    format!("{field}.options.{key}"),
                    "a credential must come from encryptOptions (a Secret reference), never a value",
                ));
            }
        }
        let mut uri = m.mount_point.clone();
        match scheme {
            "pvc" => {
                let rest = &m.mount_point["pvc://".len()..];
                let (claim, sub) = rest.split_once('/').unwrap_or((rest, ""));
                let container_path = format!("{LOCAL_ROOT}{path}");
                let vol = format!("ufs-{i}");
                plan.volumes.push(json!({"name": vol, "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}}));
                let mut mount =
                    json!({"name": vol, "mountPath": container_path, "readOnly": read_only});
                if !sub.is_empty() {
                    mount["subPath"] = sub.trim_end_matches('/').into();
                }
                plan.volume_mounts.push(mount);
                uri = format!("local://{container_path}");
            }
            "local" => {
                let dir = m.mount_point["local://".len()..].trim_end_matches('/');
                if !dir.starts_with('/') {
                    problems.push(Problem::new(
                        format!("{field}.mountPoint"),
                        "local:// needs an absolute directory (local:///data)",
                    ));
                    continue;
                }
                let vol = format!("ufs-{i}");
                plan.volumes
                    .push(json!({"name": vol, "hostPath": {"path": dir, "type": "Directory"}}));
                plan.volume_mounts
                    .push(json!({"name": vol, "mountPath": dir, "readOnly": read_only}));
            }
            "oss" => {
                let bucket = m.mount_point["oss://".len()..]
                    .split('/')
                    .next()
                    .unwrap_or_default();
                if bucket.is_empty() {
                    problems.push(Problem::new(
                        format!("{field}.mountPoint"),
                        "oss:// needs a bucket",
                    ));
                    continue;
                }
                let Some(endpoint) = options.get("fs.oss.endpoint").filter(|e| !e.is_empty())
                else {
                    problems.push(Problem::new(
                        format!("{field}.options.fs.oss.endpoint"),
                        "an oss:// mount needs its endpoint (fs.oss.endpoint)",
                    ));
                    continue;
                };
                let p = flavor.store_prefix;
                plan.store_properties
                    .insert(format!("{p}oss.bucket.{bucket}.endpoint"), endpoint.clone());
                if endpoint.contains("dls") {
                    plan.store_properties.insert(
                        format!("{p}oss.bucket.{bucket}.data.lake.storage.enable"),
                        "true".into(),
                    );
                }
            }
            "s3" | "cos" | "obs" | "dls" => {
                for k in ["endpoint", "region"] {
                    if let Some(v) = options
                        .get(&format!("fs.{scheme}.{k}"))
                        .filter(|v| !v.is_empty())
                    {
                        plan.store_properties
                            .insert(format!("{}{scheme}.{k}", flavor.store_prefix), v.clone());
                    }
                }
            }
            "hdfs" => {
                for (k, v) in &options {
                    if let Some(rest) = k.strip_prefix("fs.") {
                        plan.store_properties
                            .insert(format!("{}{rest}", flavor.store_prefix), v.clone());
                    }
                }
            }
            _ => {}
        }
        if !uri.ends_with('/') {
            uri.push('/');
        }
        // Credentials: only the access key pair can come from a Secret, as Fluid reads it.
        // Per-bucket credentials are JindoCache's and JindoFSx's; the legacy engine reads one
        // pair at the root of /token.
        let per_bucket = flavor.attach == crate::flavor::Attach::MountCommand;
        let bucket = (scheme == "oss" && per_bucket).then(|| {
            m.mount_point["oss://".len()..]
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        for (e, efield) in &encrypt {
            let Some((secret, key)) = secret_ref(e) else {
                problems.push(Problem::new(
                    efield.clone(),
                    format!(
                        "encrypt option {} needs valueFrom.secretKeyRef with name and key",
                        e.name
                    ),
                ));
                continue;
            };
            let file = match e.name.strip_prefix(&format!("fs.{scheme}.")) {
                Some("accessKeyId") => "AccessKeyId",
                Some("accessKeySecret") => "AccessKeySecret",
                _ => {
                    problems.push(Problem::new(
                        efield.clone(),
                        format!(
                            "encrypt option {}: Jindo reads fs.{scheme}.accessKeyId and fs.{scheme}.accessKeySecret from Secrets",
                            e.name
                        ),
                    ));
                    continue;
                }
            };
            let item_path = match &bucket {
                Some(b) => format!("{b}/{file}"),
                None => file.to_owned(),
            };
            match plan.token_items.iter().find(|t| t.path == item_path) {
                Some(t) if t.secret != secret || t.key != key => problems.push(Problem::new(
                    efield.clone(),
                    format!(
                        "{item_path} is already given by secret {} key {}",
                        t.secret, t.key
                    ),
                )),
                Some(_) => {}
                None => plan.token_items.push(TokenItem {
                    secret,
                    key,
                    path: item_path,
                }),
            }
            match &bucket {
                Some(b) => {
                    let uri = format!("secrets://{TOKEN_DIR}/{b}/");
                    plan.credential_properties.insert(
                        format!("oss.bucket.{b}.credentials.provider"),
                        CREDENTIALS_PROVIDER.into(),
                    );
                    plan.credential_properties
                        .insert(format!("oss.bucket.{b}.provider.endpoint"), uri);
                    plan.credential_properties
                        .insert(format!("oss.bucket.{b}.provider.format"), "JSON".into());
                }
                None => {
                    plan.credential_properties.insert(
                        format!("{scheme}.credentials.provider"),
                        CREDENTIALS_PROVIDER.into(),
                    );
                    plan.credential_properties.insert(
                        format!("{scheme}.provider.endpoint"),
                        format!("secrets://{TOKEN_DIR}/"),
                    );
                    plan.credential_properties
                        .insert(format!("{scheme}.provider.format"), "JSON".into());
                }
            }
        }
        if let Some(b) = &bucket {
            let has = |f: &str| {
                plan.token_items
                    .iter()
                    .any(|t| t.path == format!("{b}/{f}"))
            };
            if has("AccessKeyId") != has("AccessKeySecret") {
                problems.push(Problem::new(
                    format!("{field}.encryptOptions"),
                    format!(
                        "oss bucket {b} needs both fs.oss.accessKeyId and fs.oss.accessKeySecret"
                    ),
                ));
            }
        }
        if flavor.engine_type == "jindocache" {
            match cache_set(m, &options, &uri) {
                Ok(c) => plan.cache_sets.push(c),
                Err(p) => problems.push(Problem::new(
                    format!("{field}.options.{}", p.field),
                    p.message,
                )),
            }
        }
        if flavor.attach == crate::flavor::Attach::NamespaceProperties {
            let mode = match scheme {
                "local" | "pvc" => "local",
                s => s,
            };
            plan.namespace_properties
                .insert("jfs.namespaces".into(), "jindo".into());
            plan.namespace_properties
                .insert("jfs.namespaces.jindo.mode".into(), "cache".into());
            plan.namespace_properties
                .insert(format!("jfs.namespaces.jindo.{mode}.uri"), uri.clone());
            if let Some(e) = options.get("fs.oss.endpoint") {
                plan.namespace_properties
                    .insert("jfs.namespaces.jindo.oss.access.endpoint".into(), e.clone());
            }
        }
        if !per_bucket {
            plan.store_properties.clear();
        }
        plan.scheme = scheme.to_owned();
        plan.mounts.push((path, uri));
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

/// A mount's cache set, Fluid's rules: `metaPolicy` ONCE (default) or ALWAYS; `cacheStrategy`
/// DHT only with ONCE; `writePolicy` WRITE_AROUND (default), WRITE_THROUGH or CACHE_ONLY (only
/// with ONCE); replicas as numbers. The problem's field is the option's name.
fn cache_set(
    m: &Mount,
    options: &BTreeMap<String, String>,
    uri: &str,
) -> Result<CacheSet, Problem> {
    let meta_policy = match options.get("metaPolicy").map(String::as_str) {
        None | Some("ONCE") => "ONCE",
        Some("ALWAYS") => "ALWAYS",
        Some(other) => {
            return Err(Problem::new(
                "metaPolicy",
                format!("{other:?}: ONCE or ALWAYS"),
            ))
        }
    };
    let cache_strategy = match options.get("cacheStrategy").map(String::as_str) {
        Some("DHT") if meta_policy == "ONCE" => "DHT",
        Some("DHT") => return Err(Problem::new("cacheStrategy", "DHT needs metaPolicy ONCE")),
        _ => "DISTRIBUTED",
    };
    let write_policy = match options.get("writePolicy").map(String::as_str) {
        Some("CACHE_ONLY") if meta_policy != "ONCE" => {
            return Err(Problem::new(
                "writePolicy",
                "CACHE_ONLY needs metaPolicy ONCE",
            ))
        }
        Some(p @ ("WRITE_THROUGH" | "CACHE_ONLY")) => p,
        _ => "WRITE_AROUND",
    };
    let replica = |k: &str| -> Result<u32, Problem> {
        match options.get(k).filter(|v| !v.is_empty()) {
            None => Ok(1),
            Some(v) => v
                .parse()
                .map_err(|_| Problem::new(k, format!("{v:?} is not a number"))),
        }
    };
    Ok(CacheSet {
        name: m.name.clone().unwrap_or_default(),
        path: uri.to_owned(),
        cache_strategy: cache_strategy.into(),
        meta_policy: meta_policy.into(),
        write_policy: write_policy.into(),
        read_cache_replica: replica("readCacheReplica")?,
        write_cache_replica: replica("writeCacheReplica")?,
    })
}

/// JindoCache's `cacheset.xml`.
pub fn cache_set_xml(sets: &[CacheSet]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cachesets>\n");
    for c in sets {
        out.push_str(&format!(
            "  <cacheset>\n    <name>{}</name>\n    <path>{}</path>\n    <cacheStrategy>{}</cacheStrategy>\n    <metaPolicy>\n      <type>{}</type>\n    </metaPolicy>\n    <readPolicy>CACHE_ASIDE</readPolicy>\n    <readCacheReplica>{}</readCacheReplica>\n    <writePolicy>{}</writePolicy>\n    <writeCacheReplica>{}</writeCacheReplica>\n  </cacheset>\n",
            esc(&c.name), esc(&c.path), c.cache_strategy, c.meta_policy, c.read_cache_replica, c.write_policy, c.write_cache_replica
        ));
    }
    out.push_str("</cachesets>\n");
    out
}
