//! The profile's local database: SQLCipher-encrypted SQLite, the app's source of
//! truth for display. Every screen reads from here, so the app works offline.

use crate::error::{CoreError, Result};
use carecycle_fhir::ResourceType;
use carecycle_schema::Step;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::path::Path;

/// The store's shape, step by step (see `carecycle_schema`): a store made by
/// an earlier release gets the steps since.
const MIGRATIONS: &[Step<CoreError>] = &[
    Step::Sql(
        r#"
CREATE TABLE resource (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version_id TEXT,
    last_updated TEXT,
    content TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE TABLE sync_cursor (
    type TEXT PRIMARY KEY,
    last_updated TEXT NOT NULL
);
CREATE TABLE profile_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    ),
    Step::Sql(
        r#"
-- What the patient wrote and has not yet seen the server accept (see outbox.rs).
ALTER TABLE resource ADD COLUMN local_state TEXT;
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    local_id TEXT NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('create', 'update')),
    base_version TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'conflict')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error TEXT,
    server_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_by_local ON outbox (type, local_id);
"#,
    ),
    Step::Sql(
        r#"
-- Full-text search over messages and reading (see text_index.rs).
CREATE VIRTUAL TABLE text_index USING fts5(
    type UNINDEXED, id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2'
);
"#,
    ),
    Step::Sql(
        r#"
-- Notifications already given on this device (see notices.rs).
CREATE TABLE notified (
    key TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
"#,
    ),
    Step::Sql(
        r#"
-- Answer lists forms name by canonical URL, as the server expanded them
-- (ValueSet/$expand), so the forms work offline (see sync.rs).
CREATE TABLE value_set (
    canonical TEXT PRIMARY KEY,
    content TEXT NOT NULL
);
"#,
    ),
    Step::Sql(
        r#"
-- An update keeps the copy it was made from (base) and, in a conflict, the
-- patient's own version (mine): a change the team made meanwhile is merged
-- or shown, and what the patient wrote is never lost (see outbox.rs).
ALTER TABLE outbox ADD COLUMN base TEXT;
ALTER TABLE outbox ADD COLUMN mine TEXT;
"#,
    ),
    Step::Sql(
        r#"
-- Resources a sync wrote whose words are not in text_index yet (their
-- rowids): indexed after the sync returns, and before any search answers
-- (see text_index.rs).
CREATE TABLE text_pending (row INTEGER PRIMARY KEY);
"#,
    ),
];

/// Where the store keeps its record's patient id.
const PATIENT_META: &str = "patient_id";

/// A 256-bit database key, as kept in the keyring (hex).
pub fn new_database_key() -> String {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    hex::encode(key)
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (or creates) the encrypted database at `path` with a hex key.
    pub fn open(path: &Path, hex_key: &str) -> Result<Store> {
        if hex_key.len() != 64 || !hex_key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CoreError::StoreLocked(
                "the database key is malformed".into(),
            ));
        }
        let conn = Connection::open(path)?;
        Self::unlock(conn, hex_key)
    }

    fn unlock(conn: Connection, hex_key: &str) -> Result<Store> {
        // A raw key: no passphrase derivation, the key is already random.
        conn.execute_batch(&format!("PRAGMA key = \"x'{hex_key}'\";"))?;
        // Plain SQLite ignores PRAGMA key and would write the file in clear: refuse.
        let cipher: Option<String> = conn
            .query_row("PRAGMA cipher_version", [], |r| r.get(0))
            .optional()?;
        if cipher.is_none() {
            return Err(CoreError::StoreLocked(
                "this build has no SQLCipher; refusing to store data unencrypted".into(),
            ));
        }
        // The first read fails with "file is not a database" under a wrong key.
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::NotADatabase =>
            {
                return Err(CoreError::StoreLocked(
                    "the key does not open this database, or the file is damaged".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        carecycle_schema::migrate(&mut self.conn, MIGRATIONS, |_| {
            CoreError::StoreLocked(
                "this record was written by a newer CareCycle: update the app to open it".into(),
            )
        })?;
        Ok(())
    }

    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub fn connection_ref(&self) -> &Connection {
        &self.conn
    }

    pub fn get(&self, t: ResourceType, id: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT content FROM resource WHERE type = ?1 AND id = ?2",
                params![t.as_str(), id],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| serde_json::from_str(&t).map_err(CoreError::from))
            .transpose()
    }

    pub fn all(&self, t: ResourceType) -> Result<Vec<Value>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT content FROM resource WHERE type = ?1 ORDER BY id")?;
        let rows = stmt.query_map([t.as_str()], |r| r.get::<_, String>(0))?;
        rows.map(|r| serde_json::from_str(&r?).map_err(CoreError::from))
            .collect()
    }

    /// The resources of type `t` that are `Type/id` itself or point to it
    /// from an element listed in `elements` (each a top-level array of
    /// References, e.g. `partOf`): found by SQLite, so only those are parsed.
    pub fn pointing_to(&self, t: ResourceType, id: &str, elements: &[&str]) -> Result<Vec<Value>> {
        let reference = format!("{}/{id}", t.as_str());
        let mut out = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT content FROM resource WHERE type = ?1 AND (id = ?2 OR EXISTS (
                 SELECT 1 FROM json_each(resource.content, ?3) WHERE json_extract(value, '$.reference') = ?4))
             ORDER BY id",
        )?;
        let mut seen = std::collections::HashSet::new();
        for element in elements {
            let path = format!("$.{element}");
            let rows = stmt.query_map(params![t.as_str(), id, path, reference], |r| {
                r.get::<_, String>(0)
            })?;
            for row in rows {
                let value: Value = serde_json::from_str(&row?)?;
                if seen.insert(value["id"].as_str().unwrap_or_default().to_owned()) {
                    out.push(value);
                }
            }
        }
        Ok(out)
    }

    /// The resources of type `t` whose value at the JSON `path` (one value,
    /// e.g. `$.focus.reference`) is `value`: found by SQLite, so only those
    /// are parsed.
    pub fn all_where(&self, t: ResourceType, path: &str, value: &str) -> Result<Vec<Value>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT content FROM resource WHERE type = ?1 AND json_extract(content, ?2) = ?3 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![t.as_str(), path, value], |r| r.get::<_, String>(0))?;
        rows.map(|r| serde_json::from_str(&r?).map_err(CoreError::from))
            .collect()
    }

    /// The record's patient (their FHIR id), kept at sign-in; a profile
    /// without one is not signed in.
    pub fn patient_id(&self) -> Result<String> {
        self.patient_id_if_any()?.ok_or(CoreError::NotSignedIn)
    }

    /// The record's patient, if it has one yet.
    pub fn patient_id_if_any(&self) -> Result<Option<String>> {
        self.meta(PATIENT_META)
    }

    /// Keeps the record's patient (at sign-in).
    pub fn set_patient_id(&self, patient: &str) -> Result<()> {
        self.set_meta(PATIENT_META, patient)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM profile_meta WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO profile_meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// The expanded value sets kept for offline forms.
    pub fn value_sets(&self) -> Result<Vec<Value>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT content FROM value_set ORDER BY canonical")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| serde_json::from_str(&r?).map_err(CoreError::from))
            .collect()
    }

    /// Keeps (or replaces) the expansion of the value set `canonical`.
    pub fn put_value_set(&self, canonical: &str, expanded: &Value) -> Result<()> {
        self.conn.execute(
            "INSERT INTO value_set (canonical, content) VALUES (?1, ?2)
             ON CONFLICT (canonical) DO UPDATE SET content = excluded.content",
            params![canonical, expanded.to_string()],
        )?;
        Ok(())
    }

    pub fn cursor(&self, t: ResourceType) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT last_updated FROM sync_cursor WHERE type = ?1",
                [t.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }
}

/// Writes a page of resources and advances the cursor in one transaction, so a
/// crash leaves either both or neither.
pub fn apply_page(
    conn: &mut Connection,
    resources: &[(ResourceType, String, Value)],
    cursor: Option<(ResourceType, &str)>,
) -> Result<u32> {
    let tx = conn.transaction()?;
    let mut written = 0;
    for (t, id, content) in resources {
        let meta = content.get("meta");
        let version_id = meta
            .and_then(|m| m.get("versionId"))
            .and_then(Value::as_str);
        let last_updated = meta
            .and_then(|m| m.get("lastUpdated"))
            .and_then(Value::as_str);
        // Keep the newer copy when the store already has this resource; the
        // same version again (a cursor's boundary, re-read by every sync) is
        // not written, not re-indexed and not counted as received.
        // A copy in conflict shows the team's side, so their newer versions
        // replace it (the patient's own version waits in the outbox).
        // Prepared once per connection: a cold sync writes thousands.
        let written_row: Option<i64> = tx
            .prepare_cached(
            "INSERT INTO resource (type, id, version_id, last_updated, content) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (type, id) DO UPDATE SET version_id = excluded.version_id,
                last_updated = excluded.last_updated, content = excluded.content
             WHERE (resource.local_state IS NULL OR resource.local_state = 'conflict')
               AND (resource.last_updated IS NULL
                OR excluded.last_updated IS NULL OR excluded.last_updated >= resource.last_updated)
               AND ((excluded.version_id IS NULL AND excluded.last_updated IS NULL)
                OR resource.version_id IS NOT excluded.version_id
                OR resource.last_updated IS NOT excluded.last_updated)
             RETURNING rowid",
            )?
            .query_row(
                params![t.as_str(), id, version_id, last_updated, serde_json::to_string(content)?],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(row) = written_row {
            written += 1;
            // Indexed after the sync, not in it (text_index::catch_up).
            crate::text_index::mark(&tx, *t, row)?;
        }
    }
    if let Some((t, last_updated)) = cursor {
        tx.execute(
            "INSERT INTO sync_cursor (type, last_updated) VALUES (?1, ?2)
             ON CONFLICT (type) DO UPDATE SET last_updated = max(sync_cursor.last_updated, excluded.last_updated)",
            params![t.as_str(), last_updated],
        )?;
    }
    tx.commit()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A store made by the first release (only the first step, a record in
    /// it) opens with every step since applied and the record kept.
    #[test]
    fn a_store_from_the_first_release_opens_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let key = new_database_key();
        {
            let mut old = Connection::open(&path).unwrap();
            old.execute_batch(&format!("PRAGMA key = \"x'{key}'\";"))
                .unwrap();
            carecycle_schema::migrate(&mut old, &MIGRATIONS[..1], |_| {
                CoreError::Data("newer".into())
            })
            .unwrap();
            old.execute(
                "INSERT INTO resource (type, id, version_id, last_updated, content) VALUES ('Patient', 'p1', '1', '2025-01-01T00:00:00Z', ?1)",
                [r#"{"resourceType":"Patient","id":"p1","name":[{"family":"Ruiz"}]}"#],
            )
            .unwrap();
        }
        let mut store = Store::open(&path, &key).unwrap();
        assert_eq!(
            carecycle_schema::version(store.connection()).unwrap(),
            MIGRATIONS.len()
        );
        let patient = store.get(ResourceType::Patient, "p1").unwrap().unwrap();
        assert_eq!(patient["name"][0]["family"], "Ruiz");
        let outbox: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(outbox, 0, "the tables added since are there");
    }

    #[test]
    fn encrypted_at_rest_and_wrong_key_is_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let key = new_database_key();
        {
            let mut store = Store::open(&path, &key).unwrap();
            let marker = json!({"resourceType": "Patient", "id": "p1", "name": [{"text": "Zyxwvut Marker"}]});
            apply_page(
                store.connection(),
                &[(ResourceType::Patient, "p1".into(), marker)],
                None,
            )
            .unwrap();
            store.set_meta("m", "Qwertyuiop Marker").unwrap();
            let version: String = store
                .connection()
                .query_row("PRAGMA cipher_version", [], |r| r.get(0))
                .unwrap();
            assert!(!version.is_empty());
            store
                .connection()
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                .unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("p.db-wal")) {
            bytes.extend(wal);
        }
        for marker in ["Zyxwvut", "Qwertyuiop", "SQLite format 3", "resourceType"] {
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                "{marker} found in clear"
            );
        }
        let err = Store::open(&path, &new_database_key()).unwrap_err();
        assert!(matches!(err, CoreError::StoreLocked(_)), "{err}");
        let store = Store::open(&path, &key).unwrap();
        assert!(store.get(ResourceType::Patient, "p1").unwrap().is_some());
    }

    #[test]
    fn older_copies_never_overwrite_newer_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("p.db"), &new_database_key()).unwrap();
        let v = |n: &str, lu: &str| json!({"resourceType": "Task", "id": "t", "meta": {"versionId": n, "lastUpdated": lu}});
        let t = ResourceType::Task;
        apply_page(
            store.connection(),
            &[(t, "t".into(), v("2", "2026-01-02T00:00:00Z"))],
            Some((t, "2026-01-02T00:00:00Z")),
        )
        .unwrap();
        apply_page(
            store.connection(),
            &[(t, "t".into(), v("1", "2026-01-01T00:00:00Z"))],
            Some((t, "2026-01-01T00:00:00Z")),
        )
        .unwrap();
        assert_eq!(
            store.get(t, "t").unwrap().unwrap()["meta"]["versionId"],
            "2"
        );
        assert_eq!(
            store.cursor(t).unwrap().as_deref(),
            Some("2026-01-02T00:00:00Z")
        );
        // The same version again (a cursor's boundary) is not written nor
        // counted; a newer one is; a copy without meta always is.
        let mut again =
            |content: Value| apply_page(store.connection(), &[(t, "t".into(), content)], None);
        assert_eq!(again(v("2", "2026-01-02T00:00:00Z")).unwrap(), 0);
        assert_eq!(again(v("3", "2026-01-03T00:00:00Z")).unwrap(), 1);
        assert_eq!(
            again(json!({"resourceType": "Task", "id": "t"})).unwrap(),
            1
        );
    }
}
