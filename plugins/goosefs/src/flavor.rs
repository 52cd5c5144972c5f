//! GooseFS's names and defaults, from Fluid's last GooseFS engine (`pkg/common/goosefs.go`,
//! `pkg/ddc/goosefs/transform_optimization.go`, before #5703).

use fluid_alluxio_family::Flavor;

/// GooseFS 1.2, as Fluid ran it.
pub const GOOSEFS: Flavor = Flavor {
    engine: "goosefs",
    cli: "goosefs",
    property_prefix: "goosefs.",
    env_prefix: "GOOSEFS_",
    home: "/opt/goosefs",
    image: "ccr.ccs.tencentyun.com/qcloud/goosefs",
    image_tag: "v1.2.0",
    fuse_image: Some(("ccr.ccs.tencentyun.com/qcloud/goosefs-fuse", "v1.2.0")),
    mount_type: "fuse.goosefs-fuse",
    class_prefix: "com.qcloud.cos.goosefs.",
    defaults: GOOSEFS_DEFAULTS,
};

/// Fluid's property defaults for GooseFS, keys without the prefix; `{class}` stands for the
/// package prefix of GooseFS's classes. Where they differ from Alluxio's: `MUST_CACHE` writes,
/// the web UI off, reads placed by `LocalFirstAvoidEvictionPolicy`, 2-day client caches, a
/// bigger job worker pool, 1 MB worker file buffers, no libfuse version.
pub const GOOSEFS_DEFAULTS: &[(&str, &str)] = &[
    ("fuse.jnifuse.enabled", "true"),
    ("master.metastore", "ROCKS"),
    ("web.ui.enabled", "false"),
    ("user.update.file.accesstime.disabled", "true"),
    ("user.client.cache.enabled", "false"),
    ("master.metastore.inode.cache.max.size", "10000000"),
    ("master.journal.log.size.bytes.max", "500MB"),
    ("master.metadata.sync.concurrency.level", "128"),
    ("master.metadata.sync.executor.pool.size", "128"),
    ("master.metadata.sync.ufs.prefetch.pool.size", "128"),
    ("user.block.worker.client.pool.min", "512"),
    ("fuse.debug.enabled", "false"),
    ("user.file.writetype.default", "MUST_CACHE"),
    (
        "user.ufs.block.read.location.policy",
        "{class}client.block.policy.LocalFirstAvoidEvictionPolicy",
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
    ("worker.file.buffer.size", "1MB"),
    ("user.metrics.collection.enabled", "true"),
    ("master.rpc.executor.max.pool.size", "1024"),
    ("master.rpc.executor.core.pool.size", "128"),
    ("user.file.passive.cache.enabled", "false"),
    (
        "user.block.avoid.eviction.policy.reserved.size.bytes",
        "2GB",
    ),
    ("master.journal.folder", "/journal"),
    ("user.block.master.client.pool.gc.threshold", "2day"),
    ("user.file.master.client.threads", "1024"),
    ("user.block.master.client.threads", "1024"),
    ("user.file.create.ttl.action", "FREE"),
    ("user.file.readtype.default", "CACHE"),
    ("security.stale.channel.purge.interval", "365d"),
    ("user.metadata.cache.enabled", "true"),
    ("user.metadata.cache.expiration.time", "2day"),
    ("user.metadata.cache.max.size", "6000000"),
    ("fuse.cached.paths.max", "1000000"),
    ("job.worker.threadpool.size", "164"),
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
