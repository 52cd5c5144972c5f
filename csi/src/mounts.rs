//! The mount system calls the plugin makes, and a bounded look at whether a path answers.
//! Thin I/O: what to mount where is decided elsewhere.

use crate::mountinfo::{MountTable, ReadError};
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A mount operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// `mount --bind` failed.
    #[error("bind-mounting {from} on {target}: {errno}")]
    Bind {
        /// Source.
        from: PathBuf,
        /// Target.
        target: PathBuf,
        /// The system's answer.
        errno: Errno,
    },
    /// The read-only remount of a fresh bind failed (the bind was undone).
    #[error("remounting {target} read-only: {errno}")]
    ReadOnly {
        /// Target.
        target: PathBuf,
        /// The system's answer.
        errno: Errno,
    },
    /// `umount` failed.
    #[error("unmounting {target}: {errno}")]
    Unmount {
        /// Target.
        target: PathBuf,
        /// The system's answer.
        errno: Errno,
    },
    /// Unmounting did not end (something keeps mounting there).
    #[error("{target} is still a mount point after {count} unmounts")]
    Endless {
        /// Target.
        target: PathBuf,
        /// Unmounts done.
        count: usize,
    },
    /// The mount table could not be read.
    #[error(transparent)]
    Table(#[from] ReadError),
}

/// Binds `from` on `target` (a directory that exists), read-only if asked. The read-only
/// remount keeps the flags the bind inherited (a FUSE mount's `nosuid,nodev`).
pub fn bind(from: &Path, target: &Path, read_only: bool) -> Result<(), MountError> {
    mount(
        Some(from),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|errno| MountError::Bind {
        from: from.to_owned(),
        target: target.to_owned(),
        errno,
    })?;
    if !read_only {
        return Ok(());
    }
    let kept = MountTable::read()?
        .top(target)
        .map(|m| flags_of(&m.options))
        .unwrap_or_else(MsFlags::empty);
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept;
    if let Err(errno) = mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
        // Never leave a writable bind where a read-only one was asked for.
        if let Err(e) = unmount(target) {
            tracing::error!(error = %e, "undoing a bind whose read-only remount failed");
        }
        return Err(MountError::ReadOnly {
            target: target.to_owned(),
            errno,
        });
    }
    Ok(())
}

/// The mount flags a remount must repeat to keep a mount's per-mount options.
fn flags_of(options: &[String]) -> MsFlags {
    options.iter().fold(MsFlags::empty(), |acc, o| {
        acc | match o.as_str() {
            "nosuid" => MsFlags::MS_NOSUID,
            "nodev" => MsFlags::MS_NODEV,
            "noexec" => MsFlags::MS_NOEXEC,
            "noatime" => MsFlags::MS_NOATIME,
            "nodiratime" => MsFlags::MS_NODIRATIME,
            "relatime" => MsFlags::MS_RELATIME,
            _ => MsFlags::empty(),
        }
    })
}

/// Unmounts the visible mount at `target`.
pub fn unmount(target: &Path) -> Result<(), MountError> {
    umount2(target, MntFlags::empty()).map_err(|errno| MountError::Unmount {
        target: target.to_owned(),
        errno,
    })
}

/// Detaches the mount at `path` now and lets the kernel finish when it is no longer busy
/// (for a dead FUSE mount point, which the engine's fuse must be able to mount over again).
pub fn detach(path: &Path) -> Result<(), MountError> {
    umount2(path, MntFlags::MNT_DETACH).map_err(|errno| MountError::Unmount {
        target: path.to_owned(),
        errno,
    })
}

/// Unmounts `target` until it is no longer a mount point (recoveries stack binds there);
/// returns how many mounts were removed.
pub fn unmount_all(target: &Path, limit: usize) -> Result<usize, MountError> {
    let mut count = 0;
    while MountTable::read()?.is_mount_point(target) {
        if count >= limit {
            return Err(MountError::Endless {
                target: target.to_owned(),
                count,
            });
        }
        match unmount(target) {
            // Gone between the read and the call.
            Err(MountError::Unmount {
                errno: Errno::EINVAL | Errno::ENOENT,
                ..
            }) => break,
            Err(e) => return Err(e),
            Ok(()) => count += 1,
        }
    }
    Ok(count)
}

/// Whether a file system answers at a path.
#[derive(Debug)]
pub enum Liveness {
    /// It answers.
    Live,
    /// ENOTCONN: the FUSE daemon behind it is gone.
    Disconnected,
    /// It does not exist.
    Missing,
    /// It did not answer in time (a hung FUSE daemon).
    NoAnswer,
    /// Another error.
    Failed(std::io::Error),
}

/// Asks the file system at `path` for its statistics (`statfs`), without letting a hung FUSE
/// daemon block the caller longer than `timeout`. Unlike `stat`, which the kernel may answer
/// from its attribute cache for a while after the daemon died, `statfs` always reaches the
/// daemon.
pub async fn probe(path: &Path, timeout: Duration) -> Liveness {
    let owned = path.to_owned();
    let statfs = tokio::task::spawn_blocking(move || nix::sys::statvfs::statvfs(&owned));
    match tokio::time::timeout(timeout, statfs).await {
        Err(_) => Liveness::NoAnswer,
        Ok(Err(join)) => Liveness::Failed(std::io::Error::other(join.to_string())),
        Ok(Ok(Ok(_))) => Liveness::Live,
        Ok(Ok(Err(Errno::ENOTCONN))) => Liveness::Disconnected,
        Ok(Ok(Err(Errno::ENOENT))) => Liveness::Missing,
        Ok(Ok(Err(errno))) => Liveness::Failed(errno.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remount_keeps_the_per_mount_flags() {
        let opts: Vec<String> = ["rw", "nosuid", "nodev", "relatime"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            flags_of(&opts),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME
        );
    }

    #[tokio::test]
    async fn probes_paths() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            probe(dir.path(), Duration::from_secs(5)).await,
            Liveness::Live
        ));
        assert!(matches!(
            probe(&dir.path().join("no"), Duration::from_secs(5)).await,
            Liveness::Missing
        ));
    }
}
