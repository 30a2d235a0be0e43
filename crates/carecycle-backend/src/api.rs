//! FHIR R4 REST: read, vread, create (with If-None-Exist), update (with
//! If-Match), delete and search, as JSON, with errors as OperationOutcome.
//! Every request is checked against the caller's scopes and patient compartment;
//! a resource outside the caller's compartment answers 404, exactly as one that
//! does not exist, so a denial reveals nothing.

use crate::AppState;
use crate::auth::Principal;
use crate::store::{self, Prefix, Query, StoreError, Stored};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carecycle_fhir::compartment::patient_of;
use carecycle_fhir::reference::is_valid_id;
use carecycle_fhir::time::{FhirDateTime, format_instant};
use carecycle_fhir::{
    Bundle, BundleEntry, BundleLink, EntrySearch, FHIR_JSON, FHIR_VERSION, LocalReference,
    OperationOutcome, ResourceType,
};
use jiff::tz::TimeZone;
use serde_json::{Value, json};

/// Largest request body the server reads (attachments travel inline as base64).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("the request body is larger than the server accepts")]
    PayloadTooLarge,
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn from_sql(e: rusqlite::Error) -> ApiError {
        ApiError::Internal(e.to_string())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            ApiError::Gone(_) => (StatusCode::GONE, "deleted"),
            ApiError::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, "conflict"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too-long"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "processing"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "login"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "exception"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionConflict { current } => ApiError::PreconditionFailed(format!(
                "the resource has changed: it is now at version {current}"
            )),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let diagnostics = match &self {
            // Never echo internals to the caller; they go to the (PHI-free) log.
            ApiError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                "the server could not complete the request".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
            Json(OperationOutcome::error(code, diagnostics)),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"fhir\""),
            );
        }
        response
    }
}

fn parse_type(name: &str) -> Result<ResourceType, ApiError> {
    name.parse()
        .map_err(|_| ApiError::NotFound(format!("resource type {name} is not supported here")))
}

/// Refuses the request unless the token's scopes allow `perm` on type `t`.
fn require_scope(principal: &Principal, t: ResourceType, perm: char) -> Result<(), ApiError> {
    if principal.may(t.as_str(), perm) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("the granted scopes do not allow this"))
    }
}

/// May this principal see a stored resource? Patients see their own compartment
/// and the shared directory (practitioners, organizations, questionnaires).
fn visible_to(principal: &Principal, stored: &Stored) -> bool {
    if !stored.resource_type.in_patient_compartment() {
        return true;
    }
    match (&principal.patient, &stored.patient) {
        (Some(mine), Some(theirs)) => mine == theirs,
        _ => false,
    }
}

fn http_date(last_updated: &str) -> Option<HeaderValue> {
    let t: jiff::Timestamp = last_updated.parse().ok()?;
    HeaderValue::from_str(&t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
}

fn resource_response(
    status: StatusCode,
    state: &AppState,
    stored: &Stored,
    minimal: bool,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    if let Ok(etag) = HeaderValue::from_str(&stored.etag()) {
        headers.insert(header::ETAG, etag);
    }
    if let Some(date) = http_date(&stored.last_updated) {
        headers.insert(header::LAST_MODIFIED, date);
    }
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!(
            "{}/{}/{}/_history/{}",
            state.fhir_base, stored.resource_type, stored.id, stored.version
        ))
    {
        headers.insert(header::LOCATION, location);
    }
    if minimal {
        (status, headers).into_response()
    } else {
        (status, headers, Json(&stored.content)).into_response()
    }
}

fn prefers_minimal(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split([',', ';']).any(|p| p.trim() == "return=minimal"))
}

pub async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path((type_name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = parse_type(&type_name)?;
    require_scope(&principal, t, 'r')?;
    let stored = state
        .db
        .call(move |c| store::read(c, t, &id).map_err(ApiError::from))
        .await?;
    let not_found = || ApiError::NotFound(format!("{type_name} not found"));
    let stored = stored
        .filter(|s| visible_to(&principal, s))
        .ok_or_else(not_found)?;
    if stored.deleted {
        return Err(ApiError::Gone(format!("{type_name} was deleted")));
    }
    Ok(resource_response(StatusCode::OK, &state, &stored, false))
}

pub async fn vread(
    State(state): State<AppState>,
    principal: Principal,
    Path((type_name, id, version)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let t = parse_type(&type_name)?;
    require_scope(&principal, t, 'r')?;
    let version: i64 = version
        .parse()
        .map_err(|_| ApiError::NotFound("no such version".into()))?;
    let stored = state
        .db
        .call(move |c| store::read_version(c, t, &id, version).map_err(ApiError::from))
        .await?
        .filter(|s| visible_to(&principal, s))
        .ok_or_else(|| ApiError::NotFound("no such version".into()))?;
    if stored.deleted {
        return Err(ApiError::Gone("that version is a deletion".into()));
    }
    Ok(resource_response(StatusCode::OK, &state, &stored, false))
}

/// Parses a request body as a resource of type `t`.
fn parse_body(t: ResourceType, body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    let found = value.get("resourceType").and_then(Value::as_str);
    if !value.is_object() || found != Some(t.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "the body must be a {t} resource (found resourceType {})",
            found.unwrap_or("none")
        )));
    }
    Ok(value)
}

/// Checks that a patient-facing principal may write this content.
fn check_write_access(
    principal: &Principal,
    t: ResourceType,
    content: &Value,
) -> Result<(), ApiError> {
    if !t.in_patient_compartment() {
        return Err(ApiError::Forbidden(
            "patients cannot change the shared directory",
        ));
    }
    match (&principal.patient, patient_of(t, content)) {
        (Some(mine), Some(theirs)) if *mine == theirs => Ok(()),
        (_, None) => Err(ApiError::Unprocessable(format!(
            "the {t} must reference the patient it belongs to"
        ))),
        _ => Err(ApiError::Forbidden("you can only write to your own record")),
    }
}

fn parse_if_none_exist(value: &str) -> Result<(Option<String>, String), ApiError> {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(value.trim_start_matches('?').as_bytes())
            .into_owned()
            .collect();
    match params.as_slice() {
        [(name, token)] if name == "identifier" => Ok(split_token(token)),
        _ => Err(ApiError::BadRequest(
            "If-None-Exist supports exactly one identifier=system|value criterion".into(),
        )),
    }
}

/// `system|value` → (Some(system), value); `value` → (None, value).
fn split_token(token: &str) -> (Option<String>, String) {
    match token.split_once('|') {
        Some((system, value)) => (Some(system.to_owned()), value.to_owned()),
        None => (None, token.to_owned()),
    }
}

enum CreateOutcome {
    Created(Stored),
    Existing(Stored),
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Path(type_name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let t = parse_type(&type_name)?;
    require_scope(&principal, t, 'c')?;
    let content = parse_body(t, body)?;
    check_write_access(&principal, t, &content)?;
    let condition = headers
        .get("if-none-exist")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::BadRequest("bad If-None-Exist header".into()))
        })
        .transpose()?
        .map(parse_if_none_exist)
        .transpose()?;
    let stamper = state.stamper.clone();
    let outcome = state
        .db
        .call(move |c| -> Result<CreateOutcome, ApiError> {
            let tx = c.transaction().map_err(ApiError::from_sql)?;
            if let Some((system, value)) = &condition {
                let existing = store::find_by_identifier(&tx, t, system.as_deref(), value)?;
                match existing.len() {
                    0 => {}
                    1 => {
                        let found = existing
                            .into_iter()
                            .next()
                            .ok_or_else(|| ApiError::Internal("lost match".into()))?;
                        if !visible_to(&principal, &found) {
                            return Err(ApiError::PreconditionFailed(
                                "the identifier is already in use".into(),
                            ));
                        }
                        return Ok(CreateOutcome::Existing(found));
                    }
                    _ => {
                        return Err(ApiError::PreconditionFailed(
                            "more than one resource matches If-None-Exist".into(),
                        ));
                    }
                }
            }
            let id = uuid::Uuid::new_v4().to_string();
            let stored = store::write(&tx, &stamper, t, &id, content, None)?;
            tx.commit().map_err(ApiError::from_sql)?;
            Ok(CreateOutcome::Created(stored))
        })
        .await?;
    let minimal = prefers_minimal(&headers);
    Ok(match outcome {
        CreateOutcome::Created(stored) => {
            resource_response(StatusCode::CREATED, &state, &stored, minimal)
        }
        CreateOutcome::Existing(stored) => {
            resource_response(StatusCode::OK, &state, &stored, minimal)
        }
    })
}

fn parse_if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let inner = text.trim_start_matches("W/").trim_matches('"');
    inner.parse().map(Some).map_err(|_| {
        ApiError::BadRequest(format!("If-Match must be an ETag like W/\"3\", not {text}"))
    })
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path((type_name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let t = parse_type(&type_name)?;
    require_scope(&principal, t, 'u')?;
    if !is_valid_id(&id) {
        return Err(ApiError::BadRequest(format!("{id:?} is not a valid id")));
    }
    let content = parse_body(t, body)?;
    if content.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(ApiError::BadRequest(
            "the resource id must match the id in the URL".into(),
        ));
    }
    check_write_access(&principal, t, &content)?;
    let expected = parse_if_match(&headers)?;
    let stamper = state.stamper.clone();
    let (stored, created) = state
        .db
        .call(move |c| -> Result<(Stored, bool), ApiError> {
            let tx = c.transaction().map_err(ApiError::from_sql)?;
            let existing = store::read(&tx, t, &id)?;
            if let Some(existing) = &existing
                && !existing.deleted
                && !visible_to(&principal, existing)
            {
                return Err(ApiError::NotFound(format!("{t} not found")));
            }
            let created = existing.as_ref().is_none_or(|e| e.deleted);
            let stored = store::write(&tx, &stamper, t, &id, content, expected)?;
            tx.commit().map_err(ApiError::from_sql)?;
            Ok((stored, created))
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(resource_response(
        status,
        &state,
        &stored,
        prefers_minimal(&headers),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path((type_name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = parse_type(&type_name)?;
    require_scope(&principal, t, 'd')?;
    let stamper = state.stamper.clone();
    state
        .db
        .call(move |c| -> Result<(), ApiError> {
            let tx = c.transaction().map_err(ApiError::from_sql)?;
            match store::read(&tx, t, &id)? {
                Some(existing) if !visible_to(&principal, &existing) => {
                    return Err(ApiError::NotFound(format!("{t} not found")));
                }
                None => return Err(ApiError::NotFound(format!("{t} not found"))),
                Some(_) => {}
            }
            store::delete(&tx, &stamper, t, &id)?;
            tx.commit().map_err(ApiError::from_sql)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn parse_last_updated(value: &str) -> Result<(Prefix, String), ApiError> {
    let (prefix, rest) = match value.get(..2) {
        Some("gt") => (Prefix::Gt, &value[2..]),
        Some("ge") => (Prefix::Ge, &value[2..]),
        Some("lt") => (Prefix::Lt, &value[2..]),
        Some("le") => (Prefix::Le, &value[2..]),
        Some("eq") => (Prefix::Eq, &value[2..]),
        _ => (Prefix::Eq, value),
    };
    let when = FhirDateTime::parse(rest).map_err(|_| {
        ApiError::BadRequest(format!("_lastUpdated {value:?} is not a date or instant"))
    })?;
    Ok((prefix, format_instant(when.start_instant(&TimeZone::UTC))))
}

fn encode_cursor(after: &(String, String)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", after.0, after.1))
}

fn decode_cursor(cursor: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::BadRequest("the paging cursor is not valid".into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (lu, id) = text.split_once('|').ok_or_else(bad)?;
    Ok((lu.to_owned(), id.to_owned()))
}

/// The search parameters that name the patient for each type (besides `patient`).
fn patient_param(t: ResourceType, name: &str) -> bool {
    match name {
        "patient" => true,
        "subject" => matches!(
            t,
            ResourceType::CarePlan
                | ResourceType::CareTeam
                | ResourceType::Communication
                | ResourceType::DocumentReference
                | ResourceType::QuestionnaireResponse
                | ResourceType::Observation
                | ResourceType::Task
        ),
        "actor" => t == ResourceType::Appointment,
        _ => false,
    }
}

pub async fn search(
    State(state): State<AppState>,
    principal: Principal,
    Path(type_name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let t = parse_type(&type_name)?;
    require_scope(&principal, t, 's')?;
    let strict = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("handling=strict"));
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let mut q = Query {
        count: DEFAULT_PAGE,
        ..Default::default()
    };
    let mut requested_patient: Option<String> = None;
    for (name, value) in &params {
        match name.as_str() {
            n if patient_param(t, n) => {
                let r = LocalReference::parse_search_value(value, ResourceType::Patient)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                if r.resource_type != ResourceType::Patient {
                    return Err(ApiError::BadRequest(format!("{name} must name a Patient")));
                }
                requested_patient = Some(r.id);
            }
            "_id" => q.ids = Some(value.split(',').map(str::to_owned).collect()),
            "_lastUpdated" => q.last_updated.push(parse_last_updated(value)?),
            "_count" => {
                q.count = value
                    .parse::<usize>()
                    .map_err(|_| ApiError::BadRequest("_count must be a whole number".into()))?
                    .clamp(1, MAX_PAGE)
            }
            "status" => q.status = Some(value.split(',').map(str::to_owned).collect()),
            "identifier" => q.identifier = Some(split_token(value)),
            "_cursor" => q.after = Some(decode_cursor(value)?),
            "_sort" if value == "_lastUpdated" => {}
            "_sort" => {
                return Err(ApiError::BadRequest(
                    "only _sort=_lastUpdated is supported".into(),
                ));
            }
            "_format" => {}
            other if strict => {
                return Err(ApiError::BadRequest(format!(
                    "search parameter {other} is not supported"
                )));
            }
            _ => {}
        }
    }
    if t.in_patient_compartment() {
        let mine = principal.patient.clone().ok_or(ApiError::Forbidden(
            "this sign-in is not linked to a patient record",
        ))?;
        if requested_patient.as_ref().is_some_and(|p| *p != mine) {
            return Err(ApiError::Forbidden("you can only search your own record"));
        }
        q.patient = Some(mine);
    }
    let query = q.clone();
    let page = state
        .db
        .call(move |c| store::search(c, t, &query).map_err(ApiError::from))
        .await?;
    let base = &state.fhir_base;
    let kept: Vec<(String, String)> = params.into_iter().filter(|(n, _)| n != "_cursor").collect();
    let link = |extra: Option<(String, String)>| {
        let mut url = format!("{base}/{t}");
        let mut all = kept.clone();
        all.extend(extra);
        if !all.is_empty() {
            url.push('?');
            url.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(all)
                    .finish(),
            );
        }
        url
    };
    let mut bundle = Bundle::new("searchset");
    bundle.id = Some(uuid::Uuid::new_v4().to_string());
    bundle.total = Some(page.total);
    bundle.link.push(BundleLink {
        relation: "self".into(),
        url: link(
            q.after
                .as_ref()
                .map(|a| ("_cursor".to_owned(), encode_cursor(a))),
        ),
    });
    if let Some(after) = &page.next_after {
        bundle.link.push(BundleLink {
            relation: "next".into(),
            url: link(Some(("_cursor".to_owned(), encode_cursor(after)))),
        });
    }
    bundle.entry = page
        .resources
        .into_iter()
        .map(|r| BundleEntry {
            full_url: Some(format!("{base}/{t}/{}", r.id)),
            resource: Some(r.content),
            search: Some(EntrySearch {
                mode: Some("match".into()),
            }),
            ..Default::default()
        })
        .collect();
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
        Json(bundle),
    )
        .into_response())
}

/// The CapabilityStatement: exactly what this server does.
pub async fn metadata(State(state): State<AppState>) -> Response {
    let origin = &state.origin;
    let resources: Vec<Value> = ResourceType::ALL
        .iter()
        .map(|t| {
            let mut search_params = vec![
                json!({"name": "_id", "type": "token"}),
                json!({"name": "_lastUpdated", "type": "date"}),
                json!({"name": "identifier", "type": "token"}),
                json!({"name": "status", "type": "token"}),
            ];
            for name in ["patient", "subject", "actor"] {
                if patient_param(*t, name) {
                    search_params.push(json!({"name": name, "type": "reference"}));
                }
            }
            let interactions: Vec<Value> =
                ["read", "vread", "create", "update", "delete", "search-type"]
                    .iter()
                    .map(|c| json!({"code": c}))
                    .collect();
            json!({
                "type": t.as_str(),
                "interaction": interactions,
                "versioning": "versioned-update",
                "conditionalCreate": true,
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
                "searchParam": search_params,
            })
        })
        .collect();
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
        Json(json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-22",
            "kind": "instance",
            "software": {"name": "CareCycle reference IPU back end", "version": env!("CARGO_PKG_VERSION")},
            "implementation": {"description": "CareCycle reference IPU back end", "url": state.fhir_base},
            "fhirVersion": FHIR_VERSION,
            "format": ["application/fhir+json", "json"],
            "rest": [{
                "mode": "server",
                "security": {
                    "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}]}],
                    "extension": [{
                        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                        "extension": [
                            {"url": "authorize", "valueUri": format!("{origin}/auth/authorize")},
                            {"url": "token", "valueUri": format!("{origin}/auth/token")}
                        ]
                    }]
                },
                "resource": resources
            }]
        })),
    )
        .into_response()
}
