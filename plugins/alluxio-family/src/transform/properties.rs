//! The properties every component reads (`<p>-site.properties`): Fluid's defaults, the ports,
//! the journal and the masters' addresses; and each role's JVM options.

use super::Problem;
use crate::flavor::Flavor;
use crate::spec::{CompTemplateSpec, FamilySpec};
use std::collections::BTreeMap;

/// Fluid's defaults for Alluxio (`transform_optimization.go`), keys without the engine's
/// prefix; `{class}` stands for the package prefix of the engine's classes. Each applies
/// unless the user sets the key in `properties` or a component's `properties`. (Fluid's
/// GooseFS engine had its own table: another member brings its own.)
pub const ALLUXIO_DEFAULTS: &[(&str, &str)] = &[
    ("fuse.jnifuse.enabled", "true"),
    ("fuse.jnifuse.libfuse.version", "3"),
    ("master.metastore", "ROCKS"),
    ("user.update.file.accesstime.disabled", "true"),
    ("user.client.cache.enabled", "false"),
    ("master.metastore.inode.cache.max.size", "10000000"),
    ("master.journal.log.size.bytes.max", "500MB"),
    ("master.metadata.sync.concurrency.level", "128"),
    ("master.metadata.sync.executor.pool.size", "128"),
    ("master.metadata.sync.ufs.prefetch.pool.size", "128"),
    ("user.block.worker.client.pool.min", "512"),
    ("fuse.debug.enabled", "false"),
    (
        "user.ufs.block.read.location.policy",
        "{class}client.block.policy.LocalFirstPolicy",
    ),
    (
        "user.block.write.location.policy.class",
        "{class}client.block.policy.LocalFirstAvoidEvictionPolicy",
    ),
    (
        "worker.allocator.class",
        "{class}worker.block.allocator.MaxFreeAllocator",
    ),
    ("user.block.size.bytes.default", "16MB"),
    ("user.streaming.reader.chunk.size.bytes", "32MB"),
    ("user.local.reader.chunk.size.bytes", "32MB"),
    ("worker.network.reader.buffer.size", "32MB"),
    ("user.metrics.collection.enabled", "true"),
    ("master.rpc.executor.max.pool.size", "1024"),
    ("master.rpc.executor.core.pool.size", "128"),
    ("user.file.passive.cache.enabled", "false"),
    (
        "user.block.avoid.eviction.policy.reserved.size.bytes",
        "2GB",
    ),
    ("master.journal.folder", "/journal"),
    ("user.block.master.client.pool.gc.threshold", "10min"),
    ("user.file.master.client.threads", "1024"),
    ("user.block.master.client.threads", "1024"),
    ("user.file.create.ttl.action", "FREE"),
    ("user.file.readtype.default", "CACHE"),
    ("security.stale.channel.purge.interval", "365d"),
    ("user.metadata.cache.enabled", "true"),
    ("user.metadata.cache.expiration.time", "10min"),
    ("user.metadata.cache.max.size", "6000000"),
    ("fuse.cached.paths.max", "1000000"),
    ("job.worker.threadpool.size", "32"),
    ("user.worker.list.refresh.interval", "2min"),
    ("user.logging.threshold", "1000ms"),
    ("fuse.logging.threshold", "1000ms"),
    ("worker.block.master.client.pool.size", "1024"),
    ("job.master.finished.job.retention.time", "30sec"),
    ("underfs.object.store.breadcrumbs.enabled", "false"),
    // transform_permission.go
    ("master.security.impersonation.root.users", "*"),
    ("master.security.impersonation.root.groups", "*"),
    ("security.authorization.permission.enabled", "false"),
];

/// Fluid's bigger blocks when every mount is HTTP (the same for Alluxio and GooseFS).
pub const HTTP_DEFAULTS: &[(&str, &str)] = &[
    ("user.block.size.bytes.default", "256MB"),
    ("user.streaming.reader.chunk.size.bytes", "256MB"),
    ("user.local.reader.chunk.size.bytes", "256MB"),
    ("worker.network.reader.buffer.size", "256MB"),
    ("user.streaming.data.timeout", "300sec"),
];

/// Fluid's defaults for `flavor`, the HTTP ones over them when `all_http`.
pub fn defaults(flavor: &Flavor, all_http: bool) -> BTreeMap<String, String> {
    let extra: &[(&str, &str)] = if all_http { HTTP_DEFAULTS } else { &[] };
    flavor
        .defaults
        .iter()
        .chain(extra)
        .map(|(k, v)| (flavor.key(k), v.replace("{class}", flavor.class_prefix)))
        .collect()
}

/// The ports of one runtime (container network: Fluid's fixed ports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ports {
    /// Master RPC and web.
    pub master_rpc: u16,
    /// Master web UI.
    pub master_web: u16,
    /// Master embedded journal (HA only).
    pub master_embedded: Option<u16>,
    /// Job master RPC.
    pub job_master_rpc: u16,
    /// Job master web UI.
    pub job_master_web: u16,
    /// Job master embedded journal (HA only).
    pub job_master_embedded: Option<u16>,
    /// Worker RPC.
    pub worker_rpc: u16,
    /// Worker web UI.
    pub worker_web: u16,
    /// Job worker RPC.
    pub job_worker_rpc: u16,
    /// Job worker web UI.
    pub job_worker_web: u16,
    /// Job worker data.
    pub job_worker_data: u16,
}

/// How many ports a runtime asks the host for on the host network: one per port of
/// [`Ports`] (the embedded journals' only with HA), in [`ports`]' order.
pub fn host_port_count(ha: bool) -> u16 {
    if ha {
        11
    } else {
        9
    }
}

/// The ports: a port property the user set wins, then the component's `ports`, then the port
/// the host allocated for the runtime (`allocated`, on the host network: Fluid's allocator),
/// then Fluid's fixed ports (container network, or a host older than protocol 1.2).
pub fn ports(
    flavor: &Flavor,
    spec: &FamilySpec,
    user: &BTreeMap<String, String>,
    ha: bool,
    allocated: Option<&[u16]>,
) -> Result<Ports, Vec<Problem>> {
    let mut problems = vec![];
    let mut slot = 0usize;
    let mut pick =
        |property: &str, role: &str, c: Option<&CompTemplateSpec>, name: &str, fixed: u16| {
            // Each port has its own slot of the allocation, set by the user or not: the others
            // keep theirs when the user sets one.
            let default = allocated
                .and_then(|a| a.get(slot).copied())
                .unwrap_or(fixed);
            slot += 1;
            let key = flavor.key(property);
            if let Some(v) = user.get(&key) {
                return v
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .unwrap_or_else(|| {
                        problems.push(Problem::new(
                            format!("spec.properties[{key}]"),
                            format!("{v:?} is not a port"),
                        ));
                        default
                    });
            }
            match c.and_then(|c| c.ports.as_ref()).and_then(|p| p.get(name)) {
                Some(p) => u16::try_from(*p)
                    .ok()
                    .filter(|p| *p > 0)
                    .unwrap_or_else(|| {
                        problems.push(Problem::new(
                            format!("spec.{role}.ports[{name}]"),
                            format!("{p} is not a port"),
                        ));
                        default
                    }),
                None => default,
            }
        };
    let (m, jm, w, jw) = (
        spec.master.as_ref(),
        spec.job_master.as_ref(),
        spec.worker.as_ref(),
        spec.job_worker.as_ref(),
    );
    let ports = Ports {
        master_rpc: pick("master.rpc.port", "master", m, "rpc", 19998),
        master_web: pick("master.web.port", "master", m, "web", 19999),
        job_master_rpc: pick("job.master.rpc.port", "jobMaster", jm, "rpc", 20001),
        job_master_web: pick("job.master.web.port", "jobMaster", jm, "web", 20002),
        worker_rpc: pick("worker.rpc.port", "worker", w, "rpc", 29999),
        worker_web: pick("worker.web.port", "worker", w, "web", 30000),
        job_worker_rpc: pick("job.worker.rpc.port", "jobWorker", jw, "rpc", 30001),
        job_worker_web: pick("job.worker.web.port", "jobWorker", jw, "web", 30003),
        job_worker_data: pick("job.worker.data.port", "jobWorker", jw, "data", 30002),
        master_embedded: ha.then(|| {
            pick(
                "master.embedded.journal.port",
                "master",
                m,
                "embedded",
                19200,
            )
        }),
        job_master_embedded: ha.then(|| {
            pick(
                "job.master.embedded.journal.port",
                "jobMaster",
                jm,
                "embedded",
                20003,
            )
        }),
    };
    if problems.is_empty() {
        Ok(ports)
    } else {
        Err(problems)
    }
}

impl Ports {
    /// The port properties.
    pub fn properties(&self, flavor: &Flavor) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> = [
            ("master.rpc.port", self.master_rpc),
            ("master.web.port", self.master_web),
            ("job.master.rpc.port", self.job_master_rpc),
            ("job.master.web.port", self.job_master_web),
            ("worker.rpc.port", self.worker_rpc),
            ("worker.web.port", self.worker_web),
            ("job.worker.rpc.port", self.job_worker_rpc),
            ("job.worker.web.port", self.job_worker_web),
            ("job.worker.data.port", self.job_worker_data),
        ]
        .into_iter()
        .map(|(k, v)| (flavor.key(k), v.to_string()))
        .collect();
        if let (Some(m), Some(j)) = (self.master_embedded, self.job_master_embedded) {
            p.insert(flavor.key("master.embedded.journal.port"), m.to_string());
            p.insert(
                flavor.key("job.master.embedded.journal.port"),
                j.to_string(),
            );
        }
        p
    }
}

/// The DNS name of master replica `i`: its pod in the headless Service `<name>-master`.
pub fn master_host(name: &str, namespace: &str, i: i32) -> String {
    format!("{name}-master-{i}.{name}-master.{namespace}.svc")
}

/// The journal and where clients find the masters: one master is `<p>.master.hostname`; with
/// several, the embedded journal (Raft) between them and the address lists.
pub fn masters(
    flavor: &Flavor,
    name: &str,
    namespace: &str,
    replicas: i32,
    ports: &Ports,
) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    let hosts: Vec<String> = (0..replicas.max(1))
        .map(|i| master_host(name, namespace, i))
        .collect();
    let list = |port: u16| {
        hosts
            .iter()
            .map(|h| format!("{h}:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    match (ports.master_embedded, ports.job_master_embedded) {
        (Some(m), Some(j)) if replicas > 1 => {
            p.insert(flavor.key("master.journal.type"), "EMBEDDED".into());
            p.insert(flavor.key("master.embedded.journal.addresses"), list(m));
            p.insert(flavor.key("job.master.embedded.journal.addresses"), list(j));
            p.insert(flavor.key("master.rpc.addresses"), list(ports.master_rpc));
            p.insert(
                flavor.key("job.master.rpc.addresses"),
                list(ports.job_master_rpc),
            );
        }
        _ => {
            p.insert(flavor.key("master.journal.type"), "UFS".into());
            p.insert(flavor.key("master.hostname"), hosts[0].clone());
        }
    }
    p
}

/// `-Dk=v` for each property.
pub fn dflags(properties: &BTreeMap<String, String>) -> Vec<String> {
    properties
        .iter()
        .map(|(k, v)| format!("-D{k}={v}"))
        .collect()
}

/// A role's JVM options: the component's own, else Fluid's defaults for the role; then the
/// role's fixed flags; then its properties as `-D` flags (which override the site file).
pub fn role_java_opts(
    given: Option<&Vec<String>>,
    defaults: &[&str],
    fixed: &[String],
    properties: Option<&BTreeMap<String, String>>,
) -> String {
    let mut opts: Vec<String> = match given.filter(|g| !g.is_empty()) {
        Some(g) => g.clone(),
        None => defaults.iter().map(|s| s.to_string()).collect(),
    };
    opts.extend(fixed.iter().cloned());
    opts.extend(dflags(&properties.cloned().unwrap_or_default()));
    opts.join(" ")
}

/// Fluid's JVM defaults per role.
pub const MASTER_JVM: &[&str] = &["-Xmx16G", "-XX:+UnlockExperimentalVMOptions"];
/// Fluid's JVM defaults of the workers.
pub const WORKER_JVM: &[&str] = &[
    "-Xmx12G",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:MaxDirectMemorySize=32g",
];
/// Fluid's JVM defaults of the fuse.
pub const FUSE_JVM: &[&str] = &[
    "-Xmx16G",
    "-Xms16G",
    "-XX:+UseG1GC",
    "-XX:MaxDirectMemorySize=32g",
    "-XX:+UnlockExperimentalVMOptions",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> FamilySpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_carry_the_engine_prefix_and_class_names() {
        let d = defaults(&Flavor::ALLUXIO, false);
        assert_eq!(d["alluxio.master.metastore"], "ROCKS");
        assert_eq!(
            d["alluxio.user.ufs.block.read.location.policy"],
            "alluxio.client.block.policy.LocalFirstPolicy"
        );
        assert_eq!(d["alluxio.user.block.size.bytes.default"], "16MB");
        assert_eq!(
            defaults(&Flavor::ALLUXIO, true)["alluxio.user.block.size.bytes.default"],
            "256MB"
        );
    }

    #[test]
    fn ports_come_from_properties_then_the_component_then_fluid() {
        let s =
            spec(json!({"master": {"ports": {"rpc": 21000}}, "jobWorker": {"ports": {"data": 0}}}));
        let user = BTreeMap::from([("alluxio.worker.web.port".to_owned(), "31000".to_owned())]);
        let e = ports(&Flavor::ALLUXIO, &s, &user, false, None).unwrap_err();
        assert_eq!(e[0].field, "spec.jobWorker.ports[data]");
        let s = spec(json!({"master": {"ports": {"rpc": 21000}}}));
        let p = ports(&Flavor::ALLUXIO, &s, &user, true, None).unwrap();
        assert_eq!(
            (p.master_rpc, p.master_web, p.worker_web),
            (21000, 19999, 31000)
        );
        assert_eq!(
            (p.master_embedded, p.job_master_embedded),
            (Some(19200), Some(20003))
        );
        assert!(ports(&Flavor::ALLUXIO, &s, &user, false, None)
            .unwrap()
            .master_embedded
            .is_none());
    }

    #[test]
    fn three_masters_use_the_embedded_journal_one_master_its_hostname() {
        let s = FamilySpec::default();
        let ha = ports(&Flavor::ALLUXIO, &s, &BTreeMap::new(), true, None).unwrap();
        let p = masters(&Flavor::ALLUXIO, "demo", "ns", 3, &ha);
        assert_eq!(p["alluxio.master.journal.type"], "EMBEDDED");
        assert_eq!(
            p["alluxio.master.embedded.journal.addresses"],
            "demo-master-0.demo-master.ns.svc:19200,demo-master-1.demo-master.ns.svc:19200,demo-master-2.demo-master.ns.svc:19200"
        );
        assert_eq!(
            p["alluxio.job.master.rpc.addresses"],
            "demo-master-0.demo-master.ns.svc:20001,demo-master-1.demo-master.ns.svc:20001,demo-master-2.demo-master.ns.svc:20001"
        );
        assert!(!p.contains_key("alluxio.master.hostname"));
        let one = ports(&Flavor::ALLUXIO, &s, &BTreeMap::new(), false, None).unwrap();
        let p = masters(&Flavor::ALLUXIO, "demo", "ns", 1, &one);
        assert_eq!(p["alluxio.master.journal.type"], "UFS");
        assert_eq!(
            p["alluxio.master.hostname"],
            "demo-master-0.demo-master.ns.svc"
        );
    }

    #[test]
    fn role_options_replace_the_defaults_and_end_with_the_role_properties() {
        let props = BTreeMap::from([("alluxio.worker.x".to_owned(), "1".to_owned())]);
        assert_eq!(
            role_java_opts(None, WORKER_JVM, &["-Dh=$(H)".into()], Some(&props)),
            "-Xmx12G -XX:+UnlockExperimentalVMOptions -XX:MaxDirectMemorySize=32g -Dh=$(H) -Dalluxio.worker.x=1"
        );
        assert_eq!(
            role_java_opts(Some(&vec!["-Xmx1G".into()]), WORKER_JVM, &[], None),
            "-Xmx1G"
        );
    }
}
