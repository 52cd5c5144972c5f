//! The objects of every JuiceFS sample, rendered by helm as the controller installs them,
//! pinned to what Fluid's JuiceFS engine and chart (Fluid a826600a) render on the fields a
//! user, the CSI plugin, the scheduler or an upgrade depends on. `docs/fluid-compatibility.md`
//! lists these fields and the differences that remain.

use super::*;
use crate::hook_tests::render;
use crate::transform::tests::{sample, COMMUNITY, ENTERPRISE};
use serde_json::json;

const DEMO: &str = include_str!("../../../samples/juicefs/demo-local.yaml");
const MULTI_CACHE: &str = include_str!("../../../samples/juicefs/multi-cache.yaml");
const SHARED: &str = include_str!("../../../samples/juicefs/shared.yaml");

const ALL: [(&str, &str); 5] = [
    ("community", COMMUNITY),
    ("enterprise", ENTERPRISE),
    ("demo-local", DEMO),
    ("multi-cache", MULTI_CACHE),
    ("shared", SHARED),
];

/// Fails naming the sample and the object unless `labels` holds every `(key, value)`.
fn assert_has(what: &str, labels: &Value, want: &[(&str, &str)]) {
    for (k, v) in want {
        assert_eq!(labels[*k], *v, "{what}: label {k} in {labels}");
    }
}

fn names(rt: &JuiceFSRuntime) -> (String, String) {
    let name = rt.metadata.name.clone().unwrap();
    (name.clone(), format!("ns-{name}"))
}

/// Labels, selectors (immutable: a helm upgrade of a release Fluid created must not change
/// them), update strategies and the pod template metadata of the worker StatefulSet and the
/// fuse DaemonSet.
#[test]
fn workloads_carry_fluids_labels_selectors_and_strategies() {
    for (sample_name, text) in ALL {
        let Some(r) = render(text, vec![]) else {
            return;
        };
        let (_, ds, rt) = sample(text);
        let (name, id) = names(&rt);
        let shared = serde_json::to_value(ds.spec.placement_mode).unwrap() == "Shared";
        let placement = if shared { "Shared" } else { "Exclusive" };
        let common = [
            ("app", "juicefs"),
            ("chart", "juicefs-0.2.16"),
            ("release", name.as_str()),
            ("heritage", "Helm"),
            ("app.kubernetes.io/name", "juicefs"),
            ("app.kubernetes.io/instance", name.as_str()),
            ("app.kubernetes.io/managed-by", "Helm"),
            ("fluid.io/managed-by", "fluid"),
            ("fluid.io/dataset-id", id.as_str()),
        ];
        for (kind, object, role) in [
            ("StatefulSet", format!("{name}-worker"), "juicefs-worker"),
            ("DaemonSet", format!("{name}-fuse"), "juicefs-fuse"),
        ] {
            let what = format!("{sample_name}: {kind} {object}");
            let w = r.get(kind, &object);
            assert_has(&what, &w["metadata"]["labels"], &common);
            assert_eq!(w["metadata"]["labels"]["role"], role, "{what}");
            assert_eq!(
                w["spec"]["selector"]["matchLabels"],
                json!({"app": "juicefs", "chart": "juicefs-0.2.16", "release": name,
                    "heritage": "Helm", "role": role}),
                "{what}"
            );
            assert_eq!(w["spec"]["updateStrategy"]["type"], "OnDelete", "{what}");
            let pod = &w["spec"]["template"];
            assert_has(&what, &pod["metadata"]["labels"], &common);
            assert_has(
                &what,
                &pod["metadata"]["labels"],
                &[("role", role), ("sidecar.istio.io/inject", "false")],
            );
            assert_eq!(
                pod["metadata"]["annotations"]["sidecar.istio.io/inject"], "false",
                "{what}"
            );
            assert_eq!(pod["spec"]["enableServiceLinks"], false, "{what}");
            let c = &pod["spec"]["containers"][0];
            assert_eq!(
                c["command"],
                json!(["sh", "/root/script/script.sh"]),
                "{what}"
            );
            assert_eq!(c["securityContext"]["runAsUser"], 0, "{what}");
            assert_eq!(c["securityContext"]["privileged"], true, "{what}");
            assert_eq!(c["env"][0], json!({"name": "JFS_FOREGROUND", "value": "1"}));
            let script = r.get("ConfigMap", &format!("{object}-script"));
            assert_has(&what, &script["metadata"]["labels"], &common);
        }

        let sts = r.get("StatefulSet", &format!("{name}-worker"));
        let pod = &sts["spec"]["template"];
        assert_has(
            sample_name,
            &pod["metadata"]["labels"],
            &[
                ("fluid.io/dataset", id.as_str()),
                ("fluid.io/dataset-placement", placement),
            ],
        );
        assert_eq!(sts["spec"]["podManagementPolicy"], "Parallel");
        assert_eq!(sts["spec"]["serviceName"], format!("{name}-worker"));
        assert_eq!(pod["spec"]["containers"][0]["name"], "juicefs-worker");
        // Fluid gives the runtime's identity to the fuse only.
        let names: Vec<&str> = pod["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert!(!names.contains(&"FLUID_RUNTIME_TYPE"), "{names:?}");

        let fuse = r.get("DaemonSet", &format!("{name}-fuse"));
        let labels = &fuse["spec"]["template"]["metadata"]["labels"];
        // Fluid's CSI plugin compares it under the OnFuseChanged clean policy.
        assert_eq!(labels["fuse.runtime.fluid.io/generation"], "1");
        // Fluid's Exclusive workers keep off nodes with a pod labelled fluid.io/dataset: a fuse
        // carrying it would repel them from the nodes of the pods that use the data.
        assert!(
            labels["fluid.io/dataset"].is_null(),
            "{sample_name}: {labels}"
        );
        assert!(labels["fluid.io/dataset-placement"].is_null());
        let spec = &fuse["spec"]["template"]["spec"];
        assert_eq!(spec["containers"][0]["name"], "juicefs-fuse");
        // Fluid's chart installs its controllers with CRITICAL_FUSE_POD=true.
        assert_eq!(spec["priorityClassName"], "system-node-critical");
        assert_eq!(spec["tolerations"], json!([{"operator": "Exists"}]));
        let mount = &spec["containers"][0]["volumeMounts"][0];
        assert_eq!(
            (
                &mount["name"],
                &mount["mountPath"],
                &mount["mountPropagation"]
            ),
            (
                &json!("juicefs-fuse-mount"),
                &json!(format!("/runtime-mnt/juicefs/ns/{name}")),
                &json!("Bidirectional")
            )
        );
        let env = &spec["containers"][0]["env"];
        // Fluid's order: foreground, the user's, the secrets, then the runtime's identity.
        let n = env.as_array().unwrap().len();
        assert_eq!(env[n - 3]["name"], "FLUID_RUNTIME_TYPE", "{env}");
        for (k, v) in [
            ("FLUID_RUNTIME_TYPE", "juicefs"),
            ("FLUID_RUNTIME_NS", "ns"),
            ("FLUID_RUNTIME_NAME", name.as_str()),
        ] {
            assert!(
                env.as_array()
                    .unwrap()
                    .contains(&json!({"name": k, "value": v})),
                "{sample_name}: {k} in {env}"
            );
        }
    }
}

/// Fluid's `BuildWorkersAffinity`: Exclusive (the default) is one cache worker per node,
/// Shared prefers spreading and avoids Exclusive workers; both prefer nodes with the fuse,
/// and the Dataset's required node affinity is required.
#[test]
fn workers_are_placed_as_fluid_places_them() {
    let exclusive = json!({
        "requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchExpressions": [{"key": "fluid.io/dataset", "operator": "Exists"}]},
            "topologyKey": "kubernetes.io/hostname",
        }],
    });
    let shared = json!({
        "preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 50,
            "podAffinityTerm": {
                "labelSelector": {"matchExpressions": [{"key": "fluid.io/dataset", "operator": "Exists"}]},
                "topologyKey": "kubernetes.io/hostname",
            },
        }],
        "requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchExpressions": [
                {"key": "fluid.io/dataset-placement", "operator": "In", "values": ["Exclusive"]},
            ]},
            "topologyKey": "kubernetes.io/hostname",
        }],
    });
    for (sample_name, text) in ALL {
        let Some(r) = render(text, vec![]) else {
            return;
        };
        let (_, _, rt) = sample(text);
        let (name, _) = names(&rt);
        let sts = r.get("StatefulSet", &format!("{name}-worker"));
        let affinity = &sts["spec"]["template"]["spec"]["affinity"];
        let want_anti = if sample_name == "shared" {
            &shared
        } else {
            &exclusive
        };
        assert_eq!(&affinity["podAntiAffinity"], want_anti, "{sample_name}");
        assert_eq!(
            affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"],
            json!([{"weight": 100, "preference": {"matchExpressions": [
                {"key": format!("fluid.io/f-ns-{name}"), "operator": "In", "values": ["true"]},
            ]}}]),
            "{sample_name}"
        );
        let required = &affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
        if sample_name == "shared" {
            assert_eq!(
                required,
                &json!({"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "node-role.example.com/cache", "operator": "In", "values": ["true"]},
                ]}]})
            );
        } else {
            assert!(required.is_null(), "{sample_name}: {required}");
        }
    }
}

/// Several cache paths, a fuse node selector and worker options: the fields they reach.
#[test]
fn cache_paths_node_selectors_and_options_reach_the_pods() {
    let Some(r) = render(MULTI_CACHE, vec![]) else {
        return;
    };
    let sts = r.get("StatefulSet", "jfscache-worker");
    let worker = &sts["spec"]["template"]["spec"];
    assert_eq!(
        worker["nodeSelector"],
        json!({"node-role.example.com/cache": "true"})
    );
    let fuse = r.get("DaemonSet", "jfscache-fuse");
    let fuse = &fuse["spec"]["template"]["spec"];
    // The user's selector plus the label the CSI plugin puts on nodes on demand.
    assert_eq!(
        fuse["nodeSelector"],
        json!({"node-role.example.com/gpu": "true", "topology.kubernetes.io/zone": "zone-a",
            "fluid.io/f-ns-jfscache": "true"})
    );
    for spec in [worker, fuse] {
        let volumes = spec["volumes"].as_array().unwrap();
        for (i, path) in [(0, "/mnt/cache1"), (1, "/mnt/cache2")] {
            let name = format!("cache-dir-{i}");
            assert!(
                volumes.contains(&json!({"name": name, "hostPath":
                    {"path": path, "type": "DirectoryOrCreate"}})),
                "{volumes:?}"
            );
            assert!(spec["containers"][0]["volumeMounts"]
                .as_array()
                .unwrap()
                .contains(&json!({"name": name, "mountPath": path})));
        }
    }
    let command = |role: &str| r.values[role]["command"].as_str().unwrap().to_owned();
    let (w, f) = (command("worker"), command("fuse"));
    for c in [&w, &f] {
        assert!(
            c.contains("cache-dir=/mnt/cache1:/mnt/cache2,cache-size=102400"),
            "{c}"
        );
        assert!(c.contains("free-space-ratio=0.1") && c.contains("subdir=/training"));
    }
    // Worker options are the workers'; ReadOnlyMany makes the fuse `ro`, never the workers.
    assert!(
        w.contains("buffer-size=600") && w.contains("prefetch=2"),
        "{w}"
    );
    assert!(!f.contains("buffer-size"), "{f}");
    assert!(f.contains(",ro") && f.contains("attr-cache=7200"), "{f}");
    assert!(!w.contains(",ro") && !w.contains("attr-cache"), "{w}");
    let script = r.get("ConfigMap", "jfscache-worker-script");
    assert!(script["data"]["script.sh"]
        .as_str()
        .unwrap()
        .contains(&format!("exec {w}")));
}

/// `runtime.fluid.io/fuse.hostpid` on the runtime puts the fuse in the host's PID namespace;
/// without it the fuse has its own (Fluid renders `hostPID` either way).
#[test]
fn the_fuse_host_pid_follows_fluids_annotation() {
    for (text, want) in [(SHARED, true), (COMMUNITY, false)] {
        let Some(r) = render(text, vec![]) else {
            return;
        };
        let (_, _, rt) = sample(text);
        let ds = r.get("DaemonSet", &format!("{}-fuse", names(&rt).0));
        assert_eq!(ds["spec"]["template"]["spec"]["hostPID"], want);
    }
}

/// A release created by Fluid (its chart version in `chart`) or by an older fluid-rs (`app,
/// release, role` only) keeps its selector: an upgrade never touches the immutable field, and
/// the pods still match it.
#[test]
fn an_existing_workloads_selector_is_kept() {
    let fluid = json!({"app": "juicefs", "chart": "juicefs-0.2.13", "release": "jfsdemo",
        "heritage": "Helm", "role": "juicefs-worker"});
    let older = json!({"app": "juicefs", "release": "jfsdemo", "role": "juicefs-fuse"});
    let existing = vec![
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "jfsdemo-worker", "labels": fluid},
            "spec": {"selector": {"matchLabels": fluid}}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "jfsdemo-fuse", "labels": older},
            "spec": {"selector": {"matchLabels": older},
            "template": {"spec": {"nodeSelector": {"fluid.io/f-ns-jfsdemo": "true"}}}}}),
    ];
    let Some(r) = render(COMMUNITY, existing) else {
        return;
    };
    for (kind, name, selector) in [
        ("StatefulSet", "jfsdemo-worker", &fluid),
        ("DaemonSet", "jfsdemo-fuse", &older),
    ] {
        let w = r.get(kind, name);
        assert_eq!(&w["spec"]["selector"]["matchLabels"], selector, "{kind}");
        let labels = &w["spec"]["template"]["metadata"]["labels"];
        for (k, v) in selector.as_object().unwrap() {
            assert_eq!(&labels[k], v, "{kind}: pods must match the kept selector");
        }
    }
    // A selector equal to the chart's own is not written into the values (no upgrade).
    let same = vec![json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "jfsdemo-worker"}, "spec": {"selector": {"matchLabels":
        transform::selector("jfsdemo", "juicefs-worker")}}})];
    let r = render(COMMUNITY, same).unwrap();
    assert!(r.values["worker"]["selectorLabels"].is_null());
}
