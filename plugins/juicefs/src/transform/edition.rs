//! Community or enterprise edition, and the default images of each (Fluid's).

use fluid_plugin_api::types::Dataset;
use serde::Serialize;

/// The JuiceFS edition a Dataset asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Edition {
    /// JuiceFS Community Edition: metadata in an engine the user runs (Redis, SQL, TiKV...),
    /// reached through the `metaurl` encrypt option.
    Community,
    /// JuiceFS Enterprise Edition: metadata served by JuiceFS' console, reached with a token.
    Enterprise,
}

/// The option naming the metadata engine: its presence means community edition.
pub const METAURL: &str = "metaurl";

/// Fluid's rule: community when an encrypt option named `metaurl` is given in `mounts[0]` or
/// in `sharedEncryptOptions`, enterprise otherwise.
pub fn edition(dataset: &Dataset) -> Edition {
    let mount0 = dataset
        .spec
        .mounts
        .as_deref()
        .and_then(|m| m.first())
        .and_then(|m| m.encrypt_options.as_deref())
        .unwrap_or_default();
    let shared = dataset
        .spec
        .shared_encrypt_options
        .as_deref()
        .unwrap_or_default();
    if mount0.iter().chain(shared).any(|o| o.name == METAURL) {
        Edition::Community
    } else {
        Edition::Enterprise
    }
}

impl Edition {
    /// The image used when the runtime names none: Fluid's chart defaults
    /// (`runtime.juicefs.fuse.{ce,ee}image*`).
    pub fn default_image(self) -> (&'static str, &'static str) {
        match self {
            Edition::Community => ("juicedata/mount", "ce-v1.3.0"),
            Edition::Enterprise => ("juicedata/mount", "ee-5.2.10-eb0a8b3"),
        }
    }

    /// The `juicefs` command line client inside the image.
    pub fn cli(self) -> &'static str {
        match self {
            Edition::Community => "/usr/local/bin/juicefs",
            Edition::Enterprise => "/usr/bin/juicefs",
        }
    }

    /// The mount helper inside the image.
    pub fn mount_helper(self) -> &'static str {
        match self {
            Edition::Community => "/bin/mount.juicefs",
            Edition::Enterprise => "/sbin/mount.juicefs",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dataset(v: serde_json::Value) -> Dataset {
        serde_json::from_value(
            json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
            "metadata": {"name": "d"}, "spec": v}),
        )
        .unwrap()
    }

    #[test]
    fn metaurl_in_the_first_mount_or_shared_options_means_community() {
        let secret = json!({"secretKeyRef": {"name": "s", "key": "k"}});
        let in_mount = dataset(json!({"mounts": [{"mountPoint": "juicefs:///",
            "encryptOptions": [{"name": "metaurl", "valueFrom": secret}]}]}));
        assert_eq!(edition(&in_mount), Edition::Community);
        let shared = dataset(json!({"mounts": [{"mountPoint": "juicefs:///"}],
            "sharedEncryptOptions": [{"name": "metaurl", "valueFrom": secret}]}));
        assert_eq!(edition(&shared), Edition::Community);
    }

    #[test]
    fn a_token_only_or_a_metaurl_in_a_later_mount_means_enterprise() {
        let secret = json!({"secretKeyRef": {"name": "s", "key": "k"}});
        let token = dataset(json!({"mounts": [{"mountPoint": "juicefs:///",
            "encryptOptions": [{"name": "token", "valueFrom": secret}]}]}));
        assert_eq!(edition(&token), Edition::Enterprise);
        let second = dataset(json!({"mounts": [{"mountPoint": "juicefs:///"},
            {"mountPoint": "juicefs:///b", "encryptOptions": [{"name": "metaurl", "valueFrom": secret}]}]}));
        assert_eq!(edition(&second), Edition::Enterprise);
    }
}
