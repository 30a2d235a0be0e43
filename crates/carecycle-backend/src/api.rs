//! FHIR R4 REST: read, vread, create (with If-None-Exist), update (with
//! If-Match), delete and search, as JSON, with errors as OperationOutcome.
//! Every request is checked against the caller's scopes and patient compartment;
//! a resource outside the caller's compartment answers 404, exactly as one that
//! does not exist, so a denial reveals nothing.

use crate::AppState;
use crate::access::{self, Role};
use crate::audit::{self, Interaction};
use crate::auth::Principal;
use crate::policy::{self, Op};
use crate::routing;
use crate::store::{self, Filter, Prefix, Query, Stamper, StoreError, Stored};
use crate::validate;
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
use rusqlite::{Connection, Transaction};
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
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again in {0} seconds")]
    TooManyRequests(u64),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("the request URL is longer than the server accepts")]
    UriTooLong,
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
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported")
            }
            ApiError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "not-supported"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "not-supported"),
            ApiError::UriTooLong => (StatusCode::URI_TOO_LONG, "too-long"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "exception"),
        }
    }
}

impl ApiError {
    /// The status line and issue code, for a batch entry's response.
    pub(crate) fn clone_response_parts(&self) -> (String, &'static str) {
        let (status, code) = self.status_and_code();
        (status.to_string(), code)
    }

    /// The same error, said of entry `index` of a Bundle.
    pub(crate) fn in_entry(self, index: usize) -> ApiError {
        let at = |m: String| format!("entry {index}: {m}");
        match self {
            ApiError::BadRequest(m) => ApiError::BadRequest(at(m)),
            ApiError::NotFound(m) => ApiError::NotFound(at(m)),
            ApiError::Gone(m) => ApiError::Gone(at(m)),
            ApiError::PreconditionFailed(m) => ApiError::PreconditionFailed(at(m)),
            ApiError::Unprocessable(m) => ApiError::Unprocessable(at(m)),
            ApiError::Forbidden(m) => ApiError::Forbidden(at(m)),
            ApiError::Conflict(m) => ApiError::Conflict(at(m)),
            other => other,
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
        if let ApiError::TooManyRequests(seconds) = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
        }
        response
    }
}

pub(crate) fn parse_type(name: &str) -> Result<ResourceType, ApiError> {
    name.parse()
        .map_err(|_| ApiError::NotFound(format!("resource type {name} is not supported here")))
}

/// Refuses the request unless the token's scopes allow `perm` on type `t`.
pub(crate) fn require_scope(
    principal: &Principal,
    t: ResourceType,
    perm: char,
) -> Result<(), ApiError> {
    if principal.may(t.as_str(), perm) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "the granted scopes do not allow '{perm}' on {t} (granted: {})",
            principal.scope
        )))
    }
}

/// What the access policy asks of the database, for one caller.
struct DbFacts<'a> {
    conn: &'a Connection,
    role: &'a Role,
}

impl policy::Facts for DbFacts<'_> {
    fn unit_reaches(&self, patient: &str) -> bool {
        match self.role {
            Role::Team { organization, .. } => {
                access::org_reaches(self.conn, organization, patient).unwrap_or(false)
            }
            _ => false,
        }
    }

    fn practitioner_in_unit(&self, practitioner: &str, organization: &str) -> bool {
        access::practitioner_in_unit(self.conn, practitioner, organization).unwrap_or(false)
    }
}

/// May this principal see this stored version through `op` (read, search, history)?
pub(crate) fn readable_by(
    conn: &Connection,
    principal: &Principal,
    op: Op,
    stored: &Stored,
) -> bool {
    let subject = policy::Subject {
        resource_type: stored.resource_type,
        id: &stored.id,
        patient: stored.patient.as_deref(),
        area: stored.area,
    };
    let facts = DbFacts {
        conn,
        role: &principal.role,
    };
    policy::check_read(&principal.role, op, subject, &facts)
}

/// May this principal read a stored resource?
pub(crate) fn readable(conn: &Connection, principal: &Principal, stored: &Stored) -> bool {
    readable_by(conn, principal, Op::Read, stored)
}

/// Asks the access policy about one write; a refusal is 403 naming the rule.
fn writable(
    conn: &Connection,
    principal: &Principal,
    write: policy::Write<'_>,
) -> Result<(), ApiError> {
    if let Some(after) = write.after
        && write.resource_type.in_patient_compartment()
        && patient_of(write.resource_type, after).is_none()
    {
        return Err(ApiError::Unprocessable(format!(
            "the {} must reference the patient it belongs to",
            write.resource_type
        )));
    }
    let facts = DbFacts {
        conn,
        role: &principal.role,
    };
    policy::check_write(&principal.role, write, &facts).map_err(|r| ApiError::Forbidden(r.0))
}

/// Audits one interaction with one stored resource of a patient's record.
fn audit_one(
    tx: &Transaction<'_>,
    stamper: &crate::store::Stamper,
    principal: &Principal,
    interaction: Interaction,
    stored: &Stored,
) -> Result<(), ApiError> {
    if stored.resource_type == ResourceType::AuditEvent {
        return Ok(());
    }
    if let Some(p) = &stored.patient {
        audit::record(
            tx,
            stamper,
            principal,
            interaction,
            &[p.as_str()],
            Some((stored.resource_type, &stored.id)),
        )?;
    }
    Ok(())
}

fn http_date(last_updated: &str) -> Option<HeaderValue> {
    let t: jiff::Timestamp = last_updated.parse().ok()?;
    HeaderValue::from_str(&t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
}

pub(crate) fn resource_response(
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
    let stored = in_transaction(&state, move |tx, stamper| {
        read_in(tx, stamper, &principal, t, &id)
    })
    .await?;
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
    let stamper = state.stamper.clone();
    let stored = state
        .db
        .call(move |c| -> Result<Stored, ApiError> {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(ApiError::from_sql)?;
            let stored = store::read_version(&tx, t, &id, version)?
                .filter(|s| readable(&tx, &principal, s))
                .ok_or_else(|| ApiError::NotFound("no such version".into()))?;
            if stored.deleted {
                return Err(ApiError::Gone("that version is a deletion".into()));
            }
            audit_one(&tx, &stamper, &principal, Interaction::Vread, &stored)?;
            tx.commit().map_err(ApiError::from_sql)?;
            Ok(stored)
        })
        .await?;
    Ok(resource_response(StatusCode::OK, &state, &stored, false))
}

/// Parses a request body as a resource of type `t`.
fn parse_body(t: ResourceType, body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let value = parse_body_any(body)?;
    let found = value.get("resourceType").and_then(Value::as_str);
    if !value.is_object() || found != Some(t.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "the body must be a {t} resource (found resourceType {})",
            found.unwrap_or("none")
        )));
    }
    Ok(value)
}

/// Parses a request body as JSON (413 when over the limit, 400 when not JSON).
pub(crate) fn parse_body_any(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))
}

pub(crate) fn parse_if_none_exist(value: &str) -> Result<(Option<String>, String), ApiError> {
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

pub(crate) enum CreateOutcome {
    Created(Stored),
    Existing(Stored),
}

/// A create, inside the caller's transaction: conditional on `condition`
/// (If-None-Exist), with `id` chosen in advance (a transaction's urn:uuid).
pub(crate) fn create_in(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    principal: &Principal,
    t: ResourceType,
    mut content: Value,
    condition: Option<&(Option<String>, String)>,
    id: Option<String>,
) -> Result<CreateOutcome, ApiError> {
    require_scope(principal, t, 'c')?;
    policy::fill_in_author(&principal.role, t, &mut content);
    validate::resource(t, &content).map_err(ApiError::Unprocessable)?;
    if let Some((system, value)) = condition {
        let mut existing = store::find_by_identifier(tx, t, system.as_deref(), value)?;
        match existing.len() {
            0 => {}
            1 => {
                let found = existing.remove(0);
                if !readable(tx, principal, &found) {
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
    let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    writable(
        tx,
        principal,
        policy::Write {
            op: Op::Create,
            resource_type: t,
            id: &id,
            before: None,
            after: Some(&content),
        },
    )?;
    let stored = store::write(tx, stamper, t, &id, content, None)?;
    audit_one(tx, stamper, principal, Interaction::Create, &stored)?;
    if t == ResourceType::Communication {
        match principal.role {
            Role::Patient { .. } | Role::Proxy { .. } => {
                routing::after_patient_message(tx, stamper, &stored)?
            }
            Role::Team { .. } => routing::after_team_message(tx, stamper, &stored)?,
            Role::Unlinked => {}
        }
    }
    Ok(CreateOutcome::Created(stored))
}

/// An update (or create at a chosen id), inside the caller's transaction;
/// `expected` is the If-Match version. True when it created the resource.
pub(crate) fn update_in(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    principal: &Principal,
    t: ResourceType,
    id: &str,
    content: Value,
    expected: Option<i64>,
) -> Result<(Stored, bool), ApiError> {
    require_scope(principal, t, 'u')?;
    if !is_valid_id(id) {
        return Err(ApiError::BadRequest(format!("{id:?} is not a valid id")));
    }
    if content.get("id").and_then(Value::as_str) != Some(id) {
        return Err(ApiError::BadRequest(
            "the resource id must match the id in the URL".into(),
        ));
    }
    validate::resource(t, &content).map_err(ApiError::Unprocessable)?;
    let existing = store::read(tx, t, id)?;
    let live = existing.as_ref().filter(|e| !e.deleted);
    if let Some(live) = live
        && !readable(tx, principal, live)
    {
        return Err(ApiError::NotFound(format!("{t} not found")));
    }
    // A stale If-Match is a conflict whatever else changed: the client's copy
    // is out of date, so what it "changed" cannot be judged against it.
    let current_version = existing.as_ref().map_or(0, |e| e.version);
    if let Some(expected) = expected
        && expected != current_version
    {
        return Err(StoreError::VersionConflict {
            current: current_version,
        }
        .into());
    }
    // The policy sees the resource before (moving a resource out of a record
    // needs write access to where it was, too) and after.
    writable(
        tx,
        principal,
        policy::Write {
            op: Op::Update,
            resource_type: t,
            id,
            before: live.map(|l| &l.content),
            after: Some(&content),
        },
    )?;
    let created = live.is_none();
    if created && store::used_by_another_record(tx, t, id, patient_of(t, &content).as_deref())? {
        return Err(ApiError::Conflict(format!(
            "the id {t}/{id} was used in another record and cannot be used again"
        )));
    }
    let stored = store::write(tx, stamper, t, id, content, expected)?;
    audit_one(tx, stamper, principal, Interaction::Update, &stored)?;
    Ok((stored, created))
}

/// A delete inside the caller's transaction.
pub(crate) fn delete_in(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    principal: &Principal,
    t: ResourceType,
    id: &str,
) -> Result<(), ApiError> {
    require_scope(principal, t, 'd')?;
    let existing = match store::read(tx, t, id)? {
        Some(existing) if readable(tx, principal, &existing) => existing,
        _ => return Err(ApiError::NotFound(format!("{t} not found"))),
    };
    writable(
        tx,
        principal,
        policy::Write {
            op: Op::Delete,
            resource_type: t,
            id,
            before: Some(&existing.content),
            after: None,
        },
    )?;
    if store::delete(tx, stamper, t, id)? {
        audit_one(tx, stamper, principal, Interaction::Delete, &existing)?;
    }
    Ok(())
}

/// A read inside the caller's transaction.
pub(crate) fn read_in(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    principal: &Principal,
    t: ResourceType,
    id: &str,
) -> Result<Stored, ApiError> {
    require_scope(principal, t, 'r')?;
    let stored = store::read(tx, t, id)?
        .filter(|s| readable(tx, principal, s))
        .ok_or_else(|| ApiError::NotFound(format!("{t} not found")))?;
    if stored.deleted {
        return Err(ApiError::Gone(format!("{t} was deleted")));
    }
    audit_one(tx, stamper, principal, Interaction::Read, &stored)?;
    Ok(stored)
}

/// Runs `f` in one database transaction, committed when it succeeds.
pub(crate) async fn in_transaction<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Transaction<'_>, &Stamper) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let stamper = state.stamper.clone();
    state
        .db
        .call(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(ApiError::from_sql)?;
            let out = f(&tx, &stamper)?;
            tx.commit().map_err(ApiError::from_sql)?;
            Ok(out)
        })
        .await
}

pub(crate) fn created_response(
    state: &AppState,
    outcome: CreateOutcome,
    minimal: bool,
) -> Response {
    match outcome {
        CreateOutcome::Created(stored) => {
            resource_response(StatusCode::CREATED, state, &stored, minimal)
        }
        CreateOutcome::Existing(stored) => {
            resource_response(StatusCode::OK, state, &stored, minimal)
        }
    }
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
    let condition = headers
        .get("if-none-exist")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::BadRequest("bad If-None-Exist header".into()))
        })
        .transpose()?
        .map(parse_if_none_exist)
        .transpose()?;
    let outcome = in_transaction(&state, move |tx, stamper| {
        create_in(
            tx,
            stamper,
            &principal,
            t,
            content,
            condition.as_ref(),
            None,
        )
    })
    .await?;
    Ok(created_response(&state, outcome, prefers_minimal(&headers)))
}

pub(crate) fn parse_etag(text: &str) -> Result<i64, ApiError> {
    let inner = text.trim().trim_start_matches("W/").trim_matches('"');
    inner.parse().map_err(|_| {
        ApiError::BadRequest(format!("If-Match must be an ETag like W/\"3\", not {text}"))
    })
}

fn parse_if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    headers
        .get(header::IF_MATCH)
        .map(|v| parse_etag(v.to_str().unwrap_or_default()))
        .transpose()
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
    let content = parse_body(t, body)?;
    let expected = parse_if_match(&headers)?;
    let (stored, created) = in_transaction(&state, move |tx, stamper| {
        update_in(tx, stamper, &principal, t, &id, content, expected)
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
    in_transaction(&state, move |tx, stamper| {
        delete_in(tx, stamper, &principal, t, &id)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) fn parse_last_updated(value: &str) -> Result<(Prefix, String), ApiError> {
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
        "patient" => t != ResourceType::Patient && t.in_patient_compartment(),
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

/// How a search parameter of this server reads a resource.
#[derive(Debug, Clone, Copy)]
enum ParamKind {
    Reference(&'static str),
    Token(&'static str),
    Canonical(&'static str),
    Date(&'static str),
}

/// The element search parameters each type supports (besides `_id`,
/// `_lastUpdated`, `identifier`, `status` and the patient parameters).
fn element_param(t: ResourceType, name: &str) -> Option<ParamKind> {
    use ParamKind::*;
    use ResourceType as T;
    Some(match (t, name) {
        (T::Communication | T::CarePlan | T::DocumentReference | T::Observation, "category") => {
            Token("$.category")
        }
        (T::Communication | T::CarePlan, "part-of") => Reference("$.partOf"),
        (T::Communication, "in-response-to") => Reference("$.inResponseTo"),
        (T::Communication, "sent") => Date("$.sent"),
        (T::Communication, "topic") => Token("$.topic"),
        (
            T::Task
            | T::Appointment
            | T::Communication
            | T::CarePlan
            | T::QuestionnaireResponse
            | T::Observation,
            "based-on",
        ) => Reference("$.basedOn"),
        (T::Task, "focus") => Reference("$.focus"),
        (T::Observation, "focus") => Reference("$.focus"),
        (T::Task, "owner") => Reference("$.owner"),
        (T::Task | T::Observation | T::Questionnaire, "code") => Token("$.code"),
        (T::Observation, "derived-from") => Reference("$.derivedFrom"),
        (T::QuestionnaireResponse, "questionnaire") => Canonical("$.questionnaire"),
        (T::Questionnaire, "url") => Canonical("$.url"),
        (T::Appointment, "date") => Date("$.start"),
        (T::Observation, "date") => Date("$.effectiveDateTime"),
        (T::QuestionnaireResponse, "authored") => Date("$.authored"),
        (T::Task, "period") => Date("$.restriction.period.end"),
        (T::CareTeam | T::EpisodeOfCare, "organization") => Reference("$.managingOrganization"),
        (T::PractitionerRole, "organization") => Reference("$.organization"),
        (T::PractitionerRole, "practitioner") => Reference("$.practitioner"),
        (T::RelatedPerson, "patient") => Reference("$.patient"),
        _ => return None,
    })
}

/// Every element search parameter name, for the CapabilityStatement.
const ELEMENT_PARAMS: [&str; 17] = [
    "category",
    "part-of",
    "in-response-to",
    "sent",
    "topic",
    "based-on",
    "focus",
    "owner",
    "code",
    "derived-from",
    "questionnaire",
    "url",
    "date",
    "authored",
    "period",
    "organization",
    "practitioner",
];

/// `ge2026-11-01` → the SQL comparison and instant; a day means the whole day (UTC).
fn date_filter(path: &'static str, value: &str) -> Result<Vec<Filter>, ApiError> {
    let (prefix, rest) = match value.get(..2) {
        Some(p @ ("gt" | "ge" | "lt" | "le" | "eq")) => (p, &value[2..]),
        _ => ("eq", value),
    };
    let when = FhirDateTime::parse(rest)
        .map_err(|_| ApiError::BadRequest(format!("{value:?} is not a date or instant")))?;
    let lo = when.start_instant(&TimeZone::UTC);
    let hi = match when {
        FhirDateTime::Date(d) => d
            .tomorrow()
            .ok()
            .and_then(|t| t.to_zoned(TimeZone::UTC).ok())
            .map(|z| z.timestamp())
            .unwrap_or(lo),
        FhirDateTime::DateTime(_) => lo,
    };
    let f = |op: &'static str, at: jiff::Timestamp| Filter::Date {
        path,
        op,
        instant: format_instant(at),
    };
    let point = lo == hi;
    Ok(match prefix {
        "gt" => vec![if point { f(">", lo) } else { f(">=", hi) }],
        "ge" => vec![f(">=", lo)],
        "lt" => vec![f("<", lo)],
        "le" => vec![if point { f("<=", lo) } else { f("<", hi) }],
        _ if point => vec![f("=", lo)],
        _ => vec![f(">=", lo), f("<", hi)],
    })
}

fn element_filter(kind: ParamKind, value: &str) -> Result<Vec<Filter>, ApiError> {
    let values = || value.split(',').map(str::to_owned).collect::<Vec<_>>();
    Ok(match kind {
        ParamKind::Reference(path) => vec![Filter::Reference {
            path,
            values: values(),
        }],
        ParamKind::Canonical(path) => vec![Filter::Canonical {
            path,
            values: values(),
        }],
        ParamKind::Token(path) => {
            let (system, code) = split_token(value);
            vec![Filter::Token {
                path,
                system: system.filter(|s| !s.is_empty()),
                code,
            }]
        }
        ParamKind::Date(path) => date_filter(path, value)?,
    })
}

/// `_include=Task:focus`: the parameter whose references to follow.
fn parse_include(t: ResourceType, value: &str) -> Result<&'static str, ApiError> {
    let bad = || ApiError::BadRequest(format!("_include={value} is not supported"));
    let (source, param) = value.split_once(':').ok_or_else(bad)?;
    let param = param.split(':').next().unwrap_or(param);
    if source != t.as_str() {
        return Err(bad());
    }
    match element_param(t, param) {
        Some(ParamKind::Reference(path) | ParamKind::Canonical(path)) => Ok(path),
        _ if patient_param(t, param) => Ok(match param {
            "subject" => "$.subject",
            "actor" => "$.participant",
            _ => "$.patient",
        }),
        _ => Err(bad()),
    }
}

/// The resources `stored` points at through the element at `path` (references
/// `Type/id` and canonicals of Questionnaires).
fn follow(conn: &Connection, stored: &Stored, path: &str) -> Result<Vec<Stored>, ApiError> {
    let pointer = path.trim_start_matches("$.").replace('.', "/");
    let mut targets = Vec::new();
    let mut collect = |v: &Value| {
        let mut stack = vec![v];
        while let Some(x) = stack.pop() {
            match x {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("reference") {
                        targets.push(r.clone());
                    }
                    stack.extend(m.values());
                }
                Value::Array(a) => stack.extend(a.iter()),
                Value::String(s)
                    if s.contains("/Questionnaire/") || s.starts_with("Questionnaire/") =>
                {
                    targets.push(s.clone())
                }
                _ => {}
            }
        }
    };
    if let Some(v) = stored.content.pointer(&format!("/{pointer}")) {
        collect(v);
    }
    let mut out = Vec::new();
    for target in targets {
        let canonical = target.split('|').next().unwrap_or(&target).to_owned();
        if let Ok(r) = LocalReference::parse(&canonical, None) {
            if let Some(found) = store::read(conn, r.resource_type, &r.id)? {
                out.push(found);
            }
        } else if let Some(found) = store::search(
            conn,
            ResourceType::Questionnaire,
            &Query {
                count: 1,
                filters: vec![Filter::Canonical {
                    path: "$.url",
                    values: vec![canonical],
                }],
                ..Default::default()
            },
        )?
        .resources
        .into_iter()
        .next()
        {
            out.push(found);
        }
    }
    Ok(out)
}

/// Most bytes of resources one search page carries; the rest follows on the next page.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Ends a page early when its resources pass [`MAX_PAGE_BYTES`] (at least one
/// resource per page), so the `next` link continues from the last one sent.
fn bound_page_bytes(page: &mut store::Page) {
    let mut bytes = 0;
    let keep = page
        .resources
        .iter()
        .position(|r| {
            bytes += serde_json::to_vec(&r.content).map_or(0, |v| v.len());
            bytes > MAX_PAGE_BYTES
        })
        .map(|i| i.max(1));
    if let Some(keep) = keep
        && keep < page.resources.len()
    {
        page.resources.truncate(keep);
        page.next_after = page
            .resources
            .last()
            .map(|r| (r.last_updated.clone(), r.id.clone()));
    }
}

/// Restricts a search to what the caller may see, or refuses it.
pub(crate) fn scope_search(
    conn: &Connection,
    principal: &Principal,
    t: ResourceType,
    requested_patient: Option<String>,
    q: &mut Query,
) -> Result<(), ApiError> {
    policy::may_search(&principal.role, t).map_err(|r| ApiError::Forbidden(r.0))?;
    if !t.in_patient_compartment() {
        return Ok(());
    }
    match &principal.role {
        Role::Patient { patient } | Role::Proxy { patient, .. } => {
            if requested_patient.as_ref().is_some_and(|p| p != patient) {
                return Err(ApiError::Forbidden(
                    "you can only search the record you see".into(),
                ));
            }
            q.patient = Some(patient.clone());
            if let Role::Proxy {
                related_person,
                areas,
                ..
            } = &principal.role
            {
                match t {
                    ResourceType::RelatedPerson => {
                        // Only their own; an `_id` asking for another finds nothing.
                        let mine = q
                            .ids
                            .as_ref()
                            .is_none_or(|ids| ids.contains(related_person));
                        q.ids = Some(if mine {
                            vec![related_person.clone()]
                        } else {
                            vec![]
                        });
                    }
                    ResourceType::Patient if areas.is_empty() => {
                        return Err(ApiError::Forbidden(
                            "the patient shares nothing with you now".into(),
                        ));
                    }
                    _ => {
                        // A type wholly inside one area that is not shared says so.
                        if let Some(area) = access::area_of(t, &Value::Null)
                            && t != ResourceType::Task
                            && !areas.contains(&area)
                        {
                            return Err(ApiError::Forbidden(access::not_shared(area).into()));
                        }
                        q.areas = Some(areas.clone());
                    }
                }
            }
        }
        Role::Team { organization, .. } => match requested_patient {
            Some(p)
                if access::org_reaches(conn, organization, &p).map_err(ApiError::from_sql)? =>
            {
                q.patient = Some(p)
            }
            Some(_) => {
                return Err(ApiError::Forbidden(
                    "you can only search the patients of your care unit".into(),
                ));
            }
            None => q.org = Some(organization.clone()),
        },
        Role::Unlinked => {}
    }
    Ok(())
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
    let mut includes = Vec::new();
    // What the search actually applied: the Bundle's links say exactly that.
    let mut ignored: Vec<String> = Vec::new();
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
            "_sort" if value == "_lastUpdated" => q.descending = false,
            "_sort" if value == "-_lastUpdated" => q.descending = true,
            "_sort" => {
                return Err(ApiError::BadRequest(
                    "only _sort=_lastUpdated or -_lastUpdated is supported".into(),
                ));
            }
            "_include" => includes.push(parse_include(t, value)?),
            "_format" | "_total" => {}
            n => match element_param(t, n) {
                Some(kind) => q.filters.extend(element_filter(kind, value)?),
                None if strict => {
                    return Err(ApiError::BadRequest(format!(
                        "search parameter {n} is not supported"
                    )));
                }
                None => ignored.push(n.to_owned()),
            },
        }
    }
    let stamper = state.stamper.clone();
    let (page, q, included) = state
        .db
        .call(move |c| -> Result<_, ApiError> {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(ApiError::from_sql)?;
            scope_search(&tx, &principal, t, requested_patient, &mut q)?;
            let mut page = store::search(&tx, t, &q)?;
            // The SQL narrows to the caller's reach; the policy judges each match.
            page.resources
                .retain(|r| readable_by(&tx, &principal, Op::Search, r));
            bound_page_bytes(&mut page);
            let mut included: Vec<Stored> = Vec::new();
            for path in &includes {
                for r in &page.resources {
                    for found in follow(&tx, r, path)? {
                        let dup = included
                            .iter()
                            .chain(page.resources.iter())
                            .any(|x| x.resource_type == found.resource_type && x.id == found.id);
                        // An included resource needs the same scope and policy as a read of it.
                        if !dup
                            && !found.deleted
                            && principal.may(found.resource_type.as_str(), 'r')
                            && readable(&tx, &principal, &found)
                        {
                            included.push(found);
                        }
                    }
                }
            }
            if t != ResourceType::AuditEvent {
                let mut patients: Vec<&str> = page
                    .resources
                    .iter()
                    .chain(included.iter())
                    .filter_map(|r| r.patient.as_deref())
                    .collect();
                patients.sort_unstable();
                patients.dedup();
                audit::record(
                    &tx,
                    &stamper,
                    &principal,
                    Interaction::Search,
                    &patients,
                    None,
                )?;
            }
            tx.commit().map_err(ApiError::from_sql)?;
            Ok((page, q, included))
        })
        .await?;
    let base = &state.fhir_base;
    let kept: Vec<(String, String)> = params
        .into_iter()
        .filter(|(n, _)| n != "_cursor" && !ignored.contains(n))
        .collect();
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
    let entry = |r: Stored, mode: &str| BundleEntry {
        full_url: Some(format!("{base}/{}/{}", r.resource_type, r.id)),
        resource: Some(r.content),
        search: Some(EntrySearch {
            mode: Some(mode.into()),
        }),
        ..Default::default()
    };
    bundle.entry = page
        .resources
        .into_iter()
        .map(|r| entry(r, "match"))
        .chain(included.into_iter().map(|r| entry(r, "include")))
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
            for name in ELEMENT_PARAMS {
                if let Some(kind) = element_param(*t, name) {
                    let ty = match kind {
                        ParamKind::Reference(_) => "reference",
                        ParamKind::Token(_) => "token",
                        ParamKind::Canonical(_) => "uri",
                        ParamKind::Date(_) => "date",
                    };
                    search_params.push(json!({"name": name, "type": ty}));
                }
            }
            search_params.push(json!({"name": "_sort", "type": "special", "documentation": "_lastUpdated or -_lastUpdated"}));
            let interactions: Vec<Value> =
                ["read", "vread", "create", "update", "delete", "search-type", "history-instance", "history-type"]
                    .iter()
                    .map(|c| json!({"code": c}))
                    .collect();
            let includes: Vec<String> = ELEMENT_PARAMS
                .iter()
                .filter(|n| matches!(element_param(*t, n), Some(ParamKind::Reference(_) | ParamKind::Canonical(_))))
                .map(|n| format!("{t}:{n}"))
                .collect();
            json!({
                "type": t.as_str(),
                "searchInclude": includes,
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
                            {"url": "token", "valueUri": format!("{origin}/auth/token")},
                            {"url": "revoke", "valueUri": format!("{origin}/auth/revoke")}
                        ]
                    }]
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}]
            }]
        })),
    )
        .into_response()
}
