//! The property files, per flavour: the namespace service's (`namespace.*`), the storage
//! service's (`storage.*`) and the client's keys with Fluid's defaults, laid out in the
//! sections and files each engine reads (`jindocache.cfg`, `jindofsx.cfg` + `core-site.xml`,
//! `bigboot.cfg`; `jindosdk.cfg` for the SDK). Values are settings only: credentials are
//! files under `/token` that the provider properties point at.

use super::tieredstore::Cache;
use super::ufs::{cache_set_xml, UfsPlan};
use super::Ports;
use crate::flavor::{Attach, Flavor};
use fluid_plugin_api::types::MediumType;
use std::collections::BTreeMap;

type Props = BTreeMap<String, String>;

fn props(pairs: &[(&str, &str)]) -> Props {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What the files are made of, besides the flavour.
#[derive(Clone, Debug)]
pub struct Parts<'a> {
    /// The masters' host names (`<name>-master-<i>.<name>-master.<ns>`).
    pub masters: Vec<String>,
    /// The ports.
    pub ports: Ports,
    /// The cache.
    pub cache: &'a Cache,
    /// The mounts.
    pub plan: &'a UfsPlan,
    /// Whether the Dataset is read-only.
    pub read_only: bool,
    /// Whether `spec.secret` (an STS token for everything) is given.
    pub sts_token: bool,
    /// The fuse image's tag (JindoCache 6.2.0 and older use the legacy prefetcher).
    pub fuse_image_tag: &'a str,
    /// `spec.properties`: every component.
    pub common: &'a Props,
    /// `spec.master.properties`.
    pub master: &'a Props,
    /// `spec.worker.properties`.
    pub worker: &'a Props,
    /// `spec.fuse.properties`.
    pub fuse: &'a Props,
    /// `spec.logConfig`.
    pub log_config: Option<&'a Props>,
    /// `spec.fuse.logConfig`.
    pub fuse_log_config: Option<&'a Props>,
}

impl Parts<'_> {
    /// `host:rpc,host:rpc,...`: the namespace service's address as clients take it.
    pub fn rpc_address(&self) -> String {
        self.masters
            .iter()
            .map(|m| format!("{m}:{}", self.ports.master_rpc))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The namespace service's properties.
pub fn namespace(f: &Flavor, p: &Parts) -> Props {
    let mut out = match f.attach {
        Attach::MountCommand => props(&[
            ("namespace.cluster.id", "local"),
            ("namespace.oss.copy.size", "1073741824"),
            ("namespace.filelet.threads", "200"),
            ("namespace.blocklet.threads", "100"),
            ("namespace.long-running.threads", "20"),
            ("namespace.filelet.cache.size", "100000"),
            ("namespace.blocklet.cache.size", "1000000"),
            ("namespace.filelet.atime.enable", "false"),
            ("namespace.permission.root.inode.perm.bits", "511"),
            ("namespace.delete.scan.interval.second", "20"),
            ("namespace.delete.scan.batch.size", "5000"),
            ("namespace.backend.type", "rocksdb"),
        ]),
        Attach::NamespaceProperties => {
            let mut m = props(&[
                ("namespace.filelet.cache.size", "100000"),
                ("namespace.blocklet.cache.size", "1000000"),
                ("namespace.backend.type", "rocksdb"),
                ("namespace.filelet.atime.enable", "false"),
            ]);
            m.extend(p.plan.namespace_properties.clone());
            m
        }
    };
    if p.masters.len() > 1 {
        out.insert("namespace.backend.type".into(), "raft".into());
        let conf: Vec<String> = p
            .masters
            .iter()
            .map(|m| format!("{m}:{}:0", p.ports.master_raft))
            .collect();
        out.insert("namespace.backend.raft.initial-conf".into(), conf.join(","));
    }
    out.insert("namespace.rpc.port".into(), p.ports.master_rpc.to_string());
    out.insert(
        "namespace.meta-dir".into(),
        format!("{}/server", p.cache.meta_path),
    );
    out.extend(p.master.clone());
    out
}

/// The storage service's properties.
pub fn storage(f: &Flavor, p: &Parts) -> Props {
    let mut out = match f.attach {
        Attach::MountCommand => props(&[
            ("storage.cluster.id", "local"),
            ("storage.compaction.enable", "false"),
            ("storage.compaction.period.minute", "2"),
            ("storage.maintainence.period.minute", "2"),
            ("storage.compaction.threshold", "16"),
            ("storage.cache.filelet.worker.threads", "200"),
            ("storage.address", "localhost"),
        ]),
        Attach::NamespaceProperties => {
            let mut m = props(&[("storage.compaction.enable", "false")]);
            m.insert(
                "namespace.meta-dir".into(),
                format!("{}/bignode", p.cache.meta_path),
            );
            m.insert(
                "storage.temp-data-dirs".into(),
                format!("{}/tmp", p.cache.meta_path),
            );
            m
        }
    };
    if p.cache.medium == MediumType::Mem {
        out.insert("storage.ram.cache.size".into(), p.cache.capacities.clone());
        out.insert(
            "storage.slicelet.buffer.size".into(),
            p.cache.capacities.clone(),
        );
    }
    out.insert("storage.rpc.port".into(), p.ports.worker_rpc.to_string());
    out.insert("storage.data-dirs".into(), p.cache.data_dirs.clone());
    out.insert(
        "storage.data-dirs.capacities".into(),
        p.cache.capacities.clone(),
    );
    out.insert("storage.watermark.high.ratio".into(), p.cache.high.clone());
    out.insert("storage.watermark.low.ratio".into(), p.cache.low.clone());
    out.extend(p.worker.clone());
    out
}

/// A `major.minor.patch` tag at or before `6.2.0` (JindoCache's legacy prefetcher).
fn legacy_prefetcher(tag: &str) -> bool {
    let nums: Vec<u32> = tag
        .trim_start_matches('v')
        .split(['.', '-'])
        .take(3)
        .map_while(|n| n.parse().ok())
        .collect();
    nums.len() == 3 && (nums[0], nums[1], nums[2]) <= (6, 2, 0)
}

/// The client's (fuse and SDK) properties.
pub fn client(f: &Flavor, p: &Parts) -> Props {
    let c = f.client_prefix;
    let mut out = match f.attach {
        Attach::NamespaceProperties => props(&[
            ("client.oss.retry", "5"),
            ("client.oss.upload.threads", "4"),
            ("client.oss.upload.queue.size", "5"),
            ("client.oss.upload.max.parallelism", "16"),
            ("client.oss.timeout.millisecond", "30000"),
            ("client.oss.connection.timeout.millisecond", "3000"),
            ("client.storage.connect.enable", "true"),
            ("client.read.storagepolicy.ignore", "true"),
            ("jfs.cache.meta-cache.enable", "0"),
            ("jfs.cache.data-cache.enable", "true"),
            ("jfs.cache.data-cache.slicecache.enable", "true"),
        ]),
        Attach::MountCommand => {
            let mut m = props(&[
                ("fs.oss.download.queue.size", "16"),
                ("fs.oss.download.thread.concurrency", "32"),
            ]);
            for (k, v) in [
                ("request.user", "root"),
                ("tmp.data.dir", "/tmp"),
                ("client.metrics.enable", "true"),
                ("rpc.timeout", "30000"),
            ] {
                m.insert(format!("{c}{k}"), v.into());
            }
            if f.engine_type == "jindocache" {
                m.insert("fs.s3.download.queue.size".into(), "16".into());
                m.insert("fs.s3.download.thread.concurrency".into(), "32".into());
                m.insert("fs.xengine".into(), "jindocache".into());
                let prefetcher = if legacy_prefetcher(p.fuse_image_tag) {
                    "legacy"
                } else {
                    "default"
                };
                m.insert(
                    "jindofsx.read.readahead.prefetcher.version".into(),
                    prefetcher.into(),
                );
            } else {
                m.insert(format!("{c}data.cache.enable"), "true".into());
                m.insert(format!("{c}meta.cache.enable"), "true".into());
            }
            if p.read_only {
                m.insert(format!("{c}read.only.enable"), "true".into());
            }
            // The store keys the clients read under `fs.` (`jindocache.oss.bucket.b.endpoint`
            // is `fs.oss.bucket.b.endpoint` there).
            for (k, v) in &p.plan.store_properties {
                if let Some(rest) = k.strip_prefix(f.store_prefix) {
                    m.insert(format!("fs.{rest}"), v.clone());
                }
            }
            for (k, v) in &p.plan.credential_properties {
                m.insert(format!("fs.{k}"), v.clone());
                if let Some(rest) = k.strip_suffix(".provider.endpoint") {
                    m.insert(format!("aliyun.{rest}.provider.url"), v.clone());
                }
            }
            m
        }
    };
    let storage_port = match f.attach {
        Attach::NamespaceProperties => "client.storage.rpc.port".to_owned(),
        Attach::MountCommand => format!("{c}storage.rpc.port"),
    };
    out.insert(storage_port, p.ports.worker_rpc.to_string());
    let ram = match f.attach {
        Attach::NamespaceProperties => "jfs.cache.ram-cache.enable".to_owned(),
        Attach::MountCommand => format!("{c}ram.cache.enable"),
    };
    out.insert(ram, (p.cache.medium == MediumType::Mem).to_string());
    if p.sts_token && f.attach == Attach::MountCommand {
        let s = &p.plan.scheme;
        out.insert(
            format!("fs.{s}.credentials.provider"),
            super::ufs::CREDENTIALS_PROVIDER.into(),
        );
        out.insert(
            format!("fs.{s}.provider.endpoint"),
            "secrets:///token/".into(),
        );
        out.insert(
            format!("aliyun.{s}.provider.url"),
            "secrets:///token/".into(),
        );
    }
    out.extend(p.fuse.clone());
    out
}

/// The keys of the common section: log settings, the stores, the credential providers.
fn common(f: &Flavor, p: &Parts) -> Props {
    let mut out = match p.log_config {
        Some(l) => l.clone(),
        None => match f.attach {
            Attach::NamespaceProperties => props(&[
                ("logger.jnilogger", "false"),
                ("logger.stderrlogger", "true"),
            ]),
            Attach::MountCommand => props(&[
                ("application.report.on", "true"),
                ("metric.report.on", "true"),
                ("logger.dir", &format!("/tmp/{}-log", f.engine_type)),
                ("logger.cleanner.enable", "true"),
                ("logger.consolelogger", "true"),
                ("logger.jnilogger", "false"),
                ("logger.sync", "false"),
                ("logger.verbose", "0"),
            ]),
        },
    };
    out.extend(p.plan.store_properties.clone());
    let token = p.sts_token || !p.plan.token_items.is_empty();
    out.insert(
        "default.credential.provider".into(),
        if token { "secrets:///token/" } else { "none" }.into(),
    );
    for (k, v) in &p.plan.credential_properties {
        out.insert(format!("{}{k}", f.store_prefix), v.clone());
    }
    out.extend(p.common.clone());
    out
}

fn fuse_log(p: &Parts) -> Props {
    p.fuse_log_config.cloned().unwrap_or_else(|| {
        props(&[
            ("logger.dir", "/tmp/fuse-log"),
            ("logger.consolelogger", "true"),
            ("logger.level", "2"),
            ("logger.cleaner.enable", "true"),
            ("logger.sync", "false"),
            ("logger.verbose", "0"),
        ])
    })
}

/// An INI section.
fn section(name: &str, p: &Props) -> String {
    let mut s = format!("[{name}]\n");
    for (k, v) in p {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

/// A Hadoop configuration file.
fn site_xml(p: &Props) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut s = String::from("<?xml version=\"1.0\"?>\n<configuration>\n");
    for (k, v) in p {
        s.push_str(&format!(
            "  <property>\n    <name>{}</name>\n    <value>{}</value>\n  </property>\n",
            esc(k),
            esc(v)
        ));
    }
    s.push_str("</configuration>\n");
    s
}

/// One file of the ConfigMap: its key, where the containers see it, its text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConfigFile {
    /// The ConfigMap key.
    pub name: String,
    /// The path in every container.
    pub path: String,
    /// The content.
    pub content: String,
}

fn file(name: &str, path: &str, content: String) -> ConfigFile {
    ConfigFile {
        name: name.into(),
        path: path.into(),
        content,
    }
}

/// Where the images read `core-site.xml`.
const CORE_SITE: &str = "/hdfs-3.2.1/etc/hadoop/core-site.xml";

/// Every file of the flavour.
pub fn files(f: &Flavor, p: &Parts) -> Vec<ConfigFile> {
    let common = common(f, p);
    let namespace = namespace(f, p);
    let storage = storage(f, p);
    let client = client(f, p);
    let address_key = format!("{}namespace.rpc.address", f.client_prefix);
    let mut sdk_common = fuse_log(p);
    sdk_common.insert(
        "default.credential.provider".into(),
        common["default.credential.provider"].clone(),
    );
    let mut sdk = props(&[(&address_key, &p.rpc_address())]);
    sdk.extend(client.clone());
    let sdk_file = format!(
        "{}{}",
        section("common", &sdk_common),
        section("jindosdk", &sdk)
    );
    let cfg = format!("/{}", f.config_file);
    match f.engine_type {
        "jindocache" => vec![
            file(
                f.config_file,
                &cfg,
                [
                    section(f.common_section, &common),
                    section(f.namespace_section, &namespace),
                    section(f.storage_section, &storage),
                    section("common", &sdk_common),
                    section("jindocache-client", &sdk),
                ]
                .join("\n"),
            ),
            file(
                "cacheset.xml",
                "/cacheset.xml",
                cache_set_xml(&p.plan.cache_sets),
            ),
            file("jindosdk.cfg", "/jindosdk.cfg", sdk_file),
        ],
        "jindofsx" => {
            let mut core = props(&[
                ("fs.oss.impl", "com.aliyun.jindodata.oss.JindoOssFileSystem"),
                (
                    "fs.AbstractFileSystem.oss.impl",
                    "com.aliyun.jindodata.oss.OSS",
                ),
                (
                    "fs.jindo.impl",
                    "com.aliyun.jindodata.jindo.JindoFileSystem",
                ),
                (
                    "fs.AbstractFileSystem.jindo.impl",
                    "com.aliyun.jindodata.jindo.JINDO",
                ),
                ("fs.xengine", "jindofsx"),
            ]);
            core.extend(sdk.clone());
            vec![
                file(
                    f.config_file,
                    &cfg,
                    [
                        section(f.common_section, &common),
                        section(f.storage_section, &storage),
                        section(f.namespace_section, &namespace),
                    ]
                    .join("\n"),
                ),
                file("core-site.xml", CORE_SITE, site_xml(&core)),
                file("jindosdk.cfg", "/jindosdk.cfg", sdk_file),
            ]
        }
        _ => {
            let mut core = Props::new();
            if p.sts_token || !p.plan.token_items.is_empty() {
                let provider = "com.aliyun.emr.fs.auth.CustomCredentialsProvider";
                core.insert("fs.jfs.credentials.provider".into(), provider.into());
                core.insert(
                    "fs.jfs.cache.oss.credentials.provider".into(),
                    provider.into(),
                );
                core.insert("aliyun.oss.provider.url".into(), "secrets:///token/".into());
            }
            vec![
                file(
                    f.config_file,
                    &cfg,
                    [
                        section(f.common_section, &common),
                        section(f.namespace_section, &namespace),
                        section(f.storage_section, &storage),
                        section(f.client_section.unwrap_or("bigboot-client"), &client),
                    ]
                    .join("\n"),
                ),
                file("core-site.xml", CORE_SITE, site_xml(&core)),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jindocache_before_6_2_1_uses_the_legacy_prefetcher() {
        assert!(legacy_prefetcher("6.2.0"));
        assert!(legacy_prefetcher("4.6.8"));
        assert!(!legacy_prefetcher("6.3.0"));
        assert!(!legacy_prefetcher("latest"));
    }
}
