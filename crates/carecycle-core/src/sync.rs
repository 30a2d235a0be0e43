//! Pulling the patient's record into the local store.
//!
//! The decisions (what to ask for, what a page means, where to resume) are pure
//! functions of state and response, tested without a network; [`pull`] is the
//! one executor that does the HTTP.
//!
//! Cursors use `_lastUpdated=ge…` rather than `gt`: servers stamp resources
//! written together with one instant, and `gt` would skip those left on a later
//! page if a sync stopped between pages. Re-reading the boundary is harmless
//! because writes to the store are idempotent.

use crate::error::{CoreError, Result};
use crate::fhir_http::FhirSession;
use crate::store::{Store, apply_page};
use carecycle_fhir::time::format_instant;
use carecycle_fhir::{Bundle, LocalReference, ResourceType};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// What the app keeps of the patient's compartment, in the order pulled.
pub const PULLED_TYPES: &[ResourceType] = &[
    ResourceType::EpisodeOfCare,
    ResourceType::CareTeam,
    ResourceType::CarePlan,
    ResourceType::Appointment,
    ResourceType::Task,
    ResourceType::Communication,
    ResourceType::DocumentReference,
    ResourceType::QuestionnaireResponse,
];

/// Shared directory resources the record points at, fetched by id.
pub const RESOLVED_TYPES: &[ResourceType] = &[
    ResourceType::Organization,
    ResourceType::Practitioner,
    ResourceType::PractitionerRole,
    ResourceType::Questionnaire,
];

pub const PAGE_SIZE: u32 = 100;

/// The first search of a pull for one type.
pub fn first_page_url(base: &str, t: ResourceType, patient: &str, cursor: Option<&str>) -> String {
    let mut url = format!(
        "{}/{t}?patient={}&_count={PAGE_SIZE}&_sort=_lastUpdated",
        base.trim_end_matches('/'),
        urlencode(&format!("Patient/{patient}")),
    );
    if let Some(cursor) = cursor {
        url.push_str("&_lastUpdated=ge");
        url.push_str(&urlencode(cursor));
    }
    url
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What one page of search results means for the store.
#[derive(Debug, Clone, PartialEq)]
pub struct PageOutcome {
    pub resources: Vec<(ResourceType, String, Value)>,
    /// The newest `meta.lastUpdated` among the matches, normalized: the new cursor.
    pub cursor: Option<String>,
    /// The next page to fetch, if any (only on the same server).
    pub next: Option<String>,
}

/// Reads a search page. Entries of other types (`_include`d) are kept too;
/// entries without an id are skipped, since they cannot be stored or updated.
pub fn read_page(t: ResourceType, base: &str, bundle: &Bundle) -> PageOutcome {
    let mut resources = Vec::new();
    let mut cursor: Option<jiff::Timestamp> = None;
    for entry in &bundle.entry {
        let Some(resource) = &entry.resource else {
            continue;
        };
        let Some(rt) = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .and_then(|n| n.parse::<ResourceType>().ok())
        else {
            continue;
        };
        let Some(id) = resource.get("id").and_then(Value::as_str) else {
            continue;
        };
        if rt == t
            && let Some(lu) = resource
                .pointer("/meta/lastUpdated")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        {
            cursor = Some(cursor.map_or(lu, |c| c.max(lu)));
        }
        resources.push((rt, id.to_owned(), resource.clone()));
    }
    let next = bundle
        .next_link()
        .filter(|next| same_origin(base, next))
        .map(str::to_owned);
    PageOutcome {
        resources,
        cursor: cursor.map(format_instant),
        next,
    }
}

/// The bearer token only ever goes to the server it was issued for.
pub fn same_origin(base: &str, other: &str) -> bool {
    match (url::Url::parse(base), url::Url::parse(other)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// References from the stored record to shared resources it does not hold yet.
pub fn missing_references(store: &Store) -> Result<Vec<LocalReference>> {
    let mut wanted = std::collections::BTreeSet::new();
    for t in PULLED_TYPES {
        for resource in store.all(*t)? {
            collect_references(&resource, &mut wanted);
        }
    }
    let mut missing = Vec::new();
    for reference in wanted {
        if let Ok(r) = LocalReference::parse(&reference, None)
            && RESOLVED_TYPES.contains(&r.resource_type)
            && store.get(r.resource_type, &r.id)?.is_none()
        {
            missing.push(r);
        }
    }
    Ok(missing)
}

fn collect_references(value: &Value, out: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "reference"
                    && let Some(s) = v.as_str()
                {
                    out.insert(s.to_owned());
                } else {
                    collect_references(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, out)),
        _ => {}
    }
}

/// Per-type outcome of a pull.
#[derive(Debug, Default)]
pub struct PullResult {
    pub received: u32,
    pub failures: Vec<(String, CoreError)>,
    /// Types the server refused (403): areas of the record not shared with this sign-in.
    pub not_shared: Vec<ResourceType>,
}

/// Pulls the patient's record into the store, type by type; a failing type is
/// recorded and the others go on.
pub async fn pull(
    session: &FhirSession,
    store: &Arc<Mutex<Store>>,
    patient: &str,
) -> Result<PullResult> {
    let mut result = PullResult::default();
    let base = session.base().to_owned();

    match session.get_json(&format!("{base}/Patient/{patient}")).await {
        Ok(resource) => {
            let n = with_store(store, move |s| {
                apply_page(
                    s.connection(),
                    &[(ResourceType::Patient, resource_id(&resource)?, resource)],
                    None,
                )
            })
            .await?;
            result.received += n;
        }
        Err(e) if matches!(e, CoreError::SessionExpired(_)) => return Err(e),
        Err(e) => result.failures.push(("Patient".into(), e)),
    }

    for &t in PULLED_TYPES {
        let cursor = with_store(store, move |s| s.cursor(t)).await?;
        let mut url = Some(first_page_url(&base, t, patient, cursor.as_deref()));
        while let Some(current) = url.take() {
            let page = match session.get_json(&current).await {
                Ok(v) => v,
                Err(e) if matches!(e, CoreError::SessionExpired(_)) => return Err(e),
                // A family member's record without this area shared: nothing to fetch.
                Err(CoreError::Server { status: 403, .. }) => {
                    result.not_shared.push(t);
                    break;
                }
                Err(e) => {
                    result.failures.push((t.to_string(), e));
                    break;
                }
            };
            let bundle: Bundle = match serde_json::from_value(page) {
                Ok(b) => b,
                Err(e) => {
                    result
                        .failures
                        .push((t.to_string(), CoreError::Data(format!("not a Bundle: {e}"))));
                    break;
                }
            };
            let outcome = read_page(t, &base, &bundle);
            url = outcome.next.clone();
            let n = with_store(store, move |s| {
                apply_page(
                    s.connection(),
                    &outcome.resources,
                    outcome.cursor.as_deref().map(|c| (t, c)),
                )
            })
            .await?;
            result.received += n;
        }
    }

    let missing = with_store(store, |s| missing_references(s)).await?;
    for r in missing {
        match session
            .get_json(&format!("{base}/{}/{}", r.resource_type, r.id))
            .await
        {
            Ok(resource) => {
                let t = r.resource_type;
                result.received += with_store(store, move |s| {
                    apply_page(
                        s.connection(),
                        &[(t, resource_id(&resource)?, resource)],
                        None,
                    )
                })
                .await?;
            }
            Err(e) if matches!(e, CoreError::SessionExpired(_)) => return Err(e),
            Err(e) => result.failures.push((r.resource_type.to_string(), e)),
        }
    }
    // The unit's roles: what to contact each team member about, and how.
    let orgs: Vec<String> = with_store(store, |s| {
        Ok(s.all(ResourceType::Organization)?
            .iter()
            .filter_map(|o| o.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect())
    })
    .await?;
    for org in orgs {
        let url = format!(
            "{base}/PractitionerRole?organization={}&_count={PAGE_SIZE}",
            urlencode(&format!("Organization/{org}"))
        );
        match session.get_json(&url).await {
            Ok(page) => {
                let Ok(bundle) = serde_json::from_value::<Bundle>(page) else {
                    continue;
                };
                let outcome = read_page(ResourceType::PractitionerRole, &base, &bundle);
                result.received += with_store(store, move |s| {
                    apply_page(s.connection(), &outcome.resources, None)
                })
                .await?;
            }
            Err(e) if matches!(e, CoreError::SessionExpired(_)) => return Err(e),
            Err(CoreError::Server { status: 403, .. }) => {}
            Err(e) => result.failures.push(("PractitionerRole".into(), e)),
        }
    }
    Ok(result)
}

fn resource_id(resource: &Value) -> Result<String> {
    resource
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| CoreError::Data("a resource from the server has no id".into()))
}

/// Runs store work on the blocking pool.
pub async fn with_store<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = store.lock().map_err(|_| {
            CoreError::StoreLocked("the local database is in a bad state; restart the app".into())
        })?;
        f(&mut guard)
    })
    .await
    .map_err(|_| CoreError::Data("background task failed".into()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_page_asks_for_changes_since_the_cursor() {
        assert_eq!(
            first_page_url("https://h/fhir/", ResourceType::Task, "p1", None),
            "https://h/fhir/Task?patient=Patient%2Fp1&_count=100&_sort=_lastUpdated"
        );
        assert!(
            first_page_url(
                "https://h/fhir",
                ResourceType::Task,
                "p1",
                Some("2026-11-22T10:00:00.000000Z")
            )
            .ends_with("&_lastUpdated=ge2026-11-22T10%3A00%3A00.000000Z")
        );
    }

    #[test]
    fn a_page_yields_resources_cursor_and_a_same_origin_next_link() {
        let bundle: Bundle = serde_json::from_value(json!({
            "resourceType": "Bundle", "type": "searchset",
            "link": [{"relation": "next", "url": "https://h/fhir/Task?page=2"}],
            "entry": [
                {"resource": {"resourceType": "Task", "id": "a", "meta": {"lastUpdated": "2026-11-22T10:00:00+01:00"}}},
                {"resource": {"resourceType": "Task", "id": "b", "meta": {"lastUpdated": "2026-11-22T09:30:00Z"}}},
                {"resource": {"resourceType": "Task"}},
                {"resource": {"resourceType": "Practitioner", "id": "d", "meta": {"lastUpdated": "2030-01-01T00:00:00Z"}}, "search": {"mode": "include"}}
            ]
        }))
        .unwrap();
        let page = read_page(ResourceType::Task, "https://h/fhir", &bundle);
        assert_eq!(page.resources.len(), 3);
        // The included Practitioner does not move the Task cursor.
        assert_eq!(page.cursor.as_deref(), Some("2026-11-22T09:30:00.000000Z"));
        assert_eq!(page.next.as_deref(), Some("https://h/fhir/Task?page=2"));
        let elsewhere = read_page(ResourceType::Task, "https://other/fhir", &bundle);
        assert_eq!(
            elsewhere.next, None,
            "never follow a next link to another origin"
        );
    }
}
