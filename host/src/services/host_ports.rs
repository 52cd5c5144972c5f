//! The port-allocation service (protocol 1.2): the host's book of host-network ports, shared
//! by every runtime controller, decided by [`crate::ports`].
//!
//! What survives a restart is each runtime's values ConfigMap, annotated with its ports when
//! the release is installed or upgraded (Fluid reads its values ConfigMaps back the same way):
//! the book is rebuilt from the watch cache of those ConfigMaps' metadata before any runtime
//! is reconciled, so no request is made for it. Ports handed out in a pass whose install did
//! not complete are not recorded: nothing runs on them yet, and the runtime asks again.

use crate::controller::caches::Caches;
use crate::ports::{parse_ports, AllocateError, PortBook, PortRange};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// The annotation on a runtime's values ConfigMap with the ports it holds (`20000,20001`).
pub const HOST_PORTS: &str = "fluid.io/host-ports";

/// The host's book of host-network ports.
pub struct HostPorts {
    range: PortRange,
    book: Mutex<PortBook>,
    /// The runtimes, to free the ports of one deleted while the controller was down.
    caches: OnceLock<Caches>,
}

impl HostPorts {
    /// An empty book handing out ports from `range`.
    pub fn new(range: PortRange) -> Self {
        Self {
            range,
            book: Mutex::default(),
            caches: OnceLock::new(),
        }
    }

    /// The range it hands out.
    pub fn range(&self) -> PortRange {
        self.range
    }

    fn book(&self) -> std::sync::MutexGuard<'_, PortBook> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rebuilds the book from the values ConfigMaps in `caches` (which must be ready), for
    /// the runtimes that still exist; returns how many runtimes hold ports.
    pub fn rebuild(&self, caches: &Caches) -> usize {
        let alive = runtime_uids(caches);
        let records = caches.values.store.state().into_iter().filter_map(|cm| {
            let ports = parse_ports(cm.metadata.annotations.as_ref()?.get(HOST_PORTS)?);
            let owner = cm
                .metadata
                .owner_references
                .iter()
                .flatten()
                .map(|o| o.uid.clone())
                .find(|uid| alive.contains(uid))?;
            Some((owner, ports))
        });
        let book = PortBook::from_records(records.collect::<Vec<_>>());
        let owners = book.owners().count();
        *self.book() = book;
        let _ = self.caches.set(caches.clone());
        owners
    }

    /// `count` ports for the runtime of uid `owner` (see [`PortBook::allocate`]).
    pub fn allocate(&self, owner: &str, count: usize) -> Result<Vec<u16>, AllocateError> {
        let alive = self.caches.get().map(runtime_uids);
        self.book().allocate(self.range, owner, count, |o| {
            alive.as_ref().is_none_or(|a| a.contains(o))
        })
    }

    /// The ports the runtime of uid `owner` holds.
    pub fn of(&self, owner: &str) -> Vec<u16> {
        self.book().of(owner).to_vec()
    }

    /// Frees the ports of the runtime of uid `owner` (it is being deleted).
    pub fn release(&self, owner: &str) -> bool {
        self.book().release(owner)
    }
}

/// The uids of every runtime of every kind the plugins serve.
fn runtime_uids(caches: &Caches) -> HashSet<String> {
    caches
        .runtimes
        .iter()
        .flat_map(|(_, w)| w.store.state())
        .filter_map(|o| o.metadata.uid.clone())
        .collect()
}
