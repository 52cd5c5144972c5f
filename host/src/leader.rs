//! Leader election on a `coordination.k8s.io` Lease, so two controller replicas are safe: only
//! the holder runs controllers; a holder that cannot renew in time exits (and restarts as a
//! candidate) rather than risk two leaders.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use std::time::Duration;

/// Lease timings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub duration: Duration,
    /// How often the holder renews.
    pub renew_every: Duration,
    /// A holder that has not renewed for this long stops leading; shorter than `duration`,
    /// so it stops before another replica may take the lease (client-go: 10 s of 15 s).
    pub renew_deadline: Duration,
}

/// Whether `me` may take the lease at `now`: it is free, expired, or already ours.
pub fn may_take(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> bool {
    let Some(spec) = spec else { return true };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == me {
        return true;
    }
    let Some(renewed) = spec.renew_time.as_ref() else {
        return true;
    };
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    now.as_second() > renewed.0.as_second() + secs
}

fn spec(cfg: &LeaseConfig, previous: Option<&LeaseSpec>) -> LeaseSpec {
    let now = MicroTime(Timestamp::now());
    let ours = previous.and_then(|p| p.holder_identity.as_deref()) == Some(cfg.identity.as_str());
    LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(cfg.duration.as_secs() as i32),
        acquire_time: if ours {
            previous.and_then(|p| p.acquire_time.clone())
        } else {
            Some(now.clone())
        },
        renew_time: Some(now),
        lease_transitions: previous.map(|p| p.lease_transitions.unwrap_or(0) + i32::from(!ours)),
        ..Default::default()
    }
}

/// Tries once to take or renew the lease. `Ok(true)` when this replica holds it.
pub async fn try_acquire(client: &Client, cfg: &LeaseConfig) -> Result<bool, kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    match api.get_opt(&cfg.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    ..Default::default()
                },
                spec: Some(spec(cfg, None)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            if !may_take(lease.spec.as_ref(), &cfg.identity, Timestamp::now()) {
                return Ok(false);
            }
            lease.spec = Some(spec(cfg, lease.spec.as_ref()));
            // The resourceVersion in `lease` makes this a compare-and-swap.
            match api.replace(&cfg.name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// Waits until this replica holds the lease.
pub async fn acquire(client: &Client, cfg: &LeaseConfig) {
    let mut logged = false;
    loop {
        match try_acquire(client, cfg).await {
            Ok(true) => {
                tracing::info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
                return;
            }
            Ok(false) if !logged => {
                tracing::info!(lease = %cfg.name, "another replica leads; standing by");
                logged = true;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "leader election"),
        }
        tokio::time::sleep(cfg.renew_every).await;
    }
}

/// Renews the lease; returns (the caller must stop leading) once no renewal has succeeded for
/// `renew_deadline`. Each attempt is bounded by the time left, and a success counts from when
/// it was sent, so a slow API server cannot stretch leadership past the deadline.
pub async fn hold(client: Client, cfg: LeaseConfig) {
    let mut last_ok = std::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.renew_every).await;
        let sent = std::time::Instant::now();
        let left = cfg.renew_deadline.saturating_sub(last_ok.elapsed());
        match tokio::time::timeout(left, try_acquire(&client, &cfg)).await {
            Ok(Ok(true)) => last_ok = sent,
            Ok(Ok(false)) => {
                tracing::error!(lease = %cfg.name, "the lease was taken by another replica");
                return;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "renewing the lease"),
            Err(_) => tracing::warn!(lease = %cfg.name, "renewing the lease timed out"),
        }
        if last_ok.elapsed() >= cfg.renew_deadline {
            tracing::error!(lease = %cfg.name, "could not renew the lease in time");
            return;
        }
    }
}

/// Gives the lease up (on a clean shutdown) so a standby takes over at once instead of waiting
/// for it to expire. Best effort: failures are logged.
pub async fn release(client: &Client, cfg: &LeaseConfig) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let Ok(Some(mut lease)) = api.get_opt(&cfg.name).await else {
        return;
    };
    let ours = lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        == Some(cfg.identity.as_str());
    if !ours {
        return;
    }
    if let Some(spec) = lease.spec.as_mut() {
        spec.holder_identity = None;
        spec.renew_time = None;
    }
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => tracing::info!(lease = %cfg.name, "released the lease"),
        Err(e) => tracing::warn!(error = %e, "releasing the lease"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(who: &str, renewed: Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(who.into()),
            renew_time: Some(MicroTime(renewed)),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }
    }

    #[test]
    fn a_live_lease_of_another_replica_is_respected() {
        let now = Timestamp::from_second(1_000).unwrap();
        let spec = held_by("a", Timestamp::from_second(995).unwrap());
        assert!(!may_take(Some(&spec), "b", now));
        assert!(may_take(Some(&spec), "a", now));
        let expired = held_by("a", Timestamp::from_second(900).unwrap());
        assert!(may_take(Some(&expired), "b", now));
        assert!(may_take(None, "b", now));
    }
}
