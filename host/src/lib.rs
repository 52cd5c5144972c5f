//! The fluid-rs controller: loads engine plugins and drives Fluid's runtime lifecycle for each
//! runtime kind they serve.

pub mod controller;
pub mod crds;
pub mod http;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod plugins;
pub mod ports;
pub mod run;
pub mod services;
