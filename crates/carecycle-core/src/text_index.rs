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
        .query_row(
            "SELECT rowid FROM resource WHERE type = ?1 AND id = ?2",
            params![t.as_str(), id],
            |r| r.get(0),
        )
        .optional()?)
}

/// (Re)indexes one stored resource.
pub fn index(conn: &Connection, t: ResourceType, id: &str, content: &Value) -> Result<()> {
    let Some((title, body)) = text_of(t, content) else {
        return Ok(());
    };
    let Some(rowid) = rowid(conn, t, id)? else {
        return Ok(());
    };
    conn.execute("DELETE FROM text_index WHERE rowid = ?1", [rowid])?;
    conn.execute(
        "INSERT INTO text_index (rowid, type, id, title, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![rowid, t.as_str(), id, title, body],
    )?;
    Ok(())
}

/// Drops a resource from the index; call before the resource row goes.
pub fn unindex(conn: &Connection, t: ResourceType, id: &str) -> Result<()> {
    if let Some(rowid) = rowid(conn, t, id)? {
        conn.execute("DELETE FROM text_index WHERE rowid = ?1", [rowid])?;
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

/// Newest first, at most 20 hits.
pub fn search(conn: &Connection, text: &str) -> Result<Vec<SearchHit>> {
    let Some(query) = fts_query(text) else {
        return Ok(Vec::new());
    };
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
}
