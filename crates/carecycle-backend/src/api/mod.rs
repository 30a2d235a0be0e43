//! FHIR R4 REST: read, vread, create (with If-None-Exist), update (with
//! If-Match), delete and search (GET and POST `_search`; parameters in
//! [`crate::search`]), as JSON, with errors as OperationOutcome.
//! Every request is checked against the caller's scopes and patient compartment;
//! a resource outside the caller's compartment answers 404, exactly as one that
//! does not exist, so a denial reveals nothing.
//!
//! Here the interactions on one resource; `searching` the search
//! interactions, `capability` the CapabilityStatement, `errors` how failures
//! are answered.

use crate::AppState;
use crate::access::{self, Role};
use crate::audit::{self, Interaction};
use crate::auth::Principal;
use crate::extract;
use crate::policy::{self, Op};
use crate::routing;
use crate::search::split_token;
use crate::store::{self, Stamper, StoreError, Stored};
use crate::validate;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carecycle_fhir::compartment::patient_of;
use carecycle_fhir::reference::is_valid_id;
use carecycle_fhir::{FHIR_JSON, ResourceType};
use rusqlite::{Connection, Transaction};
use serde_json::Value;

mod capability;
mod errors;
mod searching;

pub use crate::search::MAX_PAGE_BYTES;
pub(crate) use crate::search::parse_last_updated;
pub use capability::metadata;
pub use errors::ApiError;
pub(crate) use searching::{scope_search, search_bundle};
pub use searching::{search, search_post};

/// Largest request body the server reads (attachments travel inline as base64).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

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
    if let Some(event) = audit_event_one(stamper, principal, interaction, stored) {
        audit::write(tx, stamper, event)?;
    }
    Ok(())
}

/// The AuditEvent of one interaction with one stored resource of a
/// patient's record (none for an AuditEvent, or outside any record).
fn audit_event_one(
    stamper: &crate::store::Stamper,
    principal: &Principal,
    interaction: Interaction,
    stored: &Stored,
) -> Option<Value> {
    if stored.resource_type == ResourceType::AuditEvent {
        return None;
    }
    let p = stored.patient.as_deref()?;
    audit::event(
        stamper,
        principal,
        interaction,
        &[p],
        Some((stored.resource_type, &stored.id)),
    )
}

/// Commits a read's AuditEvent (in a batch with other reads'; see
/// [`audit::AuditLog`]); the read is answered only once this returns.
async fn commit_audit(state: &AppState, event: Option<Value>) -> Result<(), ApiError> {
    match event {
        Some(event) => Ok(state.audit.commit(vec![event]).await?),
        None => Ok(()),
    }
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

/// Does a `Prefer` header ask for `preference` (`return=minimal`, `handling=strict`)?
fn prefers(headers: &HeaderMap, preference: &str) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split([',', ';']).any(|p| p.trim() == preference))
}

fn prefers_minimal(headers: &HeaderMap) -> bool {
    prefers(headers, "return=minimal")
}

pub async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path((type_name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = parse_type(&type_name)?;
    let stamper = state.stamper.clone();
    let (stored, event) = state
        .db
        .read(move |c| read_checked(c, &stamper, &principal, t, &id))
        .await?;
    commit_audit(&state, event).await?;
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
    let (stored, event) = state
        .db
        .read(move |c| -> Result<(Stored, Option<Value>), ApiError> {
            let stored = store::read_version(c, t, &id, version)?
                .filter(|s| readable(c, &principal, s))
                .ok_or_else(|| ApiError::NotFound("no such version".into()))?;
            if stored.deleted {
                return Err(ApiError::Gone("that version is a deletion".into()));
            }
            let event = audit_event_one(&stamper, &principal, Interaction::Vread, &stored);
            Ok((stored, event))
        })
        .await?;
    commit_audit(&state, event).await?;
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

/// The request body (413 when over the limit).
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })
}

/// Parses a request body as JSON (413 when over the limit, 400 when not JSON).
pub(crate) fn parse_body_any(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = read_body(body)?;
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
    validate::resource(t, &content).map_err(ApiError::Invalid)?;
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
    extract::after_write(tx, stamper, &stored)?;
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
    validate::resource(t, &content).map_err(ApiError::Invalid)?;
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
    extract::after_write(tx, stamper, &stored)?;
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
    let (stored, event) = read_checked(tx, stamper, principal, t, id)?;
    if let Some(event) = event {
        audit::write(tx, stamper, event)?;
    }
    Ok(stored)
}

/// A read, judged by the scopes and the policy, with the AuditEvent it
/// leaves (written by the caller).
pub(crate) fn read_checked(
    conn: &Connection,
    stamper: &Stamper,
    principal: &Principal,
    t: ResourceType,
    id: &str,
) -> Result<(Stored, Option<Value>), ApiError> {
    require_scope(principal, t, 'r')?;
    let stored = store::read(conn, t, id)?
        .filter(|s| readable(conn, principal, s))
        .ok_or_else(|| ApiError::NotFound(format!("{t} not found")))?;
    if stored.deleted {
        return Err(ApiError::Gone(format!("{t} was deleted")));
    }
    let event = audit_event_one(stamper, principal, Interaction::Read, &stored);
    Ok((stored, event))
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
