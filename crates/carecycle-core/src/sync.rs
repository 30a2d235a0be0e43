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
use carecycle_fhir::reference::is_valid_id;
use carecycle_fhir::sdc::{self, FormRef};
use carecycle_fhir::time::format_instant;
use carecycle_fhir::{Bundle, LocalReference, ResourceType};
use serde_json::Value;
use std::sync::{Arc, Mutex};

pub use carecycle_fhir::PULLED_TYPES;

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
        // An id becomes a key here and may name things later: only the FHIR
        // id syntax ([A-Za-z0-9-.]{1,64}) is kept.
        let Some(id) = resource
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| is_valid_id(id))
        else {
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
    let mut wanted = References::new();
    for t in PULLED_TYPES {
        for resource in store.all(*t)? {
            collect_references(&resource, &mut wanted);
        }
    }
    missing_among(store, wanted)
}

/// The references a record's resources make (`reference` elements, as written).
pub type References = std::collections::BTreeSet<String>;

/// Those of `wanted` that name a shared resource the store does not hold.
pub fn missing_among(store: &Store, wanted: References) -> Result<Vec<LocalReference>> {
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

fn collect_references(value: &Value, out: &mut References) {
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

/// What a failed read means for a pull that goes on: an area of the record
/// not shared with this sign-in (403), or a failure to record. A sign-in the
/// server no longer accepts stops the pull (the `Err`).
enum Miss {
    NotShared,
    Failed(CoreError),
}

fn miss(e: CoreError) -> Result<Miss> {
    match e {
        CoreError::SessionExpired(_) => Err(e),
        CoreError::Server { status: 403, .. } => Ok(Miss::NotShared),
        other => Ok(Miss::Failed(other)),
    }
}

impl PullResult {
    /// Records a failed read of `what`; a sign-in the server no longer accepts
    /// stops the pull instead.
    fn failed(&mut self, what: impl Into<String>, e: CoreError) -> Result<()> {
        if let CoreError::SessionExpired(_) = e {
            return Err(e);
        }
        self.failures.push((what.into(), e));
        Ok(())
    }
}

/// Per-type outcome of a pull.
#[derive(Debug, Default)]
pub struct PullResult {
    pub received: u32,
    pub failures: Vec<(String, CoreError)>,
    /// Types the server refused (403): areas of the record not shared with this sign-in.
    pub not_shared: Vec<ResourceType>,
    /// What the record's resources this pull brought point at.
    pub references: References,
}

/// What one of a pull's first requests is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// One resource read by id: the patient's own, or a shared one the record
    /// points at (a unit, a practitioner, a form named by id).
    Resource(ResourceType),
    /// The first page of one type's changes since its cursor.
    Changes(ResourceType),
    /// The kept forms changed since the forms' cursor.
    ChangedForms,
    /// The forms SDC Tasks name by canonical URL that are not kept yet.
    FormsByUrl,
    /// One unit's roles: what to contact each team member about, and how.
    Roles,
}

/// One of a pull's first requests: what it is for, and its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub want: Want,
    pub url: String,
}

/// What the store knows before a pull that decides its first requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub cursors: Vec<(ResourceType, Option<String>)>,
    pub kept_forms: Vec<String>,
    pub forms_cursor: Option<String>,
    pub organizations: Vec<String>,
}

impl Known {
    pub fn read(store: &Store) -> Result<Known> {
        let ids = |t: ResourceType| -> Result<Vec<String>> {
            Ok(store
                .all(t)?
                .iter()
                .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect())
        };
        Ok(Known {
            cursors: PULLED_TYPES
                .iter()
                .map(|&t| Ok((t, store.cursor(t)?)))
                .collect::<Result<_>>()?,
            kept_forms: ids(ResourceType::Questionnaire)?,
            forms_cursor: store.cursor(ResourceType::Questionnaire)?,
            organizations: ids(ResourceType::Organization)?,
        })
    }
}

/// Every request a pull starts with, all known before anything is sent (so
/// they can go as one batch): the patient, each type's changes since its
/// cursor, the kept forms changed since theirs, and each known unit's roles.
pub fn first_asks(base: &str, patient: &str, known: &Known) -> Vec<Ask> {
    let base = base.trim_end_matches('/');
    let mut asks = vec![Ask {
        want: Want::Resource(ResourceType::Patient),
        url: format!("{base}/Patient/{patient}"),
    }];
    asks.extend(known.cursors.iter().map(|(t, cursor)| Ask {
        want: Want::Changes(*t),
        url: first_page_url(base, *t, patient, cursor.as_deref()),
    }));
    if let Some(url) = changed_forms_url(base, &known.kept_forms, known.forms_cursor.as_deref()) {
        asks.push(Ask {
            want: Want::ChangedForms,
            url,
        });
    }
    asks.extend(known.organizations.iter().map(|org| Ask {
        want: Want::Roles,
        url: roles_url(base, org),
    }));
    asks
}

/// One unit's roles (PractitionerRole by organization).
pub fn roles_url(base: &str, organization: &str) -> String {
    format!(
        "{}/PractitionerRole?organization={}&_count={PAGE_SIZE}",
        base.trim_end_matches('/'),
        urlencode(&format!("Organization/{organization}"))
    )
}

/// The batch Bundle (R4 http.html#transaction) carrying `asks` as GETs
/// relative to the base.
pub fn batch_of(base: &str, asks: &[Ask]) -> Value {
    let prefix = format!("{}/", base.trim_end_matches('/'));
    serde_json::json!({
        "resourceType": "Bundle",
        "type": "batch",
        "entry": asks.iter().map(|a| serde_json::json!({
            "request": {"method": "GET", "url": a.url.strip_prefix(&prefix).unwrap_or(&a.url)}
        })).collect::<Vec<_>>(),
    })
}

/// The answer to each ask from a batch-response, in order: the resource, or
/// the error its entry reports (a 403 reads as it would alone). Anything but
/// a batch-response with one entry per ask is an error: the caller then
/// asks one by one.
pub fn read_batch(answer: &Value, asks: usize) -> Result<Vec<Result<Value>>> {
    let entries = answer
        .get("entry")
        .and_then(Value::as_array)
        .filter(|e| answer["type"] == "batch-response" && e.len() == asks)
        .ok_or_else(|| CoreError::Data("not a batch-response with an entry per request".into()))?;
    Ok(entries
        .iter()
        .map(|entry| {
            let status = entry["response"]["status"]
                .as_str()
                .and_then(|s| s.split_whitespace().next())
                .and_then(|code| code.parse::<u16>().ok())
                .ok_or_else(|| CoreError::Data("a batch entry without a status".into()))?;
            if (200..300).contains(&status) {
                entry
                    .get("resource")
                    .cloned()
                    .ok_or_else(|| CoreError::Data("a batch entry without its resource".into()))
            } else {
                Err(CoreError::Server {
                    status,
                    message: serde_json::from_value::<carecycle_fhir::OperationOutcome>(
                        entry["response"]["outcome"].clone(),
                    )
                    .map(|o| o.summary())
                    .unwrap_or_else(|_| format!("the server answered {status}")),
                })
            }
        })
        .collect())
}

/// Whether a CapabilityStatement declares the `batch` interaction.
pub fn declares_batch(capability: &Value) -> bool {
    capability["rest"].as_array().is_some_and(|rest| {
        rest.iter().any(|r| {
            r["interaction"]
                .as_array()
                .is_some_and(|i| i.iter().any(|x| x["code"] == "batch"))
        })
    })
}

/// Where the store keeps what the server's CapabilityStatement said of batches.
const BATCH_META: &str = "server_batch";

/// Whether this server takes batches: asked once (its CapabilityStatement)
/// and kept; an unreadable statement counts as no, and is asked again next time.
async fn takes_batches(session: &FhirSession, store: &Arc<Mutex<Store>>) -> Result<bool> {
    if let Some(kept) = with_store(store, |s| s.meta(BATCH_META)).await? {
        return Ok(kept == "yes");
    }
    let url = format!("{}/metadata", session.base().trim_end_matches('/'));
    match session.get_json(&url).await {
        Ok(capability) => {
            let yes = declares_batch(&capability);
            with_store(store, move |s| {
                s.set_meta(BATCH_META, if yes { "yes" } else { "no" })
            })
            .await?;
            Ok(yes)
        }
        Err(e @ CoreError::SessionExpired(_)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// The answers to `asks`: one batch where the server takes batches (a no-change
/// sync is then one request), else one request each. A batch the server
/// refuses falls back to one request each.
async fn ask_all(
    session: &FhirSession,
    store: &Arc<Mutex<Store>>,
    asks: &[Ask],
) -> Result<Vec<Result<Value>>> {
    let base = session.base().to_owned();
    if takes_batches(session, store).await? {
        match session
            .send(reqwest::Method::POST, &base, &batch_of(&base, asks), &[])
            .await
        {
            Ok((200, Some(answer))) => {
                if let Ok(answers) = read_batch(&answer, asks.len()) {
                    return Ok(answers);
                }
            }
            Err(e @ CoreError::SessionExpired(_)) => return Err(e),
            _ => {}
        }
    }
    let mut answers = Vec::with_capacity(asks.len());
    for ask in asks {
        match session.get_json(&ask.url).await {
            Err(e @ CoreError::SessionExpired(_)) => return Err(e),
            answer => answers.push(answer),
        }
    }
    Ok(answers)
}

/// Sends `asks` (one batch where the server takes them) and keeps what each
/// answer brings.
async fn run(
    session: &FhirSession,
    store: &Arc<Mutex<Store>>,
    asks: &[Ask],
    result: &mut PullResult,
) -> Result<()> {
    if asks.is_empty() {
        return Ok(());
    }
    let answers = ask_all(session, store, asks).await?;
    for (ask, answer) in asks.iter().zip(answers) {
        take(session, store, ask.want, answer, result).await?;
    }
    Ok(())
}

/// Keeps what one answer brings, following a type's further pages.
async fn take(
    session: &FhirSession,
    store: &Arc<Mutex<Store>>,
    want: Want,
    answer: Result<Value>,
    result: &mut PullResult,
) -> Result<()> {
    let base = session.base().to_owned();
    match want {
        Want::Resource(t) => match answer {
            Ok(resource) => {
                result.received += with_store(store, move |s| {
                    apply_page(
                        s.connection(),
                        &[(t, resource_id(&resource)?, resource)],
                        None,
                    )
                })
                .await?;
            }
            Err(e) => result.failed(t.to_string(), e)?,
        },
        Want::Changes(t) => {
            let mut answer = answer;
            loop {
                let page = match answer {
                    Ok(v) => v,
                    Err(e) => {
                        match miss(e)? {
                            // A family member's record without this area shared: nothing to fetch.
                            Miss::NotShared => result.not_shared.push(t),
                            Miss::Failed(e) => result.failures.push((t.to_string(), e)),
                        }
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
                for (_, _, resource) in &outcome.resources {
                    collect_references(resource, &mut result.references);
                }
                let next = outcome.next.clone();
                result.received += with_store(store, move |s| {
                    apply_page(
                        s.connection(),
                        &outcome.resources,
                        outcome.cursor.as_deref().map(|c| (t, c)),
                    )
                })
                .await?;
                match next {
                    Some(url) => answer = session.get_json(&url).await,
                    None => break,
                }
            }
        }
        Want::ChangedForms => take_forms(session, store, answer, true, result).await?,
        Want::FormsByUrl => take_forms(session, store, answer, false, result).await?,
        Want::Roles => match answer {
            Ok(page) => {
                if let Ok(bundle) = serde_json::from_value::<Bundle>(page) {
                    let outcome = read_page(ResourceType::PractitionerRole, &base, &bundle);
                    result.received += with_store(store, move |s| {
                        apply_page(s.connection(), &outcome.resources, None)
                    })
                    .await?;
                }
            }
            Err(e) => {
                if let Miss::Failed(e) = miss(e)? {
                    result.failures.push(("PractitionerRole".into(), e));
                }
            }
        },
    }
    Ok(())
}

/// Pulls the patient's record into the store: every first request at once
/// (one batch where the server takes them), then what those answers showed
/// is missing. A failing type is recorded and the others go on.
pub async fn pull(
    session: &FhirSession,
    store: &Arc<Mutex<Store>>,
    patient: &str,
) -> Result<PullResult> {
    let mut result = PullResult::default();
    let base = session.base().to_owned();
    let known = with_store(store, |s| Known::read(s)).await?;
    run(
        session,
        store,
        &first_asks(&base, patient, &known),
        &mut result,
    )
    .await?;
    // Nothing new, and the last pull left nothing to resolve: nothing the
    // record points at can be missing (this skips reading the whole store).
    let settled = with_store(store, |s| s.meta(RESOLVED_META)).await?;
    if result.received == 0 && settled.as_deref() == Some("yes") {
        return Ok(result);
    }
    // What may be missing: where the last pull left nothing to resolve, or
    // this is the record's first, only what this pull brought can point at
    // something the store lacks; otherwise the whole record is looked over
    // again (a cold sync no longer reads back everything it just wrote).
    let first = known.cursors.iter().all(|(_, cursor)| cursor.is_none());
    let brought = std::mem::take(&mut result.references);
    let wanted = (first || settled.as_deref() == Some("yes")).then_some(brought);
    let failures_before = result.failures.len();
    resolve(session, store, &known, wanted, &mut result).await?;
    let resolved = if result.failures.len() == failures_before {
        "yes"
    } else {
        "no"
    };
    with_store(store, move |s| s.set_meta(RESOLVED_META, resolved)).await?;
    Ok(result)
}

/// Where the store notes that the last pull resolved everything its record
/// points at ("yes"), or that something is still to fetch ("no").
const RESOLVED_META: &str = "pull_resolved";

/// Fetches what the record points at and does not hold: shared resources by
/// id, forms by canonical URL, the answer lists forms name, and the roles of
/// units the first requests did not know.
/// `wanted`: the references to check, or `None` for every one the stored
/// record makes.
async fn resolve(
    session: &FhirSession,
    store: &Arc<Mutex<Store>>,
    known: &Known,
    wanted: Option<References>,
    result: &mut PullResult,
) -> Result<()> {
    let base = session.base().to_owned();
    // What the record points at and does not hold, and the forms SDC Tasks
    // name by canonical URL (in one search): one round of requests.
    let missing = with_store(store, |s| match wanted {
        Some(wanted) => missing_among(s, wanted),
        None => missing_references(s),
    })
    .await?;
    let forms = with_store(store, |s| forms_to_fetch(s)).await?;
    let mut asks: Vec<Ask> = missing
        .iter()
        .map(|r| Ask {
            want: Want::Resource(r.resource_type),
            url: format!("{base}/{}/{}", r.resource_type, r.id),
        })
        .collect();
    asks.extend(forms_by_url(&base, &forms).map(|url| Ask {
        want: Want::FormsByUrl,
        url,
    }));
    run(session, store, &asks, result).await?;
    // The answer lists the forms name but do not carry, expanded by the
    // server and kept, so every form opens offline.
    let wanted = with_store(store, |s| value_sets_to_fetch(s)).await?;
    for canonical in wanted {
        match session.get_json(&expand_url(&base, &canonical)).await {
            Ok(expanded) => match check_expansion(&expanded) {
                Ok(()) => {
                    with_store(store, move |s| s.put_value_set(&canonical, &expanded)).await?;
                }
                Err(e) => result.failures.push(("ValueSet".into(), e)),
            },
            Err(e) => result.failed("ValueSet", e)?,
        }
    }
    // The roles of units this pull brought (the first sync's): one round.
    let organizations = with_store(store, |s| Known::read(s)).await?.organizations;
    let asks: Vec<Ask> = organizations
        .iter()
        .filter(|o| !known.organizations.contains(o))
        .map(|org| Ask {
            want: Want::Roles,
            url: roles_url(&base, org),
        })
        .collect();
    run(session, store, &asks, result).await?;
    Ok(())
}

/// Keeps the Questionnaires a search answered (with the forms' cursor when
/// `cursor`); a failure is recorded and the pull goes on. Forms change on the
/// server (a team corrects an option, or adds an extension that changes their
/// meaning): the kept ones are re-read when they changed since the last look.
async fn take_forms(
    session: &FhirSession,
    store: &Arc<Mutex<Store>>,
    answer: Result<Value>,
    cursor: bool,
    result: &mut PullResult,
) -> Result<()> {
    let t = ResourceType::Questionnaire;
    match answer {
        Ok(page) => match serde_json::from_value::<Bundle>(page) {
            Ok(bundle) => {
                let outcome = read_page(t, session.base(), &bundle);
                result.received += with_store(store, move |s| {
                    apply_page(
                        s.connection(),
                        &outcome.resources,
                        outcome.cursor.as_deref().filter(|_| cursor).map(|c| (t, c)),
                    )
                })
                .await?;
            }
            Err(e) => result
                .failures
                .push((t.to_string(), CoreError::Data(format!("not a Bundle: {e}")))),
        },
        Err(e) => result.failed(t.to_string(), e)?,
    }
    Ok(())
}

/// The canonical URLs (without version) of the forms questionnaire Tasks
/// name that the store does not keep. (A Task written the old way names its
/// form by id, which [`missing_references`] resolves.)
pub fn forms_to_fetch(store: &Store) -> Result<Vec<String>> {
    let kept: std::collections::HashSet<String> = store
        .all(ResourceType::Questionnaire)?
        .iter()
        .filter_map(|q| q.get("url").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let mut out = std::collections::BTreeSet::new();
    for task in store.all(ResourceType::Task)? {
        if let Some(FormRef::Canonical(c)) = sdc::questionnaire_of(&task) {
            let url = c.split('|').next().unwrap_or(c);
            if !kept.contains(url) {
                out.insert(url.to_owned());
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// The search for the forms with these canonical URLs (every version);
/// `None` when there are none.
pub fn forms_by_url(base: &str, urls: &[String]) -> Option<String> {
    (!urls.is_empty()).then(|| {
        format!(
            "{}/Questionnaire?url={}&_count={PAGE_SIZE}",
            base.trim_end_matches('/'),
            urlencode(&urls.join(","))
        )
    })
}

/// The value sets stored forms name by canonical URL and the store does not
/// keep yet. (A form is fetched once, so are its lists.)
pub fn value_sets_to_fetch(store: &Store) -> Result<Vec<String>> {
    let kept = store.value_sets()?;
    let mut out = std::collections::BTreeSet::new();
    for q in store.all(ResourceType::Questionnaire)? {
        out.extend(carecycle_prom::parse::missing_value_sets(&q, &kept));
    }
    Ok(out.into_iter().collect())
}

/// The search for the kept forms that changed since `cursor` (all of them the
/// first time); `None` when no form is kept.
pub fn changed_forms_url(base: &str, ids: &[String], cursor: Option<&str>) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    let mut url = format!(
        "{}/Questionnaire?_id={}&_count={PAGE_SIZE}",
        base.trim_end_matches('/'),
        urlencode(&ids.join(","))
    );
    if let Some(cursor) = cursor {
        url.push_str("&_lastUpdated=ge");
        url.push_str(&urlencode(cursor));
    }
    Some(url)
}

/// `ValueSet/$expand` for a canonical reference (`url` or `url|version`).
pub fn expand_url(base: &str, canonical: &str) -> String {
    let mut url = format!("{}/ValueSet/$expand?url=", base.trim_end_matches('/'));
    match canonical.split_once('|') {
        Some((u, version)) => {
            url.push_str(&urlencode(u));
            url.push_str("&valueSetVersion=");
            url.push_str(&urlencode(version));
        }
        None => url.push_str(&urlencode(canonical)),
    }
    url
}

/// What a server sent for `$expand` is kept only if it is an expanded ValueSet.
fn check_expansion(v: &Value) -> Result<()> {
    if v.get("resourceType").and_then(Value::as_str) == Some("ValueSet")
        && v.get("url").and_then(Value::as_str).is_some()
        && v.pointer("/expansion/contains")
            .is_some_and(Value::is_array)
    {
        Ok(())
    } else {
        Err(CoreError::Data(
            "the server's $expand answer is not an expanded ValueSet with its url".into(),
        ))
    }
}

fn resource_id(resource: &Value) -> Result<String> {
    resource
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| is_valid_id(id))
        .map(str::to_owned)
        .ok_or_else(|| CoreError::Data("a resource from the server has no valid id".into()))
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
    fn a_value_set_is_expanded_by_url_and_version_and_only_an_expansion_is_kept() {
        assert_eq!(
            expand_url("https://h.example/fhir/", "http://loinc.org/vs/LL358-3"),
            "https://h.example/fhir/ValueSet/$expand?url=http%3A%2F%2Floinc.org%2Fvs%2FLL358-3"
        );
        assert_eq!(
            expand_url("https://h.example/fhir", "https://x.org/vs/a|2.0"),
            "https://h.example/fhir/ValueSet/$expand?url=https%3A%2F%2Fx.org%2Fvs%2Fa&valueSetVersion=2.0"
        );
        let good = json!({"resourceType": "ValueSet", "url": "u", "expansion": {"contains": []}});
        assert!(check_expansion(&good).is_ok());
        for bad in [
            json!({"resourceType": "ValueSet", "url": "u", "compose": {}}),
            json!({"resourceType": "OperationOutcome"}),
            json!({"resourceType": "ValueSet", "expansion": {"contains": []}}),
            json!({"resourceType": "ValueSet", "url": "u", "expansion": {"contains": "x"}}),
        ] {
            assert!(check_expansion(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_outside_the_fhir_id_syntax_are_never_stored() {
        let bundle: Bundle =
            serde_json::from_value(json!({"resourceType": "Bundle", "type": "searchset",
            "entry": [
                {"resource": {"resourceType": "Task", "id": "../../etc/passwd"}},
                {"resource": {"resourceType": "Task", "id": "a/b"}},
                {"resource": {"resourceType": "Task", "id": "x".repeat(65)}},
                {"resource": {"resourceType": "Task", "id": ""}},
                {"resource": {"resourceType": "Task", "id": "ok-1.2"}}]}))
            .unwrap();
        let out = read_page(ResourceType::Task, "https://h/fhir", &bundle);
        let ids: Vec<&str> = out.resources.iter().map(|(_, id, _)| id.as_str()).collect();
        assert_eq!(ids, ["ok-1.2"]);
        assert!(resource_id(&json!({"id": "..%2f"})).is_err());
    }

    #[test]
    fn kept_forms_are_re_read_only_when_changed_since_the_last_look() {
        assert_eq!(changed_forms_url("https://h/fhir", &[], None), None);
        let ids = ["phq-9".to_owned(), "gad-7".to_owned()];
        assert_eq!(
            changed_forms_url("https://h/fhir", &ids, Some("2026-11-23T15:00:00Z")).unwrap(),
            "https://h/fhir/Questionnaire?_id=phq-9%2Cgad-7&_count=100&_lastUpdated=ge2026-11-23T15%3A00%3A00Z"
        );
    }

    #[test]
    fn forms_named_by_canonical_are_fetched_by_url_once_and_old_tasks_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            Store::open(&dir.path().join("p.db"), &crate::store::new_database_key()).unwrap();
        let sdc_task = |id: &str, canonical: &str| {
            json!({"resourceType": "Task", "id": id, "code": sdc::task_code(),
                "input": sdc::questionnaire_input(canonical)})
        };
        let old = json!({"resourceType": "Task", "id": "t3",
            "code": {"coding": [{"system": carecycle_fhir::TASK_KIND_SYSTEM, "code": "questionnaire"}]},
            "focus": {"reference": "Questionnaire/koos-jr"}});
        let kept = json!({"resourceType": "Questionnaire", "id": "phq-9",
            "url": "https://carecycle.dev/fhir/Questionnaire/phq-9"});
        apply_page(
            store.connection(),
            &[
                (
                    ResourceType::Task,
                    "t1".into(),
                    sdc_task("t1", "https://carecycle.dev/fhir/Questionnaire/phq-9"),
                ),
                (
                    ResourceType::Task,
                    "t2".into(),
                    sdc_task("t2", "https://carecycle.dev/fhir/Questionnaire/gad-7|1.0.0"),
                ),
                (ResourceType::Task, "t3".into(), old),
                (ResourceType::Questionnaire, "phq-9".into(), kept),
            ],
            None,
        )
        .unwrap();
        let wanted = forms_to_fetch(&store).unwrap();
        assert_eq!(wanted, ["https://carecycle.dev/fhir/Questionnaire/gad-7"]);
        assert_eq!(
            forms_by_url("https://h/fhir/", &wanted).unwrap(),
            "https://h/fhir/Questionnaire?url=https%3A%2F%2Fcarecycle.dev%2Ffhir%2FQuestionnaire%2Fgad-7&_count=100"
        );
        assert_eq!(forms_by_url("https://h/fhir", &[]), None);
        let by_id: Vec<String> = missing_references(&store)
            .unwrap()
            .iter()
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(by_id, ["koos-jr"]);
    }

    #[test]
    fn every_first_request_is_known_before_sending_and_goes_as_one_batch() {
        let known = Known {
            cursors: vec![
                (ResourceType::Task, Some("2026-11-22T10:00:00Z".into())),
                (ResourceType::CareTeam, None),
            ],
            kept_forms: vec!["phq-9".into()],
            forms_cursor: Some("2026-11-20T00:00:00Z".into()),
            organizations: vec!["org-1".into()],
        };
        let asks = first_asks("https://h/fhir/", "p1", &known);
        let wants: Vec<Want> = asks.iter().map(|a| a.want).collect();
        assert_eq!(
            wants,
            [
                Want::Resource(ResourceType::Patient),
                Want::Changes(ResourceType::Task),
                Want::Changes(ResourceType::CareTeam),
                Want::ChangedForms,
                Want::Roles
            ]
        );
        let batch = batch_of("https://h/fhir/", &asks);
        assert_eq!(batch["type"], "batch");
        let urls: Vec<&str> = batch["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["request"]["method"], "GET");
                e["request"]["url"].as_str().unwrap()
            })
            .collect();
        assert_eq!(urls[0], "Patient/p1");
        assert!(
            urls[1].starts_with("Task?patient=Patient%2Fp1&"),
            "{}",
            urls[1]
        );
        assert!(urls[1].ends_with("&_lastUpdated=ge2026-11-22T10%3A00%3A00Z"));
        assert!(!urls[2].contains("_lastUpdated=ge"), "no cursor yet");
        assert_eq!(
            urls[4],
            "PractitionerRole?organization=Organization%2Forg-1&_count=100"
        );
        // Nothing kept yet: the patient and the types only.
        assert_eq!(
            first_asks("https://h/fhir", "p1", &Known::default()).len(),
            1
        );
    }

    #[test]
    fn a_batch_response_answers_each_request_in_order_or_is_not_used() {
        let answer = json!({"resourceType": "Bundle", "type": "batch-response", "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1"}, "response": {"status": "200 OK"}},
            {"response": {"status": "403 Forbidden", "outcome": {"resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "forbidden", "diagnostics": "not shared"}]}}},
            {"response": {"status": "200"}}
        ]});
        let answers = read_batch(&answer, 3).unwrap();
        assert_eq!(answers[0].as_ref().unwrap()["id"], "p1");
        // A refused entry reads as the same GET refused alone would.
        assert!(matches!(
            answers[1],
            Err(CoreError::Server { status: 403, .. })
        ));
        assert!(
            matches!(answers[2], Err(CoreError::Data(_))),
            "a 200 without its resource"
        );
        // The wrong count, or not a batch-response: asked one by one instead.
        assert!(read_batch(&answer, 2).is_err());
        assert!(read_batch(&json!({"resourceType": "OperationOutcome"}), 0).is_err());
        let mut transaction = answer.clone();
        transaction["type"] = json!("transaction-response");
        assert!(read_batch(&transaction, 3).is_err());
    }

    #[test]
    fn batches_are_used_only_where_the_capability_statement_declares_them() {
        let with = |codes: &[&str]| {
            json!({"resourceType": "CapabilityStatement", "rest": [{"mode": "server",
                "interaction": codes.iter().map(|c| json!({"code": c})).collect::<Vec<_>>()}]})
        };
        assert!(declares_batch(&with(&["transaction", "batch"])));
        assert!(!declares_batch(&with(&["transaction"])));
        assert!(!declares_batch(
            &json!({"resourceType": "CapabilityStatement"})
        ));
    }

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
