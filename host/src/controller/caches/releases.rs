//! Helm releases as their storage records show them. The controller runs helm with
//! `HELM_DRIVER=configmap` (as Fluid does), so each revision of a release is a ConfigMap
//! `sh.helm.release.v1.<release>.v<version>` labelled `owner=helm`, `name`, `status`,
//! `version`, plus the labels given with `--labels`: the controller marks its releases with
//! the runtime's uid there, and reads release state from these labels alone (a metadata-only
//! watch: no helm process, no request).

use crate::lifecycle::{Ownership, ReleaseState, ReleaseView};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PartialObjectMeta;

/// The release label that names the runtime (by uid) the release was installed for.
pub const RUNTIME_UID_LABEL: &str = "fluid.io/runtime-uid";

/// One revision's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseRecord {
    /// The release's namespace.
    pub namespace: String,
    /// The release's name.
    pub release: String,
    /// The revision.
    pub version: u64,
    /// Helm's status word.
    pub status: String,
    /// The runtime uid it was installed for, when fluid-rs installed it.
    pub runtime_uid: Option<String>,
    /// When helm last wrote it (unix seconds; helm's `modifiedAt` label).
    pub modified_at: Option<i64>,
}

impl ReleaseRecord {
    /// Reads a record from its ConfigMap's metadata; `None` if it is not a release record.
    pub fn read(cm: &PartialObjectMeta<ConfigMap>) -> Option<ReleaseRecord> {
        let labels = cm.metadata.labels.as_ref()?;
        if labels.get("owner").map(String::as_str) != Some("helm") {
            return None;
        }
        Some(ReleaseRecord {
            namespace: cm.metadata.namespace.clone()?,
            release: labels.get("name")?.clone(),
            version: labels.get("version")?.parse().ok()?,
            status: labels.get("status").cloned().unwrap_or_default(),
            runtime_uid: labels.get(RUNTIME_UID_LABEL).cloned(),
            modified_at: labels.get("modifiedAt").and_then(|m| m.parse().ok()),
        })
    }
}

/// All records of one release.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleaseIndex {
    /// The newest record.
    pub newest: Option<ReleaseRecord>,
}

impl ReleaseIndex {
    /// Indexes the records of one release.
    pub fn from_records(records: impl Iterator<Item = ReleaseRecord>) -> ReleaseIndex {
        let mut index = ReleaseIndex::default();
        for r in records {
            if index.newest.as_ref().is_none_or(|n| r.version > n.version) {
                index.newest = Some(r);
            }
        }
        index
    }

    /// Whose the release is, for the runtime of uid `runtime_uid`.
    pub fn ownership(&self, runtime_uid: &str) -> Ownership {
        let Some(newest) = &self.newest else {
            return Ownership::Absent;
        };
        match newest.runtime_uid.as_deref() {
            Some(uid) if uid == runtime_uid && !uid.is_empty() => Ownership::Ours,
            Some(uid) => Ownership::Foreign(format!(
                "Helm release {}/{} was installed for another runtime (uid {uid})",
                newest.namespace, newest.release
            )),
            None => Ownership::Foreign(format!(
                "Helm release {}/{} exists and was not installed by fluid-rs for this runtime",
                newest.namespace, newest.release
            )),
        }
    }

    /// Whether an unmarked release is this runtime's to adopt: Fluid's controller installed
    /// it (it marks nothing) when `installed_for_runtime`, i.e. the workloads the release made
    /// have this runtime as their controlling owner (Fluid's chart sets it). A release marked
    /// for any runtime is never adopted.
    pub fn adoptable(&self, installed_for_runtime: bool) -> bool {
        installed_for_runtime
            && self
                .newest
                .as_ref()
                .is_some_and(|n| n.runtime_uid.is_none())
    }

    /// The release as the lifecycle sees it, for the runtime of uid `runtime_uid`, at `now`
    /// (unix seconds); an [adoptable](Self::adoptable) one is ours.
    pub fn view(&self, runtime_uid: &str, now: i64, installed_for_runtime: bool) -> ReleaseView {
        let Some(newest) = &self.newest else {
            return ReleaseView {
                ownership: Ownership::Absent,
                state: ReleaseState::Other(String::new()),
                age_secs: 0,
            };
        };
        let ownership = if self.adoptable(installed_for_runtime) {
            Ownership::Ours
        } else {
            self.ownership(runtime_uid)
        };
        ReleaseView {
            ownership,
            state: ReleaseState::from_helm(&newest.status),
            // No timestamp (an old helm): old enough to be repaired.
            age_secs: newest
                .modified_at
                .map(|m| (now - m).max(0) as u64)
                .unwrap_or(u64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn record(version: u64, status: &str, uid: Option<&str>) -> PartialObjectMeta<ConfigMap> {
        let mut labels = BTreeMap::from([
            ("owner".to_owned(), "helm".to_owned()),
            ("name".to_owned(), "demo".to_owned()),
            ("version".to_owned(), version.to_string()),
            ("status".to_owned(), status.to_owned()),
            ("modifiedAt".to_owned(), "1000".to_owned()),
        ]);
        if let Some(uid) = uid {
            labels.insert(RUNTIME_UID_LABEL.to_owned(), uid.to_owned());
        }
        let mut cm = PartialObjectMeta::<ConfigMap>::default();
        cm.metadata.name = Some(format!("sh.helm.release.v1.demo.v{version}"));
        cm.metadata.namespace = Some("team".into());
        cm.metadata.labels = Some(labels);
        cm
    }

    fn index(records: &[PartialObjectMeta<ConfigMap>]) -> ReleaseIndex {
        ReleaseIndex::from_records(records.iter().filter_map(ReleaseRecord::read))
    }

    #[test]
    fn the_newest_revision_decides_the_state() {
        let i = index(&[
            record(2, "failed", Some("u1")),
            record(1, "superseded", Some("u1")),
        ]);
        let v = i.view("u1", 1030, false);
        assert_eq!(v.ownership, Ownership::Ours);
        assert_eq!(v.state, ReleaseState::Failed);
        assert_eq!(v.age_secs, 30);
    }

    #[test]
    fn a_release_without_our_uid_is_someone_elses() {
        let v = index(&[record(1, "deployed", None)]).view("u1", 1000, false);
        assert!(matches!(v.ownership, Ownership::Foreign(m) if m.contains("team/demo")));
        let v = index(&[record(1, "deployed", Some("u0"))]).view("u1", 1000, false);
        assert!(matches!(v.ownership, Ownership::Foreign(m) if m.contains("another runtime")));
    }

    #[test]
    fn fluids_release_is_adopted_only_for_the_runtime_it_was_installed_for() {
        // Fluid marks nothing; the workloads it installed name the runtime as their owner.
        let fluids = index(&[record(1, "deployed", None)]);
        assert!(fluids.adoptable(true));
        assert_eq!(fluids.view("u1", 1000, true).ownership, Ownership::Ours);
        assert!(!fluids.adoptable(false));
        // Marked for another runtime: never, whatever its workloads say.
        let other = index(&[record(1, "deployed", Some("u0"))]);
        assert!(!other.adoptable(true));
        assert!(matches!(
            other.view("u1", 1000, true).ownership,
            Ownership::Foreign(_)
        ));
        assert!(!index(&[]).adoptable(true));
    }

    #[test]
    fn no_record_is_no_release_and_other_configmaps_are_not_records() {
        assert_eq!(
            index(&[]).view("u1", 1000, false).ownership,
            Ownership::Absent
        );
        let mut cm = record(1, "deployed", Some("u1"));
        cm.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("owner".into(), "someone".into());
        assert_eq!(ReleaseRecord::read(&cm), None);
    }

    #[test]
    fn an_interrupted_install_is_pending() {
        let v = index(&[record(1, "pending-install", Some("u1"))]).view("u1", 1000, false);
        assert_eq!(v.state, ReleaseState::Pending("pending-install".into()));
    }
}
