//! Kubelet plugin registration, served by the plugin itself instead of the upstream
//! `node-driver-registrar` sidecar: the kubelet watches `<kubelet>/plugins_registry/`, finds our
//! socket there, asks `GetInfo` (type, driver name, CSI endpoint, versions) and reports the
//! outcome with `NotifyRegistrationStatus`. One process, one image, no Go binary to build into
//! it, and the registration lives exactly as long as the plugin that serves the driver.
//!
//! The API is the kubelet's `pluginregistration` v1 (package `pluginregistration`, service
//! `Registration`): two unary calls, four small messages, written here as prost messages.

use std::sync::Arc;
use tokio::sync::watch;
use tonic::codegen::{http, Body, BoxFuture, Context, Poll, Service, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};

/// The kubelet's request for the plugin's information.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoRequest {}

/// What the plugin tells the kubelet about itself.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginInfo {
    /// `CSIPlugin`.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// The CSI driver name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// The CSI socket the kubelet dials for the driver's calls.
    #[prost(string, tag = "3")]
    pub endpoint: String,
    /// CSI versions supported.
    #[prost(string, repeated, tag = "4")]
    pub supported_versions: Vec<String>,
}

/// The kubelet's verdict.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegistrationStatus {
    /// Registered.
    #[prost(bool, tag = "1")]
    pub plugin_registered: bool,
    /// Why not.
    #[prost(string, tag = "2")]
    pub error: String,
}

/// The empty answer to the verdict.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegistrationStatusResponse {}

/// The kubelet's plugin type for CSI drivers.
pub const CSI_PLUGIN: &str = "CSIPlugin";
/// The CSI version this driver speaks.
pub const CSI_VERSION: &str = "1.0.0";

const GET_INFO: &str = "/pluginregistration.Registration/GetInfo";
const NOTIFY: &str = "/pluginregistration.Registration/NotifyRegistrationStatus";

/// The registration service.
#[derive(Clone)]
pub struct RegistrationServer {
    info: PluginInfo,
    verdict: Arc<watch::Sender<Option<RegistrationStatus>>>,
}

impl RegistrationServer {
    /// Registers `driver` served at the CSI socket `endpoint`; the receiver sees each verdict.
    pub fn new(
        driver: &str,
        endpoint: &str,
    ) -> (Self, watch::Receiver<Option<RegistrationStatus>>) {
        let (tx, rx) = watch::channel(None);
        let server = Self {
            info: PluginInfo {
                r#type: CSI_PLUGIN.into(),
                name: driver.into(),
                endpoint: endpoint.into(),
                supported_versions: vec![CSI_VERSION.into()],
            },
            verdict: Arc::new(tx),
        };
        (server, rx)
    }
}

struct GetInfo(PluginInfo);

impl UnaryService<InfoRequest> for GetInfo {
    type Response = PluginInfo;
    type Future = BoxFuture<tonic::Response<PluginInfo>, tonic::Status>;

    fn call(&mut self, _request: tonic::Request<InfoRequest>) -> Self::Future {
        let info = self.0.clone();
        tracing::info!(driver = %info.name, endpoint = %info.endpoint, "the kubelet asks for the plugin's information");
        Box::pin(async move { Ok(tonic::Response::new(info)) })
    }
}

struct Notify(Arc<watch::Sender<Option<RegistrationStatus>>>);

impl UnaryService<RegistrationStatus> for Notify {
    type Response = RegistrationStatusResponse;
    type Future = BoxFuture<tonic::Response<RegistrationStatusResponse>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<RegistrationStatus>) -> Self::Future {
        let status = request.into_inner();
        if status.plugin_registered {
            tracing::info!("the kubelet registered the driver");
        } else {
            tracing::error!(error = %status.error, "the kubelet refused the driver's registration");
        }
        self.0.send_replace(Some(status));
        Box::pin(async { Ok(tonic::Response::new(RegistrationStatusResponse {})) })
    }
}

impl<B> Service<http::Request<B>> for RegistrationServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::BoxBody>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match request.uri().path() {
            GET_INFO => {
                let method = GetInfo(self.info.clone());
                Box::pin(async move {
                    let mut grpc = Grpc::new(tonic::codec::ProstCodec::default());
                    Ok(grpc.unary(method, request).await)
                })
            }
            NOTIFY => {
                let method = Notify(self.verdict.clone());
                Box::pin(async move {
                    let mut grpc = Grpc::new(tonic::codec::ProstCodec::default());
                    Ok(grpc.unary(method, request).await)
                })
            }
            other => {
                let status = tonic::Status::unimplemented(format!("no method {other}"));
                Box::pin(async move { Ok(status.to_http()) })
            }
        }
    }
}

impl NamedService for RegistrationServer {
    const NAME: &'static str = "pluginregistration.Registration";
}
