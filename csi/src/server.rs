//! Serving gRPC services on a Unix socket, every connection through the `:authority` relay
//! (`authority`), so the kubelet's clients are understood whatever authority they send.

use crate::authority::{self, Relayed};
use futures::Stream;
use std::future::Future;
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_stream::StreamExt;

/// Serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The endpoint is not a Unix socket address.
    #[error("endpoint {0:?}: expected unix:///absolute/path (or an absolute path)")]
    Endpoint(String),
    /// The socket could not be prepared.
    #[error("socket {path}: {source}")]
    Socket {
        /// The socket.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("serving {path}: {source}")]
    Transport {
        /// The socket.
        path: PathBuf,
        /// The failure.
        source: tonic::transport::Error,
    },
}

/// The socket path of a CSI endpoint: `unix:///path`, `unix:/path` or `/path`.
pub fn socket_path(endpoint: &str) -> Result<PathBuf, ServeError> {
    let path = endpoint
        .strip_prefix("unix://")
        .or_else(|| endpoint.strip_prefix("unix:"))
        .unwrap_or(endpoint);
    let path = PathBuf::from(path);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(ServeError::Endpoint(endpoint.to_owned()))
    }
}

/// Binds a Unix socket, replacing a stale one left by an earlier run; yields the relayed
/// connections.
pub fn bind(path: &Path) -> Result<impl Stream<Item = std::io::Result<Relayed>>, ServeError> {
    let err = |source| ServeError::Socket {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        _ => {}
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    Ok(UnixListenerStream::new(listener).map(|accepted| accepted.map(authority::relay)))
}

/// How long calls in flight may take to finish once the plugin is stopping; clients that keep
/// their connections open do not hold the plugin up longer.
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves `router` on the socket at `path` until `stop` resolves (and the calls in flight end,
/// for at most [`GRACE`]), then removes the socket.
pub async fn serve(
    router: tonic::transport::server::Router,
    path: &Path,
    stop: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let incoming = bind(path)?;
    tracing::info!(socket = %path.display(), "serving");
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async move {
        stop.await;
        let _ = stopping_tx.send(());
    };
    let served = router.serve_with_incoming_shutdown(incoming, stop);
    tokio::pin!(served);
    let grace = async {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let served = tokio::select! {
        result = &mut served => result,
        () = grace => {
            tracing::info!(socket = %path.display(), "clients still connected after the grace period: closing");
            Ok(())
        }
    };
    let _ = std::fs::remove_file(path);
    served.map_err(|source| ServeError::Transport {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            socket_path("unix:///csi/csi.sock").unwrap(),
            PathBuf::from("/csi/csi.sock")
        );
        assert_eq!(
            socket_path("unix:/csi/csi.sock").unwrap(),
            PathBuf::from("/csi/csi.sock")
        );
        assert_eq!(
            socket_path("/csi/csi.sock").unwrap(),
            PathBuf::from("/csi/csi.sock")
        );
        assert!(socket_path("tcp://127.0.0.1:10000").is_err());
        assert!(socket_path("unix://relative.sock").is_err());
    }
}
