//! Encrypt options: Secret references that become container environment variables
//! (`env[].valueFrom.secretKeyRef`). Only the Secret's name and key ever reach the values; the
//! value is read by the kubelet when it starts the container.

use fluid_plugin_api::types::{Dataset, EncryptOption};
use serde::Serialize;

/// One environment variable read from a Secret key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretEnv {
    /// The encrypt option's name (`metaurl`, `access-key`, `my-option`...).
    pub option: String,
    /// The environment variable (`METAURL`, `ACCESS_KEY`, `MY_OPTION`...).
    pub env: String,
    /// The Secret's name.
    pub secret_name: String,
    /// The key inside the Secret.
    pub secret_key: String,
    /// Where the option was declared, for error messages
    /// (`spec.mounts[0].encryptOptions[metaurl]`).
    #[serde(skip)]
    pub field: String,
}

impl SecretEnv {
    /// Whether the option is one JuiceFS knows by name (metadata URL and credentials), as
    /// opposed to a pass-through `--<option>=${ENV}` of the format command.
    pub fn is_well_known(&self) -> bool {
        matches!(
            self.option.as_str(),
            "metaurl" | "access-key" | "secret-key" | "token"
        )
    }
}

/// A problem with an encrypt option, found without a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    /// The field, e.g. `spec.mounts[0].encryptOptions[metaurl]` (of the Dataset).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The environment variable of an encrypt option: Fluid's fixed names for the well-known
/// ones, dashes turned into underscores for the others.
pub fn env_name(option: &str) -> String {
    match option {
        "metaurl" => "METAURL".into(),
        "access-key" => "ACCESS_KEY".into(),
        "secret-key" => "SECRET_KEY".into(),
        "token" => "TOKEN".into(),
        other => other.replace('-', "_"),
    }
}

/// Whether `name` is a portable environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The encrypt options of a Dataset as Secret-backed environment variables: the shared ones,
/// then those of `mounts[0]` (a mount's option replaces a shared one of the same name).
/// `quota` is not an option JuiceFS reads from a Secret and is skipped, as in Fluid.
pub fn secret_envs(dataset: &Dataset) -> Result<Vec<SecretEnv>, Vec<OptionError>> {
    let shared = dataset
        .spec
        .shared_encrypt_options
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|o| (o, format!("spec.sharedEncryptOptions[{}]", o.name)));
    let mount = dataset
        .spec
        .mounts
        .as_deref()
        .and_then(|m| m.first())
        .and_then(|m| m.encrypt_options.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|o| (o, format!("spec.mounts[0].encryptOptions[{}]", o.name)));
    let mut out: Vec<SecretEnv> = vec![];
    let mut errors = vec![];
    for (option, field) in shared.chain(mount) {
        if option.name == "quota" {
            continue;
        }
        match one(option, &field) {
            Ok(env) => {
                out.retain(|e| e.option != env.option);
                out.push(env);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn one(option: &EncryptOption, field: &str) -> Result<SecretEnv, OptionError> {
    let err = |message: String| OptionError {
        field: field.to_owned(),
        message,
    };
    let env = env_name(&option.name);
    if !valid_env_name(&env) {
        return Err(err(format!(
            "the option name gives the environment variable {env:?}, which is not a valid name (letters, digits and '_', not starting with a digit)"
        )));
    }
    let selector = option
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .ok_or_else(|| err("valueFrom.secretKeyRef is required".into()))?;
    if selector.name.is_empty() {
        return Err(err("valueFrom.secretKeyRef.name is empty".into()));
    }
    let key = selector
        .key
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            err(format!(
                "valueFrom.secretKeyRef of secret {} names no key",
                selector.name
            ))
        })?;
    Ok(SecretEnv {
        option: option.name.clone(),
        env,
        secret_name: selector.name.clone(),
        secret_key: key,
        field: field.to_owned(),
    })
}

/// The container `env` entries of the secret-backed options: references only.
pub fn env_entries(envs: &[SecretEnv]) -> Vec<serde_json::Value> {
    envs.iter()
        .map(|e| {
            serde_json::json!({"name": e.env, "valueFrom": {"secretKeyRef": {"name": e.secret_name, "key": e.secret_key}}})
        })
        .collect()
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

    fn opt(name: &str, secret: &str, key: &str) -> serde_json::Value {
        json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    }

    #[test]
    fn well_known_options_get_fluids_names_others_underscores() {
        let ds = dataset(
            json!({"mounts": [{"mountPoint": "juicefs:///", "encryptOptions": [
            opt("metaurl", "jfs", "metaurl"), opt("access-key", "jfs", "ak"),
            opt("secret-key", "jfs", "sk"), opt("token", "jfs", "tok"),
            opt("session-token", "aws", "st"), opt("quota", "x", "y")]}]}),
        );
        let envs = secret_envs(&ds).unwrap();
        let names: Vec<(&str, &str, &str)> = envs
            .iter()
            .map(|e| {
                (
                    e.env.as_str(),
                    e.secret_name.as_str(),
                    e.secret_key.as_str(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("METAURL", "jfs", "metaurl"),
                ("ACCESS_KEY", "jfs", "ak"),
                ("SECRET_KEY", "jfs", "sk"),
                ("TOKEN", "jfs", "tok"),
                ("session_token", "aws", "st"),
            ]
        );
        assert_eq!(envs[0].field, "spec.mounts[0].encryptOptions[metaurl]");
        assert!(envs[0].is_well_known() && !envs[4].is_well_known());
    }

    #[test]
    fn a_mount_option_replaces_the_shared_one() {
        let ds = dataset(
            json!({"sharedEncryptOptions": [opt("metaurl", "shared", "m"), opt("token", "shared", "t")],
            "mounts": [{"mountPoint": "juicefs:///", "encryptOptions": [opt("metaurl", "own", "m")]}]}),
        );
        let envs = secret_envs(&ds).unwrap();
        assert_eq!(envs.len(), 2);
        let metaurl = envs.iter().find(|e| e.env == "METAURL").unwrap();
        assert_eq!(metaurl.secret_name, "own");
        let token = envs.iter().find(|e| e.env == "TOKEN").unwrap();
        assert_eq!(token.field, "spec.sharedEncryptOptions[token]");
    }

    #[test]
    fn bad_names_and_missing_references_are_field_errors() {
        let ds = dataset(
            json!({"mounts": [{"mountPoint": "juicefs:///", "encryptOptions": [
            opt("1bad", "s", "k"), {"name": "metaurl"}, {"name": "token", "valueFrom": {"secretKeyRef": {"name": "s"}}}]}]}),
        );
        let errors = secret_envs(&ds).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.mounts[0].encryptOptions[1bad]",
                "spec.mounts[0].encryptOptions[metaurl]",
                "spec.mounts[0].encryptOptions[token]"
            ]
        );
        assert!(
            errors[2].message.contains("names no key"),
            "{:?}",
            errors[2]
        );
    }

    #[test]
    fn env_entries_hold_references_only() {
        let envs = vec![SecretEnv {
            option: "metaurl".into(),
            env: "METAURL".into(),
            secret_name: "jfs".into(),
            secret_key: "metaurl".into(),
            field: String::new(),
        }];
        assert_eq!(
            env_entries(&envs),
            [
                json!({"name": "METAURL", "valueFrom": {"secretKeyRef": {"name": "jfs", "key": "metaurl"}}})
            ]
        );
    }
}
