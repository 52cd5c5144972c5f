//! The names Fluid derives from a Dataset's namespace and name, shared by the controller and
//! engines so that both always compute the same ones. They are part of the compatibility
//! contract (Fluid's CSI plugin and scheduler plugins read them), so they follow Fluid's rules
//! exactly, including how long names are shortened.

/// A label key's name part, and a label value, are at most this long (Kubernetes).
pub const LABEL_MAX: usize = 63;

/// Fluid's rule for names built from `<prefix><namespace>-<name>`: kept while shorter than 63
/// characters (prefix included), otherwise `<prefix><dataset uid>`, which is unique and short.
fn namespaced_with_prefix(prefix: &str, namespace: &str, name: &str, dataset_uid: &str) -> String {
    let full = format!("{prefix}{namespace}-{name}");
    if full.len() < LABEL_MAX || dataset_uid.is_empty() {
        full
    } else {
        format!("{prefix}{dataset_uid}")
    }
}

/// The `fluid.io/dataset-id` label value of a Dataset.
pub fn dataset_id(namespace: &str, name: &str, dataset_uid: &str) -> String {
    namespaced_with_prefix("", namespace, name, dataset_uid)
}

/// The node label that schedules an engine's fuse on a node (`fluid.io/f-<ns>-<name>`), which
/// the CSI plugin sets on the nodes where a pod mounts the Dataset's volume.
pub fn fuse_label(namespace: &str, name: &str, dataset_uid: &str) -> String {
    namespaced_with_prefix("fluid.io/f-", namespace, name, dataset_uid)
}

/// The label on a Dataset's PV and PVC (`fluid.io/s-<ns>-<name>`).
pub fn common_label(namespace: &str, name: &str, dataset_uid: &str) -> String {
    namespaced_with_prefix("fluid.io/s-", namespace, name, dataset_uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "5f0c1c39-0a3c-4c1e-9d0a-3b1f0e6a2b7d";

    #[test]
    fn short_names_are_namespace_dash_name() {
        assert_eq!(dataset_id("ns", "demo", UID), "ns-demo");
        assert_eq!(fuse_label("ns", "demo", UID), "fluid.io/f-ns-demo");
        assert_eq!(common_label("ns", "demo", UID), "fluid.io/s-ns-demo");
    }

    #[test]
    fn long_names_fall_back_to_the_dataset_uid_at_63_characters_as_fluid() {
        // 62 characters with the prefix: kept.
        let name = "n".repeat(62 - "fluid.io/f-ns-".len());
        assert_eq!(
            fuse_label("ns", &name, UID),
            format!("fluid.io/f-ns-{name}")
        );
        // 63: replaced (Fluid keeps only what is strictly shorter than 63).
        let name = "n".repeat(63 - "fluid.io/f-ns-".len());
        assert_eq!(fuse_label("ns", &name, UID), format!("fluid.io/f-{UID}"));
        let long = "x".repeat(61);
        assert_eq!(dataset_id("ns", &long, UID), UID);
        assert_eq!(common_label("ns", &long, UID), format!("fluid.io/s-{UID}"));
        let key = fuse_label("a-very-long-namespace-name", &"y".repeat(53), UID);
        assert!(key.split('/').nth(1).unwrap().len() <= LABEL_MAX, "{key}");
    }
}
