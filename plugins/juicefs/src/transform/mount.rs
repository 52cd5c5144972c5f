//! The worker selector, the network mode and the metrics ports. (Where the file system is
//! mounted and the fuse node label are the controller's conventions, `HookContext::conventions`.)

use fluid_plugin_api::types::NetworkMode;

/// The scale subresource's selector of the worker pods.
pub fn worker_selector(name: &str) -> String {
    format!("app=juicefs,release={name},role=juicefs-worker")
}

/// Fluid's rule: unset means host network.
pub fn is_host_network(mode: Option<NetworkMode>) -> bool {
    matches!(
        mode,
        None | Some(NetworkMode::HostNetwork | NetworkMode::Default)
    )
}

/// The metrics ports of (worker, fuse). In the container network both use 9567. On the host
/// network Fluid takes ports from an allocator (14000-15999); fluid-rs has none, so it derives
/// a stable pair from the runtime's identity in that range (worker even, fuse odd). Ports
/// named in the options win.
pub fn metrics_ports(
    namespace: &str,
    name: &str,
    worker_host_network: bool,
    fuse_host_network: bool,
    worker_option: Option<u16>,
    fuse_option: Option<u16>,
) -> (u16, u16) {
    let base = 14000 + 2 * (fnv1a(&format!("{namespace}/{name}")) % 1000) as u16;
    let pick = |host, option: Option<u16>, offset| {
        option.unwrap_or(if host {
            base + offset
        } else {
            super::options::DEFAULT_METRICS_PORT
        })
    };
    (
        pick(worker_host_network, worker_option, 0),
        pick(fuse_host_network, fuse_option, 1),
    )
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_selector_is_the_charts() {
        assert_eq!(
            worker_selector("jfs"),
            "app=juicefs,release=jfs,role=juicefs-worker"
        );
    }

    #[test]
    fn host_network_is_the_default() {
        assert!(is_host_network(None));
        assert!(is_host_network(Some(NetworkMode::Default)));
        assert!(!is_host_network(Some(NetworkMode::ContainerNetwork)));
    }

    #[test]
    fn metrics_ports_are_stable_and_distinct_on_the_host_network() {
        let (w, f) = metrics_ports("ns", "jfs", true, true, None, None);
        assert_eq!((w, f), metrics_ports("ns", "jfs", true, true, None, None));
        assert!((14000..16000).contains(&w) && f == w + 1);
        assert_eq!(
            metrics_ports("ns", "jfs", false, false, None, None),
            (9567, 9567)
        );
        assert_eq!(
            metrics_ports("ns", "jfs", true, false, Some(9000), None),
            (9000, 9567)
        );
    }
}
