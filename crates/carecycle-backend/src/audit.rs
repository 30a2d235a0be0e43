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
