//! End to end against the local control plane: Alluxio runtimes on the host network (Fluid's
//! default) get their ports from the controller's allocator (protocol 1.2): disjoint between
//! runtimes, the same after a controller restart (rebuilt from the values ConfigMaps), and
//! free again once a runtime is deleted.

mod common;

use common::controller::Controller;
use common::objects::{apply, get, pair, wait_bound, WAIT};
use fluid_test_support::{kubectl, wait_until, TestNamespace};
use std::collections::BTreeSet;

const HOST_PORTS: &str = "fluid.io/host-ports";

fn alluxio_pair(name: &str) -> String {
    pair(
        name,
        "AlluxioRuntime",
        "  replicas: 1\n  tieredstore:\n    levels:\n      - {mediumtype: MEM, path: /dev/shm, quota: 1Gi}\n",
    )
}

/// The ports recorded for runtime `name` and the ports its engine's properties use; waits
/// until both are there.
async fn ports_of(ns: &str, name: &str) -> BTreeSet<u16> {
    wait_until(
        &format!("{name}: its ports recorded and rendered"),
        WAIT,
        || async {
            let values = get(ns, &format!("configmap/{name}-alluxio-values"))
                .ok_or_else(|| "no values ConfigMap yet".to_owned())?;
            let recorded: BTreeSet<u16> = values["metadata"]["annotations"][HOST_PORTS]
                .as_str()
                .ok_or_else(|| format!("no {HOST_PORTS} annotation"))?
                .split(',')
                .map(|p| p.parse().unwrap())
                .collect();
            let config = get(ns, &format!("configmap/{name}-config"))
                .ok_or_else(|| "no config ConfigMap yet".to_owned())?;
            let site = config["data"]["site.properties"].as_str().unwrap_or("");
            let used: BTreeSet<u16> = site
                .lines()
                .filter(|l| l.contains(".port="))
                .map(|l| l.rsplit('=').next().unwrap().parse().unwrap())
                .collect();
            if used == recorded {
                Ok(recorded)
            } else {
                Err(format!("recorded {recorded:?}, properties use {used:?}"))
            }
        },
    )
    .await
    .unwrap()
}

fn in_range(ports: &BTreeSet<u16>) -> bool {
    ports.len() == 9 && ports.iter().all(|p| (20000..=26000).contains(p))
}

#[tokio::test(flavor = "multi_thread")]
async fn host_network_runtimes_get_disjoint_ports_kept_across_a_restart_and_freed() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(common::alluxio_plugin(), plugins.path().join("alluxio.so")).unwrap();
    common::controller::install_crds(plugins.path());
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("controller.log");
    let ns = TestNamespace::create("e2e-ports").await.unwrap();
    let n = ns.name().to_owned();

    let mut controller = Controller::start(plugins.path(), log.clone());
    apply(&n, &alluxio_pair("one"));
    apply(&n, &alluxio_pair("two"));
    let outcome = async {
        wait_bound(&n, "one").await?;
        wait_bound(&n, "two").await?;
        Ok::<_, fluid_test_support::Error>(())
    }
    .await;
    if let Err(e) = outcome {
        panic!("{e}\n--- controller log ---\n{}", controller.log_tail());
    }
    let one = ports_of(&n, "one").await;
    let two = ports_of(&n, "two").await;
    assert!(in_range(&one) && in_range(&two), "{one:?} {two:?}");
    assert!(one.is_disjoint(&two), "{one:?} {two:?}");
    let master = get(&n, "statefulset/one-master").unwrap();
    assert_eq!(
        master["spec"]["template"]["spec"]["hostNetwork"], true,
        "Fluid's default for Alluxio"
    );
    let generation = master["metadata"]["generation"].clone();

    // A new controller knows nothing but what the cluster records.
    controller.kill();
    let mut controller = Controller::start(plugins.path(), log.clone());
    apply(&n, &alluxio_pair("three"));
    if let Err(e) = wait_bound(&n, "three").await {
        panic!("{e}\n--- controller log ---\n{}", controller.log_tail());
    }
    let three = ports_of(&n, "three").await;
    assert!(in_range(&three), "{three:?}");
    assert!(
        three.is_disjoint(&one) && three.is_disjoint(&two),
        "{one:?} {two:?} {three:?}"
    );
    // The first two were reconciled by the new controller and kept theirs.
    kubectl([
        "annotate",
        "alluxioruntime/one",
        "alluxioruntime/two",
        "-n",
        &n,
        "e2e/poke=1",
    ])
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(ports_of(&n, "one").await, one);
    assert_eq!(ports_of(&n, "two").await, two);
    assert_eq!(
        get(&n, "statefulset/one-master").unwrap()["metadata"]["generation"],
        generation,
        "the masters of a runtime whose ports were kept are not rolled"
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("host-network ports rebuilt from the values ConfigMaps"),
        "{}",
        controller.log_tail()
    );

    // Deleting a runtime frees its ports: the next runtime gets the lowest free ones again.
    kubectl([
        "delete",
        "alluxioruntime/one",
        "-n",
        &n,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
    apply(&n, &alluxio_pair("four"));
    if let Err(e) = wait_bound(&n, "four").await {
        panic!("{e}\n--- controller log ---\n{}", controller.log_tail());
    }
    let four = ports_of(&n, "four").await;
    assert!(
        four.is_disjoint(&two) && four.is_disjoint(&three),
        "{four:?}"
    );
    let lowest = *one.iter().chain(&two).chain(&three).min().unwrap();
    if one.contains(&lowest) {
        assert!(
            four.contains(&lowest),
            "one's ports are free again: {four:?}"
        );
    }
    controller.kill();
    let _ = ns.cleanup().await;
}
