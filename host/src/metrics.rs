//! The controller's Prometheus metrics, served on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabel {
    kind: String,
    hook: String,
}

/// Every metric the controller exports.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindLabel, Counter>,
    errors: Family<KindLabel, Counter>,
    durations: Family<KindLabel, Histogram>,
    hooks: Family<HookLabel, Histogram>,
    to_bound: Family<KindLabel, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("fluid");
        let reconciles = Family::<KindLabel, Counter>::default();
        let errors = Family::<KindLabel, Counter>::default();
        let durations = Family::<KindLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        let hooks = Family::<HookLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.00001, 4.0, 14))
        });
        let to_bound = Family::<KindLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.5, 2.0, 14))
        });
        registry.register("reconciles", "Reconciles per kind", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciles per kind",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile durations per kind",
            durations.clone(),
        );
        registry.register(
            "hook_duration_seconds",
            "Hook call latency per kind and hook",
            hooks.clone(),
        );
        registry.register(
            "time_to_bound_seconds",
            "Time from runtime creation to its Dataset being Bound",
            to_bound.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            durations,
            hooks,
            to_bound,
        }
    }
}

impl Metrics {
    /// Counts a reconcile of `kind` and its duration.
    pub fn observe_reconcile(&self, kind: &str, took: Duration, failed: bool) {
        let l = KindLabel {
            kind: kind.to_owned(),
        };
        self.reconciles.get_or_create(&l).inc();
        if failed {
            self.errors.get_or_create(&l).inc();
        }
        self.durations.get_or_create(&l).observe(took.as_secs_f64());
    }

    /// Records one hook call's latency.
    pub fn observe_hook(&self, kind: &str, hook: &str, took: Duration) {
        self.hooks
            .get_or_create(&HookLabel {
                kind: kind.to_owned(),
                hook: hook.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Records the time a runtime took from creation to Bound.
    pub fn observe_bound(&self, kind: &str, seconds: f64) {
        self.to_bound
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .observe(seconds);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
