//! The back end's resource store: every resource version in SQLite, with the
//! patient compartment and identifiers indexed for search and conditional create.
//!
//! `last_updated` is written as a fixed-width UTC instant and is strictly
//! increasing across the server (see [`Stamper`]), so it orders changes and
//! makes keyset paging stable while resources change.

use crate::access::{Area, area_of};
use carecycle_fhir::compartment::patient_of;
use carecycle_fhir::time::{Clock, format_instant};
use carecycle_fhir::{Identifier, ResourceType};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database could not be opened or is not a CareCycle database: {0}")]
    Open(String),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored resource is not valid JSON: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("version conflict: the resource is at version {current}")]
    VersionConflict { current: i64 },
    #[error("the database is busy with another request")]
    Poisoned,
    #[error("background task failed")]
    Join,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS resource (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    patient TEXT,
    area TEXT,
    content TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE INDEX IF NOT EXISTS resource_by_type_time ON resource (type, last_updated, id);
CREATE INDEX IF NOT EXISTS resource_by_patient ON resource (patient, type, last_updated);
CREATE TABLE IF NOT EXISTS resource_history (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    content TEXT NOT NULL,
    -- Each version keeps the compartment and area it was written in, so
    -- history and vread judge every version on its own.
    patient TEXT,
    area TEXT,
    PRIMARY KEY (type, id, version)
);
CREATE INDEX IF NOT EXISTS history_by_time ON resource_history (last_updated);
CREATE TABLE IF NOT EXISTS resource_identifier (
    type TEXT NOT NULL,
    system TEXT NOT NULL,
    value TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (type, system, value, id)
);
CREATE INDEX IF NOT EXISTS identifier_by_value ON resource_identifier (type, value);
CREATE TABLE IF NOT EXISTS server_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"#;

/// One SQLite connection shared by the server's handlers; work runs on the
/// blocking pool so the async workers never wait on disk.
#[derive(Clone, Debug)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let conn = Connection::open(path).map_err(|e| StoreError::Open(e.to_string()))?;
        Self::init(conn)
    }

    pub fn open_in_memory() -> Result<Db, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Db, StoreError> {
        // A damaged or foreign file fails here with "file is not a database".
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| StoreError::Open(e.to_string()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| StoreError::Open(e.to_string()))?;
        conn.execute_batch(crate::access::SCHEMA)
            .map_err(|e| StoreError::Open(e.to_string()))?;
        conn.execute_batch(crate::auth::SCHEMA)
            .map_err(|e| StoreError::Open(e.to_string()))?;
        // Databases written by earlier versions gain the columns added since.
        add_column_if_missing(&conn, "resource", "area", "TEXT")?;
        add_column_if_missing(&conn, "user_account", "organization", "TEXT")?;
        add_column_if_missing(&conn, "proxy_grant", "expires_at", "TEXT")?;
        add_column_if_missing(&conn, "resource_history", "patient", "TEXT")?;
        add_column_if_missing(&conn, "resource_history", "area", "TEXT")?;
        backfill_history_compartments(&conn)?;
        conn.execute_batch(
            "CREATE INDEX IF NOT EXISTS history_by_patient ON resource_history (patient, type, last_updated)",
        )?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| E::from(StoreError::Poisoned))?;
            f(&mut guard)
        })
        .await
        .map_err(|_| E::from(StoreError::Join))?
    }

    /// Runs `f` with the connection on the current thread (start-up, seeding, tests).
    pub fn with<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| E::from(StoreError::Poisoned))?;
        f(&mut guard)
    }
}

fn add_column_if_missing(
    conn: &Connection,
    table: &str,
    column: &str,
    decl: &str,
) -> Result<(), StoreError> {
    let present: i64 = conn.query_row(
        &format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
        [column],
        |r| r.get(0),
    )?;
    if present == 0 {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(())
}

/// Databases written before versions kept their compartment: work it out
/// from each version's own content, once.
fn backfill_history_compartments(conn: &Connection) -> Result<(), StoreError> {
    const DONE: &str = "history_compartments";
    if meta_get(conn, DONE)?.is_some() {
        return Ok(());
    }
    let rows: Vec<(String, String, i64, String)> = conn
        .prepare("SELECT type, id, version, content FROM resource_history WHERE patient IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    for (t, id, version, content) in rows {
        let (Ok(rt), Ok(value)) = (
            t.parse::<ResourceType>(),
            serde_json::from_str::<Value>(&content),
        ) else {
            continue;
        };
        conn.execute(
            "UPDATE resource_history SET patient = ?4, area = ?5 WHERE type = ?1 AND id = ?2 AND version = ?3",
            params![t, id, version, patient_of(rt, &value), area_of(rt, &value).map(Area::code)],
        )?;
    }
    meta_set(conn, DONE, "1")
}

/// Hands out strictly increasing `lastUpdated` instants, even when the clock
/// stands still or steps back, so that no two changes share an instant.
#[derive(Debug)]
pub struct Stamper {
    clock: Arc<dyn Clock>,
    last: Mutex<Timestamp>,
}

impl Stamper {
    pub fn new(clock: Arc<dyn Clock>, db: &Db) -> Result<Stamper, StoreError> {
        let latest: Option<String> = db.with(|c| {
            c.query_row("SELECT max(last_updated) FROM resource_history", [], |r| {
                r.get(0)
            })
            .map_err(StoreError::from)
        })?;
        let last = latest
            .and_then(|s| s.parse::<Timestamp>().ok())
            .unwrap_or(Timestamp::UNIX_EPOCH);
        Ok(Stamper {
            clock,
            last: Mutex::new(last),
        })
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The next stamp for a write in `conn`'s transaction: after every stamp
    /// already in the database, so that another process writing to the same
    /// file (the team's command line beside a running server) never hands out
    /// an instant a client's sync cursor has already passed.
    pub fn next_in(&self, conn: &Connection) -> Result<String, StoreError> {
        let latest: Option<String> =
            conn.query_row("SELECT max(last_updated) FROM resource_history", [], |r| {
                r.get(0)
            })?;
        if let Some(latest) = latest.and_then(|s| s.parse::<Timestamp>().ok()) {
            let mut last = match self.last.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            if latest > *last {
                *last = latest;
            }
        }
        Ok(self.next())
    }

    pub fn next(&self) -> String {
        let now = self.clock.now();
        let mut last = match self.last.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let micro = jiff::SignedDuration::from_micros(1);
        let next = if now > *last {
            // Truncate to microseconds: that is the precision written out.
            Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now)
        } else {
            last.checked_add(micro).unwrap_or(*last)
        };
        *last = next;
        format_instant(next)
    }
}

/// A resource as stored, with its bookkeeping.
#[derive(Debug, Clone)]
pub struct Stored {
    pub resource_type: ResourceType,
    pub id: String,
    pub version: i64,
    pub last_updated: String,
    pub deleted: bool,
    pub patient: Option<String>,
    /// The part of the record it belongs to, for family members' grants.
    pub area: Option<Area>,
    pub content: Value,
}

impl Stored {
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

fn stored_from_row(
    resource_type: ResourceType,
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(Stored, String)> {
    Ok((
        Stored {
            resource_type,
            id: row.get("id")?,
            version: row.get("version")?,
            last_updated: row.get("last_updated")?,
            deleted: row.get::<_, i64>("deleted")? != 0,
            patient: row.get("patient")?,
            area: row
                .get::<_, Option<String>>("area")?
                .as_deref()
                .and_then(Area::parse),
            content: Value::Null,
        },
        row.get("content")?,
    ))
}

fn finish((mut stored, content): (Stored, String)) -> Result<Stored, StoreError> {
    stored.content = serde_json::from_str(&content)?;
    Ok(stored)
}

pub fn read(conn: &Connection, t: ResourceType, id: &str) -> Result<Option<Stored>, StoreError> {
    conn.query_row(
        "SELECT id, version, last_updated, deleted, patient, area, content FROM resource WHERE type = ?1 AND id = ?2",
        params![t.as_str(), id],
        |row| stored_from_row(t, row),
    )
    .optional()?
    .map(finish)
    .transpose()
}

pub fn read_version(
    conn: &Connection,
    t: ResourceType,
    id: &str,
    version: i64,
) -> Result<Option<Stored>, StoreError> {
    let row = conn
        .query_row(
            "SELECT h.id, h.version, h.last_updated, h.deleted, h.patient, h.area, h.content
             FROM resource_history h WHERE h.type = ?1 AND h.id = ?2 AND h.version = ?3",
            params![t.as_str(), id, version],
            |row| stored_from_row(t, row),
        )
        .optional()?;
    row.map(finish).transpose()
}

/// Was any version of `t/id` written in a compartment other than `patient`'s?
/// (An id, once used in one record, is never taken by another.)
pub fn used_by_another_record(
    conn: &Connection,
    t: ResourceType,
    id: &str,
    patient: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM resource_history WHERE type = ?1 AND id = ?2 AND patient IS NOT ?3 LIMIT 1",
        )?
        .query_row(params![t.as_str(), id, patient], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Finds live resources of this type carrying the identifier `system|value`
/// (`system` may be absent: any system).
pub fn find_by_identifier(
    conn: &Connection,
    t: ResourceType,
    system: Option<&str>,
    value: &str,
) -> Result<Vec<Stored>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.version, r.last_updated, r.deleted, r.patient, r.area, r.content
         FROM resource_identifier i JOIN resource r ON r.type = i.type AND r.id = i.id
         WHERE i.type = ?1 AND i.value = ?2 AND (?3 IS NULL OR i.system = ?3) AND r.deleted = 0",
    )?;
    let rows = stmt.query_map(params![t.as_str(), value, system], |row| {
        stored_from_row(t, row)
    })?;
    rows.map(|r| finish(r?)).collect()
}

/// Writes a new version of a resource (creating it when absent) and returns it.
/// `expected_version` makes the write conditional (If-Match).
pub fn write(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    t: ResourceType,
    id: &str,
    mut content: Value,
    expected_version: Option<i64>,
) -> Result<Stored, StoreError> {
    let current = read(tx, t, id)?;
    let current_version = current.as_ref().map(|c| c.version).unwrap_or(0);
    if let Some(expected) = expected_version
        && expected != current_version
    {
        return Err(StoreError::VersionConflict {
            current: current_version,
        });
    }
    let version = current_version + 1;
    let last_updated = stamper.next_in(tx)?;
    set_meta(&mut content, t, id, version, &last_updated);
    let patient = patient_of(t, &content);
    let area = area_of(t, &content);
    let text = serde_json::to_string(&content)?;
    tx.execute(
        "INSERT INTO resource (type, id, version, last_updated, deleted, patient, area, content)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7)
         ON CONFLICT (type, id) DO UPDATE SET version = excluded.version,
            last_updated = excluded.last_updated, deleted = 0,
            patient = excluded.patient, area = excluded.area, content = excluded.content",
        params![
            t.as_str(),
            id,
            version,
            last_updated,
            patient,
            area.map(Area::code),
            text
        ],
    )?;
    tx.execute(
        "INSERT INTO resource_history (type, id, version, last_updated, deleted, content, patient, area)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7)",
        params![t.as_str(), id, version, last_updated, text, patient, area.map(Area::code)],
    )?;
    tx.execute(
        "DELETE FROM resource_identifier WHERE type = ?1 AND id = ?2",
        params![t.as_str(), id],
    )?;
    // One (QuestionnaireResponse) or a list (most types), as R4 has it.
    let identifiers: Vec<Identifier> = carecycle_fhir::identifiers(&content)
        .into_iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    for identifier in identifiers {
        if let Some(value) = identifier.value {
            tx.execute(
                "INSERT OR IGNORE INTO resource_identifier (type, system, value, id) VALUES (?1, ?2, ?3, ?4)",
                params![t.as_str(), identifier.system.unwrap_or_default(), value, id],
            )?;
        }
    }
    Ok(Stored {
        resource_type: t,
        id: id.to_owned(),
        version,
        last_updated,
        deleted: false,
        patient,
        area,
        content,
    })
}

/// Marks a resource deleted (a new, empty version in its history).
/// Returns false when there was nothing live to delete.
pub fn delete(
    tx: &Transaction<'_>,
    stamper: &Stamper,
    t: ResourceType,
    id: &str,
) -> Result<bool, StoreError> {
    let Some(current) = read(tx, t, id)? else {
        return Ok(false);
    };
    if current.deleted {
        return Ok(false);
    }
    let version = current.version + 1;
    let last_updated = stamper.next_in(tx)?;
    tx.execute(
        "UPDATE resource SET version = ?3, last_updated = ?4, deleted = 1 WHERE type = ?1 AND id = ?2",
        params![t.as_str(), id, version, last_updated],
    )?;
    tx.execute(
        "INSERT INTO resource_history (type, id, version, last_updated, deleted, content, patient, area)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)",
        params![t.as_str(), id, version, last_updated, "{}", current.patient, current.area.map(Area::code)],
    )?;
    tx.execute(
        "DELETE FROM resource_identifier WHERE type = ?1 AND id = ?2",
        params![t.as_str(), id],
    )?;
    Ok(true)
}

fn set_meta(content: &mut Value, t: ResourceType, id: &str, version: i64, last_updated: &str) {
    if let Some(map) = content.as_object_mut() {
        map.insert("resourceType".into(), Value::String(t.as_str().into()));
        map.insert("id".into(), Value::String(id.into()));
        let meta = map
            .entry("meta")
            .or_insert_with(|| Value::Object(Default::default()));
        if !meta.is_object() {
            *meta = Value::Object(Default::default());
        }
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("versionId".into(), Value::String(version.to_string()));
            meta.insert("lastUpdated".into(), Value::String(last_updated.into()));
        }
    }
}

/// Comparison prefixes of FHIR search on dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Prefix {
    fn sql(self) -> &'static str {
        match self {
            Prefix::Eq => "=",
            Prefix::Gt => ">",
            Prefix::Ge => ">=",
            Prefix::Lt => "<",
            Prefix::Le => "<=",
        }
    }
}

/// A search the store can answer, already checked against the caller's access.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only resources in this patient's compartment.
    pub patient: Option<String>,
    pub ids: Option<Vec<String>>,
    pub last_updated: Vec<(Prefix, String)>,
    /// `status` element is one of these.
    pub status: Option<Vec<String>>,
    /// `(system, value)`: carries this identifier.
    pub identifier: Option<(Option<String>, String)>,
    /// Keyset position: resources after this `(last_updated, id)`.
    pub after: Option<(String, String)>,
    pub count: usize,
    /// Only resources of these areas (a family member's grants), or with no area.
    pub areas: Option<Vec<Area>>,
    /// Only resources of patients this IPU (Organization id) looks after.
    pub org: Option<String>,
    /// Element filters from search parameters, all of which must hold.
    pub filters: Vec<Filter>,
    /// Newest first (`_sort=-_lastUpdated`).
    pub descending: bool,
}

impl Query {
    /// The caller's reach (family member's areas, care team's unit) as SQL on `resource r`.
    /// `table` is the alias of the rows judged: `r` (resources as they are
    /// now) or `h` (each version as it was written).
    fn access_clauses(
        &self,
        table: &str,
        where_sql: &mut Vec<String>,
        args: &mut Vec<rusqlite::types::Value>,
    ) {
        if let Some(patient) = &self.patient {
            where_sql.push(format!("{table}.patient = ?"));
            args.push(patient.clone().into());
        }
        if let Some(ids) = &self.ids {
            where_sql.push(format!(
                "{table}.id IN ({})",
                vec!["?"; ids.len()].join(",")
            ));
            args.extend(ids.iter().cloned().map(Into::into));
        }
        if let Some(areas) = &self.areas {
            let mut list = vec!["?"; areas.len()].join(",");
            if list.is_empty() {
                list = "NULL".into();
            }
            where_sql.push(format!(
                "({table}.area IS NULL OR {table}.area IN ({list}))"
            ));
            args.extend(areas.iter().map(|a| a.code().to_owned().into()));
        }
        if let Some(org) = &self.org {
            where_sql.push(format!(
                "{table}.patient IN (SELECT patient FROM care_link WHERE org = ?)"
            ));
            args.push(org.clone().into());
        }
    }
}

/// One search-parameter test on a resource's JSON.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Some `reference` at or under `path` is one of `values` (`Type/id`,
    /// also matched as the end of an absolute URL).
    Reference {
        path: &'static str,
        values: Vec<String>,
    },
    /// Some Coding at or under `path` has this code (and this system, when given).
    Token {
        path: &'static str,
        system: Option<String>,
        code: String,
    },
    /// The string at `path` (a canonical, possibly `url|version`) is one of `values`.
    Canonical {
        path: &'static str,
        values: Vec<String>,
    },
    /// The dateTime at `path`, taken as an instant, compared with `instant`
    /// (both as UTC; SQLite's julianday understands `±hh:mm` offsets).
    Date {
        path: &'static str,
        op: &'static str,
        instant: String,
    },
    /// The primitive `code` or `boolean` at `path` is one of `values`
    /// (booleans as `true`/`false`).
    Code {
        path: &'static str,
        values: Vec<String>,
    },
    /// The element at `path` is absent (`missing`) or present (R4 `:missing`).
    Missing { path: &'static str, missing: bool },
    /// The canonical at `path` (possibly `url|version`) is the `url` of one
    /// of these resources of `target` (a reference search on a canonical).
    CanonicalOf {
        path: &'static str,
        target: ResourceType,
        ids: Vec<String>,
    },
    /// At least one of these holds.
    AnyOf(Vec<Filter>),
    /// This does not hold, including when the element is absent (R4 `:not`).
    Not(Box<Filter>),
}

impl Filter {
    fn sql(&self, args: &mut Vec<rusqlite::types::Value>) -> String {
        match self {
            Filter::Reference { path, values } => {
                let mut alts = Vec::new();
                for v in values {
                    alts.push("t.value = ? OR t.value LIKE ?".to_owned());
                    args.push(v.clone().into());
                    args.push(format!("%/{v}").into());
                }
                format!(
                    "EXISTS (SELECT 1 FROM json_tree(r.content, '{path}') t WHERE t.key = 'reference' AND ({}))",
                    alts.join(" OR ")
                )
            }
            Filter::Token { path, system, code } => {
                args.push(code.clone().into());
                args.push(system.clone().into());
                args.push(system.clone().into());
                format!(
                    "EXISTS (SELECT 1 FROM json_tree(r.content, '{path}') t WHERE t.type = 'object'
                       AND json_extract(t.value, '$.code') = ? AND (? IS NULL OR json_extract(t.value, '$.system') = ?))"
                )
            }
            Filter::Canonical { path, values } => {
                let mut alts = Vec::new();
                for v in values {
                    alts.push("json_extract(r.content, '{path}') = ? OR json_extract(r.content, '{path}') LIKE ?".replace("{path}", path));
                    args.push(v.clone().into());
                    args.push(format!("{v}|%").into());
                }
                format!("({})", alts.join(" OR "))
            }
            Filter::Date { path, op, instant } => {
                args.push(instant.clone().into());
                format!("julianday(json_extract(r.content, '{path}')) {op} julianday(?)")
            }
            Filter::Code { path, values } => {
                args.extend(values.iter().cloned().map(Into::into));
                format!(
                    "(CASE json_type(r.content, '{path}') WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
                       ELSE json_extract(r.content, '{path}') END) IN ({})",
                    vec!["?"; values.len()].join(",")
                )
            }
            Filter::Missing { path, missing } => {
                let is = if *missing { "IS" } else { "IS NOT" };
                format!("json_extract(r.content, '{path}') {is} NULL")
            }
            Filter::CanonicalOf { path, target, ids } => {
                args.push(target.as_str().to_owned().into());
                args.extend(ids.iter().cloned().map(Into::into));
                format!(
                    "EXISTS (SELECT 1 FROM resource c WHERE c.type = ? AND c.deleted = 0 AND c.id IN ({})
                       AND (json_extract(r.content, '{path}') = json_extract(c.content, '$.url')
                         OR json_extract(r.content, '{path}') LIKE json_extract(c.content, '$.url') || '|%'))",
                    vec!["?"; ids.len()].join(",")
                )
            }
            Filter::AnyOf(any) => {
                let alts: Vec<String> = any.iter().map(|f| f.sql(args)).collect();
                format!("({})", alts.join(" OR "))
            }
            Filter::Not(inner) => format!("COALESCE(({}), 0) = 0", inner.sql(args)),
        }
    }
}

#[derive(Debug)]
pub struct Page {
    pub resources: Vec<Stored>,
    pub total: u64,
    /// Present when more results follow.
    pub next_after: Option<(String, String)>,
}

pub fn search(conn: &Connection, t: ResourceType, q: &Query) -> Result<Page, StoreError> {
    let mut where_sql = vec!["r.type = ?".to_owned(), "r.deleted = 0".to_owned()];
    let mut args: Vec<rusqlite::types::Value> = vec![t.as_str().to_owned().into()];
    q.access_clauses("r", &mut where_sql, &mut args);
    for (prefix, instant) in &q.last_updated {
        where_sql.push(format!("r.last_updated {} ?", prefix.sql()));
        args.push(instant.clone().into());
    }
    if let Some(statuses) = &q.status {
        where_sql.push(format!(
            "json_extract(r.content, '$.status') IN ({})",
            vec!["?"; statuses.len()].join(",")
        ));
        args.extend(statuses.iter().cloned().map(Into::into));
    }
    for f in &q.filters {
        let clause = f.sql(&mut args);
        where_sql.push(clause);
    }
    if let Some((system, value)) = &q.identifier {
        where_sql.push(
            "EXISTS (SELECT 1 FROM resource_identifier i WHERE i.type = r.type AND i.id = r.id
              AND i.value = ? AND (? IS NULL OR i.system = ?))"
                .into(),
        );
        args.push(value.clone().into());
        args.push(system.clone().into());
        args.push(system.clone().into());
    }
    let filter = where_sql.join(" AND ");
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM resource r WHERE {filter}"),
        rusqlite::params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let mut page_sql = filter.clone();
    let mut page_args = args.clone();
    if let Some((lu, id)) = &q.after {
        page_sql.push_str(if q.descending {
            " AND (r.last_updated < ? OR (r.last_updated = ? AND r.id < ?))"
        } else {
            " AND (r.last_updated > ? OR (r.last_updated = ? AND r.id > ?))"
        });
        page_args.push(lu.clone().into());
        page_args.push(lu.clone().into());
        page_args.push(id.clone().into());
    }
    page_args.push(((q.count + 1) as i64).into());
    let mut stmt = conn.prepare(&format!(
        "SELECT r.id, r.version, r.last_updated, r.deleted, r.patient, r.area, r.content FROM resource r
         WHERE {page_sql} ORDER BY r.last_updated {dir}, r.id {dir} LIMIT ?",
        dir = if q.descending { "DESC" } else { "ASC" }
    ))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(page_args.iter()), |row| {
        stored_from_row(t, row)
    })?;
    let mut resources = rows
        .map(|r| finish(r?))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let next_after = if resources.len() > q.count {
        resources.truncate(q.count);
        resources
            .last()
            .map(|r| (r.last_updated.clone(), r.id.clone()))
    } else {
        None
    };
    Ok(Page {
        resources,
        total: total.max(0) as u64,
        next_after,
    })
}

/// A page of history: versions newest first.
#[derive(Debug)]
pub struct HistoryPage {
    pub versions: Vec<Stored>,
    pub total: u64,
    /// Present when older versions follow: the `last_updated` to continue before.
    pub next_before: Option<String>,
}

/// Versions of one resource (`id`) or of every resource of a type, newest
/// first, changed after `since`, limited to what `q` admits (its patient,
/// ids, areas and organization), each version judged as it was written.
pub fn history(
    conn: &Connection,
    t: ResourceType,
    id: Option<&str>,
    since: Option<&str>,
    before: Option<&str>,
    q: &Query,
) -> Result<HistoryPage, StoreError> {
    let mut where_sql = vec!["h.type = ?".to_owned()];
    let mut args: Vec<rusqlite::types::Value> = vec![t.as_str().to_owned().into()];
    if let Some(id) = id {
        where_sql.push("h.id = ?".into());
        args.push(id.to_owned().into());
    }
    if let Some(since) = since {
        where_sql.push("h.last_updated > ?".into());
        args.push(since.to_owned().into());
    }
    q.access_clauses("h", &mut where_sql, &mut args);
    let filter = where_sql.join(" AND ");
    let from = "resource_history h";
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM {from} WHERE {filter}"),
        rusqlite::params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let mut page_sql = filter;
    if let Some(before) = before {
        page_sql.push_str(" AND h.last_updated < ?");
        args.push(before.to_owned().into());
    }
    args.push(((q.count + 1) as i64).into());
    let mut stmt = conn.prepare(&format!(
        "SELECT h.id, h.version, h.last_updated, h.deleted, h.patient, h.area, h.content FROM {from}
         WHERE {page_sql} ORDER BY h.last_updated DESC LIMIT ?"
    ))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |row| {
        stored_from_row(t, row)
    })?;
    let mut versions = rows
        .map(|r| finish(r?))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let next_before = if versions.len() > q.count {
        versions.truncate(q.count);
        versions.last().map(|v| v.last_updated.clone())
    } else {
        None
    };
    Ok(HistoryPage {
        versions,
        total: total.max(0) as u64,
        next_before,
    })
}

pub fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM server_meta WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

pub fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO server_meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use carecycle_fhir::time::FixedClock;
    use serde_json::json;

    fn setup() -> (Db, Stamper) {
        let db = Db::open_in_memory().unwrap();
        let clock = Arc::new(FixedClock::new("2026-11-22T10:00:00Z".parse().unwrap()));
        let stamper = Stamper::new(clock, &db).unwrap();
        (db, stamper)
    }

    #[test]
    fn versions_increase_and_stamps_are_unique_under_a_stopped_clock() {
        let (db, stamper) = setup();
        db.with(|c| {
            let tx = c.transaction()?;
            let a = write(
                &tx,
                &stamper,
                ResourceType::Task,
                "t1",
                json!({"status": "requested"}),
                None,
            )?;
            let b = write(
                &tx,
                &stamper,
                ResourceType::Task,
                "t1",
                json!({"status": "completed"}),
                Some(1),
            )?;
            assert_eq!((a.version, b.version), (1, 2));
            assert!(b.last_updated > a.last_updated);
            assert_eq!(b.content["meta"]["versionId"], "2");
            let stale = write(&tx, &stamper, ResourceType::Task, "t1", json!({}), Some(1));
            assert!(matches!(
                stale,
                Err(StoreError::VersionConflict { current: 2 })
            ));
            tx.commit()?;
            assert_eq!(
                read_version(c, ResourceType::Task, "t1", 1)?
                    .unwrap()
                    .content["status"],
                "requested"
            );
            Ok::<_, StoreError>(())
        })
        .unwrap();
    }

    #[test]
    fn keyset_pages_cover_everything_once() {
        let (db, stamper) = setup();
        db.with(|c| {
            let tx = c.transaction()?;
            for i in 0..7 {
                write(
                    &tx,
                    &stamper,
                    ResourceType::Task,
                    &format!("t{i}"),
                    json!({"status": "requested", "for": {"reference": "Patient/p"}}),
                    None,
                )?;
            }
            tx.commit()?;
            let mut q = Query {
                patient: Some("p".into()),
                count: 3,
                ..Default::default()
            };
            let mut seen = vec![];
            loop {
                let page = search(c, ResourceType::Task, &q)?;
                assert_eq!(page.total, 7);
                seen.extend(page.resources.iter().map(|r| r.id.clone()));
                match page.next_after {
                    Some(after) => q.after = Some(after),
                    None => break,
                }
            }
            assert_eq!(seen, (0..7).map(|i| format!("t{i}")).collect::<Vec<_>>());
            Ok::<_, StoreError>(())
        })
        .unwrap();
    }
}
