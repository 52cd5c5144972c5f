//! Which pods use which PersistentVolumeClaims: an index kept from a pod watch, holding only
//! pod names per claim (not the pods), so deleting a volume or a Dataset asks "who uses this
//! claim?" in O(1) without listing the namespace's pods, and a pod that stops using a claim
//! triggers the wait it ends.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::utils::{Backoff, WatchStreamExt};
use kube::runtime::watcher::{self, Event};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use tokio::sync::{broadcast, watch};

/// A claim: `(namespace, claim name)`.
pub type ClaimKey = (String, String);

#[derive(Default)]
struct Index {
    /// Pods by claim.
    by_claim: HashMap<ClaimKey, BTreeSet<String>>,
    /// Claims by pod `(namespace, pod)`.
    by_pod: HashMap<(String, String), Vec<String>>,
}

impl Index {
    /// Records a pod's claims; returns the claims whose users changed.
    fn set(&mut self, ns: &str, pod: &str, claims: Vec<String>) -> Vec<ClaimKey> {
        let key = (ns.to_owned(), pod.to_owned());
        let old = if claims.is_empty() {
            self.by_pod.remove(&key).unwrap_or_default()
        } else {
            self.by_pod.insert(key, claims.clone()).unwrap_or_default()
        };
        let mut changed = vec![];
        for c in old.iter().filter(|c| !claims.contains(c)) {
            let k = (ns.to_owned(), c.clone());
            if let Some(pods) = self.by_claim.get_mut(&k) {
                pods.remove(pod);
                if pods.is_empty() {
                    self.by_claim.remove(&k);
                }
            }
            changed.push(k);
        }
        for c in claims.iter().filter(|c| !old.contains(c)) {
            let k = (ns.to_owned(), c.clone());
            self.by_claim
                .entry(k.clone())
                .or_default()
                .insert(pod.to_owned());
            changed.push(k);
        }
        changed
    }
}

/// The claims a pod holds: those of its volumes, unless it has finished.
pub fn claims_of(pod: &Pod) -> Vec<String> {
    let finished = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Succeeded" || p == "Failed");
    if finished {
        return vec![];
    }
    let mut claims: Vec<String> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            v.persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.clone())
        })
        .collect();
    claims.sort();
    claims.dedup();
    claims
}

/// The index, shared.
#[derive(Clone)]
pub struct ClaimIndex {
    index: Arc<RwLock<Index>>,
    changes: broadcast::Sender<ClaimKey>,
    ready: watch::Receiver<bool>,
}

impl ClaimIndex {
    /// Watches pods (cluster-wide) into the index.
    pub fn start(api: Api<Pod>, backoff: impl Backoff + 'static) -> ClaimIndex {
        let (changes, _) = broadcast::channel(4096);
        let (ready_tx, ready) = watch::channel(false);
        let index = Arc::new(RwLock::new(Index::default()));
        let this = ClaimIndex {
            index: index.clone(),
            changes: changes.clone(),
            ready,
        };
        let stream = watcher::watcher(api, watcher::Config::default()).backoff(backoff);
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut fresh: Option<Index> = None;
            while let Some(event) = stream.next().await {
                let Ok(event) = event else { continue };
                let changed = match event {
                    Event::Init => {
                        fresh = Some(Index::default());
                        vec![]
                    }
                    Event::InitApply(pod) => {
                        if let (Some(f), Some(ns), Some(name)) = (
                            fresh.as_mut(),
                            pod.metadata.namespace.as_deref(),
                            pod.metadata.name.as_deref(),
                        ) {
                            f.set(ns, name, claims_of(&pod));
                        }
                        vec![]
                    }
                    Event::InitDone => {
                        let mut changed = vec![];
                        if let (Some(f), Ok(mut i)) = (fresh.take(), index.write()) {
                            // Every claim whose users may differ after a relist.
                            changed.extend(i.by_claim.keys().cloned());
                            changed.extend(f.by_claim.keys().cloned());
                            *i = f;
                        }
                        let _ = ready_tx.send(true);
                        changed
                    }
                    Event::Apply(pod) => match (
                        pod.metadata.namespace.as_deref(),
                        pod.metadata.name.as_deref(),
                        index.write(),
                    ) {
                        (Some(ns), Some(name), Ok(mut i)) => i.set(ns, name, claims_of(&pod)),
                        _ => vec![],
                    },
                    Event::Delete(pod) => match (
                        pod.metadata.namespace.as_deref(),
                        pod.metadata.name.as_deref(),
                        index.write(),
                    ) {
                        (Some(ns), Some(name), Ok(mut i)) => i.set(ns, name, vec![]),
                        _ => vec![],
                    },
                };
                for c in changed {
                    let _ = changes.send(c);
                }
            }
        });
        this
    }

    /// Waits until the first list is indexed.
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// The pods (names) that use the claim `name` in `ns`, sorted.
    pub fn users(&self, ns: &str, name: &str) -> Vec<String> {
        self.index
            .read()
            .ok()
            .and_then(|i| {
                i.by_claim
                    .get(&(ns.to_owned(), name.to_owned()))
                    .map(|s| s.iter().cloned().collect())
            })
            .unwrap_or_default()
    }

    /// Claims whose users changed, from now on (`None` after a lag: reconsider everything).
    pub fn subscribe(&self) -> impl futures::Stream<Item = Option<ClaimKey>> + Send + 'static {
        let rx = self.changes.subscribe();
        futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(c) => Some((Some(c), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((None, rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(claims: &[&str], phase: &str) -> Pod {
        let volumes: Vec<_> = claims
            .iter()
            .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "app", "namespace": "team"},
            "spec": {"containers": [], "volumes": volumes},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    #[test]
    fn finished_pods_hold_no_claim() {
        assert_eq!(claims_of(&pod(&["demo", "demo"], "Running")), ["demo"]);
        assert!(claims_of(&pod(&["demo"], "Succeeded")).is_empty());
        assert!(claims_of(&pod(&["demo"], "Failed")).is_empty());
    }

    #[test]
    fn the_index_follows_a_pods_claims_and_reports_what_changed() {
        let mut i = Index::default();
        let k = |c: &str| ("team".to_owned(), c.to_owned());
        assert_eq!(
            i.set("team", "app", vec!["a".into(), "b".into()]),
            [k("a"), k("b")]
        );
        assert_eq!(i.by_claim[&k("a")].len(), 1);
        assert_eq!(i.set("team", "app", vec!["b".into()]), [k("a")]);
        assert!(!i.by_claim.contains_key(&k("a")));
        assert_eq!(i.set("team", "app", vec![]), [k("b")]);
        assert!(i.by_claim.is_empty() && i.by_pod.is_empty());
    }
}
