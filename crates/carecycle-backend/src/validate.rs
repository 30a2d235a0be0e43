//! What makes a resource unprocessable (HTTP 422) before it is stored: the
//! R4 elements each type requires, status codes from their required value
//! sets, and references in a form a FHIR server can resolve. The message names
//! the element, so a client can tell its user what to fix.

use carecycle_fhir::ResourceType;
use carecycle_fhir::reference::is_valid_id;
use serde_json::Value;

/// (element, allowed codes) of each type's required-binding status elements.
fn statuses(t: ResourceType) -> &'static [(&'static str, &'static [&'static str])] {
    use ResourceType::*;
    match t {
        EpisodeOfCare => &[(
            "status",
            &[
                "planned",
                "waitlist",
                "active",
                "onhold",
                "finished",
                "cancelled",
                "entered-in-error",
            ],
        )],
        CarePlan => &[
            (
                "status",
                &[
                    "draft",
                    "active",
                    "on-hold",
                    "revoked",
                    "completed",
                    "entered-in-error",
                    "unknown",
                ],
            ),
            ("intent", &["proposal", "plan", "order", "option"]),
        ],
        CareTeam => &[(
            "status",
            &[
                "proposed",
                "active",
                "suspended",
                "inactive",
                "entered-in-error",
            ],
        )],
        Goal => &[(
            "lifecycleStatus",
            &[
                "proposed",
                "planned",
                "accepted",
                "active",
                "on-hold",
                "completed",
                "cancelled",
                "entered-in-error",
                "rejected",
            ],
        )],
        Appointment => &[(
            "status",
            &[
                "proposed",
                "pending",
                "booked",
                "arrived",
                "fulfilled",
                "cancelled",
                "noshow",
                "entered-in-error",
                "checked-in",
                "waitlist",
            ],
        )],
        Task => &[
            (
                "status",
                &[
                    "draft",
                    "requested",
                    "received",
                    "accepted",
                    "rejected",
                    "ready",
                    "cancelled",
                    "in-progress",
                    "on-hold",
                    "failed",
                    "completed",
                    "entered-in-error",
                ],
            ),
            (
                "intent",
                &[
                    "unknown",
                    "proposal",
                    "plan",
                    "order",
                    "original-order",
                    "reflex-order",
                    "filler-order",
                    "instance-order",
                    "option",
                ],
            ),
        ],
        Communication => &[(
            "status",
            &[
                "preparation",
                "in-progress",
                "not-done",
                "on-hold",
                "stopped",
                "completed",
                "entered-in-error",
                "unknown",
            ],
        )],
        DocumentReference => &[("status", &["current", "superseded", "entered-in-error"])],
        Questionnaire | ValueSet | CodeSystem | StructureDefinition => {
            &[("status", &["draft", "active", "retired", "unknown"])]
        }
        QuestionnaireResponse => &[(
            "status",
            &[
                "in-progress",
                "completed",
                "amended",
                "entered-in-error",
                "stopped",
            ],
        )],
        Observation => &[(
            "status",
            &[
                "registered",
                "preliminary",
                "final",
                "amended",
                "corrected",
                "cancelled",
                "entered-in-error",
                "unknown",
            ],
        )],
        Patient => &[("gender", &["male", "female", "other", "unknown"])],
        _ => &[],
    }
}

/// Elements R4 requires (cardinality 1..) besides the status elements above.
fn required(t: ResourceType) -> &'static [&'static str] {
    use ResourceType::*;
    match t {
        RelatedPerson => &["patient"],
        EpisodeOfCare => &["status", "patient"],
        CarePlan => &["status", "intent", "subject"],
        Goal => &["lifecycleStatus", "description", "subject"],
        Appointment => &["status", "participant"],
        Task => &["status", "intent"],
        Communication => &["status"],
        DocumentReference => &["status", "content"],
        Questionnaire | ValueSet => &["status"],
        CodeSystem => &["status", "content"],
        StructureDefinition => &["url", "name", "status", "kind", "abstract", "type"],
        QuestionnaireResponse => &["status"],
        Observation => &["status", "code"],
        AuditEvent => &["type", "recorded", "agent", "source"],
        _ => &[],
    }
}

/// Checks a resource; the error is a sentence naming the element.
pub fn resource(t: ResourceType, content: &Value) -> Result<(), String> {
    if let Some(id) = content.get("id") {
        match id.as_str() {
            Some(id) if is_valid_id(id) => {}
            _ => return Err(format!("{t}.id is not a valid FHIR id")),
        }
    }
    for element in required(t) {
        match content.get(*element) {
            None | Some(Value::Null) => return Err(format!("{t}.{element} is required")),
            Some(Value::Array(a)) if a.is_empty() => {
                return Err(format!("{t}.{element} needs at least one entry"));
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(format!("{t}.{element} cannot be empty"));
            }
            _ => {}
        }
    }
    for (element, allowed) in statuses(t) {
        if let Some(v) = content.get(*element) {
            match v.as_str() {
                Some(code) if allowed.contains(&code) => {}
                Some(code) => {
                    return Err(format!(
                        "{t}.{element} '{code}' is not one of: {}",
                        allowed.join(", ")
                    ));
                }
                None => return Err(format!("{t}.{element} must be a code (a string)")),
            }
        }
    }
    match t {
        ResourceType::Appointment => {
            for (i, p) in content["participant"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                if !matches!(
                    p.get("status").and_then(Value::as_str),
                    Some("accepted" | "declined" | "tentative" | "needs-action")
                ) {
                    return Err(format!(
                        "Appointment.participant[{i}].status must be accepted, declined, tentative or needs-action"
                    ));
                }
            }
        }
        ResourceType::DocumentReference => {
            for (i, c) in content["content"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                if c.get("attachment").is_none_or(|a| !a.is_object()) {
                    return Err(format!(
                        "DocumentReference.content[{i}].attachment is required"
                    ));
                }
            }
        }
        _ => {}
    }
    check_references(content, &t.to_string())
}

/// Every `reference` must be something a server can resolve: `Type/id`
/// (optionally `/_history/n`), an absolute URL, a `urn:uuid:`/`urn:oid:`, or
/// `#contained`.
fn check_references(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("reference", Value::String(r)) => {
                        if !reference_ok(r) {
                            return Err(format!("{path}.reference '{r}' is not a valid reference"));
                        }
                    }
                    // A Reference-typed element named `reference` (CarePlan.activity.reference).
                    ("reference", Value::Object(_)) => {
                        check_references(x, &format!("{path}.reference"))?
                    }
                    ("reference", _) => return Err(format!("{path}.reference must be a string")),
                    _ => check_references(x, &format!("{path}.{k}"))?,
                }
            }
            Ok(())
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_references(x, &format!("{path}[{i}]"))),
        _ => Ok(()),
    }
}

fn reference_ok(r: &str) -> bool {
    if let Some(local) = r.strip_prefix('#') {
        return local.is_empty() || is_valid_id(local);
    }
    if r.starts_with("http://") || r.starts_with("https://") {
        return url::Url::parse(r).is_ok();
    }
    if r.starts_with("urn:uuid:") || r.starts_with("urn:oid:") {
        return true;
    }
    let parts: Vec<&str> = r.split('/').collect();
    let type_ok = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && s.chars().all(|c| c.is_ascii_alphabetic())
    };
    match parts.as_slice() {
        [ty, id] => type_ok(ty) && is_valid_id(id),
        [ty, id, "_history", v] => type_ok(ty) && is_valid_id(id) && is_valid_id(v),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_elements_status_codes_and_references() {
        let t = ResourceType::Task;
        assert!(resource(t, &json!({"status": "requested", "intent": "order", "for": {"reference": "Patient/p1"}})).is_ok());
        assert_eq!(
            resource(t, &json!({"intent": "order"})).unwrap_err(),
            "Task.status is required"
        );
        assert!(
            resource(t, &json!({"status": "done", "intent": "order"}))
                .unwrap_err()
                .starts_with("Task.status 'done' is not one of")
        );
        assert_eq!(
            resource(t, &json!({"status": "requested", "intent": "order", "for": {"reference": "patient 1"}})).unwrap_err(),
            "Task.for.reference 'patient 1' is not a valid reference"
        );
        assert!(resource(ResourceType::Communication, &json!({"status": "completed", "partOf": [{"reference": "https://x.org/fhir/Communication/1"}], "about": [{"reference": "#c1"}]})).is_ok());
        assert_eq!(
            resource(
                ResourceType::DocumentReference,
                &json!({"status": "current", "content": [{}]})
            )
            .unwrap_err(),
            "DocumentReference.content[0].attachment is required"
        );
        assert_eq!(
            resource(
                ResourceType::Appointment,
                &json!({"status": "booked", "participant": []})
            )
            .unwrap_err(),
            "Appointment.participant needs at least one entry"
        );
        assert_eq!(
            resource(ResourceType::Patient, &json!({"id": "a b"})).unwrap_err(),
            "Patient.id is not a valid FHIR id"
        );
    }
}
