//! Fluid's `data.fluid.io/v1alpha1` types: the [`Dataset`] custom resource, the
//! [`RuntimeStatus`] every runtime kind reports, and the spec pieces runtime kinds share
//! ([`TieredStore`], [`VersionSpec`], [`User`], [`PodMetadata`], ...), and the data operation
//! kinds ([`DataLoad`], [`DataMigrate`], [`DataProcess`], [`DataBackup`]).
//!
//! Field names, types and constraints follow Fluid's CRDs, so manifests written for Fluid are
//! accepted unchanged. An engine defines its own runtime kind with kube's `CustomResource`
//! derive, using `status = "fluid_plugin_api::types::RuntimeStatus"`, and hands its CRD to
//! [`export_engine!`](crate::export_engine) with [`crd_json`].

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;
use std::collections::BTreeMap;

/// Implements `JsonSchema` as a plain string for an enum Fluid's schema declares as a string
/// without an `enum` list (phases, condition types): the schema stays as permissive as
/// Fluid's while Rust code gets the typed values.
macro_rules! string_schema {
    ($ty:ty, $name:literal) => {
        impl ::schemars::JsonSchema for $ty {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                ::schemars::json_schema!({ "type": "string" })
            }
        }
    };
}

mod common;
mod dataset;
mod operations;
pub mod size;
mod status;

pub use common::*;
pub use dataset::*;
pub use operations::*;
pub use status::*;

/// Cache figures by name ([`cache_state`] holds the names), as display strings.
pub type CacheStateList = BTreeMap<String, String>;

/// The names of the cache figures in `status.cacheStates` of Datasets and runtimes.
pub mod cache_state {
    /// Bytes cached, human-readable.
    pub const CACHED: &str = "cached";
    /// Total cache capacity.
    pub const CACHE_CAPACITY: &str = "cacheCapacity";
    /// Share of the under file systems' data that is cached, e.g. `42.0%`.
    pub const CACHED_PERCENTAGE: &str = "cachedPercentage";
    /// Share of reads served from the cache (local and remote).
    pub const CACHE_HIT_RATIO: &str = "cacheHitRatio";
    /// Share of reads served by a worker on the reader's node.
    pub const LOCAL_HIT_RATIO: &str = "localHitRatio";
    /// Share of reads served by a worker on another node.
    pub const REMOTE_HIT_RATIO: &str = "remoteHitRatio";
    /// Share of read throughput served from the cache.
    pub const CACHE_THROUGHPUT_RATIO: &str = "cacheThroughputRatio";
    /// Share of read throughput served by local workers.
    pub const LOCAL_THROUGHPUT_RATIO: &str = "localThroughputRatio";
    /// Share of read throughput served by remote workers.
    pub const REMOTE_THROUGHPUT_RATIO: &str = "remoteThroughputRatio";
    /// The low eviction watermark.
    pub const LOW_WATER_MARK: &str = "lowWaterMark";
    /// The high eviction watermark.
    pub const HIGH_WATER_MARK: &str = "highWaterMark";
    /// Bytes that cannot be cached.
    pub const NON_CACHEABLE: &str = "nonCacheable";
}

/// The Dataset CustomResourceDefinition, as the controller installs it.
pub fn dataset_crd() -> CustomResourceDefinition {
    fluid_crd::<Dataset>()
}

/// The CustomResourceDefinition of a `CustomResource` type, completed as Fluid's are:
/// `spec.names.listKind` is set (`<Kind>List`; the derive leaves it to the API server).
pub fn fluid_crd<K: kube::CustomResourceExt>() -> CustomResourceDefinition {
    let mut crd = K::crd();
    if crd.spec.names.list_kind.is_none() {
        crd.spec.names.list_kind = Some(format!("{}List", crd.spec.names.kind));
    }
    crd
}

/// A CustomResourceDefinition as JSON, the form [`export_engine!`](crate::export_engine)'s
/// `crd:` takes: `crd: fluid_plugin_api::types::crd_json(&MyRuntime::crd())`.
pub fn crd_json(crd: &CustomResourceDefinition) -> Value {
    // A CRD is plain data with string keys: encoding it cannot fail.
    serde_json::to_value(crd).expect("a CustomResourceDefinition always encodes as JSON")
}

/// The CustomResourceDefinition of a `CustomResource` type ([`fluid_crd`]), as JSON:
/// `crd: fluid_plugin_api::types::crd_json_of::<MyRuntime>()`.
pub fn crd_json_of<K: kube::CustomResourceExt>() -> Value {
    crd_json(&fluid_crd::<K>())
}

#[cfg(test)]
mod tests;
