//! Reading for the patient: education documents from the care unit, the ones
//! for the phase the patient is in first, readable offline, marked read on
//! this device. Content is markdown from the server, turned into HTML by
//! pulldown-cmark and then sanitised by ammonia: no scripts, no raw HTML, no
//! links or images that would load anything from elsewhere into the app.

use crate::care_cycle::Record;
use crate::contract::{EducationDoc, EducationItem};
use crate::error::{CoreError, Result};
use crate::store::Store;
use base64::Engine;
use carecycle_fhir::ResourceType;
use serde_json::Value;

const READ_PREFIX: &str = "read:";

fn attachment_text(doc: &Value) -> Option<String> {
    let data = doc["content"][0]["attachment"]["data"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Markdown from the server as HTML safe to show.
pub fn safe_html(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::Builder::default()
        // Nothing loads or navigates from elsewhere: links keep their text, images go.
        .rm_tags(["a", "img"])
        .clean(&html)
        .to_string()
}

fn phase_of(doc: &Value) -> Option<String> {
    doc["context"]["related"]
        .as_array()?
        .iter()
        .filter_map(|r| r["reference"].as_str())
        .find_map(|r| r.strip_prefix("CarePlan/").map(str::to_owned))
}

/// Every document, the current phase's first, then in the order of the phases;
/// where a document exists in the preferred language, that version only.
pub fn library(
    store: &Store,
    record: &Record,
    today: jiff::civil::Date,
    language: &str,
) -> Result<Vec<EducationItem>> {
    let docs = store.all(ResourceType::DocumentReference)?;
    let (plans, current) = crate::care_cycle::phases(record, today);
    let phases: Vec<(String, String)> = plans
        .iter()
        .map(|p| {
            (
                p.id.clone().unwrap_or_default(),
                p.title.clone().unwrap_or_default(),
            )
        })
        .collect();
    let current_phase = current.and_then(|i| phases.get(i)).map(|(_, t)| t.as_str());
    let language = language.split('-').next().unwrap_or("en").to_lowercase();
    let slug = |d: &Value| {
        d["identifier"][0]["value"]
            .as_str()
            .and_then(|v| v.rsplit_once('-').map(|(s, _)| s.to_owned()))
    };
    let lang = |d: &Value| {
        d["content"][0]["attachment"]["language"]
            .as_str()
            .unwrap_or("en")
            .to_lowercase()
    };
    let mut out = Vec::new();
    for d in docs.iter().filter(|d| d["status"] != "entered-in-error") {
        // A translation is shown only when there is no version in the preferred language.
        if lang(d) != language
            && let Some(s) = slug(d)
            && docs
                .iter()
                .any(|o| slug(o).as_deref() == Some(s.as_str()) && lang(o) == language)
        {
            continue;
        }
        let id = d["id"].as_str().unwrap_or_default().to_owned();
        let phase_id = phase_of(d);
        let (phase_index, phase_title) = phase_id
            .as_deref()
            .and_then(|p| {
                phases
                    .iter()
                    .position(|(id, _)| id == p)
                    .map(|i| (i, phases[i].1.clone()))
            })
            .map(|(i, t)| (i, Some(t)))
            .unwrap_or((usize::MAX, None));
        out.push((
            phase_index,
            EducationItem {
                id: format!("DocumentReference/{id}"),
                title: title_of(d).to_owned(),
                language: lang(d),
                current_phase: phase_title.is_some() && phase_title.as_deref() == current_phase,
                phase: phase_title,
                read: store.meta(&format!("{READ_PREFIX}{id}"))?.is_some(),
            },
        ));
    }
    out.sort_by(|(ia, a), (ib, b)| {
        (!a.current_phase, ia, &a.title).cmp(&(!b.current_phase, ib, &b.title))
    });
    Ok(out.into_iter().map(|(_, item)| item).collect())
}

/// One document as safe HTML; opening it marks it read on this device.
/// A reading on this device, by id ("DocumentReference/…" or the bare id).
pub fn get(store: &Store, id: &str) -> Result<(String, Value)> {
    let id = id.trim_start_matches("DocumentReference/");
    let doc = store
        .get(ResourceType::DocumentReference, id)?
        .ok_or_else(|| CoreError::NotHere("that reading"))?;
    Ok((id.to_owned(), doc))
}

/// A reading's title: its description, else its attachment's title.
pub fn title_of(doc: &Value) -> &str {
    doc["description"]
        .as_str()
        .or(doc["content"][0]["attachment"]["title"].as_str())
        .unwrap_or("Reading")
}

pub fn open(store: &Store, id: &str, now: &str) -> Result<EducationDoc> {
    let (id, doc) = get(store, id)?;
    let id = id.as_str();
    let markdown = attachment_text(&doc)
        .ok_or_else(|| CoreError::Data("this reading has no text the app can show".into()))?;
    store.set_meta(&format!("{READ_PREFIX}{id}"), now)?;
    let title = title_of(&doc).to_owned();
    // The app shows the title itself; a document that repeats it as its first heading loses that line.
    let markdown = match markdown.trim_start().split_once('\n') {
        Some((first, rest))
            if first
                .trim_start_matches('#')
                .trim()
                .eq_ignore_ascii_case(&title)
                && first.starts_with('#') =>
        {
            rest.to_owned()
        }
        _ => markdown,
    };
    Ok(EducationDoc {
        id: format!("DocumentReference/{id}"),
        title,
        language: doc["content"][0]["attachment"]["language"]
            .as_str()
            .unwrap_or("en")
            .to_owned(),
        html: safe_html(&markdown),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_safe_html() {
        let html = safe_html(
            "# Title\n\n- one\n- **two**\n\n<script>alert(1)</script>\n\n[a link](https://evil.example) ![img](https://evil.example/x.png)\n\n<iframe src=x></iframe><p onclick=\"x()\">hi</p>",
        );
        assert!(html.contains("<h1>Title</h1>"));
        assert!(html.contains("<li><strong>two</strong></li>"));
        for bad in [
            "<script", "alert(1)", "<a ", "href", "<img", "<iframe", "onclick",
        ] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("a link"), "link text stays");
    }
}
