//! The fluid-rs controller: loads engine plugins and drives Fluid's runtime lifecycle for each
//! runtime kind they serve.

pub mod plugins;
