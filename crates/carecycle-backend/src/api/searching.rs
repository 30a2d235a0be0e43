//! Search interactions: GET and POST `_search`, scoped to what the caller may
//! see, with `_include` and `_revinclude` (parameters parsed in [`crate::search`]).

use super::*;
use crate::AppState;
use crate::access::{self, Role};
use crate::audit::{self, Interaction};
use crate::auth::Principal;
use crate::policy::{self, Op};
use crate::search::{self, SearchRequest};
use crate::store::{self, Query, Stamper, Stored};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use carecycle_fhir::{FHIR_JSON, ResourceType};
use rusqlite::Connection;
use serde_json::Value;

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

/// `GET [type]?params` (R4 http.html#search).
pub async fn search(
    State(state): State<AppState>,
    principal: Principal,
    Path(type_name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = search::pairs(raw.unwrap_or_default().as_bytes());
    search_with(state, principal, &type_name, &headers, params).await
}

/// `POST [type]/_search` (R4 http.html#search): the parameters of the URL and
/// of the form body together, meaning exactly what they mean in a GET.
pub async fn search_post(
    State(state): State<AppState>,
    principal: Principal,
    Path(type_name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut params = search::pairs(raw.unwrap_or_default().as_bytes());
    params.extend(search::pairs(&read_body(body)?));
    search_with(state, principal, &type_name, &headers, params).await
}

async fn search_with(
    state: AppState,
    principal: Principal,
    type_name: &str,
    headers: &HeaderMap,
    params: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    let strict = prefers(headers, "handling=strict");
    let (bundle, event) = search_bundle(&state, principal, type_name, &params, strict).await?;
    commit_audit(&state, event).await?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
        Json(bundle),
    )
        .into_response())
}

/// One search for one caller, as the searchset Bundle it answers (a GET, a
/// POST `_search`, or a search entry of a batch), and the AuditEvent it
/// leaves: the caller commits it before answering.
pub(crate) async fn search_bundle(
    state: &AppState,
    principal: Principal,
    type_name: &str,
    params: &[(String, String)],
    strict: bool,
) -> Result<(carecycle_fhir::Bundle, Option<Value>), ApiError> {
    let t = parse_type(type_name)?;
    require_scope(&principal, t, 's')?;
    let mut request = search::parse(t, params, strict)?;
    let stamper = state.stamper.clone();
    let (request, found, event) = state
        .db
        .read(move |c| -> Result<_, ApiError> {
            let (found, event) = find(c, &stamper, &principal, t, &mut request)?;
            Ok((request, found, event))
        })
        .await?;
    Ok((search::bundle(&state.fhir_base, t, &request, found), event))
}

/// Runs a search for one caller: the matches and included resources they
/// may see, and the AuditEvent it leaves (committed by the caller).
fn find(
    tx: &Connection,
    stamper: &Stamper,
    principal: &Principal,
    t: ResourceType,
    request: &mut SearchRequest,
) -> Result<(search::Found, Option<Value>), ApiError> {
    let patient = request.requested_patient.take();
    scope_search(tx, principal, t, patient, &mut request.query)?;
    let mut page = store::search(tx, t, &request.query)?;
    // The SQL narrows to the caller's reach; the policy judges each match.
    page.resources
        .retain(|r| readable_by(tx, principal, Op::Search, r));
    search::bound_page_bytes(&mut page);
    let included = included(tx, principal, t, request, &page.resources)?;
    let mut event = None;
    if t != ResourceType::AuditEvent {
        let mut patients: Vec<&str> = page
            .resources
            .iter()
            .chain(included.iter())
            .filter_map(|r| r.patient.as_deref())
            .collect();
        patients.sort_unstable();
        patients.dedup();
        event = audit::event(stamper, principal, Interaction::Search, &patients, None);
    }
    Ok((search::Found { page, included }, event))
}

/// What `_include` and `_revinclude` add to the matches (R4 search.html#include).
fn included(
    tx: &Connection,
    principal: &Principal,
    t: ResourceType,
    request: &SearchRequest,
    matches: &[Stored],
) -> Result<Vec<Stored>, ApiError> {
    let mut out: Vec<Stored> = Vec::new();
    for include in &request.includes {
        for r in matches {
            for found in search::follow(tx, r, include)? {
                add_included(tx, principal, matches, &mut out, found);
            }
        }
    }
    for rev in &request.revincludes {
        for found in revincluded(tx, principal, t, rev, matches)? {
            add_included(tx, principal, matches, &mut out, found);
        }
    }
    Ok(out)
}

/// Adds `found` once, when the caller may read it: an included resource
/// (either way) needs the same scope and policy as a read of it.
fn add_included(
    tx: &Connection,
    principal: &Principal,
    matches: &[Stored],
    out: &mut Vec<Stored>,
    found: Stored,
) {
    let dup = out
        .iter()
        .chain(matches)
        .any(|x| x.resource_type == found.resource_type && x.id == found.id);
    if !dup
        && !found.deleted
        && principal.may(found.resource_type.as_str(), 'r')
        && readable(tx, principal, &found)
    {
        out.push(found);
    }
}

/// Resources of `rev.source` that point at the matches, within the caller's
/// reach as for a search of that type (a type they may not search adds nothing).
fn revincluded(
    tx: &Connection,
    principal: &Principal,
    t: ResourceType,
    rev: &search::RevInclude,
    matches: &[Stored],
) -> Result<Vec<Stored>, ApiError> {
    let Some(mut q) = search::revinclude_query(t, rev, matches) else {
        return Ok(Vec::new());
    };
    match scope_search(tx, principal, rev.source, None, &mut q) {
        Err(ApiError::Forbidden(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
        Ok(()) => Ok(store::search(tx, rev.source, &q)?.resources),
    }
}
