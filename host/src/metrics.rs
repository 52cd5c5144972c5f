//! The controller's Prometheus metrics, served on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabel {
    plugin: String,
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
    hook_threads: Family<PluginLabel, Gauge>,
    hooks_in_flight: Family<PluginLabel, Gauge>,
    hooks_stuck: Family<PluginLabel, Gauge>,
    /// Each plugin's hook thread limit, for readiness.
    thread_limits: Mutex<BTreeMap<String, i64>>,
}

/// A plugin whose every hook thread is held by a call past its deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckPlugin {
    /// The plugin's name.
    pub plugin: String,
    /// Its hook threads, all stuck.
    pub threads: i64,
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
        let hook_threads = Family::<PluginLabel, Gauge>::default();
        let hooks_in_flight = Family::<PluginLabel, Gauge>::default();
        let hooks_stuck = Family::<PluginLabel, Gauge>::default();
        registry.register(
            "hook_threads",
            "Hook calls a plugin may run at once (its thread limit)",
            hook_threads.clone(),
        );
        registry.register(
            "hooks_in_flight",
            "Hook calls of a plugin whose thread has not returned yet",
            hooks_in_flight.clone(),
        );
        registry.register(
            "hooks_stuck",
            "Hook calls of a plugin past their deadline whose thread has not returned yet",
            hooks_stuck.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            durations,
            hooks,
            to_bound,
            hook_threads,
            hooks_in_flight,
            hooks_stuck,
            thread_limits: Mutex::default(),
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

    /// Sets a plugin's hook thread limit.
    pub fn hook_thread_limit(&self, plugin: &str, limit: usize) {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.hook_threads
            .get_or_create(&plugin_label(plugin))
            .set(limit);
        if let Ok(mut limits) = self.thread_limits.lock() {
            limits.insert(plugin.to_owned(), limit);
        }
    }

    /// A hook thread of `plugin` started.
    pub fn hook_started(&self, plugin: &str) {
        self.hooks_in_flight
            .get_or_create(&plugin_label(plugin))
            .inc();
    }

    /// A hook call of `plugin` ran past its deadline and its thread still runs.
    pub fn hook_stuck(&self, plugin: &str) {
        self.hooks_stuck.get_or_create(&plugin_label(plugin)).inc();
    }

    /// A hook thread of `plugin` returned; `was_stuck` when it had run past its deadline.
    pub fn hook_returned(&self, plugin: &str, was_stuck: bool) {
        let label = plugin_label(plugin);
        self.hooks_in_flight.get_or_create(&label).dec();
        if was_stuck {
            self.hooks_stuck.get_or_create(&label).dec();
        }
    }

    /// The plugins whose every hook thread is held by a call past its deadline: their
    /// runtimes are not served until those calls return.
    pub fn stuck_plugins(&self) -> Vec<StuckPlugin> {
        let Ok(limits) = self.thread_limits.lock() else {
            return Vec::new();
        };
        limits
            .iter()
            .filter(|(plugin, limit)| {
                self.hooks_stuck.get_or_create(&plugin_label(plugin)).get() >= **limit
            })
            .map(|(plugin, limit)| StuckPlugin {
                plugin: plugin.clone(),
                threads: *limit,
            })
            .collect()
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

fn plugin_label(plugin: &str) -> PluginLabel {
    PluginLabel {
        plugin: plugin.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_is_stuck_when_every_thread_is_past_its_deadline() {
        let m = Metrics::default();
        m.hook_thread_limit("hang", 2);
        m.hook_thread_limit("alpha", 2);
        for _ in 0..2 {
            m.hook_started("hang");
            m.hook_stuck("hang");
        }
        m.hook_started("alpha");
        assert_eq!(
            m.stuck_plugins(),
            [StuckPlugin {
                plugin: "hang".into(),
                threads: 2
            }]
        );
        let text = m.encode();
        assert!(
            text.contains("fluid_hooks_stuck{plugin=\"hang\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("fluid_hooks_in_flight{plugin=\"alpha\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("fluid_hook_threads{plugin=\"hang\"} 2"),
            "{text}"
        );
        m.hook_returned("hang", true);
        assert!(m.stuck_plugins().is_empty());
        assert!(m
            .encode()
            .contains("fluid_hooks_in_flight{plugin=\"hang\"} 1"));
    }
}
