//! A status being prepared during one pass: it starts as the object's status when the pass
//! began; steps set fields and conditions on it; at the end it yields one merge patch with
//! what changed, or nothing. So a pass writes each status at most once, two changes in one
//! pass cannot erase each other, and an idle pass writes nothing.

use super::conditions::{self, Condition, Flavor};
use super::schema::{self, StatusSchema};
use serde::Serialize;
use serde_json::{Map, Value};

/// The status of one object (a runtime or a Dataset) during one pass.
#[derive(Clone, Debug)]
pub struct StatusDraft {
    flavor: Flavor,
    /// The status as observed when the pass began.
    current: Map<String, Value>,
    /// What it will be.
    next: Map<String, Value>,
    now: String,
}

impl StatusDraft {
    /// A draft of `status` (the object's `.status`; anything but an object counts as empty).
    pub fn new(flavor: Flavor, status: &Value) -> Self {
        let current = status.as_object().cloned().unwrap_or_default();
        Self {
            flavor,
            next: current.clone(),
            current,
            now: conditions::now(),
        }
    }

    /// A field as it will be written (`null` when absent).
    pub fn get(&self, field: &str) -> &Value {
        self.next.get(field).unwrap_or(&Value::Null)
    }

    /// Sets a field (`null` removes it).
    pub fn set(&mut self, field: &str, value: impl Serialize) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        if value.is_null() {
            self.next.remove(field);
        } else {
            self.next.insert(field.to_owned(), value);
        }
    }

    /// Sets every field of `fields` (an object; anything else is ignored).
    pub fn set_all(&mut self, fields: &Value) {
        if let Some(map) = fields.as_object() {
            for (k, v) in map {
                self.set(k, v);
            }
        }
    }

    /// Sets a condition, merged by type; timestamps move only when something else changes.
    pub fn condition(&mut self, c: &Condition<'_>) {
        let mut list = self.conditions();
        if conditions::set(&mut list, self.flavor, c, &self.now) {
            self.next.insert("conditions".into(), Value::Array(list));
        }
    }

    /// Removes the condition of a type.
    pub fn remove_condition(&mut self, kind: &str) {
        let mut list = self.conditions();
        let before = list.len();
        list.retain(|c| c["type"] != kind);
        if list.len() != before {
            self.next.insert("conditions".into(), Value::Array(list));
        }
    }

    fn conditions(&self) -> Vec<Value> {
        self.get("conditions")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Whether a condition of this type will be written differently from how the pass found
    /// it (for "newly set" Events).
    pub fn condition_changed(&self, kind: &str) -> bool {
        let find = |m: &Map<String, Value>| {
            m.get("conditions")
                .and_then(Value::as_array)
                .and_then(|l| conditions::find(l, kind).cloned())
        };
        find(&self.current) != find(&self.next)
    }

    /// The condition of a type as it will be written.
    pub fn find_condition(&self, kind: &str) -> Option<Value> {
        self.get("conditions")
            .as_array()
            .and_then(|l| conditions::find(l, kind).cloned())
    }

    /// The merge patch for `.status`: changed and removed top-level fields the schema allows,
    /// completed with the zero values of fields the CRD requires; `None` when nothing changed.
    pub fn patch(&self, schema: &StatusSchema) -> Option<Value> {
        let mut patch = Map::new();
        for (k, v) in &self.next {
            if self.current.get(k) != Some(v) && schema.allows(k) {
                patch.insert(k.clone(), v.clone());
            }
        }
        for k in self.current.keys() {
            if !self.next.contains_key(k) && schema.allows(k) {
                patch.insert(k.clone(), Value::Null);
            }
        }
        if patch.is_empty() {
            return None;
        }
        let mut patch = Value::Object(patch);
        schema::complete(
            &mut patch,
            &Value::Object(self.current.clone()),
            &schema.required,
        );
        Some(patch)
    }

    /// The status as it will be after the write (for the next step of the same pass).
    pub fn as_value(&self) -> Value {
        Value::Object(self.next.clone())
    }

    /// Takes a newer status (just written or read by a step of the pass) as the base, keeping
    /// the changes the draft holds (conditions by type).
    pub fn rebase(&mut self, status: &Value) {
        let fresh = status.as_object().cloned().unwrap_or_default();
        let mut next = fresh.clone();
        for (k, v) in &self.next {
            if k != "conditions" && self.current.get(k) != Some(v) {
                next.insert(k.clone(), v.clone());
            }
        }
        for k in self.current.keys() {
            if !self.next.contains_key(k) {
                next.remove(k);
            }
        }
        let mut list: Vec<Value> = next
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let before = list.clone();
        let old = |m: &Map<String, Value>| {
            m.get("conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let (was, now) = (old(&self.current), old(&self.next));
        for c in &now {
            if conditions::find(&was, c["type"].as_str().unwrap_or_default()) != Some(c) {
                list.retain(|o| o["type"] != c["type"]);
                list.push(c.clone());
            }
        }
        for c in &was {
            let kind = c["type"].as_str().unwrap_or_default();
            if conditions::find(&now, kind).is_none() {
                list.retain(|o| o["type"] != kind);
            }
        }
        if list != before {
            next.insert("conditions".into(), Value::Array(list));
        }
        self.current = fresh;
        self.next = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validated(ok: bool) -> Condition<'static> {
        Condition {
            kind: "Validated",
            status: ok,
            reason: if ok { "Valid" } else { "InvalidSpec" },
            message: "",
        }
    }

    #[test]
    fn an_unchanged_status_writes_nothing() {
        let mut d = StatusDraft::new(
            Flavor::Runtime,
            &json!({"workerPhase": "Ready", "conditions": []}),
        );
        d.set("workerPhase", "Ready");
        d.condition(&validated(true));
        let status = d.as_value();
        let mut again = StatusDraft::new(Flavor::Runtime, &status);
        again.set("workerPhase", "Ready");
        again.condition(&validated(true));
        assert_eq!(again.patch(&StatusSchema::default()), None);
    }

    #[test]
    fn two_conditions_in_one_pass_are_both_written() {
        let mut d = StatusDraft::new(
            Flavor::Runtime,
            &json!({"conditions": [
            {"type": "Validated", "status": "True", "reason": "Valid", "message": ""}]}),
        );
        d.condition(&Condition {
            kind: "WorkersScaledOut",
            status: true,
            reason: "WorkersScaledOut",
            message: "workers scaled out from 1 to 3",
        });
        d.condition(&Condition {
            kind: "Reconciled",
            status: true,
            reason: "Synced",
            message: "",
        });
        let patch = d.patch(&StatusSchema::default()).unwrap();
        let types: Vec<_> = patch["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(types, ["Validated", "WorkersScaledOut", "Reconciled"]);
        assert!(d.condition_changed("Reconciled"));
        assert!(!d.condition_changed("Validated"));
    }

    #[test]
    fn fields_the_schema_lacks_are_never_written() {
        let mut d = StatusDraft::new(Flavor::Runtime, &json!({}));
        d.set("selector", "app=x");
        let schema = StatusSchema {
            required: json!({}),
            fields: Some(["valueFile".to_owned()].into()),
        };
        assert_eq!(d.patch(&schema), None);
    }

    #[test]
    fn a_rebase_keeps_the_drafts_changes_over_the_newer_status() {
        let mut d = StatusDraft::new(Flavor::Runtime, &json!({"valueFile": "", "conditions": []}));
        d.set("valueFile", "demo-x-values");
        d.condition(&validated(true));
        // Meanwhile the engine wrote the selector and someone else a condition.
        d.rebase(&json!({"valueFile": "", "selector": "app=x",
            "conditions": [{"type": "Other", "status": "True"}]}));
        let next = d.as_value();
        assert_eq!(next["valueFile"], "demo-x-values");
        assert_eq!(next["selector"], "app=x");
        let types: Vec<_> = next["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].clone())
            .collect();
        assert_eq!(types, [json!("Other"), json!("Validated")]);
        let patch = d.patch(&StatusSchema::default()).unwrap();
        assert!(patch.get("selector").is_none(), "{patch}");
    }

    #[test]
    fn the_patch_holds_changed_and_removed_fields_and_required_ones() {
        let mut d = StatusDraft::new(
            Flavor::Dataset,
            &json!({"phase": "NotBound", "ufsTotal": "1GiB", "conditions": []}),
        );
        d.set("phase", "Bound");
        d.set("ufsTotal", Value::Null);
        let schema = StatusSchema {
            required: json!({"conditions": [], "hcfs": {}}),
            fields: None,
        };
        let patch = d.patch(&schema).unwrap();
        assert_eq!(
            patch,
            json!({"phase": "Bound", "ufsTotal": null, "hcfs": {}})
        );
    }
}
