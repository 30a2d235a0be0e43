//! A completed (or amended) QuestionnaireResponse is extracted to
//! Observations in the transaction that stores it (SDC observation-based
//! extraction; see `carecycle_prom::extract`): one Observation per score, so
//! any FHIR client — an EHR, the team's CLI, the app — reads the scores
//! without a questionnaire engine.
//!
//! The server writes them on behalf of the record, as routing writes reply
//! Tasks: in the response's patient compartment (`subject`), so exactly who
//! may read the response may read its scores (area `questionnaires`). Each is
//! found again by its `score-of` identifier, so an amended response updates
//! its Observations instead of adding new ones.

use crate::api::ApiError;
use crate::forms;
use crate::store::{self, Stamper, Stored};
use crate::validate;
use carecycle_fhir::ResourceType;
use carecycle_prom::extract::{self, SCORE_OF_SYSTEM};
use serde_json::{Value, json};

/// Extracts the scores of `stored` when it is a final QuestionnaireResponse
/// of a patient whose form this server holds; does nothing otherwise (a
/// form it does not know, or answers its engine cannot read, have no scores).
pub fn after_write(
    tx: &rusqlite::Transaction<'_>,
    stamper: &Stamper,
    stored: &Stored,
) -> Result<(), ApiError> {
    if stored.resource_type != ResourceType::QuestionnaireResponse
        || stored.patient.is_none()
        || !extract::is_final(&stored.content)
    {
        return Ok(());
    }
    let canonical = stored.content["questionnaire"].as_str().unwrap_or_default();
    let url = canonical.split('|').next().unwrap_or_default();
    let Some(form) = forms::by_url(tx, ResourceType::Questionnaire, url)? else {
        return Ok(());
    };
    let Ok(q) = forms::parse(tx, &form.content) else {
        return Ok(());
    };
    let Ok(observations) = extract::extract(&q, &stored.content) else {
        return Ok(());
    };
    for observation in observations {
        upsert(tx, stamper, observation)?;
    }
    Ok(())
}

/// Writes an extracted Observation: a new one, or a new version of the one
/// with its identifier (`amended` when its value changed); nothing when it
/// is unchanged.
fn upsert(
    tx: &rusqlite::Transaction<'_>,
    stamper: &Stamper,
    mut observation: Value,
) -> Result<(), ApiError> {
    let key = observation["identifier"][0]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let existing =
        store::find_by_identifier(tx, ResourceType::Observation, Some(SCORE_OF_SYSTEM), &key)?
            .into_iter()
            .next();
    let id = match &existing {
        Some(e) => e.id.clone(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    observation["id"] = json!(id);
    if let Some(e) = &existing {
        let mut before = e.content.clone();
        if let Some(map) = before.as_object_mut() {
            map.remove("meta");
        }
        observation["status"] = if before["valueQuantity"] == observation["valueQuantity"] {
            before["status"].clone()
        } else {
            json!("amended")
        };
        if before == observation {
            return Ok(());
        }
    }
    validate::resource(ResourceType::Observation, &observation)
        .map_err(|problems| ApiError::Internal(ApiError::Invalid(problems).to_string()))?;
    store::write(
        tx,
        stamper,
        ResourceType::Observation,
        &id,
        observation,
        None,
    )?;
    Ok(())
}
