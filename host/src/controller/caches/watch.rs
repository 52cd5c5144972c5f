//! One watched kind: a cache filled by a watch that comes back within seconds after an
//! outage, and every change fanned out to whoever subscribed.

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{store::Writer, Lookup, ObjectRef, Store};
use kube::runtime::utils::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// How many changes a slow controller may lag behind before it resynchronises everything.
const FANOUT_CAPACITY: usize = 4096;

/// A change seen by a watch: the object as last seen (for a deletion, as it was).
#[derive(Debug)]
pub struct Change<K> {
    /// The object.
    pub object: Arc<K>,
    /// Whether it was deleted.
    pub deleted: bool,
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        Self {
            object: self.object.clone(),
            deleted: self.deleted,
        }
    }
}

/// One watched kind: its cache and its changes.
pub struct Watched<K: Lookup + Clone + 'static>
where
    K::DynamicType: Eq + Hash + Clone,
{
    /// The cache.
    pub store: Store<K>,
    changes: broadcast::Sender<Change<K>>,
}

impl<K: Lookup + Clone + 'static> Clone for Watched<K>
where
    K::DynamicType: Eq + Hash + Clone,
{
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl<K: Lookup + Clone + Send + Sync + 'static> Watched<K>
where
    K::DynamicType: Eq + Hash + Clone,
{
    /// Every change from now on. A receiver that lags behind gets `None` once (it should
    /// then reconsider everything) and continues.
    pub fn subscribe(&self) -> impl futures::Stream<Item = Option<Change<K>>> + Send + 'static {
        let rx = self.changes.subscribe();
        futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(change) => Some((Some(change), rx)),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "a controller fell behind a watch: resyncing");
                    Some((None, rx))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
    }
}

/// How long a broken watch waits before it is re-established: short, so that the controller
/// catches up within seconds of an API server outage (kube's default waits up to 30 s).
pub fn backoff() -> impl kube::runtime::utils::Backoff {
    // 0.25 s doubling to 4 s with jitter, reset after a minute of health.
    let exponential = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(4))
        .with_jitter()
        .without_max_times();
    kube::runtime::utils::ResetTimerBackoff::new(
        watcher::ExponentialBackoff::from(exponential),
        Duration::from_secs(60),
    )
}

/// Starts watching `api` into a cache, fanning every change out to subscribers.
pub fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    dyntype: <K as kube::Resource>::DynamicType,
    what: &'static str,
) -> Watched<K>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    <K as kube::Resource>::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    let mut writer: Writer<K> = Writer::new(dyntype.clone());
    let store = writer.as_reader();
    let cached = store.clone();
    let (changes, _) = broadcast::channel(FANOUT_CAPACITY);
    let tx = changes.clone();
    // managedFields are most of an object's bytes and nothing here reads them.
    let stream = watcher::watcher(api, config)
        .modify(|o| o.meta_mut().managed_fields = None)
        .backoff(backoff());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut healthy = true;
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    if !healthy {
                        tracing::info!(watch = what, "watch re-established");
                        healthy = true;
                    }
                    // Deletions are fanned out from the cached copy (the store drops it).
                    let deleted = match &event {
                        Event::Delete(o) => Some(Arc::new(o.clone())),
                        _ => None,
                    };
                    writer.apply_watcher_event(&event);
                    match event {
                        Event::Apply(o) | Event::InitApply(o) => {
                            // The cache's own copy, not a second one: a change that waits in
                            // the fan-out for a subscriber behind (up to FANOUT_CAPACITY per
                            // kind) then costs a reference, not a whole object. The initial
                            // list is cached only when it ends: its changes keep their own.
                            let object = cached
                                .get(&ObjectRef::from_obj_with(&o, dyntype.clone()))
                                .unwrap_or_else(|| Arc::new(o));
                            let _ = tx.send(Change {
                                object,
                                deleted: false,
                            });
                        }
                        Event::Delete(_) => {
                            if let Some(object) = deleted {
                                let _ = tx.send(Change {
                                    object,
                                    deleted: true,
                                });
                            }
                        }
                        Event::Init | Event::InitDone => {}
                    }
                }
                Err(e) => {
                    if healthy {
                        tracing::warn!(watch = what, error = %e, "watch failed; retrying");
                        healthy = false;
                    }
                }
            }
        }
    });
    Watched { store, changes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_watch_is_retried_within_seconds() {
        // kube's default grows to 30 s (plus jitter), which after an outage kept new runtimes
        // waiting; this one stays at 4 s, at most twice that with jitter.
        let delays: Vec<Duration> = backoff().take(30).collect();
        assert_eq!(delays.len(), 30, "it never gives up");
        assert!(
            delays.iter().all(|d| *d <= Duration::from_secs(8)),
            "{delays:?}"
        );
        assert!(delays[0] < Duration::from_secs(1), "{delays:?}");
    }
}
