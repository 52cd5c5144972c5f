//! What the plugin asks of the API server: patch its own Node's labels, read a PV (and its
//! PVC), read a Dataset's uid and report Events on it. Nothing else, and never a runtime.

use crate::attributes::{DatasetRef, FUSE_GENERATION_LABEL};
use k8s_openapi::api::core::v1::{Node, ObjectReference, PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::events::{Event, Recorder, Reporter};
use kube::Client;
use std::collections::BTreeMap;

pub use kube::runtime::events::EventType;

/// A failed API call, with what was attempted.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct ClusterError {
    /// What was attempted.
    pub what: String,
    /// The client error.
    pub source: kube::Error,
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError { what, source }
}

/// A Dataset's PV as stage and unstage read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Volume {
    /// `spec.csi.driver`.
    pub driver: Option<String>,
    /// `spec.csi.volumeAttributes`.
    pub attributes: BTreeMap<String, String>,
    /// The PV's fuse generation label.
    pub fuse_generation: Option<String>,
    /// The PVC it is bound to (`claimRef`): namespace and name.
    pub claim: Option<(String, String)>,
}

/// The plugin's API access, for one node.
pub struct Cluster {
    client: Client,
    node: String,
    recorder: Recorder,
}

impl Cluster {
    /// Wraps a client for the node `node`; Events are reported by `fluid-csi` on that node.
    pub fn new(client: Client, node: String) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "fluid-csi".into(),
                instance: Some(node.clone()),
            },
        );
        Self {
            client,
            node,
            recorder,
        }
    }

    /// Sets (`true`) or removes the label `key` on this node.
    pub async fn set_node_label(&self, key: &str, present: bool) -> Result<(), ClusterError> {
        let value = if present {
            serde_json::Value::from("true")
        } else {
            serde_json::Value::Null
        };
        let patch = serde_json::json!({ "metadata": { "labels": { key: value } } });
        let what = format!(
            "{} label {key} on node {}",
            if present { "setting" } else { "removing" },
            self.node
        );
        Api::<Node>::all(self.client.clone())
            .patch(&self.node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api_err(what))?;
        Ok(())
    }

    /// The PV of a volume id (the PV's name), or `None` when it is gone.
    pub async fn volume(&self, volume_id: &str) -> Result<Option<Volume>, ClusterError> {
        let pv = Api::<PersistentVolume>::all(self.client.clone())
            .get_opt(volume_id)
            .await
            .map_err(api_err(format!("reading PersistentVolume {volume_id}")))?;
        Ok(pv.map(|pv| {
            let spec = pv.spec.unwrap_or_default();
            let csi = spec.csi.unwrap_or_default();
            Volume {
                driver: Some(csi.driver).filter(|d| !d.is_empty()),
                attributes: csi.volume_attributes.unwrap_or_default(),
                fuse_generation: generation_label(pv.metadata.labels.as_ref()),
                claim: spec.claim_ref.and_then(|c| Some((c.namespace?, c.name?))),
            }
        }))
    }

    /// The fuse generation label of a PVC (where Fluid writes it), if the PVC exists.
    pub async fn claim_fuse_generation(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, ClusterError> {
        let pvc = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(api_err(format!(
                "reading PersistentVolumeClaim {namespace}/{name}"
            )))?;
        Ok(pvc.and_then(|c| generation_label(c.metadata.labels.as_ref())))
    }

    /// Reports an Event (what was done, and why it is reported) on a Dataset. A failure is
    /// logged, never returned: an Event is not worth failing a volume operation for.
    pub async fn dataset_event(
        &self,
        ds: &DatasetRef,
        kind: EventType,
        (action, reason): (&str, &str),
        note: String,
    ) {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "data.fluid.io",
            "v1alpha1",
            "Dataset",
        ));
        // The uid makes `kubectl describe dataset` show the Event; without it (no Dataset, no
        // permission) the Event still names the Dataset.
        let uid = match Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            &ds.namespace,
            &resource,
        )
        .get_opt(&ds.name)
        .await
        {
            Ok(found) => found.and_then(|d| d.metadata.uid),
            Err(e) => {
                tracing::debug!(dataset = %ds, error = %e, "reading the Dataset's uid for an Event");
                None
            }
        };
        let reference = ObjectReference {
            api_version: Some("data.fluid.io/v1alpha1".into()),
            kind: Some("Dataset".into()),
            name: Some(ds.name.clone()),
            namespace: Some(ds.namespace.clone()),
            uid,
            ..ObjectReference::default()
        };
        let event = Event {
            type_: kind,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(dataset = %ds, reason, error = %e, "reporting an Event");
        }
    }
}

fn generation_label(labels: Option<&BTreeMap<String, String>>) -> Option<String> {
    labels.and_then(|l| l.get(FUSE_GENERATION_LABEL)).cloned()
}
