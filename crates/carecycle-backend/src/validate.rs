//! What makes a resource unprocessable (HTTP 422) before it is stored, every
//! problem at once, each naming its element (the OperationOutcome's
//! `expression`) so a client can tell its user what to fix:
//!
//! - R4's structure, read by a decoder generated from the official R4
//!   definitions (the `fhirkit` crate): unknown elements, cardinality (one
//!   value or a list), datatypes and their formats, required elements,
//!   choice elements. Unknown elements are refused, never kept: a resource
//!   stored here must be readable by any R4 client (a third-party parser
//!   failed on one before), and `Prefer: handling=lenient` is for search.
//! - Reference target types, from R4's StructureDefinitions
//!   (`r4-reference-targets.json`, made by `ui/scripts/r4-reference-targets.mjs`
//!   and checked against the definitions by the e2e suite).
//! - What the decoder does not check: status codes from their required value
//!   sets, resource ids, references in a form a server can resolve, and the
//!   elements R4 requires inside a few backbone elements.

use carecycle_fhir::ResourceType;
use carecycle_fhir::reference::is_valid_id;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One thing wrong with a resource: the element it is at (`Task.for.reference`,
/// `Communication.payload[0]`) and a sentence saying what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub expression: String,
    pub message: String,
}

impl Problem {
    fn at(expression: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            expression: expression.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

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

/// Checks a resource: every problem found, or none.
pub fn resource(t: ResourceType, content: &Value) -> Result<(), Vec<Problem>> {
    let mut problems: Vec<Problem> = rules(t, content).err().into_iter().collect();
    for p in structure(content)
        .into_iter()
        .chain(reference_targets(t, content))
    {
        if !problems.iter().any(|q| q.expression == p.expression) {
            problems.push(p);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// R4's structure, as the generated decoder reads it (its errors; its
/// warnings are things a reader may not expect, not invalid R4).
fn structure(content: &Value) -> Vec<Problem> {
    let text = content.to_string();
    match fhirkit::from_json::<fhirkit::r4::Resource>(&text) {
        Ok((_, issues)) => issues
            .into_iter()
            .filter(|i| i.severity == fhirkit::Severity::Error)
            .map(|i| {
                let message = format!("{} {}", i.path, i.message);
                Problem::at(i.path, message)
            })
            .collect(),
        Err(e) => vec![Problem::at("", format!("not a FHIR resource: {e}"))],
    }
}

/// R4's target types of each non-choice Reference element that does not allow any resource.
fn targets() -> &'static HashMap<String, Vec<String>> {
    static TABLE: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // Built in; the unit tests fail if it does not read.
        serde_json::from_str(include_str!("r4-reference-targets.json")).unwrap_or_default()
    })
}

/// Every reference whose target type R4 does not allow at its element.
fn reference_targets(t: ResourceType, content: &Value) -> Vec<Problem> {
    fn walk(v: &Value, element: &str, at: String, out: &mut Vec<Problem>) {
        match v {
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    walk(x, element, format!("{at}[{i}]"), out);
                }
            }
            Value::Object(fields) => {
                if let Some(allowed) = targets().get(element)
                    && let Some(Value::String(r)) = fields.get("reference")
                    && let Some(target) = target_type(r)
                    && !allowed.iter().any(|a| a == target)
                {
                    out.push(Problem::at(
                        format!("{at}.reference"),
                        format!("{at} may reference {}, not {target}", allowed.join(", ")),
                    ));
                }
                for (k, x) in fields {
                    let deeper = format!("{element}.{k}");
                    // Only where some reference element lies below.
                    if targets().keys().any(|p| p.starts_with(&deeper)) {
                        walk(x, &deeper, format!("{at}.{k}"), out);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(content, t.as_str(), t.as_str().to_owned(), &mut out);
    out
}

/// The type a reference points at: `Type/id`, `Type/id/_history/v`, or an
/// absolute URL ending so; None for contained (`#…`) and `urn:` references.
fn target_type(r: &str) -> Option<&str> {
    if r.starts_with('#') || r.starts_with("urn:") {
        return None;
    }
    let parts: Vec<&str> = r.split('/').collect();
    let at = match parts.as_slice() {
        [.., ty, _, "_history", _] => ty,
        [.., ty, _] => ty,
        _ => return None,
    };
    Some(*at)
}

/// The checks the decoder does not make; the first problem found.
fn rules(t: ResourceType, content: &Value) -> Result<(), Problem> {
    if let Some(id) = content.get("id") {
        match id.as_str() {
            Some(id) if is_valid_id(id) => {}
            _ => {
                return Err(Problem::at(
                    format!("{t}.id"),
                    format!("{t}.id is not a valid FHIR id"),
                ));
            }
        }
    }
    for element in required(t) {
        match content.get(*element) {
            None | Some(Value::Null) => {
                return Err(Problem::at(
                    format!("{t}.{element}"),
                    format!("{t}.{element} is required"),
                ));
            }
            Some(Value::Array(a)) if a.is_empty() => {
                return Err(Problem::at(
                    format!("{t}.{element}"),
                    format!("{t}.{element} needs at least one entry"),
                ));
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(Problem::at(
                    format!("{t}.{element}"),
                    format!("{t}.{element} cannot be empty"),
                ));
            }
            _ => {}
        }
    }
    for (element, allowed) in statuses(t) {
        if let Some(v) = content.get(*element) {
            match v.as_str() {
                Some(code) if allowed.contains(&code) => {}
                Some(code) => {
                    return Err(Problem::at(
                        format!("{t}.{element}"),
                        format!(
                            "{t}.{element} '{code}' is not one of: {}",
                            allowed.join(", ")
                        ),
                    ));
                }
                None => {
                    return Err(Problem::at(
                        format!("{t}.{element}"),
                        format!("{t}.{element} must be a code (a string)"),
                    ));
                }
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
                    return Err(Problem::at(
                        format!("Appointment.participant[{i}].status"),
                        format!(
                            "Appointment.participant[{i}].status must be accepted, declined, tentative or needs-action"
                        ),
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
                    return Err(Problem::at(
                        format!("DocumentReference.content[{i}].attachment"),
                        format!("DocumentReference.content[{i}].attachment is required"),
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
fn check_references(v: &Value, path: &str) -> Result<(), Problem> {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("reference", Value::String(r)) => {
                        if !reference_ok(r) {
                            return Err(Problem::at(
                                format!("{path}.reference"),
                                format!("{path}.reference '{r}' is not a valid reference"),
                            ));
                        }
                    }
                    // A Reference-typed element named `reference` (CarePlan.activity.reference).
                    ("reference", Value::Object(_)) => {
                        check_references(x, &format!("{path}.reference"))?
                    }
                    ("reference", _) => {
                        return Err(Problem::at(
                            format!("{path}.reference"),
                            format!("{path}.reference must be a string"),
                        ));
                    }
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

    /// The first problem's sentence.
    fn said(t: ResourceType, v: Value) -> String {
        resource(t, &v).unwrap_err()[0].message.clone()
    }

    #[test]
    fn required_elements_status_codes_and_references() {
        let t = ResourceType::Task;
        assert!(resource(t, &json!({"resourceType": "Task", "status": "requested", "intent": "order", "for": {"reference": "Patient/p1"}})).is_ok());
        assert_eq!(
            said(t, json!({"resourceType": "Task", "intent": "order"})),
            "Task.status is required"
        );
        assert!(
            said(
                t,
                json!({"resourceType": "Task", "status": "done", "intent": "order"})
            )
            .starts_with("Task.status 'done' is not one of")
        );
        assert_eq!(
            said(
                t,
                json!({"resourceType": "Task", "status": "requested", "intent": "order", "for": {"reference": "patient 1"}})
            ),
            "Task.for.reference 'patient 1' is not a valid reference"
        );
        assert!(resource(ResourceType::Communication, &json!({"resourceType": "Communication", "status": "completed", "partOf": [{"reference": "https://x.org/fhir/Communication/1"}], "about": [{"reference": "#c1"}]})).is_ok());
        assert_eq!(
            said(
                ResourceType::DocumentReference,
                json!({"resourceType": "DocumentReference", "status": "current", "content": [{}]})
            ),
            "DocumentReference.content[0].attachment is required"
        );
        assert_eq!(
            said(
                ResourceType::Appointment,
                json!({"resourceType": "Appointment", "status": "booked", "participant": []})
            ),
            "Appointment.participant needs at least one entry"
        );
        assert_eq!(
            said(
                ResourceType::Patient,
                json!({"resourceType": "Patient", "id": "a b"})
            ),
            "Patient.id is not a valid FHIR id"
        );
    }

    /// What R4 forbids that a hostile or careless client sends (issue #13's
    /// examples): each refused at its element, all at once.
    #[test]
    fn structure_datatypes_unknown_elements_and_reference_targets_per_r4() {
        let c = ResourceType::Communication;
        let base = json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": "Patient/p1"}});
        let with = |extra: Value| {
            let mut v = base.clone();
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            resource(c, &v).err().unwrap_or_default()
        };
        let at = |problems: Vec<Problem>| {
            problems
                .into_iter()
                .map(|p| p.expression)
                .collect::<Vec<_>>()
        };
        assert!(with(json!({})).is_empty());
        assert_eq!(
            at(with(json!({"sent": "yesterday"}))),
            ["Communication.sent"]
        );
        assert_eq!(
            at(with(json!({"colour": "blue"}))),
            ["Communication.colour"]
        );
        assert_eq!(
            at(with(json!({"payload": [{}]}))),
            ["Communication.payload[0].content[x]"]
        );
        assert_eq!(
            at(with(json!({"subject": [{"reference": "Patient/p1"}]}))),
            ["Communication.subject"]
        );
        // R4: Communication.subject is Reference(Patient | Group).
        assert_eq!(
            at(with(json!({"subject": {"reference": "Practitioner/x"}}))),
            ["Communication.subject.reference"]
        );
        // Several at once, each named.
        assert_eq!(
            with(json!({"sent": "yesterday", "colour": "blue"})).len(),
            2
        );
        // QuestionnaireResponse: one identifier, basedOn CarePlan | ServiceRequest.
        let qr = ResourceType::QuestionnaireResponse;
        let problems = resource(
            qr,
            &json!({"resourceType": "QuestionnaireResponse", "status": "completed",
            "identifier": [{"value": "x"}], "basedOn": [{"reference": "Task/t1"}]}),
        )
        .unwrap_err();
        assert_eq!(
            at(problems),
            [
                "QuestionnaireResponse.identifier",
                "QuestionnaireResponse.basedOn[0].reference"
            ]
        );
        // Nested elements and absolute references: CarePlan.activity.reference,
        // an Appointment's participant actor; any-resource elements are not limited.
        assert!(resource(ResourceType::CarePlan, &json!({"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"reference": "https://x.org/fhir/Patient/p1"}, "activity": [{"reference": {"reference": "Appointment/a1"}}],
            "supportingInfo": [{"reference": "Communication/c1"}]})).is_ok());
        let bad = resource(ResourceType::CarePlan, &json!({"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/p1"}, "activity": [{"reference": {"reference": "Observation/o1"}}]})).unwrap_err();
        assert_eq!(at(bad), ["CarePlan.activity[0].reference.reference"]);
    }
}
