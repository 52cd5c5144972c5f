//! Where an operation's pod runs relative to an operation before it (Fluid's dataflow
//! affinity, `runAfter.affinityStrategy`). An operation that completes records the labels of
//! the node its pod ran on in `status.nodeAffinity`; one that follows it with policy
//! `Require` or `Prefer` turns chosen labels of that record into node affinity of its own pod,
//! merged with the affinity the pod already has. Pure.

use super::view::OperationKey;
use crate::controller::workloads::require_in_every_term;
use fluid_plugin_api::types::{OperationKind, OperationRef};
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PreferredSchedulingTerm,
};
use std::collections::BTreeMap;

/// The node label recorded always and followed when the strategy names none.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// Recorded always, beside the hostname.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Recorded always, beside the hostname.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// Fluid's annotation of an operation (or of its pods, through `podMetadata`) naming more node
/// labels to record, comma-separated.
pub const EXPOSED_LABELS_ANNOTATION: &str = "affinity.dataflow.fluid.io/labels";
/// The weight of the hostname preference when `Prefer` names no label.
pub const DEFAULT_WEIGHT: i32 = 100;

/// How the followed placement becomes the pod's affinity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Required node affinity on these labels' recorded values.
    Require(Vec<String>),
    /// Preferred node affinity on these labels' recorded values, with their weights.
    Prefer(Vec<(String, i32)>),
}

/// An operation's `runAfter.affinityStrategy` with a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Follow {
    /// The operation whose recorded placement is followed: `dependOn`, else `runAfter`.
    pub depend_on: OperationKey,
    /// How.
    pub policy: Policy,
}

/// Reads `run_after.affinityStrategy` of an operation in `ns`. `None` when there is nothing to
/// follow (no strategy, or its policy empty: Fluid's default); `Err` names the bad field.
pub fn read_strategy(ns: &str, run_after: &OperationRef) -> Result<Option<Follow>, String> {
    let Some(strategy) = &run_after.affinity_strategy else {
        return Ok(None);
    };
    let or_here = |n: &Option<String>| {
        n.clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| ns.to_owned())
    };
    let policy = match strategy.policy.as_deref().unwrap_or_default() {
        "" => return Ok(None),
        "Require" => Policy::Require(match strategy.requires.as_deref() {
            Some(r) if !r.is_empty() => r.iter().map(|r| r.name.clone()).collect(),
            _ => vec![HOSTNAME_LABEL.to_owned()],
        }),
        "Prefer" => {
            let prefers = match strategy.prefers.as_deref() {
                Some(p) if !p.is_empty() => p.iter().map(|p| (p.name.clone(), p.weight)).collect(),
                _ => vec![(HOSTNAME_LABEL.to_owned(), DEFAULT_WEIGHT)],
            };
            // The API server refuses a pod whose preferred term weighs otherwise.
            if let Some((i, (_, w))) = prefers
                .iter()
                .enumerate()
                .find(|(_, (_, w))| !(1..=100).contains(w))
            {
                return Err(format!(
                    "spec.runAfter.affinityStrategy.prefers[{i}].weight: {w}: a preference \
                     weighs 1 to 100"
                ));
            }
            Policy::Prefer(prefers)
        }
        other => {
            return Err(format!(
                "spec.runAfter.affinityStrategy.policy: {other:?}: expected Require, Prefer or \
                 empty"
            ))
        }
    };
    let depend_on = match &strategy.depend_on {
        Some(d) => OperationKey::new(d.kind, or_here(&d.namespace), &d.name),
        None => OperationKey::new(
            run_after.kind,
            or_here(&run_after.namespace),
            &run_after.name,
        ),
    };
    Ok(Some(Follow { depend_on, policy }))
}

/// Whether an operation records where its pod ran: a single pod run once (Fluid records
/// nothing for a CronJob's runs nor for a migration of several workers).
pub fn records_placement(cron: bool, kind: OperationKind, parallelism: i32) -> bool {
    !cron && (kind != OperationKind::DataMigrate || parallelism <= 1)
}

/// The placement to record for a pod that ran on a node with `node_labels`: one term requiring
/// each of the hostname, zone and region labels, then the labels `exposed` names
/// (comma-separated), that the node has, at its value. `None` when the node has none of them.
pub fn record(
    node_labels: &BTreeMap<String, String>,
    exposed: Option<&str>,
) -> Option<NodeAffinity> {
    let mut names: Vec<&str> = vec![HOSTNAME_LABEL, ZONE_LABEL, REGION_LABEL];
    names.extend(exposed.unwrap_or_default().split(',').map(str::trim));
    let mut expressions: Vec<NodeSelectorRequirement> = vec![];
    for name in names.into_iter().filter(|n| !n.is_empty()) {
        if expressions.iter().any(|e| e.key == name) {
            continue;
        }
        if let Some(value) = node_labels.get(name) {
            expressions.push(NodeSelectorRequirement {
                key: name.to_owned(),
                operator: "In".into(),
                values: Some(vec![value.clone()]),
            });
        }
    }
    (!expressions.is_empty()).then(|| NodeAffinity {
        required_during_scheduling_ignored_during_execution: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(expressions),
                match_fields: None,
            }],
        }),
        preferred_during_scheduling_ignored_during_execution: None,
    })
}

/// The requirements of a recorded placement (its first term, the only one a record has) on
/// `label`.
fn recorded_on<'a>(
    recorded: &'a NodeAffinity,
    label: &'a str,
) -> impl Iterator<Item = &'a NodeSelectorRequirement> + 'a {
    recorded
        .required_during_scheduling_ignored_during_execution
        .iter()
        .flat_map(|s| s.node_selector_terms.first())
        .flat_map(|t| t.match_expressions.iter().flatten())
        .filter(move |e| e.key == label)
}

/// The pod's affinity `own` with the followed placement `recorded` merged in by `policy`.
/// A label the record lacks adds nothing; `Require` adds its requirements to every required
/// term of `own` (a term of its own when there is none), `Prefer` appends one preferred term
/// per label.
pub fn follow(
    policy: &Policy,
    recorded: Option<&NodeAffinity>,
    own: Option<Affinity>,
) -> Option<Affinity> {
    let Some(recorded) = recorded else {
        return own;
    };
    match policy {
        Policy::Require(labels) => {
            let required: Vec<NodeSelectorRequirement> = labels
                .iter()
                .flat_map(|l| recorded_on(recorded, l))
                .cloned()
                .collect();
            if required.is_empty() {
                return own;
            }
            let mut affinity = own.unwrap_or_default();
            require_in_every_term(
                affinity
                    .node_affinity
                    .get_or_insert_with(NodeAffinity::default),
                &required,
            );
            Some(affinity)
        }
        Policy::Prefer(labels) => {
            let preferred: Vec<PreferredSchedulingTerm> = labels
                .iter()
                .flat_map(|(l, weight)| {
                    recorded_on(recorded, l).map(|e| PreferredSchedulingTerm {
                        weight: *weight,
                        preference: NodeSelectorTerm {
                            match_expressions: Some(vec![e.clone()]),
                            match_fields: None,
                        },
                    })
                })
                .collect();
            if preferred.is_empty() {
                return own;
            }
            let mut affinity = own.unwrap_or_default();
            affinity
                .node_affinity
                .get_or_insert_with(NodeAffinity::default)
                .preferred_during_scheduling_ignored_during_execution
                .get_or_insert_with(Vec::new)
                .extend(preferred);
            Some(affinity)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluid_plugin_api::types::{AffinityStrategy, ObjectRef, Prefer, Require};
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn run_after(strategy: Option<AffinityStrategy>) -> OperationRef {
        OperationRef {
            kind: OperationKind::DataLoad,
            name: "first".into(),
            namespace: None,
            api_version: None,
            affinity_strategy: strategy,
        }
    }

    fn strategy(policy: &str) -> AffinityStrategy {
        AffinityStrategy {
            policy: Some(policy.into()),
            ..Default::default()
        }
    }

    /// A record of node `n1` in zone `z1` with a GPU label.
    fn recorded() -> NodeAffinity {
        record(
            &labels(&[
                (HOSTNAME_LABEL, "n1"),
                (ZONE_LABEL, "z1"),
                ("gpu", "a100"),
                ("other", "x"),
            ]),
            Some("gpu"),
        )
        .unwrap()
    }

    fn value(a: &Option<Affinity>) -> serde_json::Value {
        serde_json::to_value(a).unwrap()
    }

    #[test]
    fn a_record_holds_the_default_labels_and_the_exposed_ones_the_node_has() {
        let r = serde_json::to_value(recorded()).unwrap();
        assert_eq!(
            r,
            json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": ["n1"]},
                {"key": ZONE_LABEL, "operator": "In", "values": ["z1"]},
                {"key": "gpu", "operator": "In", "values": ["a100"]},
            ]}]}})
        );
        // Spaces and repeats in the annotation, a label the node lacks (region, "missing").
        let r = record(
            &labels(&[(HOSTNAME_LABEL, "n1"), ("gpu", "a100")]),
            Some(" gpu , missing,,kubernetes.io/hostname"),
        )
        .unwrap();
        let keys: Vec<String> = r
            .required_during_scheduling_ignored_during_execution
            .unwrap()
            .node_selector_terms[0]
            .match_expressions
            .clone()
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, [HOSTNAME_LABEL, "gpu"]);
        // A node with none of the labels: nothing recorded.
        assert_eq!(record(&labels(&[("other", "x")]), Some("gpu")), None);
    }

    #[test]
    fn only_a_single_pod_run_once_records() {
        assert!(records_placement(false, OperationKind::DataLoad, 1));
        assert!(records_placement(false, OperationKind::DataProcess, 1));
        assert!(records_placement(false, OperationKind::DataMigrate, 1));
        assert!(!records_placement(false, OperationKind::DataMigrate, 2));
        assert!(!records_placement(true, OperationKind::DataLoad, 1));
    }

    #[test]
    fn no_strategy_or_an_empty_policy_follows_nothing() {
        assert_eq!(read_strategy("ns", &run_after(None)), Ok(None));
        let empty = AffinityStrategy {
            // dependOn and requires without a policy: ignored, as Fluid does.
            depend_on: Some(ObjectRef {
                kind: OperationKind::DataProcess,
                name: "p".into(),
                ..Default::default()
            }),
            requires: Some(vec![Require { name: "gpu".into() }]),
            ..Default::default()
        };
        assert_eq!(read_strategy("ns", &run_after(Some(empty))), Ok(None));
        assert_eq!(
            read_strategy("ns", &run_after(Some(strategy("")))),
            Ok(None)
        );
    }

    #[test]
    fn the_run_after_operation_is_followed_unless_depend_on_names_another() {
        let f = read_strategy("ns", &run_after(Some(strategy("Require"))))
            .unwrap()
            .unwrap();
        assert_eq!(
            f.depend_on,
            OperationKey::new(OperationKind::DataLoad, "ns", "first")
        );
        assert_eq!(f.policy, Policy::Require(vec![HOSTNAME_LABEL.into()]));
        let mut ra = run_after(Some(AffinityStrategy {
            depend_on: Some(ObjectRef {
                kind: OperationKind::DataProcess,
                name: "convert".into(),
                namespace: Some("other".into()),
                api_version: None,
            }),
            ..strategy("Prefer")
        }));
        ra.namespace = Some("there".into());
        let f = read_strategy("ns", &ra).unwrap().unwrap();
        assert_eq!(
            f.depend_on,
            OperationKey::new(OperationKind::DataProcess, "other", "convert")
        );
        assert_eq!(
            f.policy,
            Policy::Prefer(vec![(HOSTNAME_LABEL.into(), DEFAULT_WEIGHT)])
        );
        // runAfter's own namespace when dependOn is unset; dependOn in ours when it has none.
        let f = read_strategy("ns", &ra_without_depend_on(ra.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(
            f.depend_on,
            OperationKey::new(OperationKind::DataLoad, "there", "first")
        );
        let mut local = ra;
        if let Some(d) = local
            .affinity_strategy
            .as_mut()
            .and_then(|s| s.depend_on.as_mut())
        {
            d.namespace = None;
        }
        let f = read_strategy("ns", &local).unwrap().unwrap();
        assert_eq!(f.depend_on.namespace, "ns");
    }

    fn ra_without_depend_on(mut ra: OperationRef) -> OperationRef {
        if let Some(s) = ra.affinity_strategy.as_mut() {
            s.depend_on = None;
        }
        ra
    }

    #[test]
    fn a_bad_policy_or_weight_is_named() {
        let e = read_strategy("ns", &run_after(Some(strategy("Always")))).unwrap_err();
        assert!(
            e.starts_with("spec.runAfter.affinityStrategy.policy: \"Always\""),
            "{e}"
        );
        for w in [0, 101, -1] {
            let s = AffinityStrategy {
                prefers: Some(vec![
                    Prefer {
                        name: "a".into(),
                        weight: 5,
                    },
                    Prefer {
                        name: "b".into(),
                        weight: w,
                    },
                ]),
                ..strategy("Prefer")
            };
            let e = read_strategy("ns", &run_after(Some(s))).unwrap_err();
            assert!(
                e.starts_with("spec.runAfter.affinityStrategy.prefers[1].weight"),
                "{e}"
            );
        }
    }

    #[test]
    fn require_defaults_to_the_hostname() {
        let a = follow(
            &Policy::Require(vec![HOSTNAME_LABEL.into()]),
            Some(&recorded()),
            None,
        );
        assert_eq!(
            value(&a),
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": HOSTNAME_LABEL, "operator": "In", "values": ["n1"]}]}]}}})
        );
    }

    #[test]
    fn require_takes_the_named_labels_the_record_has() {
        let a = follow(
            &Policy::Require(vec!["gpu".into(), "missing".into(), ZONE_LABEL.into()]),
            Some(&recorded()),
            None,
        );
        assert_eq!(
            value(&a)["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"],
            json!([{"matchExpressions": [
                {"key": "gpu", "operator": "In", "values": ["a100"]},
                {"key": ZONE_LABEL, "operator": "In", "values": ["z1"]}]}])
        );
        // Not recorded ("other" is on the node but was not exposed): the pod is left as is.
        let own: Affinity = serde_json::from_value(json!({"podAffinity": {}})).unwrap();
        assert_eq!(
            follow(
                &Policy::Require(vec!["other".into()]),
                Some(&recorded()),
                Some(own.clone())
            ),
            Some(own)
        );
    }

    #[test]
    fn prefer_adds_one_weighted_term_per_label() {
        let a = follow(
            &Policy::Prefer(vec![
                (HOSTNAME_LABEL.into(), 100),
                ("gpu".into(), 30),
                ("missing".into(), 5),
            ]),
            Some(&recorded()),
            None,
        );
        assert_eq!(
            value(&a),
            json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": {"matchExpressions": [
                    {"key": HOSTNAME_LABEL, "operator": "In", "values": ["n1"]}]}},
                {"weight": 30, "preference": {"matchExpressions": [
                    {"key": "gpu", "operator": "In", "values": ["a100"]}]}}]}})
        );
    }

    #[test]
    fn nothing_recorded_leaves_the_pod_as_it_is() {
        let own: Affinity = serde_json::from_value(json!({"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [
                    {"key": "a", "operator": "Exists"}]}}]}}))
        .unwrap();
        for policy in [
            Policy::Require(vec![HOSTNAME_LABEL.into()]),
            Policy::Prefer(vec![(HOSTNAME_LABEL.into(), 100)]),
        ] {
            assert_eq!(follow(&policy, None, Some(own.clone())), Some(own.clone()));
            assert_eq!(follow(&policy, None, None), None);
            // A record without terms (written by hand): nothing to follow either.
            let empty = NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector::default()),
                ..Default::default()
            };
            assert_eq!(
                follow(&policy, Some(&empty), Some(own.clone())),
                Some(own.clone())
            );
            assert_eq!(follow(&policy, Some(&NodeAffinity::default()), None), None);
        }
    }

    #[test]
    fn the_users_affinity_is_kept_and_required_in_each_of_its_terms() {
        let own: Affinity = serde_json::from_value(json!({
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"role": "worker"}},
                 "topologyKey": HOSTNAME_LABEL}]},
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 7, "preference": {"matchExpressions": [
                        {"key": "ssd", "operator": "Exists"}]}}]}}))
        .unwrap();
        let host = json!({"key": HOSTNAME_LABEL, "operator": "In", "values": ["n1"]});
        let a = value(&follow(
            &Policy::Require(vec![HOSTNAME_LABEL.into()]),
            Some(&recorded()),
            Some(own.clone()),
        ));
        assert_eq!(
            a["podAffinity"],
            serde_json::to_value(&own.pod_affinity).unwrap()
        );
        let node = &a["nodeAffinity"];
        assert_eq!(
            node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"],
            json!([
                {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}, host]},
                {"matchExpressions": [host],
                 "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]}])
        );
        assert_eq!(
            node["preferredDuringSchedulingIgnoredDuringExecution"],
            json!([{"weight": 7, "preference": {"matchExpressions": [
                {"key": "ssd", "operator": "Exists"}]}}])
        );
        // Prefer appends after the user's preferences and leaves the required terms alone.
        let a = value(&follow(
            &Policy::Prefer(vec![(HOSTNAME_LABEL.into(), 50)]),
            Some(&recorded()),
            Some(own),
        ));
        let node = &a["nodeAffinity"];
        assert_eq!(
            node["preferredDuringSchedulingIgnoredDuringExecution"][1],
            json!({"weight": 50, "preference": {"matchExpressions": [host]}})
        );
        assert_eq!(
            node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
                ["matchExpressions"],
            json!([{"key": "pool", "operator": "In", "values": ["a"]}])
        );
    }
}
