//! Node ports for host-network runtimes: which ports a runtime gets. Pure functions of the
//! book (who holds what) and the request; the host service that keeps the book, records it
//! and rebuilds it after a restart is [`crate::services::HostPorts`].
//!
//! Fluid's rule (`pkg/ddc/base/portallocator`): ports come from one range for the whole
//! cluster (`--runtime-node-port-range`, 20000-26000 for Alluxio), a port belongs to one
//! runtime at a time, a runtime keeps its ports over reconciles and restarts, and they return
//! to the range when it is deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// Fluid's default range for the Alluxio family's host-network ports.
pub const DEFAULT_RANGE: PortRange = PortRange {
    first: 20000,
    last: 26000,
};

/// The ports the host hands out, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// The lowest port.
    pub first: u16,
    /// The highest port (included).
    pub last: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// A port range that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("port range {given:?}: {why} (expected FIRST-LAST, e.g. 20000-26000)")]
pub struct RangeError {
    given: String,
    why: &'static str,
}

impl FromStr for PortRange {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| RangeError {
            given: s.to_owned(),
            why,
        };
        let (a, b) = s.trim().split_once('-').ok_or_else(|| err("no dash"))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| err("not a port number (1-65535)"))
        };
        let (first, last) = (port(a)?, port(b)?);
        if first > last {
            return Err(err("the first port is above the last"));
        }
        Ok(PortRange { first, last })
    }
}

/// The ports held, by owner (a runtime's uid).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortBook {
    held: BTreeMap<String, Vec<u16>>,
}

/// Why a runtime gets no ports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocateError {
    /// The range has fewer free ports than asked.
    #[error(
        "the host-network port range {range} has {free} free ports, {wanted} more are needed \
         (widen --runtime-node-port-range or delete runtimes)"
    )]
    Exhausted {
        /// The range.
        range: PortRange,
        /// Ports still free in it.
        free: usize,
        /// Ports this request needs beyond what the runtime holds.
        wanted: usize,
    },
}

impl PortBook {
    /// The book as recorded: each owner's ports. A port recorded for two owners (records
    /// written by two controllers at once) stays with the first owner by uid order; the
    /// other loses it and gets a new one when it asks next.
    pub fn from_records(records: impl IntoIterator<Item = (String, Vec<u16>)>) -> Self {
        let sorted: BTreeMap<String, Vec<u16>> = records.into_iter().collect();
        let mut taken = BTreeSet::new();
        let held = sorted
            .into_iter()
            .map(|(owner, ports)| {
                let mine: Vec<u16> = ports.into_iter().filter(|p| taken.insert(*p)).collect();
                (owner, mine)
            })
            .filter(|(_, ports)| !ports.is_empty())
            .collect();
        PortBook { held }
    }

    /// The ports `owner` holds (empty when none).
    pub fn of(&self, owner: &str) -> &[u16] {
        self.held.get(owner).map(Vec::as_slice).unwrap_or_default()
    }

    /// Every owner holding ports.
    pub fn owners(&self) -> impl Iterator<Item = &str> {
        self.held.keys().map(String::as_str)
    }

    /// Frees what `owner` holds; `true` when it held something.
    pub fn release(&mut self, owner: &str) -> bool {
        self.held.remove(owner).is_some()
    }

    /// Gives `owner` `count` ports from `range` and returns them: the ones it holds first (in
    /// the order they were handed out), then the lowest free ones. Ports of owners that are
    /// not `alive` (deleted while the controller did not see it) are free again. A smaller
    /// count frees the tail. Ports outside the range (it was narrowed) are kept: they are in
    /// use, and moving them would restart the runtime's pods.
    pub fn allocate(
        &mut self,
        range: PortRange,
        owner: &str,
        count: usize,
        alive: impl Fn(&str) -> bool,
    ) -> Result<Vec<u16>, AllocateError> {
        self.held.retain(|o, _| o == owner || alive(o));
        let mut mine = self.held.remove(owner).unwrap_or_default();
        mine.truncate(count);
        let wanted = count - mine.len();
        if wanted > 0 {
            let taken: BTreeSet<u16> = self.held.values().flatten().copied().collect();
            let free: Vec<u16> = (range.first..=range.last)
                .filter(|p| !taken.contains(p) && !mine.contains(p))
                .take(wanted)
                .collect();
            if free.len() < wanted {
                let free_in_range = (range.first..=range.last)
                    .filter(|p| !taken.contains(p) && !mine.contains(p))
                    .count();
                if !mine.is_empty() {
                    self.held.insert(owner.to_owned(), mine);
                }
                return Err(AllocateError::Exhausted {
                    range,
                    free: free_in_range,
                    wanted,
                });
            }
            mine.extend(free);
        }
        if !mine.is_empty() {
            self.held.insert(owner.to_owned(), mine.clone());
        }
        Ok(mine)
    }
}

/// The ports as recorded on the runtime's values ConfigMap: `20000,20001,...`.
pub fn format_ports(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a recorded list; what does not read as a port is skipped (a hand-edited record
/// must not take the controller down).
pub fn parse_ports(recorded: &str) -> Vec<u16> {
    recorded
        .split(',')
        .filter_map(|p| p.trim().parse::<u16>().ok())
        .filter(|p| *p > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: PortRange = PortRange {
        first: 100,
        last: 104,
    };

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn ranges_read_as_fluid_writes_them() {
        assert_eq!("20000-26000".parse::<PortRange>(), Ok(DEFAULT_RANGE));
        assert_eq!(DEFAULT_RANGE.to_string(), "20000-26000");
        for bad in ["20000", "b-c", "0-10", "26000-20000", "1-70000"] {
            let e = bad.parse::<PortRange>().unwrap_err().to_string();
            assert!(e.starts_with(&format!("port range {bad:?}: ")), "{e}");
        }
    }

    #[test]
    fn two_runtimes_get_disjoint_ports_and_each_keeps_its_own() {
        let mut book = PortBook::default();
        let a = book.allocate(DEFAULT_RANGE, "a", 3, all).unwrap();
        let b = book.allocate(DEFAULT_RANGE, "b", 3, all).unwrap();
        assert_eq!(a, [20000, 20001, 20002]);
        assert_eq!(b, [20003, 20004, 20005]);
        assert_eq!(book.allocate(DEFAULT_RANGE, "a", 3, all).unwrap(), a);
        assert_eq!(book.allocate(DEFAULT_RANGE, "b", 3, all).unwrap(), b);
    }

    #[test]
    fn a_larger_count_keeps_the_ports_and_a_smaller_one_frees_the_tail() {
        let mut book = PortBook::default();
        book.allocate(SMALL, "a", 2, all).unwrap();
        book.allocate(SMALL, "b", 1, all).unwrap();
        assert_eq!(book.allocate(SMALL, "a", 3, all).unwrap(), [100, 101, 103]);
        assert_eq!(book.allocate(SMALL, "a", 1, all).unwrap(), [100]);
        assert_eq!(book.allocate(SMALL, "c", 2, all).unwrap(), [101, 103]);
        assert_eq!(
            book.allocate(SMALL, "a", 0, all).unwrap(),
            Vec::<u16>::new()
        );
        assert_eq!(book.of("a"), &[] as &[u16]);
    }

    #[test]
    fn released_and_dead_owners_return_their_ports() {
        let mut book = PortBook::default();
        book.allocate(SMALL, "a", 2, all).unwrap();
        book.allocate(SMALL, "b", 2, all).unwrap();
        assert!(book.release("a"));
        assert!(!book.release("a"));
        assert_eq!(book.allocate(SMALL, "c", 2, all).unwrap(), [100, 101]);
        // b was deleted while nobody watched: its ports are free for d.
        let d = book.allocate(SMALL, "d", 3, |o| o != "b").unwrap();
        assert_eq!(d, [102, 103, 104]);
        assert_eq!(book.owners().collect::<Vec<_>>(), ["c", "d"]);
    }

    #[test]
    fn an_exhausted_range_says_so_and_keeps_what_the_runtime_held() {
        let mut book = PortBook::default();
        book.allocate(SMALL, "a", 3, all).unwrap();
        book.allocate(SMALL, "b", 1, all).unwrap();
        let e = book.allocate(SMALL, "b", 3, all).unwrap_err();
        assert_eq!(
            e,
            AllocateError::Exhausted {
                range: SMALL,
                free: 1,
                wanted: 2
            }
        );
        assert!(e.to_string().starts_with(
            "the host-network port range 100-104 has 1 free ports, 2 more are needed"
        ));
        assert_eq!(book.of("b"), [103]);
        assert_eq!(book.of("a"), [100, 101, 102]);
    }

    #[test]
    fn the_book_rebuilt_from_records_gives_everyone_their_ports_back() {
        let mut before = PortBook::default();
        let a = before.allocate(DEFAULT_RANGE, "a", 4, all).unwrap();
        let b = before.allocate(DEFAULT_RANGE, "b", 2, all).unwrap();
        let records = before
            .owners()
            .map(|o| (o.to_owned(), parse_ports(&format_ports(before.of(o)))))
            .collect::<Vec<_>>();
        let mut after = PortBook::from_records(records);
        assert_eq!(after, before);
        let c = after.allocate(DEFAULT_RANGE, "c", 2, all).unwrap();
        assert_eq!(c, [20006, 20007]);
        assert_eq!(after.allocate(DEFAULT_RANGE, "a", 4, all).unwrap(), a);
        assert_eq!(after.allocate(DEFAULT_RANGE, "b", 2, all).unwrap(), b);
    }

    #[test]
    fn a_port_recorded_twice_stays_with_one_owner() {
        let book = PortBook::from_records([
            ("b".to_owned(), vec![7, 8]),
            ("a".to_owned(), vec![8, 9]),
            ("c".to_owned(), vec![9]),
        ]);
        assert_eq!(book.of("a"), [8, 9]);
        assert_eq!(book.of("b"), [7]);
        assert_eq!(book.of("c"), &[] as &[u16]);
        assert_eq!(parse_ports(" 20000, x,0,20001"), [20000, 20001]);
    }

    #[test]
    fn ports_outside_a_narrowed_range_are_kept() {
        let mut book = PortBook::from_records([("a".to_owned(), vec![90, 91])]);
        assert_eq!(book.allocate(SMALL, "a", 3, all).unwrap(), [90, 91, 100]);
    }
}
