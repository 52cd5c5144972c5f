//! Options and the command lines built from them: Fluid's mapping of Dataset options to
//! `juicefs format` (or `auth`) flags and `mount.juicefs -o` options.

use super::edition::Edition;
use super::secrets::SecretEnv;
use fluid_plugin_api::types::Dataset;
use std::collections::BTreeMap;

/// The default port of the mount's Prometheus endpoint (community edition).
pub const DEFAULT_METRICS_PORT: u16 = 9567;

/// The Dataset's plain options, split as Fluid does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DatasetOptions {
    /// `storage`: the object storage type (format config).
    pub storage: Option<String>,
    /// `bucket`: the object storage URL (format config).
    pub bucket: Option<String>,
    /// `quota`: the capacity of the sub-directory (`juicefs quota set`).
    pub quota: Option<String>,
    /// Every other option: format flags (community) and mount options (fuse).
    pub options: BTreeMap<String, String>,
}

/// `sharedOptions`, then `mounts[0].options` (a mount's option wins).
pub fn dataset_options(dataset: &Dataset) -> DatasetOptions {
    let shared = dataset.spec.shared_options.iter().flatten();
    let mount = dataset
        .spec
        .mounts
        .as_deref()
        .and_then(|m| m.first())
        .and_then(|m| m.options.as_ref())
        .into_iter()
        .flatten();
    let mut out = DatasetOptions::default();
    for (k, v) in shared.chain(mount) {
        match k.as_str() {
            "storage" => out.storage = Some(v.clone()),
            "bucket" => out.bucket = Some(v.clone()),
            "quota" => out.quota = Some(v.clone()),
            _ => {
                out.options.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// The sub-directory of the file system named by a `juicefs://<subpath>` mount point (`/`
/// for the whole file system).
pub fn sub_path(mount_point: &str) -> Result<String, String> {
    let rest = mount_point.strip_prefix("juicefs://").ok_or_else(|| {
        format!("{mount_point:?} is not a JuiceFS mount point: it must start with juicefs://")
    })?;
    if rest.is_empty() || rest == "/" {
        return Ok("/".into());
    }
    if !rest.starts_with('/') {
        return Err(format!(
            "{mount_point:?}: the sub-path must be absolute (juicefs:///{rest})"
        ));
    }
    Ok(rest.trim_end_matches('/').to_owned())
}

/// Quotes a word for `sh` when it needs it (single quotes, `'` written as `'\''`).
pub fn sh_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `k=v` (or `k` for an empty value), comma-separated, in name order.
pub fn join_options(options: &BTreeMap<String, String>) -> String {
    options
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What the format (community) or auth (enterprise) command is built from.
pub struct FormatInput<'a> {
    /// The edition.
    pub edition: Edition,
    /// The runtime's `configs` (extra `--flags`).
    pub configs: &'a [String],
    /// The Dataset's options.
    pub dataset: &'a DatasetOptions,
    /// The secret-backed options.
    pub secrets: &'a [SecretEnv],
    /// The file system's name (`mounts[0].name`).
    pub name: &'a str,
}

/// Fluid's format command: `juicefs format ... ${METAURL} <name>` (community) or
/// `juicefs auth --token=${TOKEN} ... <name>` (enterprise; empty without a token, as Fluid
/// skips it). Secrets appear as `${ENV}` only.
pub fn format_command(input: &FormatInput<'_>) -> String {
    let has = |option: &str| input.secrets.iter().any(|s| s.option == option);
    let mut args: Vec<String> = input
        .configs
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .map(|c| format!("--{}", sh_quote(c.trim_start_matches("--"))))
        .collect();
    let d = input.dataset;
    match input.edition {
        Edition::Community => {
            if has("access-key") {
                args.push("--access-key=${ACCESS_KEY}".into());
            }
            if has("secret-key") {
                args.push("--secret-key=${SECRET_KEY}".into());
            }
            if d.storage.is_none() || d.bucket.is_none() {
                args.push("--no-update".into());
            }
            if let Some(s) = &d.storage {
                args.push(format!("--storage={}", sh_quote(s)));
            }
            if let Some(b) = &d.bucket {
                args.push(format!("--bucket={}", sh_quote(b)));
            }
            for (k, v) in &d.options {
                args.push(format!("--{}={}", sh_quote(k), sh_quote(v)));
            }
            for s in input.secrets.iter().filter(|s| !s.is_well_known()) {
                args.push(format!("--{}=${{{}}}", sh_quote(&s.option), s.env));
            }
            args.push("${METAURL}".into());
            args.push(sh_quote(input.name));
            format!("{} format {}", input.edition.cli(), args.join(" "))
        }
        Edition::Enterprise => {
            if !has("token") {
                return String::new();
            }
            args.push("--token=${TOKEN}".into());
            if has("access-key") {
                args.push("--accesskey=${ACCESS_KEY}".into());
            }
            if has("secret-key") {
                args.push("--secretkey=${SECRET_KEY}".into());
            }
            if let Some(b) = &d.bucket {
                args.push(format!("--bucket={}", sh_quote(b)));
            }
            if let Some(v) = d.options.get("bucket2") {
                args.push(format!("--bucket2={}", sh_quote(v)));
            }
            for s in input
                .secrets
                .iter()
                .filter(|s| matches!(s.option.as_str(), "access-key2" | "secret-key2"))
            {
                args.push(format!("--{}=${{{}}}", s.option, s.env));
            }
            args.push(sh_quote(input.name));
            format!("{} auth {}", input.edition.cli(), args.join(" "))
        }
    }
}

/// Fluid's quota command for a sub-directory, when `quota` is given: at least 1 GiB and only
/// with a sub-path.
pub fn quota_command(
    edition: Edition,
    source: &str,
    sub_path: &str,
    quota: Option<&str>,
) -> Result<String, String> {
    let Some(q) = quota else {
        return Ok(String::new());
    };
    let bytes = super::tieredstore::quantity_bytes(q)
        .ok_or_else(|| format!("quota {q:?} is not a quantity"))?;
    let gib = bytes >> 30;
    if gib == 0 {
        return Err(format!("quota {q} is too small: at least 1Gi"));
    }
    if sub_path == "/" {
        return Err("a quota needs a sub-path in the mount point (juicefs:///<dir>)".into());
    }
    Ok(format!(
        "{} quota set {source} --path {} --capacity {gib}",
        edition.cli(),
        sh_quote(sub_path)
    ))
}

/// Which component a mount command is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// A cache worker (enterprise: shares its cache in the group).
    Worker,
    /// A fuse client (enterprise: uses the group without sharing).
    Fuse,
}

/// What a mount command is built from.
pub struct MountInput<'a> {
    /// The edition.
    pub edition: Edition,
    /// Worker or fuse.
    pub component: Component,
    /// `${METAURL}` (community) or the file system's name (enterprise).
    pub source: &'a str,
    /// Where to mount inside the container.
    pub mount_path: &'a str,
    /// The options, already merged in Fluid's order.
    pub options: BTreeMap<String, String>,
    /// Whether the Dataset is read-only (`ReadOnlyMany`, the default).
    pub read_only: bool,
    /// The metrics port (community).
    pub metrics_port: u16,
    /// The enterprise cache group (`<namespace>-<name>` unless given).
    pub cache_group: String,
}

/// The mount command: `/bin/mount.juicefs ${METAURL} <path> -o ...,metrics=0.0.0.0:<port>`
/// (community) or `/sbin/mount.juicefs <name> <path> -o foreground,cache-group=...`
/// (enterprise).
pub fn mount_command(input: MountInput<'_>) -> String {
    let mut o = input.options;
    o.remove("bucket2");
    // As Fluid: only the fuse serves the Dataset's access mode (`ro`, longer attribute
    // caches, options the user gave win); the workers mount read-write to fill the cache.
    let read_only_fuse = input.read_only && input.component == Component::Fuse;
    if read_only_fuse {
        o.insert("ro".into(), String::new());
    }
    let mut default = |k: &str, v: String| {
        o.entry(k.to_owned()).or_insert(v);
    };
    match input.edition {
        Edition::Community => {
            if read_only_fuse {
                default("attr-cache", "7200".into());
                default("entry-cache", "7200".into());
            }
            default("metrics", format!("0.0.0.0:{}", input.metrics_port));
        }
        Edition::Enterprise => {
            if read_only_fuse {
                default("attrcacheto", "7200".into());
                default("entrycacheto", "7200".into());
            }
            default("cache-group", input.cache_group);
            o.insert("foreground".into(), String::new());
            o.insert("no-update".into(), String::new());
            match input.component {
                Component::Fuse => {
                    o.entry("no-sharing".into()).or_default();
                }
                Component::Worker => {
                    o.remove("no-sharing");
                }
            }
        }
    }
    format!(
        "{} {} {} -o {}",
        input.edition.mount_helper(),
        input.source,
        sh_quote(input.mount_path),
        sh_quote(&join_options(&o))
    )
}

/// The metrics port given in options (`metrics=<host>:<port>`), if any.
pub fn metrics_port(options: Option<&BTreeMap<String, String>>) -> Result<Option<u16>, String> {
    let Some(m) = options.and_then(|o| o.get("metrics")) else {
        return Ok(None);
    };
    let port = m.rsplit(':').next().unwrap_or_default();
    port.parse::<u16>()
        .map(Some)
        .map_err(|_| format!("metrics={m}: expected <address>:<port>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dataset(v: serde_json::Value) -> Dataset {
        serde_json::from_value(
            json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
            "metadata": {"name": "d"}, "spec": v}),
        )
        .unwrap()
    }

    fn secret(option: &str) -> SecretEnv {
        SecretEnv {
            option: option.into(),
            env: super::super::secrets::env_name(option),
            secret_name: "s".into(),
            secret_key: option.into(),
            field: String::new(),
        }
    }

    #[test]
    fn shared_options_then_mount_options_storage_and_bucket_apart() {
        let ds = dataset(
            json!({"sharedOptions": {"storage": "s3", "trash-days": "1", "quota": "2Gi"},
            "mounts": [{"mountPoint": "juicefs:///", "options": {"storage": "minio",
                "bucket": "http://minio:9000/b", "block-size": "4096"}}]}),
        );
        let o = dataset_options(&ds);
        assert_eq!(o.storage.as_deref(), Some("minio"));
        assert_eq!(o.bucket.as_deref(), Some("http://minio:9000/b"));
        assert_eq!(o.quota.as_deref(), Some("2Gi"));
        assert_eq!(
            o.options,
            BTreeMap::from([
                ("block-size".to_owned(), "4096".to_owned()),
                ("trash-days".to_owned(), "1".to_owned())
            ])
        );
    }

    #[test]
    fn mount_points_give_sub_paths() {
        assert_eq!(sub_path("juicefs:///").unwrap(), "/");
        assert_eq!(sub_path("juicefs://").unwrap(), "/");
        assert_eq!(sub_path("juicefs:///demo/a/").unwrap(), "/demo/a");
        assert!(sub_path("s3://bucket").is_err());
        assert!(sub_path("juicefs://rel").is_err());
    }

    #[test]
    fn quoting_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(sh_quote("http://minio:9000/b"), "http://minio:9000/b");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's;rm"), r"'it'\''s;rm'");
        assert_eq!(sh_quote("$(x)"), "'$(x)'");
    }

    #[test]
    fn community_format_references_secrets_by_variable() {
        let d = DatasetOptions {
            storage: Some("minio".into()),
            bucket: Some("http://minio:9000/b".into()),
            quota: None,
            options: BTreeMap::from([("trash-days".into(), "0".into())]),
        };
        let secrets = [
            secret("metaurl"),
            secret("access-key"),
            secret("secret-key"),
            secret("session-token"),
        ];
        let cmd = format_command(&FormatInput {
            edition: Edition::Community,
            configs: &["--block-size=4096".into()],
            dataset: &d,
            secrets: &secrets,
            name: "minio",
        });
        assert_eq!(
            cmd,
            "/usr/local/bin/juicefs format --block-size=4096 --access-key=${ACCESS_KEY} \
             --secret-key=${SECRET_KEY} --storage=minio --bucket=http://minio:9000/b \
             --trash-days=0 --session-token=${session_token} ${METAURL} minio"
        );
    }

    #[test]
    fn community_format_without_storage_does_not_update() {
        let cmd = format_command(&FormatInput {
            edition: Edition::Community,
            configs: &[],
            dataset: &DatasetOptions::default(),
            secrets: &[secret("metaurl")],
            name: "jfs",
        });
        assert_eq!(
            cmd,
            "/usr/local/bin/juicefs format --no-update ${METAURL} jfs"
        );
    }

    #[test]
    fn enterprise_auth_needs_a_token() {
        let d = DatasetOptions {
            bucket: Some("http://b.oss".into()),
            options: BTreeMap::from([
                ("bucket2".into(), "http://b2".into()),
                ("x".into(), "y".into()),
            ]),
            ..Default::default()
        };
        let secrets = [
            secret("token"),
            secret("access-key"),
            secret("secret-key"),
            secret("access-key2"),
        ];
        let cmd = format_command(&FormatInput {
            edition: Edition::Enterprise,
            configs: &[],
            dataset: &d,
            secrets: &secrets,
            name: "myjfs",
        });
        assert_eq!(
            cmd,
            "/usr/bin/juicefs auth --token=${TOKEN} --accesskey=${ACCESS_KEY} --secretkey=${SECRET_KEY} \
             --bucket=http://b.oss --bucket2=http://b2 --access-key2=${access_key2} myjfs"
        );
        let none = format_command(&FormatInput {
            edition: Edition::Enterprise,
            configs: &[],
            dataset: &d,
            secrets: &[],
            name: "myjfs",
        });
        assert_eq!(none, "");
    }

    #[test]
    fn quota_needs_a_sub_path_and_a_gibibyte() {
        assert_eq!(
            quota_command(Edition::Community, "${METAURL}", "/demo", Some("10Gi")).unwrap(),
            "/usr/local/bin/juicefs quota set ${METAURL} --path /demo --capacity 10"
        );
        assert!(quota_command(Edition::Community, "${METAURL}", "/", Some("10Gi")).is_err());
        assert!(quota_command(Edition::Community, "${METAURL}", "/d", Some("10Mi")).is_err());
        assert_eq!(
            quota_command(Edition::Community, "${METAURL}", "/", None).unwrap(),
            ""
        );
    }

    fn mount(edition: Edition, component: Component, read_only: bool) -> String {
        mount_command(MountInput {
            edition,
            component,
            source: if edition == Edition::Community {
                "${METAURL}"
            } else {
                "myjfs"
            },
            mount_path: "/runtime-mnt/juicefs/ns/n/juicefs-fuse",
            options: BTreeMap::from([
                ("cache-dir".into(), "/var/jfsCache".into()),
                ("bucket2".into(), "x".into()),
            ]),
            read_only,
            metrics_port: 9567,
            cache_group: "ns-n".into(),
        })
    }

    #[test]
    fn community_mounts_export_metrics_and_read_only_caches_attributes() {
        assert_eq!(
            mount(Edition::Community, Component::Fuse, true),
            "/bin/mount.juicefs ${METAURL} /runtime-mnt/juicefs/ns/n/juicefs-fuse -o \
             attr-cache=7200,cache-dir=/var/jfsCache,entry-cache=7200,metrics=0.0.0.0:9567,ro"
        );
        assert_eq!(
            mount(Edition::Community, Component::Worker, false),
            "/bin/mount.juicefs ${METAURL} /runtime-mnt/juicefs/ns/n/juicefs-fuse -o \
             cache-dir=/var/jfsCache,metrics=0.0.0.0:9567"
        );
    }

    #[test]
    fn workers_of_a_read_only_dataset_mount_read_write_and_user_options_win() {
        // Fluid's genWorkerMount never adds `ro`: the workers fill the cache.
        for edition in [Edition::Community, Edition::Enterprise] {
            let worker = mount(edition, Component::Worker, true);
            assert!(
                !worker.contains(",ro") && !worker.contains("cacheto"),
                "{worker}"
            );
        }
        let fuse = mount_command(MountInput {
            edition: Edition::Community,
            component: Component::Fuse,
            source: "${METAURL}",
            mount_path: "/m",
            options: BTreeMap::from([("attr-cache".into(), "1".into())]),
            read_only: true,
            metrics_port: 9567,
            cache_group: String::new(),
        });
        assert!(fuse.contains("attr-cache=1,entry-cache=7200"), "{fuse}");
    }

    #[test]
    fn enterprise_mounts_share_a_cache_group_and_the_fuse_does_not_share() {
        assert_eq!(
            mount(Edition::Enterprise, Component::Fuse, false),
            "/sbin/mount.juicefs myjfs /runtime-mnt/juicefs/ns/n/juicefs-fuse -o \
             cache-dir=/var/jfsCache,cache-group=ns-n,foreground,no-sharing,no-update"
        );
        assert_eq!(
            mount(Edition::Enterprise, Component::Worker, false),
            "/sbin/mount.juicefs myjfs /runtime-mnt/juicefs/ns/n/juicefs-fuse -o \
             cache-dir=/var/jfsCache,cache-group=ns-n,foreground,no-update"
        );
    }

    #[test]
    fn metrics_ports_come_from_options() {
        let o = BTreeMap::from([("metrics".to_owned(), "0.0.0.0:9999".to_owned())]);
        assert_eq!(metrics_port(Some(&o)).unwrap(), Some(9999));
        assert_eq!(metrics_port(None).unwrap(), None);
        let bad = BTreeMap::from([("metrics".to_owned(), "x".to_owned())]);
        assert!(metrics_port(Some(&bad)).is_err());
    }
}
