//! The CSI Controller service, as far as static PVs need it. Fluid's PVs are written by the
//! runtime controller, never provisioned, attached or expanded through CSI: the service has no
//! capabilities, answers ValidateVolumeCapabilities (required of every Controller service) from
//! the PV, and every other RPC is `Unimplemented`, the spec's answer for an RPC no capability
//! covers. The plugin does not advertise CONTROLLER_SERVICE, so the kubelet never calls it.

use crate::cluster::Cluster;
use crate::csi::controller_server::Controller;
use crate::csi::validate_volume_capabilities_response::Confirmed;
use crate::csi::volume_capability::AccessType;
use crate::csi::*;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The Controller service.
pub struct ControllerService {
    /// The driver name the PVs must carry.
    pub driver_name: String,
    /// Where the PVs are read.
    pub cluster: Arc<Cluster>,
}

/// Why capabilities cannot be served, if they cannot: every access mode works (a bind mount of
/// a shared file system), block access does not.
pub fn unsupported(caps: &[VolumeCapability]) -> Option<&'static str> {
    caps.iter()
        .any(|c| matches!(c.access_type, Some(AccessType::Block(_))))
        .then_some("block access is not supported: a Fluid volume is a file system")
}

impl ControllerService {
    // `Status` is the error type of tonic's service traits.
    #[allow(clippy::result_large_err)]
    async fn validate(
        &self,
        r: ValidateVolumeCapabilitiesRequest,
    ) -> Result<ValidateVolumeCapabilitiesResponse, Status> {
        if r.volume_id.is_empty() {
            return Err(Status::invalid_argument("volume_id is required"));
        }
        if r.volume_capabilities.is_empty() {
            return Err(Status::invalid_argument("volume_capabilities is required"));
        }
        let volume = self
            .cluster
            .volume(&r.volume_id)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        match volume {
            None => {
                return Err(Status::not_found(format!(
                    "no PersistentVolume {}",
                    r.volume_id
                )))
            }
            Some(v) if v.driver.as_deref() != Some(self.driver_name.as_str()) => {
                return Err(Status::not_found(format!(
                    "PersistentVolume {} is not a volume of driver {}",
                    r.volume_id, self.driver_name
                )))
            }
            Some(_) => {}
        }
        Ok(match unsupported(&r.volume_capabilities) {
            Some(why) => ValidateVolumeCapabilitiesResponse {
                confirmed: None,
                message: why.into(),
            },
            None => ValidateVolumeCapabilitiesResponse {
                confirmed: Some(Confirmed {
                    volume_context: r.volume_context,
                    volume_capabilities: r.volume_capabilities,
                    parameters: r.parameters,
                    mutable_parameters: Default::default(),
                }),
                message: String::new(),
            },
        })
    }
}

// The whole impl is generated, so that `async_trait` sees the methods after expansion.
macro_rules! controller_offering_nothing {
    ($($method:ident($req:ty) -> $resp:ty;)*) => {
        #[tonic::async_trait]
        impl Controller for ControllerService {
            async fn controller_get_capabilities(
                &self,
                _request: Request<ControllerGetCapabilitiesRequest>,
            ) -> Result<Response<ControllerGetCapabilitiesResponse>, Status> {
                Ok(Response::new(ControllerGetCapabilitiesResponse {
                    capabilities: vec![],
                }))
            }

            async fn validate_volume_capabilities(
                &self,
                request: Request<ValidateVolumeCapabilitiesRequest>,
            ) -> Result<Response<ValidateVolumeCapabilitiesResponse>, Status> {
                self.validate(request.into_inner()).await.map(Response::new)
            }

            $(
                async fn $method(&self, _request: Request<$req>) -> Result<Response<$resp>, Status> {
                    Err(Status::unimplemented(concat!(
                        stringify!($method),
                        " is not offered: Fluid volumes are static PVs written by the controller"
                    )))
                }
            )*
        }
    };
}

controller_offering_nothing! {
    create_volume(CreateVolumeRequest) -> CreateVolumeResponse;
    delete_volume(DeleteVolumeRequest) -> DeleteVolumeResponse;
    controller_publish_volume(ControllerPublishVolumeRequest) -> ControllerPublishVolumeResponse;
    controller_unpublish_volume(ControllerUnpublishVolumeRequest) -> ControllerUnpublishVolumeResponse;
    list_volumes(ListVolumesRequest) -> ListVolumesResponse;
    get_capacity(GetCapacityRequest) -> GetCapacityResponse;
    create_snapshot(CreateSnapshotRequest) -> CreateSnapshotResponse;
    delete_snapshot(DeleteSnapshotRequest) -> DeleteSnapshotResponse;
    list_snapshots(ListSnapshotsRequest) -> ListSnapshotsResponse;
    controller_expand_volume(ControllerExpandVolumeRequest) -> ControllerExpandVolumeResponse;
    controller_get_volume(ControllerGetVolumeRequest) -> ControllerGetVolumeResponse;
    controller_modify_volume(ControllerModifyVolumeRequest) -> ControllerModifyVolumeResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csi::volume_capability::{BlockVolume, MountVolume};

    #[test]
    fn file_system_access_only() {
        let mount = VolumeCapability {
            access_mode: None,
            access_type: Some(AccessType::Mount(MountVolume::default())),
        };
        let block = VolumeCapability {
            access_mode: None,
            access_type: Some(AccessType::Block(BlockVolume {})),
        };
        assert_eq!(unsupported(std::slice::from_ref(&mount)), None);
        assert!(unsupported(&[mount, block]).is_some());
    }
}
