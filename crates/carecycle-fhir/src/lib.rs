//! FHIR R4 types used by both sides of CareCycle: the patient app's core and the
//! reference back end. Serde only, no I/O.
//!
//! These are deliberately lean: each struct names the elements CareCycle reads or
//! writes, and keeps every other element it was given in `extra`, so a resource
//! read from any R4 server survives a round trip unchanged. The full generated
//! models on crates.io cover STU3/R4B/R5 but not R4, and cost minutes of compile
//! time on every build for thousands of types the app never touches.

pub mod bundle;
pub mod compartment;
pub mod datatypes;
pub mod outcome;
pub mod planned;
pub mod published;
pub mod reference;
pub mod resource_type;
pub mod resources;
pub mod sdc;
pub mod time;
pub mod translation;

pub use bundle::{Bundle, BundleEntry, BundleLink, EntryRequest, EntryResponse, EntrySearch};
pub use datatypes::*;
pub use outcome::{IssueSeverity, OperationOutcome, OutcomeIssue};
pub use reference::{LocalReference, ReferenceError};
pub use resource_type::{ResourceType, UnknownResourceType};
pub use resources::*;

/// The media type of FHIR JSON (R4).
pub const FHIR_JSON: &str = "application/fhir+json";

/// The FHIR version this crate speaks.
pub const FHIR_VERSION: &str = "4.0.1";

/// A CareCycle canonical URL under [`CARECYCLE_CANONICAL`], as a compile-time
/// string: the base is written once, here.
#[macro_export]
macro_rules! carecycle_url {
    ($path:literal) => {
        concat!("https://carecycle.dev/fhir", $path)
    };
}

/// CareCycle's own canonical base for code systems and extensions that FHIR R4 has
/// no standard code for (care-cycle phases, IPU team roles). A real IPU's server
/// that uses other codes maps them at its edge; the app reads the `text`/`display`
/// it is given whenever a code is unknown.
pub const CARECYCLE_CANONICAL: &str = carecycle_url!("");

// Every CareCycle canonical URL, defined once (the back end serves and the
// app reads them; see the README's mapping table).

/// Extension on the IPU's Organization: its IANA time zone.
pub const TIME_ZONE_EXTENSION: &str = carecycle_url!("/StructureDefinition/time-zone");
/// Extension on the IPU's Organization: who answers which kind of message, by when.
pub const REPLY_POLICY_EXTENSION: &str = carecycle_url!("/StructureDefinition/reply-policy");
/// Extension on the IPU's Organization: its business hours.
pub const BUSINESS_HOURS_EXTENSION: &str = carecycle_url!("/StructureDefinition/business-hours");
/// R4's own extension linking a CarePlan (the care cycle) to the episode of
/// care it belongs to (valueReference to the EpisodeOfCare).
pub const EPISODE_OF_CARE_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare";
/// Extension on the care-cycle CarePlan: the planned procedure's date.
pub const PROCEDURE_DATE_EXTENSION: &str = carecycle_url!("/StructureDefinition/procedure-date");
/// Extension on a Questionnaire item: the red-flag rule an answer triggers.
pub const RED_FLAG_EXTENSION: &str = carecycle_url!("/StructureDefinition/red-flag");
/// Code system of the dates other dates are set from (the surgery).
pub const DATE_ANCHOR_SYSTEM: &str = carecycle_url!("/CodeSystem/date-anchor");
/// Code system of the kinds of document the team publishes (`education`).
pub const DOCUMENT_KIND_SYSTEM: &str = carecycle_url!("/CodeSystem/document-kind");
/// Code system of the security events the back end audits.
pub const SECURITY_EVENT_SYSTEM: &str = carecycle_url!("/CodeSystem/security-event");
/// Code system of the scores the engine computes (one code per scale).
pub const SCORE_SYSTEM: &str = carecycle_url!("/CodeSystem/score");
/// Identifier system linking an Observation to the response it scores.
pub const SCORE_OF_SYSTEM: &str = carecycle_url!("/sid/score-of");
/// Identifier system of the education documents.
pub const EDUCATION_ID_SYSTEM: &str = carecycle_url!("/sid/education-document");
/// The base of CareCycle's own Questionnaires' canonical URLs.
pub const QUESTIONNAIRE_BASE: &str = carecycle_url!("/Questionnaire/");

/// Code system for the roles of an IPU's care team.
pub const TEAM_ROLE_SYSTEM: &str = carecycle_url!("/CodeSystem/ipu-team-role");

/// Code system that tags a CarePlan as the whole care cycle or as one phase of it.
pub const CARE_PLAN_KIND_SYSTEM: &str = carecycle_url!("/CodeSystem/care-plan-kind");

/// Code system of the kinds of task CareCycle tells apart: `checklist` (the
/// patient's to-do), `questionnaire` (one to fill in), `reply` (the team's
/// answer owed to a patient thread).
pub const TASK_KIND_SYSTEM: &str = carecycle_url!("/CodeSystem/task-kind");

/// Code system of the kinds of message a patient can start (in `Communication.category`).
pub const MESSAGE_KIND_SYSTEM: &str = carecycle_url!("/CodeSystem/message-kind");

/// The kinds of message, in the order the app offers them, with their plain-English meaning.
pub const MESSAGE_KINDS: [(&str, &str); 5] = [
    ("clinical", "A symptom or a question about my health"),
    ("scheduling", "Appointments and scheduling"),
    ("medications", "My medicines"),
    ("billing", "Billing and insurance"),
    ("other", "Something else"),
];

fn coding_codes(concept: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    concept["coding"].as_array().into_iter().flatten()
}

/// The CareCycle kind of a Task (JSON), from its `code`. An SDC
/// `complete-questionnaire` Task is of kind `questionnaire` (see [`sdc`]).
pub fn task_kind(task: &serde_json::Value) -> Option<&str> {
    if sdc::is_sdc_questionnaire_task(task) {
        return Some("questionnaire");
    }
    coding_codes(&task["code"])
        .find(|c| c["system"] == TASK_KIND_SYSTEM)
        .and_then(|c| c["code"].as_str())
}

/// The kind of a message (JSON) from its category; `other` when it has none we know.
pub fn message_kind(message: &serde_json::Value) -> &'static str {
    message["category"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(coding_codes)
        .find(|c| c["system"] == MESSAGE_KIND_SYSTEM)
        .and_then(|c| c["code"].as_str())
        .and_then(|k| MESSAGE_KINDS.iter().find(|(code, _)| *code == k))
        .map(|(code, _)| *code)
        .unwrap_or("other")
}

/// The part of a patient's record a resource type belongs to, as a patient
/// shares it with a family member: `schedule`, `education`, `messages` or
/// `questionnaires`. `None` for types outside those areas, and for Task, whose
/// area depends on its kind (see [`task_kind`]).
pub fn record_area(t: ResourceType) -> Option<&'static str> {
    use ResourceType::*;
    match t {
        EpisodeOfCare | CarePlan | Appointment | Goal | CareTeam => Some("schedule"),
        DocumentReference => Some("education"),
        Communication => Some("messages"),
        QuestionnaireResponse | Observation => Some("questionnaires"),
        _ => None,
    }
}

/// Does R4 allow this type only one `identifier` (an object, not a list)?
pub fn single_identifier(t: ResourceType) -> bool {
    t == ResourceType::QuestionnaireResponse
}

/// The identifiers of a resource (JSON), whether it carries one or a list.
pub fn identifiers(resource: &serde_json::Value) -> Vec<&serde_json::Value> {
    match resource.get("identifier") {
        Some(serde_json::Value::Array(list)) => list.iter().collect(),
        Some(one @ serde_json::Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

/// The app's identifier (`identifier` in `src-tauri/tauri.conf.json`): its
/// bundle id on phones, its keyring service, and its private-use URI scheme
/// (RFC 8252 §7.1: the reverse of a domain the publisher controls). A macro so
/// the constants built from it stay compile-time strings.
#[macro_export]
macro_rules! app_identifier {
    () => {
        "dev.carecycle.app"
    };
}

/// See [`app_identifier!`].
pub const APP_IDENTIFIER: &str = app_identifier!();

/// Where the sign-in page sends a phone back to the app: the private-use
/// scheme, delivered by the operating system as an opened link (RFC 8252 §7.1).
/// Desktops use a loopback address instead (§7.3).
pub const APP_REDIRECT_URI: &str = concat!(app_identifier!(), ":/callback");

/// The patient app's SMART client id: what the app signs in as, and what the
/// reference back end registers.
pub const APP_CLIENT_ID: &str = "carecycle-app";

/// The scopes the patient app asks for (and the reference back end registers
/// for it): read the record; write only what the patient writes — messages,
/// questionnaire answers, and their own tasks (a ticked checklist item, a
/// finished questionnaire).
pub const APP_SCOPES: &[&str] = &[
    "launch/patient",
    "offline_access",
    "patient/*.rs",
    "patient/Communication.cu",
    "patient/QuestionnaireResponse.cu",
    "patient/Task.u",
];

/// Identifier system of the client identifiers the app puts on what it creates,
/// so a conditional create can find a resource sent before a lost response.
pub const CLIENT_ID_SYSTEM: &str = carecycle_url!("/sid/client-id");

/// Errors from turning JSON into a typed resource.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    #[error("not valid FHIR JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("expected a {expected} resource, found {found}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
}

/// A typed FHIR resource this crate knows.
pub trait Resource: serde::Serialize + serde::de::DeserializeOwned {
    const TYPE: ResourceType;

    fn id(&self) -> Option<&str>;

    /// Parses a resource, checking `resourceType` first so a wrong type gives a
    /// clear error instead of a half-empty struct.
    fn from_value(value: serde_json::Value) -> Result<Self, FhirError> {
        let found = value
            .get("resourceType")
            .and_then(|t| t.as_str())
            .unwrap_or("(none)");
        if found != Self::TYPE.as_str() {
            return Err(FhirError::WrongType {
                expected: Self::TYPE.as_str(),
                found: found.to_owned(),
            });
        }
        Ok(serde_json::from_value(value)?)
    }

    /// The resource as JSON, with its `resourceType`.
    fn to_value(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "resourceType".to_owned(),
                serde_json::Value::String(Self::TYPE.as_str().to_owned()),
            );
        }
        value
    }
}

/// What the app keeps of a patient's compartment, in the order it pulls them
/// (carecycle-core's sync); the back end's benchmarks replay the same list.
pub const PULLED_TYPES: &[ResourceType] = &[
    ResourceType::EpisodeOfCare,
    ResourceType::CareTeam,
    ResourceType::CarePlan,
    ResourceType::Appointment,
    ResourceType::Task,
    ResourceType::Communication,
    ResourceType::DocumentReference,
    ResourceType::QuestionnaireResponse,
    // The scores the server extracted from completed responses (SDC).
    ResourceType::Observation,
];
