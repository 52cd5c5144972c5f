//! After an API server outage the controller's watches come back within seconds: the
//! controller reaches the API server through a TCP proxy that this test cuts for 30 s
//! (every connection closed, new ones refused), so the outage is the controller's alone.

mod common;

use common::controller::Controller;
use common::objects::{apply, get, reference_pair, wait_bound, WAIT};
use fluid_test_support::{kubeconfig_path, unique_name, wait_until, TestNamespace};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A TCP proxy to the API server that can be cut.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(host: String, target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (up2, conns2) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let host = host.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect((host.as_str(), target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy {
            port,
            up,
            connections,
        }
    }

    /// Closes every connection and refuses new ones until [`Proxy::restore`].
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn watches_resume_within_seconds_after_an_outage() {
    let plugins = common::reference_plugins();

    let admin = std::fs::read_to_string(kubeconfig_path().unwrap()).unwrap();
    // 127.0.0.1, or the real node's address when the cluster has one (the API server listens
    // there only); its serving certificate covers 127.0.0.1 either way.
    let (host, server) = admin
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: https://"))
        .and_then(|a| a.trim().rsplit_once(':'))
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .expect("the test kubeconfig names the API server as https://HOST:PORT");
    let proxy = Proxy::start(host.clone(), server).await;
    let proxied = admin.replace(
        &format!("https://{host}:{server}"),
        &format!("https://127.0.0.1:{}", proxy.port),
    );
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kubeconfig.path(), proxied).unwrap();

    let log = std::env::temp_dir().join(format!("{}.log", unique_name("e2e-outage")));
    let mut controller = Controller::start_as(plugins.path(), log, kubeconfig.path(), &[]);
    let ns = TestNamespace::create("outage").await.unwrap();
    apply(ns.name(), &reference_pair("before", 1));
    wait_bound(ns.name(), "before").await.unwrap();

    proxy.cut();
    tokio::time::sleep(Duration::from_secs(30)).await;
    proxy.restore();
    let restored = Instant::now();
    apply(ns.name(), &reference_pair("after", 1));
    wait_until("the new Dataset Bound", WAIT, || async {
        let ds = get(ns.name(), "dataset/after").ok_or_else(|| "no dataset".to_owned())?;
        (ds["status"]["phase"] == "Bound")
            .then_some(())
            .ok_or(format!("{}", ds["status"]))
    })
    .await
    .unwrap();
    let took = restored.elapsed();
    wait_bound(ns.name(), "after").await.unwrap();
    println!(
        "a runtime created right after a 30 s outage: Dataset Bound {:.1} s after it ended, \
         and its PVC {:.1} s after (the PV binder's own pace)",
        took.as_secs_f64(),
        restored.elapsed().as_secs_f64()
    );
    // The watches retry every 4 s at most (with jitter); kube's default backoff grows to 30 s.
    assert!(
        took < Duration::from_secs(20),
        "Bound only {took:?} after the outage ended\n{}",
        controller.log_tail()
    );
    controller.kill();
    ns.cleanup().await.unwrap();
}
