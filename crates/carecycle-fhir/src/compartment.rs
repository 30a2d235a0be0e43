//! Which patient a resource belongs to (the FHIR R4 patient compartment), read
//! from the resource's own references.

use crate::{LocalReference, ResourceType};
use serde_json::Value;

fn reference_at<'a>(resource: &'a Value, element: &str) -> Option<&'a str> {
    resource.get(element)?.get("reference")?.as_str()
}

fn patient_id(reference: &str) -> Option<String> {
    LocalReference::parse(reference, None)
        .ok()
        .filter(|r| r.resource_type == ResourceType::Patient)
        .map(|r| r.id)
}

/// The id of the patient whose compartment holds this resource, or `None` for a
/// resource outside any patient's compartment (a Practitioner, a Questionnaire).
pub fn patient_of(resource_type: ResourceType, resource: &Value) -> Option<String> {
    use ResourceType::*;
    match resource_type {
        Patient => resource.get("id")?.as_str().map(str::to_owned),
        RelatedPerson | EpisodeOfCare => reference_at(resource, "patient").and_then(patient_id),
        // R4 Goal names its patient in `subject` (search parameter `patient`).
        Goal
        | CarePlan
        | CareTeam
        | Communication
        | DocumentReference
        | QuestionnaireResponse
        | Observation => reference_at(resource, "subject").and_then(patient_id),
        Task => reference_at(resource, "for").and_then(patient_id),
        Appointment => resource
            .get("participant")?
            .as_array()?
            .iter()
            .filter_map(|p| p.get("actor")?.get("reference")?.as_str())
            .find_map(patient_id),
        AuditEvent => resource
            .get("entity")?
            .as_array()?
            .iter()
            .filter_map(|e| e.get("what")?.get("reference")?.as_str())
            .find_map(patient_id),
        Practitioner | PractitionerRole | Organization | HealthcareService | Questionnaire
        | ValueSet | CodeSystem | StructureDefinition => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_patient_by_type() {
        let task = json!({"resourceType": "Task", "for": {"reference": "Patient/p1"}});
        assert_eq!(patient_of(ResourceType::Task, &task).as_deref(), Some("p1"));
        let appt = json!({"participant": [
            {"actor": {"reference": "Practitioner/d"}}, {"actor": {"reference": "Patient/p2"}}
        ]});
        assert_eq!(
            patient_of(ResourceType::Appointment, &appt).as_deref(),
            Some("p2")
        );
        let group_subject = json!({"subject": {"reference": "Group/g"}});
        assert_eq!(patient_of(ResourceType::CarePlan, &group_subject), None);
    }
}
