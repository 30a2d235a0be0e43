//! `ValueSet/$expand` (FHIR R4 §4.9.9, OperationDefinition `ValueSet-expand`):
//! the answer lists that questionnaires name by canonical URL
//! (`Questionnaire.item.answerValueSet`) rather than carry, expanded so an app
//! can cache them and show the form offline.
//!
//! This is not a terminology server: it expands value sets that list their
//! codes (`compose.include.concept`, minus enumerated `compose.exclude`), or
//! returns an expansion the value set already carries. A filter, an import of
//! another value set or a whole code system is refused with a clear outcome —
//! never answered with a partial list that a patient would then choose from.

use crate::AppState;
use crate::api::{ApiError, read_in};
use crate::auth::Principal;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use carecycle_fhir::ResourceType;
use carecycle_fhir::time::format_instant;
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};

/// The `$expand` parameters this server honours; any other is refused, since
/// ignoring e.g. `filter` or `count` would return a different list than asked.
const PARAMETERS: &[&str] = &["url", "valueSetVersion", "includeDesignations"];

/// `GET [base]/ValueSet/$expand?url=…[&valueSetVersion=…]`
pub async fn expand_by_url(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    check_parameters(&params)?;
    let url = params
        .get("url")
        .cloned()
        .ok_or_else(|| ApiError::BadRequest("$expand needs the value set's url".into()))?;
    let version = params.get("valueSetVersion").cloned();
    expand(&state, principal, move |tx| {
        find_by_url(tx, &url, version.as_deref())
    })
    .await
}

/// `GET [base]/ValueSet/[id]/$expand`
pub async fn expand_by_id(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    check_parameters(&params)?;
    if params.contains_key("url") {
        return Err(ApiError::BadRequest(
            "give either the value set's id or its url, not both".into(),
        ));
    }
    expand(&state, principal, move |_| Ok(id)).await
}

fn check_parameters(params: &BTreeMap<String, String>) -> Result<(), ApiError> {
    match params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::BadRequest(format!(
            "$expand parameter '{unknown}' is not supported by this server (supported: {})",
            PARAMETERS.join(", ")
        ))),
        None => Ok(()),
    }
}

async fn expand(
    state: &AppState,
    principal: Principal,
    find: impl FnOnce(&Transaction<'_>) -> Result<String, ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    let expanded = crate::api::in_transaction(state, move |tx, stamper| {
        let id = find(tx)?;
        // The same read rule (scope, policy, audit) as `GET ValueSet/[id]`.
        let stored = read_in(tx, stamper, &principal, ResourceType::ValueSet, &id)?;
        expansion(&stored.content, &format_instant(stamper.clock().now()))
            .map_err(ApiError::Unprocessable)
    })
    .await?;
    Ok(Json(expanded).into_response())
}

/// The id of the live value set with this canonical URL (and version, when
/// asked); `url|version` is accepted too, as canonical references allow.
fn find_by_url(tx: &Transaction<'_>, url: &str, version: Option<&str>) -> Result<String, ApiError> {
    let (url, version) = match (url.split_once('|'), version) {
        (Some((u, v)), None) => (u, Some(v)),
        _ => (url, version),
    };
    tx.query_row(
        "SELECT id FROM resource WHERE type = 'ValueSet' AND deleted = 0
           AND json_extract(content, '$.url') = ?1
           AND (?2 IS NULL OR json_extract(content, '$.version') = ?2)
         ORDER BY last_updated DESC LIMIT 1",
        params![url, version],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .map_err(ApiError::from_sql)?
    .ok_or_else(|| ApiError::NotFound(format!("no value set with url '{url}' on this server")))
}

/// The value set with its `expansion`, computed at `now` (an instant).
/// An error says, naming the element, why it cannot be expanded here.
pub fn expansion(value_set: &Value, now: &str) -> Result<Value, String> {
    let mut out = value_set.clone();
    if value_set.get("expansion").is_some() {
        return Ok(out);
    }
    let compose = value_set
        .get("compose")
        .ok_or("ValueSet.compose: the value set has neither a compose nor an expansion")?;
    let excluded = excluded_codes(compose)?;
    let mut contains = Vec::new();
    let includes = compose
        .get("include")
        .and_then(Value::as_array)
        .ok_or("ValueSet.compose.include: expected a list")?;
    for (i, include) in includes.iter().enumerate() {
        let path = format!("ValueSet.compose.include[{i}]");
        let concepts = enumerated(include, &path)?;
        for concept in concepts {
            let code = concept
                .get("code")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{path}.concept: a concept has no code"))?;
            let system = include.get("system").and_then(Value::as_str);
            if excluded.contains(&(system.map(str::to_owned), code.to_owned())) {
                continue;
            }
            contains.push(contained(include, concept));
        }
    }
    let map = out
        .as_object_mut()
        .ok_or("ValueSet: expected a JSON object")?;
    map.insert(
        "expansion".into(),
        json!({"timestamp": now, "total": contains.len(), "contains": contains}),
    );
    Ok(out)
}

/// The concepts an include (or exclude) lists; refused when it selects codes
/// some other way, since only a terminology server can answer those.
fn enumerated<'a>(include: &'a Value, path: &str) -> Result<&'a Vec<Value>, String> {
    for (element, what) in [
        ("filter", "selects codes by a filter"),
        ("valueSet", "imports another value set"),
    ] {
        if include.get(element).is_some() {
            return Err(format!(
                "{path}.{element}: the value set {what}; this server expands only value sets that list their codes"
            ));
        }
    }
    include
        .get("concept")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            format!(
                "{path}: the value set includes a whole code system; this server expands only value sets that list their codes"
            )
        })
}

fn excluded_codes(compose: &Value) -> Result<HashSet<(Option<String>, String)>, String> {
    let mut out = HashSet::new();
    let excludes = compose.get("exclude").and_then(Value::as_array);
    for (i, exclude) in excludes.into_iter().flatten().enumerate() {
        let path = format!("ValueSet.compose.exclude[{i}]");
        let system = exclude
            .get("system")
            .and_then(Value::as_str)
            .map(str::to_owned);
        for concept in enumerated(exclude, &path)? {
            if let Some(code) = concept.get("code").and_then(Value::as_str) {
                out.insert((system.clone(), code.to_owned()));
            }
        }
    }
    Ok(out)
}

/// One `expansion.contains` entry: the code with its system and version, its
/// display, designations (translations) and extensions (an answer's weight,
/// e.g. `ordinalValue`, travels with it).
fn contained(include: &Value, concept: &Value) -> Value {
    let mut entry = Map::new();
    for key in ["system", "version"] {
        if let Some(v) = include.get(key) {
            entry.insert(key.into(), v.clone());
        }
    }
    for key in ["code", "display", "designation", "extension"] {
        if let Some(v) = concept.get(key) {
            entry.insert(key.into(), v.clone());
        }
    }
    Value::Object(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-30T10:00:00Z";

    #[test]
    fn lists_the_codes_with_their_weights_and_translations_minus_exclusions() {
        let vs = json!({"resourceType": "ValueSet", "status": "active", "url": "https://example.org/vs/freq",
            "compose": {
                "include": [{"system": "http://loinc.org", "concept": [
                    {"code": "LA6568-5", "display": "Not at all",
                     "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 0}],
                     "designation": [{"language": "es", "value": "Nunca"}]},
                    {"code": "LA6569-3", "display": "Several days"},
                    {"code": "LA-old", "display": "Retired"}]}],
                "exclude": [{"system": "http://loinc.org", "concept": [{"code": "LA-old"}]}]}});
        let out = expansion(&vs, NOW).unwrap();
        let e = &out["expansion"];
        assert_eq!(e["timestamp"], NOW);
        assert_eq!(e["total"], 2);
        assert_eq!(e["contains"][0]["system"], "http://loinc.org");
        assert_eq!(e["contains"][0]["designation"][0]["value"], "Nunca");
        assert_eq!(e["contains"][0]["extension"][0]["valueDecimal"], 0);
        assert_eq!(e["contains"][1]["code"], "LA6569-3");
        assert_eq!(out["url"], "https://example.org/vs/freq");
    }

    #[test]
    fn a_stored_expansion_is_returned_as_it_is() {
        let vs = json!({"resourceType": "ValueSet", "status": "active",
            "expansion": {"timestamp": "2020-01-01T00:00:00Z", "contains": [{"code": "a"}]}});
        assert_eq!(expansion(&vs, NOW).unwrap(), vs);
    }

    #[test]
    fn what_needs_a_terminology_server_is_refused_naming_the_element() {
        for (include, element) in [
            (
                json!({"system": "http://snomed.info/sct", "filter": [{"property": "concept", "op": "is-a", "value": "1"}]}),
                "compose.include[0].filter",
            ),
            (
                json!({"valueSet": ["https://example.org/other"]}),
                "compose.include[0].valueSet",
            ),
            (json!({"system": "http://loinc.org"}), "compose.include[0]"),
        ] {
            let vs = json!({"resourceType": "ValueSet", "status": "active", "compose": {"include": [include]}});
            let e = expansion(&vs, NOW).unwrap_err();
            assert!(e.starts_with(&format!("ValueSet.{element}")), "{e}");
        }
        let none = json!({"resourceType": "ValueSet", "status": "active"});
        assert!(expansion(&none, NOW).unwrap_err().contains("neither"));
    }
}
