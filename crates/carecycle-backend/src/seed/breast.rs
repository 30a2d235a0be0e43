//! Lakeshore Breast Unit: a second unit and patient, to prove one unit's
//! team never sees another's patients.

use super::*;
use crate::api::ApiError;
use crate::auth::{put_team_user, put_user};
use crate::store::Stamper;
use carecycle_fhir::ResourceType;
use rusqlite::Connection;
use serde_json::json;

pub(super) fn seed_breast_ipu(
    conn: &mut Connection,
    s: &Stamper,
    a: &Anchor,
) -> Result<(), ApiError> {
    use ResourceType::*;
    put(
        conn,
        s,
        Organization,
        BREAST_ORG_ID,
        json!({
            "resourceType": "Organization", "active": true, "name": "Lakeshore Breast Cancer Unit"
        }),
    )?;
    put(
        conn,
        s,
        Practitioner,
        "pr-nakamura",
        json!({
            "resourceType": "Practitioner", "active": true,
            "name": [{"use": "official", "prefix": ["Dr."], "given": ["Kenji"], "family": "Nakamura"}]
        }),
    )?;
    let patient = new_id();
    let pref = format!("Patient/{patient}");
    put(
        conn,
        s,
        Patient,
        &patient,
        json!({
            "resourceType": "Patient", "active": true,
            "name": [{"use": "official", "given": ["Dana"], "family": "Okafor"}],
            "gender": "female", "birthDate": "1979-09-30"
        }),
    )?;
    put_user(
        conn,
        SECOND_PATIENT_USERNAME,
        SECOND_PATIENT_PASSWORD,
        &pref,
        Some(&patient),
    )?;
    put_team_user(
        conn,
        BREAST_TEAM_USERNAME,
        BREAST_TEAM_PASSWORD,
        "pr-nakamura",
        BREAST_ORG_ID,
    )?;
    put(
        conn,
        s,
        EpisodeOfCare,
        &new_id(),
        json!({
            "resourceType": "EpisodeOfCare", "status": "active",
            "type": [{"text": "Breast cancer"}],
            "patient": {"reference": pref},
            "managingOrganization": {"reference": format!("Organization/{BREAST_ORG_ID}")},
            "period": {"start": a.at(-20, 9, 0)}
        }),
    )?;
    put(
        conn,
        s,
        Appointment,
        &new_id(),
        json!({
            "resourceType": "Appointment", "status": "booked",
            "description": "Oncology consultation",
            "start": a.at(-2, 13, 0),
            "end": a.at(-2, 13, 45),
            "participant": [
                {"actor": {"reference": pref}, "status": "accepted"},
                {"actor": {"reference": "Practitioner/pr-nakamura"}, "status": "accepted"}
            ]
        }),
    )?;
    Ok(())
}
