//! One operation at a time per volume (stage/unstage) and per target path (publish, unpublish,
//! fuse recovery). A second caller is not queued: CSI asks the plugin to answer `Aborted`, and
//! the kubelet retries; the recovery loop skips the target until its next pass.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// The keys in use.
#[derive(Clone, Debug, Default)]
pub struct Locks {
    held: Arc<Mutex<HashSet<String>>>,
}

/// Holds a key until dropped.
#[derive(Debug)]
pub struct Guard {
    held: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl Locks {
    /// The key of a volume (stage, unstage).
    pub fn volume(volume_id: &str) -> String {
        format!("volume:{volume_id}")
    }

    /// The key of a target path (publish, unpublish, recovery).
    pub fn target(path: &std::path::Path) -> String {
        format!("target:{}", path.display())
    }

    /// Takes `key`, or `None` when another operation holds it.
    pub fn try_lock(&self, key: impl Into<String>) -> Option<Guard> {
        let key = key.into();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.insert(key.clone()).then(|| Guard {
            held: self.held.clone(),
            key,
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_per_key() {
        let locks = Locks::default();
        let a = locks.try_lock("volume/a").unwrap();
        assert!(locks.try_lock("volume/a").is_none());
        let _b = locks.try_lock("volume/b").unwrap();
        drop(a);
        assert!(locks.try_lock("volume/a").is_some());
    }
}
