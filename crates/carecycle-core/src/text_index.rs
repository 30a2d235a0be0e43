//! Full-text search over the messages and the reading on this device (SQLite
//! FTS5 inside the encrypted database, so the index is encrypted too).
//!
//! Results come newest first and the query is bounded (`LIMIT`), never ranked
//! over every match: ranking all matches of a common word costs hundreds of
//! milliseconds at 100k rows on a small machine, a newest-first page does not.

use crate::contract::SearchHit;
use crate::error::Result;
use base64::Engine;
use carecycle_fhir::ResourceType;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

const MAX_HITS: usize = 20;

/// What of a resource is searchable: (title, body).
fn text_of(t: ResourceType, content: &Value) -> Option<(String, String)> {
    match t {
        ResourceType::Communication => {
            let body: Vec<&str> = content["payload"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["contentString"].as_str())
                .collect();
            Some((
                content["topic"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                body.join("\n"),
            ))
        }
        ResourceType::DocumentReference => {
            let attachment = &content["content"][0]["attachment"];
            let title = content["description"]
                .as_str()
                .or(attachment["title"].as_str())
                .unwrap_or_default()
                .to_owned();
            let body = attachment["data"]
                .as_str()
                .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            Some((title, body))
        }
        _ => None,
    }
}

/// The stored resource's rowid, which is also its row in the index: lookups
/// and deletes by rowid stay cheap however large the index grows (FTS5 has
/// no index on its UNINDEXED columns; deleting by them scans the table).
fn rowid(conn: &Connection, t: ResourceType, id: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT rowid FROM resource WHERE type = ?1 AND id = ?2")?
        .query_row(params![t.as_str(), id], |r| r.get(0))
        .optional()?)
}

/// (Re)indexes one stored resource.
pub fn index(conn: &Connection, t: ResourceType, id: &str, content: &Value) -> Result<()> {
    match rowid(conn, t, id)? {
        Some(rowid) => index_row(conn, rowid, t, id, content),
        None => Ok(()),
    }
}

/// Notes that the stored resource at `rowid` is to be (re)indexed: a sync
/// writes thousands of messages at once, and indexing their words was a
/// third of a cold sync's time (#16), so [`catch_up`] does it afterwards.
pub fn mark(conn: &Connection, t: ResourceType, rowid: i64) -> Result<()> {
    if matches!(
        t,
        ResourceType::Communication | ResourceType::DocumentReference
    ) {
        conn.prepare_cached("INSERT OR IGNORE INTO text_pending (row) VALUES (?1)")?
            .execute([rowid])?;
    }
    Ok(())
}

/// A noted row, and the resource stored there now (type, id, content), if any.
type Noted = (i64, Option<(String, String, String)>);

/// Indexes up to `most` of the resources [`mark`] noted, in one transaction;
/// returns how many it took (0: none is left).
pub fn catch_up(conn: &Connection, most: usize) -> Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let rows: Vec<Noted> = tx
        .prepare_cached(
            "SELECT p.row, r.type, r.id, r.content FROM text_pending p
             LEFT JOIN resource r ON r.rowid = p.row ORDER BY p.row LIMIT ?1",
        )?
        .query_map([i64::try_from(most).unwrap_or(i64::MAX)], |r| {
            let kept = match r.get::<_, Option<String>>(1)? {
                Some(t) => Some((t, r.get(2)?, r.get(3)?)),
                None => None,
            };
            Ok((r.get(0)?, kept))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (row, kept) in &rows {
        // A resource gone since (a message the server renamed) has nothing to index.
        if let Some((t, id, content)) = kept
            && let Ok(t) = t.parse::<ResourceType>()
        {
            index_row(&tx, *row, t, id, &serde_json::from_str(content)?)?;
        }
        tx.prepare_cached("DELETE FROM text_pending WHERE row = ?1")?
            .execute([row])?;
    }
    tx.commit()?;
    Ok(rows.len())
}

fn index_row(
    conn: &Connection,
    rowid: i64,
    t: ResourceType,
    id: &str,
    content: &Value,
) -> Result<()> {
    let Some((title, body)) = text_of(t, content) else {
        return Ok(());
    };
    // Statements are kept prepared: a cold sync indexes thousands of messages.
    conn.prepare_cached("DELETE FROM text_index WHERE rowid = ?1")?
        .execute([rowid])?;
    conn.prepare_cached(
        "INSERT INTO text_index (rowid, type, id, title, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![rowid, t.as_str(), id, title, body])?;
    Ok(())
}

/// Drops a resource from the index; call before the resource row goes.
pub fn unindex(conn: &Connection, t: ResourceType, id: &str) -> Result<()> {
    if let Some(rowid) = rowid(conn, t, id)? {
        conn.execute("DELETE FROM text_index WHERE rowid = ?1", [rowid])?;
        conn.execute("DELETE FROM text_pending WHERE row = ?1", [rowid])?;
    }
    Ok(())
}

/// The words a person typed, as an FTS5 query: every word must appear; the
/// last one may be the start of a word (search as you type). Quotes and
/// operators the person typed are taken as text, never as syntax.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect();
    let (last, rest) = words.split_last()?;
    let mut q = rest.join(" ");
    if !q.is_empty() {
        q.push(' ');
    }
    q.push_str(last);
    q.push('*');
    Some(q)
}

/// Newest first, at most 20 hits, over everything stored: what a sync wrote
/// and is not indexed yet is indexed first.
pub fn search(conn: &Connection, text: &str) -> Result<Vec<SearchHit>> {
    let Some(query) = fts_query(text) else {
        return Ok(Vec::new());
    };
    catch_up(conn, usize::MAX)?;
    let mut stmt = conn.prepare_cached(
        "SELECT type, id, title, snippet(text_index, 3, '[', ']', '…', 12) FROM text_index
         WHERE text_index MATCH ?1 ORDER BY rowid DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![query, MAX_HITS as i64], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (t, id, title, snippet) = row?;
        out.push(SearchHit {
            kind: if t == "Communication" {
                crate::contract::HitKind::Message
            } else {
                crate::contract::HitKind::Reading
            },
            id: format!("{t}/{id}"),
            title,
            snippet,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_words_become_a_safe_query() {
        assert_eq!(
            fts_query("knee swell").as_deref(),
            Some("\"knee\" \"swell\"*")
        );
        assert_eq!(
            fts_query("\"NEAR(x y)\" OR -z").as_deref(),
            Some("\"NEAR\" \"x\" \"y\" \"OR\" \"z\"*")
        );
        assert_eq!(fts_query("   "), None);
        assert_eq!(
            fts_query("rodilla ¿qué?").as_deref(),
            Some("\"rodilla\" \"qué\"*")
        );
    }

    fn message(id: &str, text: &str, version: &str) -> (ResourceType, String, Value) {
        let content = serde_json::json!({
            "resourceType": "Communication", "id": id, "status": "completed",
            "meta": {"versionId": version, "lastUpdated": format!("2026-11-0{version}T10:00:00Z")},
            "payload": [{"contentString": text}],
        });
        (ResourceType::Communication, id.to_owned(), content)
    }

    fn new_store() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::store::Store::open(&dir.path().join("s.db"), &crate::store::new_database_key())
                .unwrap();
        (dir, store)
    }

    fn pending(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM text_pending", [], |r| r.get(0))
            .unwrap()
    }

    /// A sync notes what it wrote and indexes nothing itself; the words are
    /// indexed afterwards in turns, and a search never misses what is stored.
    #[test]
    fn what_a_sync_wrote_is_indexed_after_it_and_always_before_a_search() {
        let (_dir, mut store) = new_store();
        let page: Vec<_> = (0..5)
            .map(|i| {
                message(
                    &format!("m{i}"),
                    &format!("swelling after exercise {i}"),
                    "1",
                )
            })
            .collect();
        crate::store::apply_page(store.connection(), &page, None).unwrap();
        let conn = store.connection_ref();
        assert_eq!(pending(conn), 5, "noted, not indexed, by the sync");
        assert_eq!(
            catch_up(conn, 2).unwrap(),
            2,
            "one turn takes at most its share"
        );
        assert_eq!(pending(conn), 3);
        // The rest are indexed before the search answers.
        assert_eq!(search(conn, "swelling").unwrap().len(), 5);
        assert_eq!(pending(conn), 0);
        assert_eq!(catch_up(conn, 2).unwrap(), 0);

        // A newer version replaces the old words once indexed.
        crate::store::apply_page(
            store.connection(),
            &[message("m0", "the wound is dry", "2")],
            None,
        )
        .unwrap();
        let conn = store.connection_ref();
        assert_eq!(pending(conn), 1);
        assert_eq!(search(conn, "wound").unwrap().len(), 1);
        assert_eq!(search(conn, "swelling").unwrap().len(), 4);
        // The same version again (a cursor's boundary) is not noted again.
        crate::store::apply_page(
            store.connection(),
            &[message("m0", "the wound is dry", "2")],
            None,
        )
        .unwrap();
        assert_eq!(pending(store.connection_ref()), 0);
    }

    /// A resource gone before its turn leaves nothing behind.
    #[test]
    fn a_noted_resource_removed_before_its_turn_is_dropped() {
        let (_dir, mut store) = new_store();
        crate::store::apply_page(store.connection(), &[message("gone", "stairs", "1")], None)
            .unwrap();
        let conn = store.connection_ref();
        conn.execute("DELETE FROM resource WHERE id = 'gone'", [])
            .unwrap();
        assert_eq!(catch_up(conn, 10).unwrap(), 1);
        assert_eq!(pending(conn), 0);
        assert!(search(conn, "stairs").unwrap().is_empty());
    }
}
