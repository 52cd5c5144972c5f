//! The names of the objects the host makes for a Dataset: Fluid's labels (from the SDK's
//! [`fluid_plugin_api::conventions`], shared with engines), the PV, the values ConfigMap and the
//! engine's release.

pub use fluid_plugin_api::conventions::{common_label, dataset_id, fuse_label, LABEL_MAX};

/// Helm refuses longer release names.
pub const RELEASE_NAME_MAX: usize = 53;

/// The PersistentVolume of a Dataset: `<namespace>-<name>`, Fluid's name, kept so that Fluid's
/// volumes and ours are the same objects. It is not unique (`a-b/c` and `a/b-c` share it): a
/// PV of that name whose claim is another Dataset's is never touched, the runtime is refused.
pub fn pv_name(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}")
}

/// The ConfigMap that records the values the engine's release was installed with (Fluid's
/// `<name>-<engine>-values`).
pub fn values_configmap(name: &str, engine: &str) -> String {
    format!("{name}-{engine}-values")
}

/// Why a runtime's name cannot be used for a release: `None` when it can.
pub fn release_name_problem(name: &str) -> Option<String> {
    (name.len() > RELEASE_NAME_MAX).then(|| {
        format!(
            "the name is {} characters long; the engine's Helm release takes the runtime's \
             name, and Helm allows at most {RELEASE_NAME_MAX}: use a shorter Dataset and runtime name",
            name.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_and_values_names_are_fluids() {
        assert_eq!(pv_name("ns", "demo"), "ns-demo");
        assert_eq!(values_configmap("demo", "juicefs"), "demo-juicefs-values");
    }

    #[test]
    fn release_names_over_53_characters_are_refused_with_the_reason() {
        assert!(release_name_problem(&"a".repeat(53)).is_none());
        let problem = release_name_problem(&"a".repeat(54)).unwrap();
        assert!(
            problem.contains("54 characters") && problem.contains("53"),
            "{problem}"
        );
    }
}
