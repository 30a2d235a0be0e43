//! Questionnaire assignments as SDC Tasks (Structured Data Capture IG, profile
//! `sdc-task`): `code` is `complete-questionnaire`, the form is an `input` of
//! type `questionnaire` holding its canonical URL, and the answers are an
//! `output` of type `questionnaire-response` once there are any. Rule sdc-t1
//! forbids `focus` on such a Task.
//!
//! Records written before CareCycle spoke SDC carry the form as
//! `focus: Questionnaire/[id]` with the CareCycle task kind `questionnaire`;
//! [`questionnaire_of`] reads both, so those records keep working.

use serde_json::{Value, json};

/// The SDC IG's code system for its task codes and task input/output types
/// (`complete-questionnaire`, `questionnaire`, `questionnaire-response`).
pub const SDC_TEMP_SYSTEM: &str = "http://hl7.org/fhir/uv/sdc/CodeSystem/temp";

/// Which form a questionnaire Task asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormRef<'a> {
    /// SDC: the Questionnaire's canonical URL (`url` or `url|version`).
    Canonical(&'a str),
    /// The old CareCycle form: the Questionnaire's id on this server.
    Id(&'a str),
}

fn coding(code: &str, display: &str) -> Value {
    json!({"coding": [{"system": SDC_TEMP_SYSTEM, "code": code, "display": display}]})
}

fn has_coding(concept: &Value, system: &str, code: &str) -> bool {
    concept["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["system"] == system && c["code"] == code)
}

/// `Task.code` of an SDC questionnaire Task.
pub fn task_code() -> Value {
    coding("complete-questionnaire", "Complete Questionnaire")
}

/// `Task.input` naming the form by its canonical URL.
pub fn questionnaire_input(canonical: &str) -> Value {
    json!([{"type": coding("questionnaire", "Questionnaire"), "valueCanonical": canonical}])
}

/// `Task.output` naming the QuestionnaireResponse that answers the Task.
pub fn response_output(response_id: &str) -> Value {
    json!([{
        "type": coding("questionnaire-response", "Questionnaire Response"),
        "valueReference": {"reference": format!("QuestionnaireResponse/{response_id}")}
    }])
}

/// Is this Task (JSON) an SDC `complete-questionnaire` Task?
pub fn is_sdc_questionnaire_task(task: &Value) -> bool {
    has_coding(&task["code"], SDC_TEMP_SYSTEM, "complete-questionnaire")
}

/// Is this Task (JSON) a questionnaire assignment, in the SDC form or the old one?
pub fn is_questionnaire_task(task: &Value) -> bool {
    crate::task_kind(task) == Some("questionnaire")
}

/// The form a questionnaire Task asks for: the SDC `questionnaire` input, or
/// (a record written the old way) its `focus` on a Questionnaire.
pub fn questionnaire_of(task: &Value) -> Option<FormRef<'_>> {
    let input = task["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| has_coding(&i["type"], SDC_TEMP_SYSTEM, "questionnaire"))
        .find_map(|i| i["valueCanonical"].as_str())
        .map(FormRef::Canonical);
    input.or_else(|| {
        task["focus"]["reference"]
            .as_str()?
            .strip_prefix("Questionnaire/")
            .map(FormRef::Id)
    })
}

/// The QuestionnaireResponse a questionnaire Task names as its output (any
/// output referencing one: the old form typed it with text only).
pub fn response_of(task: &Value) -> Option<&str> {
    task["output"]
        .as_array()?
        .iter()
        .filter_map(|o| o["valueReference"]["reference"].as_str())
        .find_map(|r| r.strip_prefix("QuestionnaireResponse/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TASK_KIND_SYSTEM;

    fn sdc_task() -> Value {
        let mut t = json!({"resourceType": "Task", "status": "requested", "intent": "order",
            "code": task_code(),
            "input": questionnaire_input("https://carecycle.dev/fhir/Questionnaire/phq-9")});
        t["output"] = response_output("r1");
        t
    }

    #[test]
    fn an_sdc_task_names_its_form_by_canonical_and_has_no_focus() {
        let t = sdc_task();
        assert!(is_questionnaire_task(&t) && is_sdc_questionnaire_task(&t));
        assert_eq!(
            questionnaire_of(&t),
            Some(FormRef::Canonical(
                "https://carecycle.dev/fhir/Questionnaire/phq-9"
            ))
        );
        assert!(t.get("focus").is_none(), "sdc-t1: no focus");
        assert_eq!(t["code"]["coding"][0]["system"], SDC_TEMP_SYSTEM);
        assert_eq!(response_of(&t), Some("r1"));
    }

    #[test]
    fn an_old_task_still_names_its_form_by_focus() {
        let old = json!({"resourceType": "Task",
            "code": {"coding": [{"system": TASK_KIND_SYSTEM, "code": "questionnaire"}]},
            "focus": {"reference": "Questionnaire/phq-9"},
            "output": [{"type": {"text": "response"}, "valueReference": {"reference": "QuestionnaireResponse/r0"}}]});
        assert!(is_questionnaire_task(&old) && !is_sdc_questionnaire_task(&old));
        assert_eq!(questionnaire_of(&old), Some(FormRef::Id("phq-9")));
        assert_eq!(response_of(&old), Some("r0"));
    }

    #[test]
    fn other_tasks_are_not_questionnaires() {
        let reply = json!({"code": {"coding": [{"system": TASK_KIND_SYSTEM, "code": "reply"}]},
            "focus": {"reference": "Communication/c1"}});
        assert!(!is_questionnaire_task(&reply));
        assert_eq!(questionnaire_of(&reply), None);
    }
}
