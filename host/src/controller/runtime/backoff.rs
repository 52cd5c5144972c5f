//! The retry backoff of a failing runtime, and why a pass may be held back by it.
//!
//! A failing pass changes what the controller watches: a failed `helm upgrade` writes a release
//! record, the pass writes its condition. Each change wakes the runtime at once, so without a
//! hold the backoff never ran: a runtime whose chart the API server refused was upgraded about
//! ten times a second, each attempt a new failed release revision. A pass is held until the
//! backoff is over unless what a user changes to fix it changed: the runtime's spec (its
//! generation), its deletion, or its Dataset's spec.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::time::{Duration, Instant};

/// The backoff after the `n`th consecutive failure (from 0): 5 s doubling to 5 min.
pub fn after(n: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << n.min(6)).min(300))
}

/// What a user changes to fix a failing runtime: a change of these is retried at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// The runtime's `metadata.generation`.
    pub runtime_generation: Option<i64>,
    /// Whether the runtime is being deleted.
    pub deleting: bool,
    /// The Dataset's `metadata.generation`, `None` when there is no Dataset.
    pub dataset_generation: Option<i64>,
}

impl Inputs {
    /// The inputs of a runtime and its Dataset, from their metadata.
    pub fn of(runtime: &ObjectMeta, dataset: Option<&ObjectMeta>) -> Inputs {
        Inputs {
            runtime_generation: runtime.generation,
            deleting: runtime.deletion_timestamp.is_some(),
            dataset_generation: dataset.and_then(|d| d.generation),
        }
    }
}

/// A runtime's consecutive failures.
#[derive(Clone, Debug)]
pub struct Failures {
    /// How many passes in a row failed.
    pub count: u32,
    /// When the next attempt is due.
    pub retry_at: Instant,
    /// The inputs the last failing pass saw.
    pub inputs: Inputs,
}

impl Failures {
    /// The record after one more failure at `now` with `inputs`.
    pub fn next(previous: Option<&Failures>, inputs: Inputs, now: Instant) -> Failures {
        let count = previous.map_or(0, |f| f.count).saturating_add(1);
        Failures {
            count,
            retry_at: now + after(count - 1),
            inputs,
        }
    }
}

/// How long a pass at `now` with `inputs` waits: `None` runs it.
pub fn held(failures: Option<&Failures>, inputs: &Inputs, now: Instant) -> Option<Duration> {
    let f = failures?;
    if f.inputs != *inputs || now >= f.retry_at {
        return None;
    }
    Some(f.retry_at - now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(runtime: i64, deleting: bool, dataset: Option<i64>) -> Inputs {
        Inputs {
            runtime_generation: Some(runtime),
            deleting,
            dataset_generation: dataset,
        }
    }

    #[test]
    fn doubles_up_to_five_minutes() {
        assert_eq!(after(0), Duration::from_secs(5));
        assert_eq!(after(1), Duration::from_secs(10));
        assert_eq!(after(5), Duration::from_secs(160));
        assert_eq!(after(6), Duration::from_secs(300));
        assert_eq!(after(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn failures_count_and_push_the_retry_back() {
        let t0 = Instant::now();
        let first = Failures::next(None, inputs(1, false, Some(1)), t0);
        assert_eq!((first.count, first.retry_at), (1, t0 + after(0)));
        let t1 = t0 + Duration::from_secs(6);
        let second = Failures::next(Some(&first), inputs(1, false, Some(1)), t1);
        assert_eq!((second.count, second.retry_at), (2, t1 + after(1)));
    }

    #[test]
    fn a_pass_without_failures_runs() {
        assert_eq!(held(None, &inputs(1, false, None), Instant::now()), None);
    }

    #[test]
    fn a_pass_woken_by_its_own_writes_waits_for_the_backoff() {
        let t0 = Instant::now();
        let f = Failures::next(None, inputs(3, false, Some(2)), t0);
        let woken = t0 + Duration::from_millis(100);
        assert_eq!(
            held(Some(&f), &inputs(3, false, Some(2)), woken),
            Some(Duration::from_millis(4900))
        );
        // Due: the retry runs.
        assert_eq!(
            held(Some(&f), &inputs(3, false, Some(2)), t0 + after(0)),
            None
        );
    }

    #[test]
    fn what_a_user_changes_to_fix_it_runs_at_once() {
        let t0 = Instant::now();
        let f = Failures::next(None, inputs(3, false, Some(2)), t0);
        let soon = t0 + Duration::from_millis(100);
        for changed in [
            inputs(4, false, Some(2)),
            inputs(3, true, Some(2)),
            inputs(3, false, Some(3)),
            inputs(3, false, None),
        ] {
            assert_eq!(held(Some(&f), &changed, soon), None, "{changed:?}");
        }
    }
}
