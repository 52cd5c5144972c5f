//! The controller's API requests, counted by the API server: Bound runtimes that sit idle cost
//! no read and no write per sync (everything is read from watch caches, a status is written
//! only when it changes), and a deletion waiting on a pod does not list the namespace's pods.

mod common;

use common::apiserver::{measured_kubeconfig, requests};
use common::controller::Controller;
use common::objects::{apply, get, reference_pair, wait_bound, WAIT};
use fluid_test_support::{kubectl, unique_name, wait_until, TestNamespace};
use std::time::Duration;

/// The controller under test syncs every 5 s (tests/common/controller.rs).
const SYNC: Duration = Duration::from_secs(5);

#[tokio::test]
async fn idle_runtimes_and_waiting_deletions_make_no_requests() {
    let plugins = common::reference_plugins();
    let kubeconfig = measured_kubeconfig();
    let log = std::env::temp_dir().join(format!("{}.log", unique_name("e2e-requests")));
    let mut controller = Controller::start_as(plugins.path(), log, &kubeconfig, &[]);
    let test_ns = TestNamespace::create("requests").await.unwrap();
    let ns = test_ns.name().to_owned();
    for i in 0..3 {
        apply(&ns, &reference_pair(&format!("idle{i}"), 1));
    }
    for i in 0..3 {
        wait_bound(&ns, &format!("idle{i}")).await.unwrap();
    }
    // Let the first syncs after binding settle (they record setup figures once).
    tokio::time::sleep(SYNC * 3).await;
    let before = requests();
    // The account's requests are counted at all (the flow schemas match it).
    assert!(
        before.writes > 0 && before.reads > 0,
        "nothing counted: {before}"
    );
    println!("start-up and 3 pairs to Bound: {before}");
    tokio::time::sleep(SYNC * 4).await;
    let idle = requests() - before;
    println!("3 Bound runtimes, 4 sync periods: {idle}");
    assert_eq!(
        idle.reads,
        0,
        "reads while idle: {idle}\n{}",
        controller.log_tail()
    );
    assert_eq!(
        idle.writes,
        0,
        "writes while idle: {idle}\n{}",
        controller.log_tail()
    );

    // A pod uses the first volume: the runtime's deletion waits, on the pod index, not lists.
    apply(
        &ns,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: app}\nspec:\n  containers: [{name: app, image: busybox}]\n  volumes: [{name: d, persistentVolumeClaim: {claimName: idle0}}]\n",
    );
    kubectl([
        "delete",
        "referenceruntime/idle0",
        "-n",
        &ns,
        "--wait=false",
    ])
    .unwrap();
    wait_until("the deletion to wait for the pod", WAIT, || async {
        let rt = get(&ns, "referenceruntime/idle0").ok_or_else(|| "gone".to_owned())?;
        let waiting = rt["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["reason"] == "VolumeInUse"));
        waiting.then_some(()).ok_or(format!("{}", rt["status"]))
    })
    .await
    .unwrap();
    let before = requests();
    tokio::time::sleep(SYNC * 2).await;
    let waiting = requests() - before;
    println!("a deletion waiting on a pod, 2 sync periods: {waiting}");
    assert_eq!(waiting.reads, 0, "reads while waiting: {waiting}");
    kubectl([
        "delete",
        "pod/app",
        "-n",
        &ns,
        "--grace-period=0",
        "--force",
    ])
    .unwrap();
    wait_until("the runtime to be gone once the pod is", WAIT, || async {
        get(&ns, "referenceruntime/idle0").map_or(Ok(()), |_| Err("still there".to_owned()))
    })
    .await
    .unwrap();
    controller.kill();
    test_ns.cleanup().await.unwrap();
}
