//! Why a CSI call failed, and the gRPC code the kubelet gets for it.

use crate::attributes::AttributeError;
use crate::cluster::ClusterError;
use crate::mountinfo::ReadError;
use crate::mounts::MountError;
use crate::state::StateError;
use std::path::PathBuf;
use tonic::{Code, Status};

/// A failed CSI call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required request field is empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// The request asks for something this driver does not do.
    #[error("{0}")]
    Unsupported(String),
    /// A volume attribute is missing or wrong.
    #[error(transparent)]
    Attribute(#[from] AttributeError),
    /// Another call holds the volume or target.
    #[error("an operation on {0} is already in progress")]
    Busy(String),
    /// The engine's fuse did not mount the volume in time.
    #[error("{path} is not ready after {waited_secs} s: {why} (is the engine's fuse running on this node?)")]
    FuseNotReady {
        /// The fuse path.
        path: PathBuf,
        /// Seconds waited.
        waited_secs: u64,
        /// The last thing seen.
        why: String,
    },
    /// The sub path to publish does not exist in the mounted volume.
    #[error("{0} does not exist in the volume (attribute fluid_sub_path)")]
    SubPathMissing(PathBuf),
    /// The volume is still bind-mounted on the node.
    #[error("volume {volume} is still mounted at {targets}: the node keeps its fuse until they are unpublished")]
    InUse {
        /// The volume id.
        volume: String,
        /// The mount points, comma separated.
        targets: String,
    },
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A mount operation failed.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// The mount table could not be read.
    #[error(transparent)]
    Table(#[from] ReadError),
    /// An API call failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The state file could not be written.
    #[error(transparent)]
    State(#[from] StateError),
}

impl Error {
    /// Wraps an I/O error with what was done on which path.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }

    /// The gRPC status code of this failure.
    pub fn code(&self) -> Code {
        match self {
            Self::Missing(_) | Self::Unsupported(_) | Self::Attribute(_) => Code::InvalidArgument,
            Self::Busy(_) => Code::Aborted,
            Self::FuseNotReady { .. } => Code::Unavailable,
            Self::SubPathMissing(_) => Code::NotFound,
            Self::InUse { .. } => Code::FailedPrecondition,
            Self::Io { .. } | Self::Mount(_) | Self::Table(_) | Self::State(_) => Code::Internal,
            Self::Cluster(e) if matches!(&e.source, kube::Error::Api(s) if s.code == 404) => {
                Code::NotFound
            }
            Self::Cluster(_) => Code::Unavailable,
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        Status::new(e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_csi_spec() {
        assert_eq!(
            Status::from(Error::Missing("volume_id")).code(),
            Code::InvalidArgument
        );
        assert_eq!(Error::Busy("volume:x".into()).code(), Code::Aborted);
        let in_use = Error::InUse {
            volume: "v".into(),
            targets: "/a".into(),
        };
        assert_eq!(in_use.code(), Code::FailedPrecondition);
        assert!(in_use.to_string().contains("/a"));
    }
}
