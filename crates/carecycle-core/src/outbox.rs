//! Pushing what the patient wrote: a durable outbox written in the same
//! transaction as the local edit, so nothing typed is ever lost, and sent so
//! that nothing is ever duplicated.
//!
//! - A create carries a client identifier and goes out as a conditional create
//!   (`If-None-Exist`); a retry after a lost answer returns the resource made
//!   the first time. Servers that ignore `If-None-Exist` are covered too: before
//!   a retry the executor searches by the identifier and adopts what it finds.
//! - An update carries `If-Match` with the version it was based on. On a 412
//!   the executor reads the team's copy and carries the patient's change onto
//!   it element by element ([`rebase`]); only where both changed the same
//!   element is it a visible conflict, never a silent overwrite, and the
//!   patient settles it ([`settle_conflict`]) keeping theirs or their own.
//! - Server errors, time-outs and lost connections retry with exponential
//!   backoff and jitter; refusals (4xx) fail visibly with the server's reason.
//!
//! What to do with an answer is [`decide`], a pure function; [`push`] is the one
//! executor that does the HTTP.

use crate::error::{CoreError, Invalid, Result};
use crate::fhir_http::FhirSession;
use crate::store::Store;
use crate::sync::with_store;
use carecycle_fhir::time::format_instant;
use carecycle_fhir::{CLIENT_ID_SYSTEM, ResourceType};
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Where an item the patient created stands (what the UI shows beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum ItemState {
    Pending,
    Sent,
    Failed,
    Conflict,
}

impl ItemState {
    pub fn code(self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Sent => "sent",
            ItemState::Failed => "failed",
            ItemState::Conflict => "conflict",
        }
    }

    pub fn parse(code: &str) -> Option<ItemState> {
        [
            ItemState::Pending,
            ItemState::Sent,
            ItemState::Failed,
            ItemState::Conflict,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// One queued change.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub client_id: String,
    pub resource_type: ResourceType,
    /// The id the resource has in the local store (`local-…` until the server names it).
    pub local_id: String,
    pub method: Method,
    /// The version an update was based on (If-Match).
    pub base_version: Option<String>,
    pub state: ItemState,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Create,
    Update,
}

/// What the server's answer (or its absence) means for an entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Done: the server holds the resource (as answered).
    Sent,
    /// Try again no earlier than this.
    Retry { at: Timestamp, reason: String },
    /// The server refused it; the patient sees why. Nothing is lost locally.
    Failed { reason: String },
    /// Someone changed it first.
    Conflict,
}

/// The answer to one send attempt, as the executor saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Status {
        status: u16,
        message: String,
    },
    /// No answer: connection refused or reset, time-out, truncated body.
    NoAnswer(String),
}

pub const BASE_DELAY: SignedDuration = SignedDuration::from_secs(2);
pub const MAX_DELAY: SignedDuration = SignedDuration::from_secs(15 * 60);

/// Exponential backoff with "full jitter": a delay drawn in [0, min(max, base·2^attempt)],
/// never less than half a second. `jitter` is a number in [0, 1) the caller draws.
pub fn backoff(attempt: u32, jitter: f64) -> SignedDuration {
    let ceiling = BASE_DELAY
        .checked_mul(1_i32 << attempt.min(16))
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY);
    let secs = ceiling.as_secs_f64() * jitter.clamp(0.0, 1.0);
    SignedDuration::from_secs_f64(secs.max(0.5))
}

/// What an answer means. `attempts` counts this one.
pub fn decide(
    method: Method,
    answer: &Answer,
    attempts: u32,
    now: Timestamp,
    jitter: f64,
) -> Decision {
    let retry = |reason: String| Decision::Retry {
        at: now.checked_add(backoff(attempts, jitter)).unwrap_or(now),
        reason,
    };
    match answer {
        Answer::NoAnswer(why) => retry(why.clone()),
        Answer::Status { status, message } => match (*status, method) {
            (200..=299, _) => Decision::Sent,
            (412, Method::Update) | (409, Method::Update) => Decision::Conflict,
            // Too many requests, and every server-side failure: try later.
            (408 | 429 | 500..=599, _) => retry(format!("the server answered {status}")),
            (_, _) => Decision::Failed {
                reason: if message.is_empty() {
                    format!("the server refused it ({status})")
                } else {
                    message.clone()
                },
            },
        },
    }
}

/// How to send one entry, decided before anything goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendPlan {
    /// A search to run first: after an attempt whose answer was lost, the
    /// server may already hold it (a server that ignores If-None-Exist
    /// would otherwise make a second copy). Found, it counts as sent.
    pub look_first: Option<String>,
    pub method: Method,
    pub url: String,
    /// If-None-Exist on a create (conditional create), If-Match on an update.
    pub headers: Vec<(&'static str, String)>,
}

/// The search condition that finds what an entry created: the client id it
/// carries (the If-None-Exist of a create, and the look-up after a lost answer).
fn by_client_id(entry: &OutboxEntry) -> String {
    format!("identifier={CLIENT_ID_SYSTEM}|{}", entry.client_id)
}

/// The search that finds what an entry created, by the client id it carries.
pub fn lookup_url(base: &str, entry: &OutboxEntry) -> String {
    format!(
        "{base}/{}?{}",
        entry.resource_type,
        url_query(&by_client_id(entry))
    )
}

/// How to send `entry` to the server at `base`.
pub fn plan(base: &str, entry: &OutboxEntry) -> SendPlan {
    let t = entry.resource_type;
    match entry.method {
        Method::Create => SendPlan {
            look_first: (entry.attempts > 0).then(|| lookup_url(base, entry)),
            method: Method::Create,
            url: format!("{base}/{t}"),
            headers: vec![("If-None-Exist", by_client_id(entry))],
        },
        Method::Update => SendPlan {
            look_first: None,
            method: Method::Update,
            url: format!("{base}/{t}/{}", entry.local_id),
            headers: entry
                .base_version
                .iter()
                .map(|v| ("If-Match", format!("W/\"{v}\"")))
                .collect(),
        },
    }
}

/// What a send means when the server said yes without returning the resource
/// (`Prefer: return=minimal`) and [`lookup_url`] cannot find it either:
/// another try later, which the conditional create and the look first make
/// safe. `attempts` counts this one.
pub fn unconfirmed(attempts: u32, now: Timestamp, jitter: f64) -> Decision {
    Decision::Retry {
        at: now.checked_add(backoff(attempts, jitter)).unwrap_or(now),
        reason: "the server did not return what it stored".into(),
    }
}

/// Queues a new resource: stored locally (as pending) and in the outbox, in one
/// transaction. Returns its local id.
pub fn queue_create(
    conn: &mut Connection,
    t: ResourceType,
    mut content: Value,
    now: Timestamp,
) -> Result<String> {
    let client_id = uuid::Uuid::new_v4().to_string();
    let local_id = format!("local-{client_id}");
    let mine = json!({"system": CLIENT_ID_SYSTEM, "value": client_id});
    let map = content.as_object_mut().ok_or_else(|| {
        CoreError::InvalidInput(Invalid::malformed("a resource must be a JSON object"))
    })?;
    if carecycle_fhir::single_identifier(t) {
        // R4 allows this type one identifier: the client identifier is it
        // (unless the resource already carries one, which a retry cannot use).
        map.entry("identifier").or_insert(mine);
    } else if let Some(list) = map
        .entry("identifier")
        .or_insert_with(|| json!([]))
        .as_array_mut()
    {
        list.push(mine);
    }
    content["resourceType"] = json!(t.as_str());
    content["id"] = json!(local_id);
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO resource (type, id, version_id, last_updated, content, local_state) VALUES (?1, ?2, NULL, NULL, ?3, 'pending')",
        params![t.as_str(), local_id, serde_json::to_string(&content)?],
    )?;
    tx.execute(
        "INSERT INTO outbox (client_id, type, local_id, method, base_version, state, attempts, created_at)
         VALUES (?1, ?2, ?3, 'create', NULL, 'pending', 0, ?4)",
        params![client_id, t.as_str(), local_id, format_instant(now)],
    )?;
    crate::text_index::index(&tx, t, &local_id, &content)?;
    tx.commit()?;
    Ok(local_id)
}

/// Queues a change to a resource the store holds (from the server or queued
/// earlier). Changes to something not yet sent fold into its pending create.
pub fn queue_update(
    conn: &mut Connection,
    t: ResourceType,
    id: &str,
    mut content: Value,
    now: Timestamp,
) -> Result<()> {
    let tx = conn.transaction()?;
    let current: Option<(Option<String>, String)> = tx
        .query_row(
            "SELECT version_id, content FROM resource WHERE type = ?1 AND id = ?2",
            params![t.as_str(), id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((version, stored)) = current else {
        return Err(CoreError::InvalidInput(Invalid::malformed(format!(
            "there is no {t} {id} here to change"
        ))));
    };
    // A change made to the team's copy of an item in conflict settles it.
    tx.execute(
        "DELETE FROM outbox WHERE type = ?1 AND local_id = ?2 AND state = 'conflict'",
        params![t.as_str(), id],
    )?;
    // A change rebuilt from scratch keeps the identifiers it was created
    // with: the client identifier that makes a retried create safe is the
    // outbox's own, and the server holds the patient to it.
    if content.get("identifier").is_none()
        && let Ok(stored) = serde_json::from_str::<Value>(&stored)
        && let Some(identifier) = stored.get("identifier")
    {
        content["identifier"] = identifier.clone();
    }
    content["resourceType"] = json!(t.as_str());
    content["id"] = json!(id);
    tx.execute(
        "UPDATE resource SET content = ?3, local_state = 'pending' WHERE type = ?1 AND id = ?2",
        params![t.as_str(), id, serde_json::to_string(&content)?],
    )?;
    let waiting: Option<i64> = tx
        .query_row(
            "SELECT seq FROM outbox WHERE type = ?1 AND local_id = ?2 AND state IN ('pending', 'failed')",
            params![t.as_str(), id],
            |r| r.get(0),
        )
        .optional()?;
    match waiting {
        // Squash: the queued entry sends whatever the store holds when it goes.
        Some(seq) => {
            tx.execute("UPDATE outbox SET state = 'pending', next_attempt_at = NULL, last_error = NULL WHERE seq = ?1", [seq])?;
        }
        None => {
            tx.execute(
                "INSERT INTO outbox (client_id, type, local_id, method, base_version, state, attempts, created_at, base)
                 VALUES (?1, ?2, ?3, 'update', ?4, 'pending', 0, ?5, ?6)",
                params![uuid::Uuid::new_v4().to_string(), t.as_str(), id, version, format_instant(now), stored],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<OutboxEntry>> {
    let t: String = r.get("type")?;
    let method: String = r.get("method")?;
    let state: String = r.get("state")?;
    let (Ok(resource_type), Some(state)) = (t.parse::<ResourceType>(), ItemState::parse(&state))
    else {
        return Ok(None);
    };
    Ok(Some(OutboxEntry {
        seq: r.get("seq")?,
        client_id: r.get("client_id")?,
        resource_type,
        local_id: r.get("local_id")?,
        method: if method == "update" {
            Method::Update
        } else {
            Method::Create
        },
        base_version: r.get("base_version")?,
        state,
        attempts: r.get::<_, i64>("attempts")?.try_into().unwrap_or(0),
        next_attempt_at: r.get("next_attempt_at")?,
        last_error: r.get("last_error")?,
    }))
}

/// Entries still to send whose time has come, oldest first.
pub fn due_entries(conn: &Connection, now: Timestamp) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare(
        "SELECT * FROM outbox WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) ORDER BY seq",
    )?;
    let rows = stmt.query_map([format_instant(now)], entry_from_row)?;
    let mut out = Vec::new();
    for r in rows {
        if let Some(e) = r? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Every entry that is not sent (pending, failed, conflict), for the status line.
pub fn unsent(conn: &Connection) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare("SELECT * FROM outbox WHERE state != 'sent' ORDER BY seq")?;
    let rows = stmt.query_map([], entry_from_row)?;
    let mut out = Vec::new();
    for r in rows {
        if let Some(e) = r? {
            out.push(e);
        }
    }
    Ok(out)
}

/// The state of the item with this local or server id, if the patient made it.
pub fn state_of(
    conn: &Connection,
    t: ResourceType,
    id: &str,
) -> Result<Option<(ItemState, Option<String>)>> {
    Ok(conn
        .query_row(
            "SELECT state, last_error FROM outbox WHERE type = ?1 AND (local_id = ?2 OR server_id = ?2) ORDER BY seq DESC LIMIT 1",
            params![t.as_str(), id],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
        )
        .optional()?
        .and_then(|(s, e)| ItemState::parse(&s).map(|s| (s, e))))
}

/// [`state_of`] for every resource of type `t` at once (one query, for a
/// screen that shows many): by local id and by server id.
pub fn states_of(
    conn: &Connection,
    t: ResourceType,
) -> Result<HashMap<String, (ItemState, Option<String>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT local_id, server_id, state, last_error FROM outbox WHERE type = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![t.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut out = HashMap::new();
    // In order of seq: the newest entry for an id is the one that stays.
    for row in rows {
        let (local, server, state, error) = row?;
        let Some(state) = ItemState::parse(&state) else {
            continue;
        };
        if let Some(server) = server {
            out.insert(server, (state, error.clone()));
        }
        out.insert(local, (state, error));
    }
    Ok(out)
}

/// The id the server gave what was created here as `local_id`, once sent.
pub fn server_id_of(conn: &Connection, t: &str, local_id: &str) -> Result<Option<String>> {
    let server: Option<Option<String>> = conn
        .prepare_cached("SELECT server_id FROM outbox WHERE type = ?1 AND local_id = ?2")?
        .query_row(params![t, local_id], |row| row.get(0))
        .optional()?;
    Ok(server.flatten())
}

/// Makes failed entries pending again and lets waiting ones go now (the patient pressed "retry" or "send them first").
pub fn retry_all(conn: &Connection) -> Result<usize> {
    // Asked by the person: what waits out a backoff goes now too.
    conn.execute(
        "UPDATE outbox SET next_attempt_at = NULL WHERE state = 'pending'",
        [],
    )?;
    Ok(conn.execute(
        "UPDATE outbox SET state = 'pending', next_attempt_at = NULL WHERE state IN ('failed')",
        [],
    )?)
}

/// Local references (`Type/local-…`) in a body, replaced by server ids where
/// known. Returns None while a referenced local resource has not been sent.
fn resolve_local_references(conn: &Connection, body: &mut Value) -> Result<bool> {
    fn walk(conn: &Connection, v: &mut Value, ok: &mut bool) -> Result<()> {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k == "reference"
                        && let Value::String(r) = x
                        && let Some((t, local)) = r.split_once("/local-")
                    {
                        match server_id_of(conn, t, &format!("local-{local}"))? {
                            Some(id) => *r = format!("{t}/{id}"),
                            None => *ok = false,
                        }
                    } else {
                        walk(conn, x, ok)?;
                    }
                }
            }
            Value::Array(a) => {
                for x in a {
                    walk(conn, x, ok)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut ok = true;
    walk(conn, body, &mut ok)?;
    Ok(ok)
}

/// The server accepted an entry: in one transaction, the local copy becomes
/// the server's, references to its local id follow, the entry is sent.
fn settle_sent(conn: &mut Connection, entry: &OutboxEntry, server: &Value) -> Result<()> {
    let t = entry.resource_type;
    let server_id = server
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| CoreError::Data("the server's answer has no id".into()))?
        .to_owned();
    let tx = conn.transaction()?;
    let meta = server.get("meta");
    crate::text_index::unindex(&tx, t, &entry.local_id)?;
    tx.execute(
        "DELETE FROM resource WHERE type = ?1 AND id = ?2",
        params![t.as_str(), entry.local_id],
    )?;
    tx.execute(
        "INSERT INTO resource (type, id, version_id, last_updated, content, local_state) VALUES (?1, ?2, ?3, ?4, ?5, NULL)
         ON CONFLICT (type, id) DO UPDATE SET version_id = excluded.version_id, last_updated = excluded.last_updated,
            content = excluded.content, local_state = NULL",
        params![
            t.as_str(),
            server_id,
            meta.and_then(|m| m.get("versionId")).and_then(Value::as_str),
            meta.and_then(|m| m.get("lastUpdated")).and_then(Value::as_str),
            serde_json::to_string(server)?
        ],
    )?;
    crate::text_index::index(&tx, t, &server_id, server)?;
    if entry.local_id != server_id {
        // Local resources that point at the one just sent now point at its server id.
        let from = format!("\"{t}/{}\"", entry.local_id);
        let to = format!("\"{t}/{server_id}\"");
        tx.execute(
            "UPDATE resource SET content = replace(content, ?1, ?2) WHERE local_state IS NOT NULL AND instr(content, ?1) > 0",
            params![from, to],
        )?;
    }
    tx.execute(
        "UPDATE outbox SET state = 'sent', server_id = ?2, last_error = NULL WHERE seq = ?1",
        params![entry.seq, server_id],
    )?;
    tx.commit()?;
    Ok(())
}

fn settle(conn: &Connection, entry: &OutboxEntry, decision: &Decision) -> Result<()> {
    let attempts = entry.attempts + 1;
    match decision {
        Decision::Sent => {}
        Decision::Retry { at, reason } => {
            conn.execute(
                "UPDATE outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4 WHERE seq = ?1",
                params![entry.seq, attempts, format_instant(*at), reason],
            )?;
        }
        Decision::Failed { reason } => {
            conn.execute(
                "UPDATE outbox SET attempts = ?2, state = 'failed', last_error = ?3 WHERE seq = ?1",
                params![entry.seq, attempts, reason],
            )?;
            conn.execute(
                "UPDATE resource SET local_state = 'failed' WHERE type = ?1 AND id = ?2",
                params![entry.resource_type.as_str(), entry.local_id],
            )?;
        }
        Decision::Conflict => {
            conn.execute(
                "UPDATE outbox SET attempts = ?2, state = 'conflict', last_error = ?3 WHERE seq = ?1",
                params![entry.seq, attempts, "changed by someone else first"],
            )?;
            conn.execute(
                "UPDATE resource SET local_state = 'conflict' WHERE type = ?1 AND id = ?2",
                params![entry.resource_type.as_str(), entry.local_id],
            )?;
        }
    }
    Ok(())
}

/// Elements that say when or how a copy was written rather than what it says:
/// both sides changing one is not a conflict (the patient's value is kept).
const BOOKKEEPING: &[&str] = &["text", "lastModified"];

/// The patient's change (`mine`, made from `base`) carried onto the team's
/// newer copy (`theirs`), element by element at the top level: every element
/// the patient changed takes the patient's value, every other one keeps the
/// team's. Also returns the elements both sides changed to different values:
/// the real conflicts, which the patient decides.
pub fn rebase(base: &Value, mine: &Value, theirs: &Value) -> (Value, Vec<String>) {
    let empty = serde_json::Map::new();
    let [base, mine_map] = [base, mine].map(|v| v.as_object().unwrap_or(&empty));
    let mut merged = theirs.clone();
    let mut both = Vec::new();
    let keys: std::collections::BTreeSet<&String> = base.keys().chain(mine_map.keys()).collect();
    for key in keys {
        if matches!(key.as_str(), "resourceType" | "id" | "meta") {
            continue;
        }
        let (was, now) = (base.get(key), mine_map.get(key));
        if was == now {
            continue;
        }
        let team = theirs.get(key);
        if team != was && team != now && !BOOKKEEPING.contains(&key.as_str()) {
            both.push(key.clone());
        }
        if let Some(out) = merged.as_object_mut() {
            match now {
                Some(v) => out.insert(key.clone(), v.clone()),
                None => out.remove(key),
            };
        }
    }
    (merged, both)
}

/// What a 412 came to once the team's copy was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collision {
    /// The patient's change now sits on the team's copy, ready to go again.
    Rebased,
    /// Both changed the same element: the patient sees the team's copy and decides.
    Conflict,
}

/// After a 412 on `entry`: carries the patient's change onto `theirs` (the
/// server's copy now), or, where both changed the same element, shows the
/// team's copy and keeps the patient's own version in the outbox.
pub fn collided(conn: &mut Connection, entry: &OutboxEntry, theirs: &Value) -> Result<Collision> {
    let t = entry.resource_type;
    let tx = conn.transaction()?;
    let (base, mine): (Option<String>, String) = tx.query_row(
        "SELECT outbox.base, resource.content FROM outbox JOIN resource
           ON resource.type = outbox.type AND resource.id = outbox.local_id WHERE outbox.seq = ?1",
        [entry.seq],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mine: Value = serde_json::from_str(&mine)?;
    let base: Option<Value> = base.map(|b| serde_json::from_str(&b)).transpose()?;
    // Without the copy it was made from (an entry queued by an older
    // release), every element the patient's copy holds counts as theirs too.
    let (merged, both) = rebase(base.as_ref().unwrap_or(&Value::Null), &mine, theirs);
    let meta = theirs.get("meta");
    let version = meta
        .and_then(|m| m.get("versionId"))
        .and_then(Value::as_str);
    let last_updated = meta
        .and_then(|m| m.get("lastUpdated"))
        .and_then(Value::as_str);
    let collision = if both.is_empty() && base.is_some() {
        tx.execute(
            "UPDATE resource SET content = ?3, version_id = ?4, last_updated = ?5 WHERE type = ?1 AND id = ?2",
            params![t.as_str(), entry.local_id, serde_json::to_string(&merged)?, version, last_updated],
        )?;
        tx.execute(
            "UPDATE outbox SET base_version = ?2, base = ?3, next_attempt_at = NULL, last_error = NULL WHERE seq = ?1",
            params![entry.seq, version, serde_json::to_string(theirs)?],
        )?;
        crate::text_index::index(&tx, t, &entry.local_id, &merged)?;
        Collision::Rebased
    } else {
        tx.execute(
            "UPDATE resource SET content = ?3, version_id = ?4, last_updated = ?5, local_state = 'conflict' WHERE type = ?1 AND id = ?2",
            params![t.as_str(), entry.local_id, serde_json::to_string(theirs)?, version, last_updated],
        )?;
        tx.execute(
            "UPDATE outbox SET state = 'conflict', mine = ?2, attempts = attempts + 1, last_error = ?3 WHERE seq = ?1",
            params![entry.seq, serde_json::to_string(&mine)?, "changed by someone else first"],
        )?;
        crate::text_index::index(&tx, t, &entry.local_id, theirs)?;
        Collision::Conflict
    };
    tx.commit()?;
    Ok(collision)
}

/// Which side of a conflict the patient keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Keep {
    /// The team's copy stands; the patient's change is dropped.
    Theirs,
    /// The patient's change goes again, on top of the team's copy.
    Mine,
}

/// Settles the conflict on `t`/`id` the way the patient chose, in one
/// transaction; keeping their own queues it again against the team's copy.
pub fn settle_conflict(conn: &mut Connection, t: ResourceType, id: &str, keep: Keep) -> Result<()> {
    let tx = conn.transaction()?;
    let conflict: Option<(i64, Option<String>, Option<String>)> = tx
        .query_row(
            "SELECT seq, base, mine FROM outbox WHERE type = ?1 AND local_id = ?2 AND state = 'conflict' ORDER BY seq DESC LIMIT 1",
            params![t.as_str(), id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((seq, base, mine)) = conflict else {
        return Err(CoreError::NotHere("that change"));
    };
    match (keep, mine) {
        (Keep::Mine, Some(mine)) => {
            let (version, theirs): (Option<String>, String) = tx.query_row(
                "SELECT version_id, content FROM resource WHERE type = ?1 AND id = ?2",
                params![t.as_str(), id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let theirs_value: Value = serde_json::from_str(&theirs)?;
            let base: Value = base
                .map(|b| serde_json::from_str(&b))
                .transpose()?
                .unwrap_or(Value::Null);
            let (merged, _) = rebase(&base, &serde_json::from_str(&mine)?, &theirs_value);
            tx.execute(
                "UPDATE resource SET content = ?3, local_state = 'pending' WHERE type = ?1 AND id = ?2",
                params![t.as_str(), id, serde_json::to_string(&merged)?],
            )?;
            tx.execute(
                "UPDATE outbox SET state = 'pending', base_version = ?2, base = ?3, mine = NULL, attempts = 0,
                    next_attempt_at = NULL, last_error = NULL WHERE seq = ?1",
                params![seq, version, theirs],
            )?;
            crate::text_index::index(&tx, t, id, &merged)?;
        }
        _ => {
            tx.execute(
                "DELETE FROM outbox WHERE type = ?1 AND local_id = ?2 AND state = 'conflict'",
                params![t.as_str(), id],
            )?;
            tx.execute(
                "UPDATE resource SET local_state = NULL WHERE type = ?1 AND id = ?2",
                params![t.as_str(), id],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// What a push did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushResult {
    pub sent: u32,
    pub waiting: u32,
    pub failed: u32,
    pub conflicts: u32,
}

/// Sends every due entry, oldest first; errors are kept per entry.
pub async fn push(
    session: &FhirSession,
    store: &Arc<Mutex<Store>>,
    now: Timestamp,
    jitter: impl Fn() -> f64,
) -> Result<PushResult> {
    let mut result = PushResult::default();
    let mut entries: std::collections::VecDeque<(OutboxEntry, bool)> =
        with_store(store, move |s| due_entries(s.connection(), now))
            .await?
            .into_iter()
            .map(|e| (e, false))
            .collect();
    // `rebased`: the entry already went once in this push and was carried
    // onto the team's newer copy; a second 412 waits for the next push.
    while let Some((entry, rebased)) = entries.pop_front() {
        let e = entry.clone();
        let body = with_store(store, move |s| {
            let Some(mut body) = s.get(e.resource_type, &e.local_id)? else {
                return Ok(None);
            };
            if !resolve_local_references(s.connection(), &mut body)? {
                return Ok(None);
            }
            if e.method == Method::Create
                && let Some(m) = body.as_object_mut()
            {
                m.remove("id");
                m.remove("meta");
            }
            Ok(Some(body))
        })
        .await?;
        let Some(body) = body else {
            // Waits for what it points at to be sent first.
            result.waiting += 1;
            continue;
        };
        let plan = plan(session.base(), &entry);
        let found = match &plan.look_first {
            Some(url) => session.search_one(url).await.ok().flatten(),
            None => None,
        };
        let attempt = match found {
            Some(existing) => Ok((200, Some(existing))),
            None => {
                let method = match plan.method {
                    Method::Create => reqwest::Method::POST,
                    Method::Update => reqwest::Method::PUT,
                };
                let headers: Vec<(&str, &str)> =
                    plan.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                session.send(method, &plan.url, &body, &headers).await
            }
        };
        let (answer, returned) = match attempt {
            Ok((status, value)) => {
                let message = value
                    .as_ref()
                    .filter(|v| v["resourceType"] == "OperationOutcome")
                    .and_then(|v| {
                        serde_json::from_value::<carecycle_fhir::OperationOutcome>(v.clone()).ok()
                    })
                    .map(|o| o.summary())
                    .unwrap_or_default();
                (Answer::Status { status, message }, value)
            }
            Err(CoreError::SessionExpired(m)) => return Err(CoreError::SessionExpired(m)),
            Err(e) => (Answer::NoAnswer(e.to_string()), None),
        };
        let decision = decide(entry.method, &answer, entry.attempts + 1, now, jitter());
        match &decision {
            Decision::Sent => {
                // A 2xx without a body (return=minimal servers): look up what was made.
                let server = match returned.filter(|v| v.get("id").is_some()) {
                    Some(v) => Some(v),
                    None => session
                        .search_one(&lookup_url(session.base(), &entry))
                        .await
                        .ok()
                        .flatten(),
                };
                let e = entry.clone();
                match server {
                    Some(server) => {
                        with_store(store, move |s| settle_sent(s.connection(), &e, &server))
                            .await?;
                        result.sent += 1;
                    }
                    None => {
                        let retry = unconfirmed(e.attempts + 1, now, jitter());
                        with_store(store, move |s| settle(s.connection(), &e, &retry)).await?;
                        result.waiting += 1;
                    }
                }
            }
            Decision::Conflict if entry.method == Method::Update => {
                let e = entry.clone();
                let fetched = match rebased {
                    false => Some(session.get_json(&plan.url).await),
                    true => None,
                };
                let theirs = match fetched {
                    Some(Ok(theirs)) => theirs,
                    Some(Err(e @ CoreError::SessionExpired(_))) => return Err(e),
                    Some(Err(CoreError::Server {
                        status: 404 | 410, ..
                    })) => {
                        let gone = Decision::Failed {
                            reason: "it was removed on the care team's side".into(),
                        };
                        with_store(store, move |s| settle(s.connection(), &e, &gone)).await?;
                        result.failed += 1;
                        continue;
                    }
                    // Their copy unread (or changed again since the last try): later.
                    _ => {
                        let later = Decision::Retry {
                            at: now
                                .checked_add(backoff(e.attempts + 1, jitter()))
                                .unwrap_or(now),
                            reason: "changed on the care team's side meanwhile".into(),
                        };
                        with_store(store, move |s| settle(s.connection(), &e, &later)).await?;
                        result.waiting += 1;
                        continue;
                    }
                };
                match with_store(store, move |s| collided(s.connection(), &e, &theirs)).await? {
                    Collision::Rebased => {
                        let version = with_store(store, {
                            let e = entry.clone();
                            move |s| {
                                Ok(s.connection_ref().query_row(
                                    "SELECT base_version FROM outbox WHERE seq = ?1",
                                    [e.seq],
                                    |r| r.get::<_, Option<String>>(0),
                                )?)
                            }
                        })
                        .await?;
                        entries.push_back((
                            OutboxEntry {
                                base_version: version,
                                ..entry
                            },
                            true,
                        ));
                    }
                    Collision::Conflict => result.conflicts += 1,
                }
            }
            other => {
                match other {
                    Decision::Failed { .. } => result.failed += 1,
                    Decision::Conflict => result.conflicts += 1,
                    _ => result.waiting += 1,
                }
                let e = entry.clone();
                let d = other.clone();
                with_store(store, move |s| settle(s.connection(), &e, &d)).await?;
            }
        }
    }
    Ok(result)
}

fn url_query(pair: &str) -> String {
    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
    format!(
        "{k}={}",
        url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn entry(method: Method, attempts: u32, base_version: Option<&str>) -> OutboxEntry {
        OutboxEntry {
            seq: 1,
            client_id: "c-1".into(),
            resource_type: ResourceType::Communication,
            local_id: "local-1".into(),
            method,
            base_version: base_version.map(str::to_owned),
            state: ItemState::Pending,
            attempts,
            next_attempt_at: None,
            last_error: None,
        }
    }

    /// A three-way merge at the level of a resource's elements: what only one
    /// side changed is kept, what both changed differently is a conflict.
    #[test]
    fn a_change_is_carried_onto_the_teams_copy_element_by_element() {
        let base = json!({"resourceType": "Task", "id": "t1", "meta": {"versionId": "1"},
            "status": "requested", "description": "Book physio", "lastModified": "2026-11-20T10:00:00Z"});
        let mine = json!({"resourceType": "Task", "id": "t1", "meta": {"versionId": "1"},
            "status": "completed", "description": "Book physio", "lastModified": "2026-11-21T09:00:00Z"});
        // The team added a note and touched lastModified: no conflict.
        let theirs = json!({"resourceType": "Task", "id": "t1", "meta": {"versionId": "2"},
            "status": "requested", "description": "Book physio", "lastModified": "2026-11-21T08:00:00Z",
            "note": [{"text": "Bring your letter"}]});
        let (merged, both) = rebase(&base, &mine, &theirs);
        assert!(both.is_empty(), "{both:?}");
        assert_eq!(merged["status"], "completed");
        assert_eq!(merged["note"][0]["text"], "Bring your letter");
        assert_eq!(
            merged["meta"]["versionId"], "2",
            "the team's copy is the base now"
        );
        assert_eq!(merged["lastModified"], "2026-11-21T09:00:00Z");

        // The team put it on hold: both changed the status.
        let on_hold = json!({"resourceType": "Task", "id": "t1", "status": "on-hold", "description": "Book physio"});
        let (merged, both) = rebase(&base, &mine, &on_hold);
        assert_eq!(both, ["status"]);
        assert_eq!(
            merged["status"], "completed",
            "the merge itself takes the patient's value"
        );

        // Both made the same change: nothing to decide.
        let same = json!({"resourceType": "Task", "id": "t1", "status": "completed", "description": "Book physio"});
        assert!(rebase(&base, &mine, &same).1.is_empty());

        // An element the patient removed is removed; without a base every
        // element of the patient's copy that differs is a conflict.
        let mut without = mine.clone();
        without.as_object_mut().unwrap().remove("description");
        assert!(
            rebase(&base, &without, &theirs)
                .0
                .get("description")
                .is_none()
        );
        assert_eq!(rebase(&Value::Null, &mine, &on_hold).1, ["status"]);
    }

    /// Transcripts of what went over the wire, replayed through the pure
    /// decisions the executor only carries out: each step is what the app
    /// plans to send, then what the server (or the network) answered.
    #[test]
    fn recorded_transcripts_replay_to_the_same_decisions() {
        let base = "https://fhir.example.org/r4";
        let now = at("2026-11-23T10:00:00Z");
        let lookup = "https://fhir.example.org/r4/Communication?identifier=https%3A%2F%2Fcarecycle.dev%2Ffhir%2Fsid%2Fclient-id%7Cc-1";
        let status = |status: u16, message: &str| Answer::Status {
            status,
            message: message.into(),
        };

        // A create whose answer was lost, then a server that said yes without a body.
        let first = plan(base, &entry(Method::Create, 0, None));
        assert_eq!(
            first.look_first, None,
            "nothing to look for before a first try"
        );
        assert_eq!(first.url, "https://fhir.example.org/r4/Communication");
        assert_eq!(
            first.headers,
            [(
                "If-None-Exist",
                "identifier=https://carecycle.dev/fhir/sid/client-id|c-1".to_owned()
            )]
        );
        let lost = decide(
            Method::Create,
            &Answer::NoAnswer("reset".into()),
            1,
            now,
            0.5,
        );
        assert!(matches!(lost, Decision::Retry { .. }), "{lost:?}");
        let second = plan(base, &entry(Method::Create, 1, None));
        assert_eq!(
            second.look_first.as_deref(),
            Some(lookup),
            "look first after a lost answer"
        );
        assert_eq!(lookup_url(base, &entry(Method::Create, 1, None)), lookup);
        assert_eq!(
            decide(Method::Create, &status(201, ""), 2, now, 0.5),
            Decision::Sent
        );
        let Decision::Retry { reason, at: when } = unconfirmed(2, now, 0.5) else {
            panic!("a yes that cannot be found is tried again");
        };
        assert!(reason.contains("did not return"), "{reason}");
        assert!(when > now);

        // An update based on version 3 that someone else changed first.
        let update = plan(base, &entry(Method::Update, 0, Some("3")));
        assert_eq!(
            update.url,
            "https://fhir.example.org/r4/Communication/local-1"
        );
        assert_eq!(update.headers, [("If-Match", "W/\"3\"".to_owned())]);
        assert_eq!(update.look_first, None);
        assert_eq!(
            decide(Method::Update, &status(412, ""), 1, now, 0.5),
            Decision::Conflict
        );

        // A refusal keeps the server's words; a busy server is tried again.
        assert_eq!(
            decide(
                Method::Create,
                &status(422, "Communication.sent: not a dateTime"),
                1,
                now,
                0.5
            ),
            Decision::Failed {
                reason: "Communication.sent: not a dateTime".into()
            }
        );
        assert!(matches!(
            decide(Method::Create, &status(503, ""), 1, now, 0.5),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn answers_mean_what_they_should() {
        let now = at("2026-11-23T10:00:00Z");
        let ok = Answer::Status {
            status: 201,
            message: String::new(),
        };
        assert_eq!(decide(Method::Create, &ok, 1, now, 0.5), Decision::Sent);
        let existing = Answer::Status {
            status: 200,
            message: String::new(),
        };
        assert_eq!(
            decide(Method::Create, &existing, 3, now, 0.5),
            Decision::Sent
        );
        let stale = Answer::Status {
            status: 412,
            message: "changed".into(),
        };
        assert_eq!(
            decide(Method::Update, &stale, 1, now, 0.5),
            Decision::Conflict
        );
        // A 412 on a conditional create means the identifier is ambiguous: a failure to show, not a conflict.
        assert!(matches!(
            decide(Method::Create, &stale, 1, now, 0.5),
            Decision::Failed { .. }
        ));
        let invalid = Answer::Status {
            status: 422,
            message: "Communication.status is required".into(),
        };
        assert_eq!(
            decide(Method::Create, &invalid, 1, now, 0.5),
            Decision::Failed {
                reason: "Communication.status is required".into()
            }
        );
        for status in [500, 502, 503, 504, 429, 408] {
            let a = Answer::Status {
                status,
                message: String::new(),
            };
            assert!(
                matches!(decide(Method::Create, &a, 1, now, 0.5), Decision::Retry { at, .. } if at > now),
                "{status}"
            );
        }
        let gone = Answer::NoAnswer("connection reset".into());
        assert!(matches!(
            decide(Method::Update, &gone, 1, now, 0.0),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_ceiling() {
        assert_eq!(backoff(0, 0.0), SignedDuration::from_millis(500));
        assert_eq!(backoff(1, 1.0), SignedDuration::from_secs(4));
        assert_eq!(backoff(3, 1.0), SignedDuration::from_secs(16));
        assert_eq!(backoff(3, 0.5), SignedDuration::from_secs(8));
        assert_eq!(backoff(30, 1.0), MAX_DELAY);
        assert!(backoff(5, 0.25) < backoff(5, 0.75));
    }
}
