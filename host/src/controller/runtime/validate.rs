//! The checks a spec must pass before anything is set up: the host's own (names the engine's
//! objects can take) and the engine's `validate` hook. A spec that passed is not checked again
//! until the runtime's or the Dataset's spec changes (their generations), so a settled runtime
//! costs no validation requests; a failed one is checked again on each retry (20 s), since the
//! fix may be a Secret the controller does not watch.

use super::pass::Pass;
use super::ReconcileError;
use crate::controller::conditions::{types, Condition};
use crate::controller::names;
use fluid_plugin_api::protocol::Hook;
use fluid_plugin_api::{FieldError, Validation};

/// The host's checks of a runtime's name: helm's release-name limit when the engine's chart
/// is installed by the host.
pub fn host_problems(name: &str, has_chart: bool) -> Vec<FieldError> {
    let mut errors = vec![];
    if has_chart {
        if let Some(message) = names::release_name_problem(name) {
            errors.push(FieldError {
                field: "metadata.name".into(),
                message,
            });
        }
    }
    errors
}

/// Returns whether the spec is valid; says why not in `Validated` and an Event.
pub(super) async fn validate(pass: &mut Pass<'_>) -> Result<bool, ReconcileError> {
    let uid = pass.uid().to_owned();
    let generations = (
        pass.runtime.metadata.generation.unwrap_or_default(),
        pass.dataset
            .as_ref()
            .and_then(|d| d.metadata.generation)
            .unwrap_or_default(),
    );
    let settled = pass
        .status
        .find_condition(types::VALIDATED)
        .is_some_and(|c| c["status"] == "True");
    let known = pass
        .ctx
        .validated
        .lock()
        .map(|m| m.get(&uid) == Some(&generations))
        .unwrap_or(false);
    if settled && known {
        return Ok(true);
    }
    let mut errors = host_problems(&pass.name, !pass.ctx.hooks.plugin.chart().is_empty());
    let validation = if errors.is_empty() {
        pass.hook_as::<Validation>(Hook::Validate)
            .await?
            .unwrap_or_default()
    } else {
        Validation::default()
    };
    errors.extend(validation.errors);
    if !errors.is_empty() {
        let message = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        pass.report(
            &Condition {
                kind: types::VALIDATED,
                status: false,
                reason: "InvalidSpec",
                message: &message,
            },
            Some((true, "ErrorValidateSpecFields")),
        );
        if let Ok(mut m) = pass.ctx.validated.lock() {
            m.remove(&uid);
        }
        return Ok(false);
    }
    pass.status.condition(&Condition {
        kind: types::VALIDATED,
        status: true,
        reason: "Valid",
        message: "",
    });
    if pass.status.condition_changed(types::VALIDATED) && !validation.ignored_fields.is_empty() {
        let message = format!(
            "{} ignores these fields: {}",
            pass.ctx.engine(),
            validation.ignored_fields.join(", ")
        );
        pass.event(true, "RuntimeFieldsIgnored", &message);
    }
    if let Ok(mut m) = pass.ctx.validated.lock() {
        m.insert(uid, generations);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_helm_cannot_take_are_refused_naming_the_field() {
        let errors = host_problems(&"a".repeat(54), true);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "metadata.name");
        assert!(host_problems(&"a".repeat(53), true).is_empty());
        // An engine that installs nothing through the host has no release name.
        assert!(host_problems(&"a".repeat(60), false).is_empty());
    }
}
