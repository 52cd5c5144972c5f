//! The CustomResourceDefinitions the controller serves: Fluid's Dataset, the four data
//! operation kinds and the runtime kind of every loaded engine, bundled as one multi-document YAML (`fluid-controller crds`), ready for
//! `kubectl apply -f -` or a chart's `crds/` folder.

use fluid_plugin_api::export::runtime_kind_from_crd;
use fluid_plugin_api::types::{crd_json, dataset_crd, operation_crds};
use serde_json::Value;
use std::collections::BTreeMap;

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// A runtime CRD is not a usable `apiextensions.k8s.io/v1` CustomResourceDefinition.
    #[error("runtime CRD {which} is not a usable CustomResourceDefinition: {reason}")]
    Invalid {
        /// The CRD's name, or its position in the input when it has none.
        which: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two CRDs of the bundle have the same name.
    #[error("the CustomResourceDefinition {0} is given twice")]
    Duplicate(String),
    /// Encoding as YAML failed.
    #[error("encoding the CRDs as YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
}

/// One YAML document per CRD, each opened by `---`: the Dataset CRD first, then the data
/// operation CRDs (DataLoad, DataMigrate, DataProcess, DataBackup), then the runtime CRDs
/// (each as an engine's `crd()` gives it) sorted by `metadata.name`.
///
/// Each runtime CRD must be an `apiextensions.k8s.io/v1` CustomResourceDefinition with a name,
/// a group, a kind, a plural and a served version; names must be unique, and none may be one of
/// the built-in kinds'.
pub fn bundle_yaml(runtime_crds: &[Value]) -> Result<String, CrdError> {
    let builtin: Vec<Value> = std::iter::once(dataset_crd())
        .chain(operation_crds())
        .map(|crd| crd_json(&crd))
        .collect();

    let mut runtimes: BTreeMap<&str, &Value> = BTreeMap::new();
    for (index, crd) in runtime_crds.iter().enumerate() {
        let name = check_runtime_crd(index, crd)?;
        let is_builtin = builtin.iter().any(|b| crd_name(b) == Some(name));
        if is_builtin || runtimes.insert(name, crd).is_some() {
            return Err(CrdError::Duplicate(name.to_owned()));
        }
    }

    let mut out = String::new();
    for crd in builtin.iter().chain(runtimes.into_values()) {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(crd)?);
    }
    Ok(out)
}

fn crd_name(crd: &Value) -> Option<&str> {
    crd.pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

/// Checks one runtime CRD and gives its name.
fn check_runtime_crd(index: usize, crd: &Value) -> Result<&str, CrdError> {
    let invalid = |which: String, reason: String| CrdError::Invalid { which, reason };
    let Some(name) = crd_name(crd) else {
        return Err(invalid(
            format!("#{}", index + 1),
            "it has no metadata.name".into(),
        ));
    };
    let api_version = crd["apiVersion"].as_str().unwrap_or_default();
    let kind = crd["kind"].as_str().unwrap_or_default();
    if api_version != "apiextensions.k8s.io/v1" || kind != "CustomResourceDefinition" {
        return Err(invalid(
            name.to_owned(),
            format!(
                "it is a {api_version}/{kind}, not an apiextensions.k8s.io/v1 CustomResourceDefinition"
            ),
        ));
    }
    runtime_kind_from_crd(crd).map_err(|reason| invalid(name.to_owned(), reason))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn runtime_crd(kind: &str, plural: &str) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.data.fluid.io")},
            "spec": {
                "group": "data.fluid.io",
                "names": {"kind": kind, "plural": plural},
                "scope": "Namespaced",
                "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}]
            }
        })
    }

    fn documents(yaml: &str) -> Vec<Value> {
        serde_yaml::Deserializer::from_str(yaml)
            .map(|doc| Value::deserialize(doc).unwrap())
            .collect()
    }

    #[test]
    fn the_dataset_comes_first_then_runtimes_by_name() {
        let juicefs = runtime_crd("JuiceFSRuntime", "juicefsruntimes");
        let alluxio = runtime_crd("AlluxioRuntime", "alluxioruntimes");
        let yaml = bundle_yaml(&[juicefs.clone(), alluxio.clone()]).unwrap();

        assert!(yaml.starts_with("---\n"), "{yaml}");
        let docs = documents(&yaml);
        let names: Vec<&str> = docs.iter().filter_map(crd_name).collect();
        assert_eq!(
            names,
            [
                "datasets.data.fluid.io",
                "dataloads.data.fluid.io",
                "datamigrates.data.fluid.io",
                "dataprocesses.data.fluid.io",
                "databackups.data.fluid.io",
                "alluxioruntimes.data.fluid.io",
                "juicefsruntimes.data.fluid.io"
            ]
        );
        assert_eq!(docs[0], crd_json(&dataset_crd()));
        assert_eq!((&docs[5], &docs[6]), (&alluxio, &juicefs));
    }

    #[test]
    fn without_plugins_the_bundle_is_the_dataset_and_the_operations() {
        let docs = documents(&bundle_yaml(&[]).unwrap());
        let kinds: Vec<&Value> = docs.iter().map(|d| &d["spec"]["names"]["kind"]).collect();
        assert_eq!(
            kinds,
            [
                "Dataset",
                "DataLoad",
                "DataMigrate",
                "DataProcess",
                "DataBackup"
            ]
        );
    }

    #[test]
    fn duplicates_and_malformed_crds_are_refused_with_their_name() {
        let juicefs = runtime_crd("JuiceFSRuntime", "juicefsruntimes");
        let err = bundle_yaml(&[juicefs.clone(), juicefs.clone()]).unwrap_err();
        assert!(matches!(&err, CrdError::Duplicate(n) if n == "juicefsruntimes.data.fluid.io"));

        let mut clash = runtime_crd("Dataset", "datasets");
        clash["metadata"]["name"] = json!("datasets.data.fluid.io");
        assert!(matches!(bundle_yaml(&[clash]), Err(CrdError::Duplicate(_))));

        let mut unnamed = juicefs.clone();
        unnamed["metadata"] = json!({});
        let err = bundle_yaml(&[juicefs.clone(), unnamed]).unwrap_err();
        assert!(err.to_string().contains("#2"), "{err}");

        let mut no_kind = juicefs.clone();
        no_kind["spec"]["names"] = json!({"plural": "juicefsruntimes"});
        let err = bundle_yaml(&[no_kind]).unwrap_err().to_string();
        assert!(
            err.contains("juicefsruntimes.data.fluid.io") && err.contains(".spec.names.kind"),
            "{err}"
        );

        let mut not_a_crd = juicefs;
        not_a_crd["kind"] = json!("ConfigMap");
        let err = bundle_yaml(&[not_a_crd]).unwrap_err().to_string();
        assert!(err.contains("ConfigMap"), "{err}");
    }
}
