//! What the fluid-rs engines of the Alluxio family share. Alluxio and GooseFS (Tencent's
//! fork) run the same topology (a master StatefulSet with the job master, a worker
//! StatefulSet with the job worker, a fuse DaemonSet), read the same properties under their
//! own prefix and answer the same commands under their own name: everything but those names
//! ([`Flavor`]) and the runtime kind lives here, so a member engine is its CRD, its chart and
//! a [`Family`] impl. The name says what it is for: the family of engines, not one of them.
//!
//! - [`spec`]: the runtime spec in Fluid's `AlluxioRuntime` shape;
//! - [`transform`]: the chart values (properties, tiers, UFS mounts, ports, JVM options);
//! - [`commands`] and [`parse`]: the command lines exec'd in the master, and their outputs;
//! - [`operate`]: the pods of its data operations (DataLoad, DataBackup);
//! - [`engine`]: the hooks, generic over the member.

pub mod commands;
pub mod engine;
pub mod flavor;
pub mod operate;
pub mod parse;
pub mod spec;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transform;

pub use engine::{Family, FamilyEngine, RuntimeView};
pub use flavor::Flavor;
pub use spec::{CompTemplateSpec, DataSpec, FamilySpec, FuseSpec};
