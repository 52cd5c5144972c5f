//! `fluid-csi`: a CSI node plugin for Fluid's Dataset volumes that knows nothing about runtime
//! types. Everything a call needs is in the PV's attributes and labels, which the runtime
//! controller (fluid-rs, or Fluid) writes; see docs/csi.md.
//!
//! Layout: pure decisions (`attributes`, `mountinfo`, `cleanup`, `recovery::plan`) and thin
//! I/O around them (`mounts`, `cluster`, `state`), the gRPC services (`identity`, `node`,
//! `controller`, `registration`) and serving (`server`, `authority`).

pub mod attributes;
pub mod authority;
pub mod cleanup;
pub mod cluster;
pub mod controller;
pub mod error;
pub mod identity;
pub mod kubelet;
pub mod locks;
pub mod mountinfo;
pub mod mounts;
pub mod node;
pub mod recovery;
pub mod registration;
pub mod server;
pub mod state;

/// The CSI specification's messages, clients and services (from the `bpfman-csi` crate, which
/// is generated from the spec's `csi.proto`).
pub use bpfman_csi::v1 as csi;

/// Fluid's driver name, the default.
pub const DEFAULT_DRIVER_NAME: &str = "fuse.csi.fluid.io";
