//! The CSI Identity service: the driver's name and version, its (no) plugin capabilities, and
//! readiness.

use crate::csi::identity_server::Identity;
use crate::csi::*;
use crate::mountinfo::MountTable;
use tonic::{Request, Response, Status};

/// The Identity service.
pub struct IdentityService {
    /// The driver name (`fuse.csi.fluid.io` by default).
    pub driver_name: String,
}

#[tonic::async_trait]
impl Identity for IdentityService {
    async fn get_plugin_info(
        &self,
        _request: Request<GetPluginInfoRequest>,
    ) -> Result<Response<GetPluginInfoResponse>, Status> {
        Ok(Response::new(GetPluginInfoResponse {
            name: self.driver_name.clone(),
            vendor_version: env!("CARGO_PKG_VERSION").into(),
            manifest: Default::default(),
        }))
    }

    /// No CONTROLLER_SERVICE: Fluid's PVs are static, written by the controller, so the CO
    /// never needs to provision, attach or expand anything through this driver.
    async fn get_plugin_capabilities(
        &self,
        _request: Request<GetPluginCapabilitiesRequest>,
    ) -> Result<Response<GetPluginCapabilitiesResponse>, Status> {
        Ok(Response::new(GetPluginCapabilitiesResponse {
            capabilities: vec![],
        }))
    }

    /// Ready when the mount table, which every call reads, can be read.
    async fn probe(
        &self,
        _request: Request<ProbeRequest>,
    ) -> Result<Response<ProbeResponse>, Status> {
        MountTable::read().map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(ProbeResponse { ready: Some(true) }))
    }
}
