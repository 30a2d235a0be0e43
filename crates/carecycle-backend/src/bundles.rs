//! The interactions that answer with or take a Bundle besides search:
//! `_history` (instance and type level, with `_since`), and batch and
//! transaction Bundles. A transaction is atomic: its `urn:uuid:` full URLs are
//! given ids first and every reference to them rewritten, entries run in the
//! order FHIR prescribes (DELETE, POST, PUT, GET), and one failing entry rolls
//! back all of them. A batch runs each entry on its own and reports each outcome.

use crate::AppState;
use crate::api::{
    self, ApiError, CreateOutcome, create_in, delete_in, in_transaction, parse_etag,
    parse_if_none_exist, parse_type, read_in, readable_by, require_scope, update_in,
};
use crate::audit::{self, Interaction};
use crate::auth::Principal;
use crate::policy::Op as Interacting;
use crate::store::{self, Query, Stamper, Stored};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use carecycle_fhir::{FHIR_JSON, ResourceType};
use rusqlite::Transaction;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

const MAX_ENTRIES: usize = 1_000;

fn bundle_response(bundle: Value) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
        Json(bundle),
    )
        .into_response()
}

fn history_entry(state: &AppState, v: &Stored) -> Value {
    let url = format!("{}/{}", v.resource_type, v.id);
    let mut e = json!({
        "fullUrl": format!("{}/{url}", state.fhir_base),
        "request": {
            "method": if v.deleted { "DELETE" } else if v.version == 1 { "POST" } else { "PUT" },
            "url": if v.version == 1 && !v.deleted { v.resource_type.to_string() } else { url },
        },
        "response": {
            "status": if v.deleted { "204" } else if v.version == 1 { "201" } else { "200" },
            "etag": v.etag(),
            "lastModified": v.last_updated,
        }
    });
    if !v.deleted {
        e["resource"] = v.content.clone();
    }
    e
}

struct HistoryParams {
    since: Option<String>,
    before: Option<String>,
    count: usize,
}

fn history_params(raw: Option<&str>) -> Result<HistoryParams, ApiError> {
    let mut p = HistoryParams {
        since: None,
        before: None,
        count: 50,
    };
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "_since" => {
                let (_, instant) = api::parse_last_updated(&value)?;
                p.since = Some(instant);
            }
            "_count" => {
                p.count = value
                    .parse::<usize>()
                    .map_err(|_| ApiError::BadRequest("_count must be a whole number".into()))?
                    .clamp(1, 500)
            }
            "_before_cursor" => p.before = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok(p)
}

fn history_bundle(
    state: &AppState,
    self_url: &str,
    page: store::HistoryPage,
    raw: Option<&str>,
) -> Value {
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(before) = &page.next_before {
        let kept: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .into_owned()
            .filter(|(k, _)| k != "_before_cursor")
            .chain([("_before_cursor".to_owned(), before.clone())])
            .collect();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        let base = self_url.split('?').next().unwrap_or(self_url);
        links.push(json!({"relation": "next", "url": format!("{base}?{query}")}));
    }
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "history",
        "total": page.total,
        "link": links,
        "entry": page.versions.iter().map(|v| history_entry(state, v)).collect::<Vec<_>>(),
    })
}

fn audit_history(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    principal: &Principal,
    t: ResourceType,
    versions: &[Stored],
) -> Result<(), ApiError> {
    if t == ResourceType::AuditEvent {
        return Ok(());
    }
    let mut patients: Vec<&str> = versions
        .iter()
        .filter_map(|v| v.patient.as_deref())
        .collect();
    patients.sort_unstable();
    patients.dedup();
    audit::record(
        tx,
        stamper,
        principal,
        Interaction::History,
        &patients,
        None,
    )?;
    Ok(())
}

/// `GET [base]/Type/id/_history`
pub async fn history_instance(
    State(state): State<AppState>,
    principal: Principal,
    Path((type_name, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    history(state, principal, &type_name, Some(id), raw).await
}

/// `GET [base]/Type/_history`
pub async fn history_type(
    State(state): State<AppState>,
    principal: Principal,
    Path(type_name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    history(state, principal, &type_name, None, raw).await
}

/// One resource's versions (`id`), or every version of the type the caller may see.
async fn history(
    state: AppState,
    principal: Principal,
    type_name: &str,
    id: Option<String>,
    raw: Option<String>,
) -> Result<Response, ApiError> {
    let t = parse_type(type_name)?;
    require_scope(&principal, t, if id.is_some() { 'r' } else { 's' })?;
    let params = history_params(raw.as_deref())?;
    let mut query = Query {
        count: params.count,
        ..Default::default()
    };
    let self_url = match &id {
        Some(id) => format!("{}/{t}/{id}/_history", state.fhir_base),
        None => format!("{}/{t}/_history", state.fhir_base),
    };
    let page = in_transaction(&state, move |tx, stamper| {
        if let Some(id) = &id
            && store::read(tx, t, id)?.is_none()
        {
            return Err(ApiError::NotFound(format!("{t} not found")));
        }
        // Every version is judged as it was written: first narrowed in SQL to
        // the caller's reach, then by the policy one by one.
        api::scope_search(tx, &principal, t, None, &mut query)?;
        let mut page = store::history(
            tx,
            t,
            id.as_deref(),
            params.since.as_deref(),
            params.before.as_deref(),
            &query,
        )?;
        page.versions
            .retain(|v| readable_by(tx, &principal, Interacting::History, v));
        if id.is_some() && page.versions.is_empty() && params.since.is_none() {
            return Err(ApiError::NotFound(format!("{t} not found")));
        }
        audit_history(tx, stamper, &principal, t, &page.versions)?;
        Ok(page)
    })
    .await?;
    Ok(bundle_response(history_bundle(
        &state,
        &self_url,
        page,
        raw.as_deref(),
    )))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Method {
    Delete,
    Post,
    Put,
    Get,
}

#[derive(Debug)]
struct Op {
    index: usize,
    method: Method,
    t: ResourceType,
    id: Option<String>,
    full_url: Option<String>,
    resource: Option<Value>,
    if_none_exist: Option<(Option<String>, String)>,
    if_match: Option<i64>,
}

fn parse_entry(index: usize, entry: &Value) -> Result<Op, ApiError> {
    let bad = |why: &str| ApiError::BadRequest(format!("entry {index}: {why}"));
    let request = entry
        .get("request")
        .ok_or_else(|| bad("request is required"))?;
    let method = match request.get("method").and_then(Value::as_str) {
        Some("DELETE") => Method::Delete,
        Some("POST") => Method::Post,
        Some("PUT") => Method::Put,
        Some("GET") => Method::Get,
        Some(other) => return Err(bad(&format!("method {other} is not supported"))),
        None => return Err(bad("request.method is required")),
    };
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("request.url is required"))?;
    if url.contains('?') {
        return Err(bad(
            "conditional URLs in request.url are not supported; use ifNoneExist",
        ));
    }
    let mut parts = url.trim_matches('/').split('/');
    let t = parse_type(parts.next().unwrap_or_default()).map_err(|e| bad(&e.to_string()))?;
    let id = parts.next().map(str::to_owned);
    if parts.next().is_some() {
        return Err(bad("request.url must be Type or Type/id"));
    }
    match (method, &id) {
        (Method::Post, Some(_)) => return Err(bad("POST goes to Type, not Type/id")),
        (Method::Put | Method::Delete | Method::Get, None) => {
            return Err(bad(
                "PUT, DELETE and GET need Type/id (a search goes in a batch, not a transaction)",
            ));
        }
        _ => {}
    }
    let resource = entry.get("resource").cloned();
    if matches!(method, Method::Post | Method::Put) {
        match &resource {
            Some(r) if r.get("resourceType").and_then(Value::as_str) == Some(t.as_str()) => {}
            _ => return Err(bad(&format!("a {t} resource is required"))),
        }
    }
    Ok(Op {
        index,
        method,
        t,
        id,
        full_url: entry
            .get("fullUrl")
            .and_then(Value::as_str)
            .map(str::to_owned),
        resource,
        if_none_exist: request
            .get("ifNoneExist")
            .and_then(Value::as_str)
            .map(parse_if_none_exist)
            .transpose()
            .map_err(|e| bad(&e.to_string()))?,
        if_match: request
            .get("ifMatch")
            .and_then(Value::as_str)
            .map(parse_etag)
            .transpose()
            .map_err(|e| bad(&e.to_string()))?,
    })
}

/// Replaces every `reference` that names a placeholder with its resolved `Type/id`.
fn rewrite_references(v: &mut Value, resolved: &HashMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "reference"
                    && let Value::String(r) = x
                    && let Some(to) = resolved.get(r.as_str())
                {
                    *r = to.clone();
                } else {
                    rewrite_references(x, resolved);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_references(x, resolved)),
        _ => {}
    }
}

fn entry_response(state: &AppState, status: &str, stored: Option<&Stored>) -> Value {
    let mut response = Map::new();
    response.insert("status".into(), json!(status));
    let mut entry = Map::new();
    if let Some(s) = stored {
        response.insert(
            "location".into(),
            json!(format!(
                "{}/{}/_history/{}",
                s.resource_type, s.id, s.version
            )),
        );
        response.insert("etag".into(), json!(s.etag()));
        response.insert("lastModified".into(), json!(s.last_updated));
        entry.insert(
            "fullUrl".into(),
            json!(format!("{}/{}/{}", state.fhir_base, s.resource_type, s.id)),
        );
        if !s.deleted {
            entry.insert("resource".into(), s.content.clone());
        }
    }
    entry.insert("response".into(), Value::Object(response));
    Value::Object(entry)
}

/// Runs one entry; the answer's status line and the resource it leaves.
fn run(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    principal: &Principal,
    op: Op,
) -> Result<(&'static str, Option<Stored>), ApiError> {
    match op.method {
        Method::Delete => {
            delete_in(
                tx,
                stamper,
                principal,
                op.t,
                op.id.as_deref().unwrap_or_default(),
            )?;
            Ok(("204 No Content", None))
        }
        Method::Post => {
            let outcome = create_in(
                tx,
                stamper,
                principal,
                op.t,
                op.resource.unwrap_or(Value::Null),
                op.if_none_exist.as_ref(),
                op.id,
            )?;
            Ok(match outcome {
                CreateOutcome::Created(s) => ("201 Created", Some(s)),
                CreateOutcome::Existing(s) => ("200 OK", Some(s)),
            })
        }
        Method::Put => {
            let (s, created) = update_in(
                tx,
                stamper,
                principal,
                op.t,
                op.id.as_deref().unwrap_or_default(),
                op.resource.unwrap_or(Value::Null),
                op.if_match,
            )?;
            Ok((if created { "201 Created" } else { "200 OK" }, Some(s)))
        }
        Method::Get => {
            let s = read_in(
                tx,
                stamper,
                principal,
                op.t,
                op.id.as_deref().unwrap_or_default(),
            )?;
            Ok(("200 OK", Some(s)))
        }
    }
}

fn error_entry(e: &ApiError) -> Value {
    let response = e.clone_response_parts();
    json!({"response": {"status": response.0, "outcome": e.outcome()}})
}

/// A GET entry of a batch: a search (`Type?params`) or a read (`Type/id`).
enum BatchGet {
    Search(String, Vec<(String, String)>),
    Read(ResourceType, String),
}

/// The GET an entry asks for, when it is a GET this server answers as a read
/// or a search (anything else is judged by `parse_entry`, which says why not).
fn batch_get(entry: &Value) -> Option<BatchGet> {
    let request = entry.get("request")?;
    if request.get("method").and_then(Value::as_str) != Some("GET") {
        return None;
    }
    let url = request
        .get("url")
        .and_then(Value::as_str)?
        .trim_start_matches('/');
    match url.split_once('?') {
        Some((type_name, query)) if !type_name.contains('/') => Some(BatchGet::Search(
            type_name.to_owned(),
            crate::search::pairs(query.as_bytes()),
        )),
        Some(_) => None,
        None => {
            let (type_name, id) = url.split_once('/')?;
            let t = parse_type(type_name).ok()?;
            (!id.is_empty() && !id.contains('/')).then(|| BatchGet::Read(t, id.to_owned()))
        }
    }
}

/// A read judged as `GET [type]/[id]` alone is, and the AuditEvent it leaves
/// (the caller commits it before answering).
async fn read_uncommitted(
    state: &AppState,
    principal: &Principal,
    t: ResourceType,
    id: String,
) -> Result<(Stored, Option<Value>), ApiError> {
    let stamper = state.stamper.clone();
    let principal = principal.clone();
    state
        .db
        .read(move |c| api::read_checked(c, &stamper, &principal, t, &id))
        .await
}

/// `POST [base]` with a batch or transaction Bundle.
pub async fn transaction(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bundle = api::parse_body_any(body)?;
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(ApiError::BadRequest(
            "POST to the base takes a Bundle".into(),
        ));
    }
    let kind = bundle
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if entries.len() > MAX_ENTRIES {
        return Err(ApiError::PayloadTooLarge);
    }
    match kind.as_str() {
        "transaction" => {
            let mut ops = entries
                .iter()
                .enumerate()
                .map(|(i, e)| parse_entry(i, e))
                .collect::<Result<Vec<_>, _>>()?;
            let count = ops.len();
            let results = in_transaction(&state, move |tx, stamper| {
                // Placeholders first: each urn:uuid POST gets its id (or, for a
                // conditional create that matches, the existing one).
                let mut resolved = HashMap::new();
                for op in ops.iter_mut().filter(|o| o.method == Method::Post) {
                    let Some(full_url) = op.full_url.clone().filter(|u| u.starts_with("urn:uuid:"))
                    else {
                        continue;
                    };
                    let mut id = uuid::Uuid::new_v4().to_string();
                    if let Some((system, value)) = &op.if_none_exist
                        && let Some(found) =
                            store::find_by_identifier(tx, op.t, system.as_deref(), value)?.first()
                    {
                        id = found.id.clone();
                    }
                    resolved.insert(full_url, format!("{}/{id}", op.t));
                    op.id = Some(id);
                }
                for op in ops.iter_mut() {
                    if let Some(r) = op.resource.as_mut() {
                        rewrite_references(r, &resolved);
                    }
                }
                ops.sort_by_key(|o| (o.method, o.index));
                let mut results: Vec<Option<(&'static str, Option<Stored>)>> = vec![None; count];
                for op in ops {
                    let index = op.index;
                    let result = run(tx, stamper, &principal, op).map_err(|e| e.in_entry(index))?;
                    results[index] = Some(result);
                }
                Ok(results)
            })
            .await?;
            let entry: Vec<Value> = results
                .iter()
                .flatten()
                .map(|(status, stored)| entry_response(&state, status, stored.as_ref()))
                .collect();
            Ok(bundle_response(json!({
                "resourceType": "Bundle", "id": uuid::Uuid::new_v4().to_string(),
                "type": "transaction-response", "entry": entry
            })))
        }
        "batch" => {
            let mut out = Vec::with_capacity(entries.len());
            // The reads' AuditEvents, committed together before the answer
            // goes (one commit for the batch, as for one read alone).
            let mut events = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                // Reads and searches run on the read connections, each judged
                // for this caller exactly as the same GET on its own would be.
                if let Some(get) = batch_get(e) {
                    out.push(match get {
                        BatchGet::Search(type_name, params) => {
                            match api::search_bundle(
                                &state,
                                principal.clone(),
                                &type_name,
                                &params,
                                false,
                            )
                            .await
                            {
                                Ok((bundle, event)) => {
                                    events.extend(event);
                                    json!({"resource": bundle, "response": {"status": "200 OK"}})
                                }
                                Err(e) => error_entry(&e),
                            }
                        }
                        BatchGet::Read(t, id) => {
                            match read_uncommitted(&state, &principal, t, id).await {
                                Ok((stored, event)) => {
                                    events.extend(event);
                                    entry_response(&state, "200 OK", Some(&stored))
                                }
                                Err(e) => error_entry(&e),
                            }
                        }
                    });
                    continue;
                }
                let result = match parse_entry(i, e) {
                    Err(e) => Err(e),
                    Ok(op) => {
                        let principal = principal.clone();
                        in_transaction(&state, move |tx, stamper| run(tx, stamper, &principal, op))
                            .await
                    }
                };
                out.push(match result {
                    Ok((status, stored)) => entry_response(&state, status, stored.as_ref()),
                    Err(e) => error_entry(&e),
                });
            }
            if !events.is_empty() {
                state.audit.commit(events).await?;
            }
            Ok(bundle_response(json!({
                "resourceType": "Bundle", "id": uuid::Uuid::new_v4().to_string(),
                "type": "batch-response", "entry": out
            })))
        }
        other => Err(ApiError::BadRequest(format!(
            "Bundle.type must be transaction or batch, not {other:?}"
        ))),
    }
}
