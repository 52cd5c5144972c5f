//! Fluid's periodic Sync, paced. A runtime that is set up is synced again one sync period after
//! its last sync; but the syncs are handed to the controller's queue a few at a time, so that
//! the queue never holds more than [`Periodic::cap`] of them. A change a watch brings (a runtime
//! in setup whose workers became ready, an edited spec) then waits behind at most those few
//! passes, however many runtimes are Bound and however slow their syncs are. (Requeued with
//! `Action::requeue`, 900 Bound runtimes at a 30 s period asked for 30 passes/s; a controller
//! doing 20 fell behind without end, and since the queue serves the earliest deadline first,
//! every overdue sync went before any new trigger: runtimes in setup were never served.)

use crate::controller::caches::StoredObject;
use kube::core::ApiResource;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `(namespace, name)` of a runtime.
pub type Key = (String, String);

/// How often the pacer looks for syncs that are due.
const TICK: Duration = Duration::from_millis(200);

/// One runtime's next sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    due: Instant,
    /// When it was handed to the controller, until its pass finishes.
    sent: Option<Instant>,
}

/// The syncs of one runtime controller.
pub struct Periodic {
    entries: Mutex<HashMap<Key, Entry>>,
    period: Duration,
    cap: usize,
    stale: Duration,
}

impl Periodic {
    /// Syncs every `period`, at most `cap` waiting or running at once; a sync handed over
    /// longer than `stale` ago whose pass never finished counts as lost.
    pub fn new(period: Duration, cap: usize, stale: Duration) -> Self {
        Self {
            entries: Mutex::default(),
            period,
            cap: cap.max(1),
            stale,
        }
    }

    /// At most this many syncs wait in the controller's queue or run.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A pass over `key` finished: one that synced the runtime schedules the next sync a period
    /// from `now`; any other (setup, deletion, a failure) leaves the next pass to its own
    /// requeue or to the watches.
    pub fn finished(&self, key: Key, synced: bool, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if synced {
            entries.insert(
                key,
                Entry {
                    due: now + self.period,
                    sent: None,
                },
            );
        } else {
            entries.remove(&key);
        }
    }

    /// The syncs to hand over now; `exists` says whether a runtime is still there.
    fn take(&self, now: Instant, exists: impl Fn(&Key) -> bool) -> Vec<Key> {
        let Ok(mut entries) = self.entries.lock() else {
            return vec![];
        };
        // Only the due ones are looked up (a gone runtime leaves at its due time): every tick
        // looking up every runtime cost more than the syncs' own lookups at 1000 runtimes.
        entries.retain(|k, e| e.due > now || exists(k));
        pick(&mut entries, now, self.cap, self.stale)
    }

    /// The controller's trigger stream of syncs for runtimes of `ar` found in `store`.
    pub fn triggers(
        self: Arc<Self>,
        ar: ApiResource,
        store: Store<StoredObject>,
    ) -> futures::stream::BoxStream<'static, ObjectRef<StoredObject>> {
        use futures::StreamExt;
        let reference = move |(ns, name): &Key| ObjectRef::new_with(name, ar.clone()).within(ns);
        futures::stream::unfold((), move |()| {
            let this = self.clone();
            let store = store.clone();
            let reference = reference.clone();
            async move {
                tokio::time::sleep(TICK).await;
                let keys = this.take(Instant::now(), |k| store.get(&reference(k)).is_some());
                let refs: Vec<_> = keys.iter().map(reference).collect();
                Some((futures::stream::iter(refs), ()))
            }
        })
        .flatten()
        .boxed()
    }
}

/// Which syncs to hand over at `now`: the due ones, longest overdue first, while fewer than
/// `cap` are out; marks them sent. A sync out for more than `stale` no longer counts as out
/// and is due again.
fn pick(entries: &mut HashMap<Key, Entry>, now: Instant, cap: usize, stale: Duration) -> Vec<Key> {
    for e in entries.values_mut() {
        if e.sent.is_some_and(|at| now.duration_since(at) > stale) {
            e.sent = None;
            e.due = now;
        }
    }
    let out = entries.values().filter(|e| e.sent.is_some()).count();
    let mut due: Vec<(Instant, Key)> = entries
        .iter()
        .filter(|(_, e)| e.sent.is_none() && e.due <= now)
        .map(|(k, e)| (e.due, k.clone()))
        .collect();
    due.sort();
    let picked: Vec<Key> = due
        .into_iter()
        .take(cap.saturating_sub(out))
        .map(|(_, k)| k)
        .collect();
    for k in &picked {
        if let Some(e) = entries.get_mut(k) {
            e.sent = Some(now);
        }
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> Key {
        ("team".to_owned(), n.to_owned())
    }

    const PERIOD: Duration = Duration::from_secs(30);
    const STALE: Duration = Duration::from_secs(600);

    #[test]
    fn a_sync_is_due_one_period_after_the_last() {
        let p = Periodic::new(PERIOD, 4, STALE);
        let t0 = Instant::now();
        p.finished(key("a"), true, t0);
        assert!(p.take(t0 + PERIOD / 2, |_| true).is_empty());
        assert_eq!(p.take(t0 + PERIOD, |_| true), vec![key("a")]);
        // Handed over once: not again while its pass runs.
        assert!(p.take(t0 + PERIOD * 2, |_| true).is_empty());
        p.finished(key("a"), true, t0 + PERIOD * 2);
        assert!(p.take(t0 + PERIOD * 2, |_| true).is_empty());
        assert_eq!(p.take(t0 + PERIOD * 3, |_| true), vec![key("a")]);
    }

    #[test]
    fn at_most_cap_syncs_are_out_longest_overdue_first() {
        let p = Periodic::new(PERIOD, 2, STALE);
        let t0 = Instant::now();
        for (i, n) in ["a", "b", "c", "d"].iter().enumerate() {
            p.finished(key(n), true, t0 + Duration::from_secs(i as u64));
        }
        let late = t0 + PERIOD * 3;
        assert_eq!(p.take(late, |_| true), vec![key("a"), key("b")]);
        assert!(p.take(late, |_| true).is_empty(), "two are out");
        p.finished(key("a"), true, late);
        assert_eq!(p.take(late, |_| true), vec![key("c")]);
        p.finished(key("b"), true, late);
        p.finished(key("c"), true, late);
        assert_eq!(p.take(late, |_| true), vec![key("d")]);
    }

    #[test]
    fn a_pass_that_did_not_sync_leaves_the_runtime_to_its_own_requeue() {
        let p = Periodic::new(PERIOD, 4, STALE);
        let t0 = Instant::now();
        p.finished(key("a"), true, t0);
        p.finished(key("a"), false, t0 + Duration::from_secs(1));
        assert!(p.take(t0 + PERIOD * 2, |_| true).is_empty());
    }

    #[test]
    fn a_runtime_gone_is_forgotten_and_frees_its_place() {
        let p = Periodic::new(PERIOD, 1, STALE);
        let t0 = Instant::now();
        p.finished(key("a"), true, t0);
        p.finished(key("b"), true, t0 + Duration::from_secs(1));
        let late = t0 + PERIOD * 2;
        assert_eq!(p.take(late, |_| true), vec![key("a")]);
        // "a" was deleted before its pass ran: it no longer holds the only place.
        assert_eq!(p.take(late, |k| k != &key("a")), vec![key("b")]);
        p.finished(key("b"), true, late);
        assert!(p.take(late + PERIOD * 2, |k| k != &key("a")) == vec![key("b")]);
    }

    #[test]
    fn a_sync_lost_for_longer_than_stale_is_handed_over_again() {
        let p = Periodic::new(PERIOD, 1, STALE);
        let t0 = Instant::now();
        p.finished(key("a"), true, t0);
        assert_eq!(p.take(t0 + PERIOD, |_| true), vec![key("a")]);
        assert!(p.take(t0 + PERIOD + STALE, |_| true).is_empty());
        assert_eq!(
            p.take(t0 + PERIOD + STALE + Duration::from_secs(1), |_| true),
            vec![key("a")]
        );
    }

    #[test]
    fn the_cap_is_at_least_one() {
        assert_eq!(Periodic::new(PERIOD, 0, STALE).cap(), 1);
    }
}
