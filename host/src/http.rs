//! `/metrics`, `/healthz` and `/readyz` on one port. Three fixed GET endpoints need no
//! framework: a request line in, a response out.

use crate::metrics::Metrics;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the endpoints report.
pub struct Health {
    /// Set once plugins are loaded and this replica either leads (controllers running) or
    /// stands by.
    pub ready: AtomicBool,
    /// The metrics.
    pub metrics: Arc<Metrics>,
}

/// The response to one request line.
pub fn respond(request_line: &str, health: &Health) -> (u16, &'static str, String) {
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    match path {
        "/healthz" => (200, "text/plain", "ok\n".into()),
        "/readyz" if !health.ready.load(Ordering::Relaxed) => {
            (503, "text/plain", "not ready\n".into())
        }
        "/readyz" => match health.metrics.stuck_plugins().as_slice() {
            [] => (200, "text/plain", "ok\n".into()),
            stuck => (503, "text/plain", stuck_message(stuck)),
        },
        "/metrics" => (
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            health.metrics.encode(),
        ),
        _ => (404, "text/plain", "not found\n".into()),
    }
}

/// Why `/readyz` fails while hooks are stuck: the plugin's runtimes are not served until its
/// hung calls return, and a thread cannot be stopped, so only a restart (with the plugin
/// fixed) clears it. Readiness, not liveness: a restart would not fix a plugin that hangs
/// again, and the other plugins keep being served meanwhile.
fn stuck_message(stuck: &[crate::metrics::StuckPlugin]) -> String {
    stuck
        .iter()
        .map(|s| {
            format!(
                "plugin {}: all {} hook threads are held by hooks past their deadline\n",
                s.plugin, s.threads
            )
        })
        .collect()
}

/// Serves until the process ends.
pub async fn serve(listener: TcpListener, health: Arc<Health>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let health = health.clone();
        tokio::spawn(async move {
            // Read the whole request head: a client may send it in several segments, and
            // closing with unread bytes makes the kernel reset the connection.
            let mut buf = Vec::with_capacity(1024);
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                let mut chunk = [0u8; 2048];
                match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let n = buf.len();
            let text = String::from_utf8_lossy(&buf[..n]);
            let line = text.lines().next().unwrap_or_default();
            let (code, ctype, body) = respond(line, &health);
            let reason = match code {
                200 => "OK",
                503 => "Service Unavailable",
                _ => "Not Found",
            };
            let head = format!("HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_flag() {
        let h = Health {
            ready: AtomicBool::new(false),
            metrics: Arc::default(),
        };
        assert_eq!(respond("GET /readyz HTTP/1.1", &h).0, 503);
        assert_eq!(respond("GET /healthz HTTP/1.1", &h).0, 200);
        h.ready.store(true, Ordering::Relaxed);
        assert_eq!(respond("GET /readyz HTTP/1.1", &h).0, 200);
        h.metrics
            .observe_reconcile("JuiceFSRuntime", std::time::Duration::from_millis(3), false);
        // A plugin whose every hook thread is stuck makes the controller unready, named.
        h.metrics.hook_thread_limit("hang", 1);
        h.metrics.hook_started("hang");
        h.metrics.hook_stuck("hang");
        assert_eq!(
            respond("GET /readyz HTTP/1.1", &h),
            (
                503,
                "text/plain",
                "plugin hang: all 1 hook threads are held by hooks past their deadline\n".into()
            )
        );
        h.metrics.hook_returned("hang", true);
        assert_eq!(respond("GET /readyz HTTP/1.1", &h).0, 200);
        let (code, _, body) = respond("GET /metrics HTTP/1.1", &h);
        assert_eq!(code, 200);
        assert!(
            body.contains("fluid_reconciles_total{kind=\"JuiceFSRuntime\"} 1"),
            "{body}"
        );
    }
}
