//! AuditEvents: every read and write of patient data leaves one, naming who
//! (the signed-in user's FHIR identity), what interaction, and whose record.
//! They sit in the patient's compartment, so a patient can see who looked at
//! their record; family members cannot (see `access`), and nobody can write them.

use crate::auth::Principal;
use crate::store::{self, Stamper, StoreError};
use carecycle_fhir::ResourceType;
use rusqlite::Transaction;
use serde_json::{Value, json};

/// The RESTful interaction audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Read,
    Vread,
    Search,
    History,
    Create,
    Update,
    Delete,
}

impl Interaction {
    fn code(self) -> &'static str {
        match self {
            Interaction::Read => "read",
            Interaction::Vread => "vread",
            Interaction::Search => "search-type",
            Interaction::History => "history-instance",
            Interaction::Create => "create",
            Interaction::Update => "update",
            Interaction::Delete => "delete",
        }
    }

    /// AuditEvent.action: C, R, U, D or E (execute: a search).
    fn action(self) -> &'static str {
        match self {
            Interaction::Read | Interaction::Vread | Interaction::History => "R",
            Interaction::Search => "E",
            Interaction::Create => "C",
            Interaction::Update => "U",
            Interaction::Delete => "D",
        }
    }
}

/// Records one interaction touching the records of `patients` (each listed as
/// an entity), and the resource itself when there is one. Nothing is written
/// when no patient's data was touched.
pub fn record(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    principal: &Principal,
    interaction: Interaction,
    patients: &[&str],
    resource: Option<(ResourceType, &str)>,
) -> Result<(), StoreError> {
    if patients.is_empty() {
        return Ok(());
    }
    let mut entities: Vec<Value> = patients
        .iter()
        .map(|p| json!({"what": {"reference": format!("Patient/{p}")}, "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}}))
        .collect();
    if let Some((t, id)) = resource {
        entities.push(json!({"what": {"reference": format!("{t}/{id}")}, "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4", "display": "Domain Resource"}}));
    }
    let recorded = carecycle_fhir::time::format_instant(stamper.clock().now());
    let event = json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction.code()}],
        "action": interaction.action(),
        "recorded": recorded,
        "outcome": "0",
        "agent": [{"who": {"reference": principal.fhir_user}, "requestor": true}],
        "source": {"observer": {"display": "CareCycle reference back end"}},
        "entity": entities
    });
    store::write(
        tx,
        stamper,
        ResourceType::AuditEvent,
        &uuid::Uuid::new_v4().to_string(),
        event,
        None,
    )?;
    Ok(())
}

/// Sign-in and token events, and refused requests: what answers "who tried to
/// get into my record, and when".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityEvent {
    SignIn,
    SignInFailed,
    TokenIssued,
    TokenRefreshed,
    /// A spent refresh token came back and its whole sign-in was ended.
    RefreshReused,
    TokenRevoked,
    /// A request the policy or the scopes refused (403).
    Refused,
}

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
/// CareCycle's codes for token events, which DICOM's list does not name.
pub const SECURITY_EVENT_SYSTEM: &str = "https://carecycle.dev/fhir/CodeSystem/security-event";

impl SecurityEvent {
    /// AuditEvent.type and .subtype as (system, code, display).
    fn codes(self) -> [(&'static str, &'static str, &'static str); 2] {
        let auth = (DCM, "110114", "User Authentication");
        match self {
            SecurityEvent::SignIn | SecurityEvent::SignInFailed => [auth, (DCM, "110122", "Login")],
            SecurityEvent::TokenRevoked => [auth, (DCM, "110123", "Logout")],
            SecurityEvent::TokenIssued => [
                auth,
                (SECURITY_EVENT_SYSTEM, "token-issued", "Access token issued"),
            ],
            SecurityEvent::TokenRefreshed => [
                auth,
                (
                    SECURITY_EVENT_SYSTEM,
                    "token-refreshed",
                    "Access token refreshed",
                ),
            ],
            SecurityEvent::RefreshReused => [
                auth,
                (
                    SECURITY_EVENT_SYSTEM,
                    "refresh-reused",
                    "Refresh token reused; sign-in ended",
                ),
            ],
            SecurityEvent::Refused => [
                (
                    "http://terminology.hl7.org/CodeSystem/audit-event-type",
                    "rest",
                    "RESTful Operation",
                ),
                (SECURITY_EVENT_SYSTEM, "refused", "Request refused"),
            ],
        }
    }

    fn failed(self) -> bool {
        matches!(
            self,
            SecurityEvent::SignInFailed | SecurityEvent::RefreshReused | SecurityEvent::Refused
        )
    }
}

/// Who a security event is about: the user (their FHIR identity when known,
/// else the name they typed) and the patient whose record it concerns.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub fhir_user: Option<String>,
    pub username: Option<String>,
    pub patient: Option<String>,
}

/// Records a security event. It sits in the patient's compartment when there
/// is one (so the patient sees failed sign-ins on their account); otherwise
/// only the operator sees it. `detail` must carry no health information.
pub fn security(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    event: SecurityEvent,
    actor: &Actor,
    detail: &str,
) -> Result<(), StoreError> {
    let [(ts, tc, td), (ss, sc, sd)] = event.codes();
    let mut agent = json!({"requestor": true});
    match (&actor.fhir_user, &actor.username) {
        (Some(who), _) => agent["who"] = json!({"reference": who}),
        (None, Some(name)) => agent["altId"] = json!(name),
        (None, None) => agent["who"] = json!({"display": "unknown caller"}),
    }
    let mut event_json = json!({
        "resourceType": "AuditEvent",
        "type": {"system": ts, "code": tc, "display": td},
        "subtype": [{"system": ss, "code": sc, "display": sd}],
        "action": "E",
        "recorded": carecycle_fhir::time::format_instant(stamper.clock().now()),
        "outcome": if event.failed() { "4" } else { "0" },
        "outcomeDesc": detail,
        "agent": [agent],
        "source": {"observer": {"display": "CareCycle reference back end"}},
    });
    if let Some(p) = &actor.patient {
        event_json["entity"] = json!([{"what": {"reference": format!("Patient/{p}")},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}}]);
    }
    store::write(
        tx,
        stamper,
        ResourceType::AuditEvent,
        &uuid::Uuid::new_v4().to_string(),
        event_json,
        None,
    )?;
    Ok(())
}
