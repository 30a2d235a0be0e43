//! Messages with the care team, from the local store: threads (a first
//! message and everything `partOf` it), who answers each and by when (the
//! thread's reply Task), and the state of what the patient wrote.

use crate::contract::{
    AttachmentView, MessageView, NewAttachment, Outgoing, ThreadSummary, ThreadView,
};
use crate::error::{CoreError, Invalid, Result};
use crate::outbox::{self, ItemState};
use crate::store::Store;
use carecycle_fhir::ResourceType;
use carecycle_fhir::time::FhirDateTime;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

pub use carecycle_fhir::{MESSAGE_KIND_SYSTEM, MESSAGE_KINDS as KINDS};
/// Longest message the app sends (a long letter; attachments travel apart).
pub const MAX_MESSAGE_CHARS: usize = 10_000;
/// Largest file a message carries: a phone photo fits; the back end's request
/// limit (8 MiB of JSON) leaves room for the base64 and the rest.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
/// What a patient may attach, by the type read from the file's bytes.
const ATTACHMENT_TYPES: [&str; 5] = [
    "image/jpeg",
    "image/png",
    "image/heif",
    "image/heic",
    "application/pdf",
];

/// Checks a file the patient attaches — its real type (from its bytes) and
/// its size — and makes the FHIR attachment. Errors say what to do instead.
pub fn attachment(file: &NewAttachment, now: Timestamp) -> Result<Value> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(file.data_base64.trim())
        .map_err(|_| CoreError::InvalidInput(Invalid::FileUnreadable))?;
    if bytes.is_empty() {
        return Err(CoreError::InvalidInput(Invalid::FileEmpty));
    }
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        return Err(CoreError::InvalidInput(Invalid::FileTooLarge {
            tenths_of_mb: u32::try_from((bytes.len() * 10).div_ceil(1_048_576)).unwrap_or(u32::MAX),
            limit_mb: (MAX_ATTACHMENT_BYTES / 1_048_576) as u32,
        }));
    }
    let content_type = infer::get(&bytes)
        .map(|t| t.mime_type())
        .filter(|t| ATTACHMENT_TYPES.contains(t))
        .ok_or(CoreError::InvalidInput(Invalid::FileType))?;
    let name = file.name.trim();
    Ok(json!({
        "contentType": content_type,
        "data": file.data_base64.trim(),
        "title": if name.is_empty() { "Attachment" } else { name },
        "size": bytes.len(),
        "creation": carecycle_fhir::time::format_instant(now),
    }))
}

fn attachments_of(m: &Value) -> Vec<AttachmentView> {
    m["payload"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("contentAttachment"))
        .map(|a| {
            let carried = a["data"].as_str().and_then(decoded_within_limit);
            // The type is read from the bytes, never taken from the server;
            // only a photo whose bytes say so is shown in place.
            let sniffed = carried
                .as_deref()
                .and_then(infer::get)
                .map(|t| t.mime_type())
                .filter(|t| ATTACHMENT_TYPES.contains(t));
            let content_type = sniffed.unwrap_or("application/octet-stream");
            AttachmentView {
                title: a["title"].as_str().map(str::to_owned),
                content_type: content_type.to_owned(),
                size: carried
                    .as_ref()
                    .map(|b| b.len() as u64)
                    .or_else(|| a["size"].as_u64()),
                data_url: a["data"]
                    .as_str()
                    .filter(|_| matches!(sniffed, Some("image/jpeg" | "image/png")))
                    .map(|d| format!("data:{content_type};base64,{d}")),
            }
        })
        .collect()
}

/// The bytes of an attachment's base64 `data`, if it is valid and no larger
/// than a patient could have attached.
fn decoded_within_limit(data: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    if data.len() > MAX_ATTACHMENT_BYTES.div_ceil(3) * 4 + 4 {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .ok()
        .filter(|b| b.len() <= MAX_ATTACHMENT_BYTES)
}

fn text_of(m: &Value) -> String {
    m["payload"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["contentString"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The elements a message names its thread by (the first message's id).
const THREAD_LINKS: [&str; 2] = ["partOf", "inResponseTo"];

fn root_of(m: &Value) -> Option<String> {
    THREAD_LINKS
        .iter()
        .filter_map(|el| m[*el].as_array())
        .flatten()
        .filter_map(|r| r["reference"].as_str())
        .find_map(|r| r.strip_prefix("Communication/").map(str::to_owned))
}

fn from_patient(m: &Value, patient: &str) -> bool {
    m["sender"]["reference"]
        .as_str()
        .is_none_or(|r| r == format!("Patient/{patient}") || r.starts_with("RelatedPerson/"))
}

/// What building many message views shares: the send states of the
/// patient's messages (one query) and the team members' names (each read once).
struct Views<'a> {
    store: &'a Store,
    patient: &'a str,
    states: HashMap<String, (ItemState, Option<String>)>,
    names: HashMap<String, Option<String>>,
}

impl<'a> Views<'a> {
    fn new(store: &'a Store, patient: &'a str) -> Result<Views<'a>> {
        Ok(Views {
            store,
            patient,
            states: outbox::states_of(store.connection_ref(), ResourceType::Communication)?,
            names: HashMap::new(),
        })
    }

    /// Who wrote it: the reference's display, else the name of the Practitioner
    /// it points at (servers and the team's tools often send only the reference).
    fn sender_name(&mut self, m: &Value) -> Result<Option<String>> {
        if let Some(display) = m["sender"]["display"].as_str() {
            return Ok(Some(display.to_owned()));
        }
        let Some(id) = m["sender"]["reference"]
            .as_str()
            .and_then(|r| r.strip_prefix("Practitioner/"))
        else {
            return Ok(None);
        };
        if let Some(name) = self.names.get(id) {
            return Ok(name.clone());
        }
        let name = self
            .store
            .get(ResourceType::Practitioner, id)?
            .and_then(|p| {
                serde_json::from_value::<Vec<carecycle_fhir::HumanName>>(p["name"].clone()).ok()
            })
            .and_then(|names| carecycle_fhir::preferred_name(&names));
        self.names.insert(id.to_owned(), name.clone());
        Ok(name)
    }

    /// A thread with the views of its messages.
    fn thread(&mut self, summary: ThreadSummary, list: &[&Value]) -> Result<ThreadView> {
        let messages = list
            .iter()
            .map(|m| self.message(m))
            .collect::<Result<_>>()?;
        Ok(ThreadView { summary, messages })
    }

    fn message(&mut self, m: &Value) -> Result<MessageView> {
        let id = m["id"].as_str().unwrap_or_default().to_owned();
        let from_me = from_patient(m, self.patient);
        // Only what the patient wrote is "waiting to send"; the read mark queued
        // on the team's message is not theirs to worry about.
        let state = if from_me {
            self.states.get(&id).cloned()
        } else {
            None
        };
        Ok(MessageView {
            id: format!("Communication/{id}"),
            from_me,
            sender: self.sender_name(m)?,
            sent: m["sent"].as_str().map(str::to_owned),
            text: text_of(m),
            state: state.as_ref().map_or(ItemState::Sent, |(s, _)| *s),
            retrying: matches!(state, Some((ItemState::Pending, Some(_)))),
            server_said: state.and_then(|(s, e)| (s == ItemState::Failed).then_some(e).flatten()),
            attachments: attachments_of(m),
            unread: is_unread(m, self.patient),
        })
    }
}

/// Every thread, the one with the newest message first, as the list shows
/// them: nothing is built of their messages but what the list says.
pub fn thread_list(store: &Store, patient: &str, now: Timestamp) -> Result<Vec<ThreadSummary>> {
    let mut out: Vec<ThreadSummary> = Threads::read(store)?
        .each(patient, now)
        .map(|(summary, _)| summary)
        .collect();
    out.sort_by(|a, b| b.last_sent.cmp(&a.last_sent));
    Ok(out)
}

/// Every thread with every message, the one with the newest message first.
pub fn threads(store: &Store, patient: &str, now: Timestamp) -> Result<Vec<ThreadView>> {
    let threads = Threads::read(store)?;
    let mut views = Views::new(store, patient)?;
    let mut out = threads
        .each(patient, now)
        .map(|(summary, list)| views.thread(summary, &list))
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| b.summary.last_sent.cmp(&a.summary.last_sent));
    Ok(out)
}

/// One thread (`Communication/{id}` of its first message) with every message;
/// None when this device has no such thread.
pub fn thread(
    store: &Store,
    patient: &str,
    id: &str,
    now: Timestamp,
) -> Result<Option<ThreadView>> {
    let Some(root) = id.strip_prefix("Communication/") else {
        return Ok(None);
    };
    // A thread started on this device is known by its local id until the
    // server gives its first message one: either finds it.
    let sent_as = match store.get(ResourceType::Communication, root)? {
        Some(_) => None,
        None => outbox::server_id_of(store.connection_ref(), "Communication", root)?,
    };
    let root = sent_as.as_deref().unwrap_or(root);
    let id = format!("Communication/{root}");
    // Only this thread's messages and the tasks about it are read.
    let threads = Threads {
        messages: store.pointing_to(ResourceType::Communication, root, &THREAD_LINKS)?,
        tasks: store.all_where(ResourceType::Task, "$.focus.reference", &id)?,
    };
    let Some((summary, list)) = threads.each(patient, now).find(|(s, _)| s.id == id) else {
        return Ok(None);
    };
    Views::new(store, patient)?.thread(summary, &list).map(Some)
}

/// The record's messages grouped by thread, and the team's reply owed on each.
struct Threads {
    messages: Vec<Value>,
    tasks: Vec<Value>,
}

impl Threads {
    fn read(store: &Store) -> Result<Threads> {
        Ok(Threads {
            messages: store.all(ResourceType::Communication)?,
            tasks: store.all(ResourceType::Task)?,
        })
    }

    /// Each thread's summary and its messages, oldest first.
    fn each<'a>(
        &'a self,
        patient: &'a str,
        now: Timestamp,
    ) -> impl Iterator<Item = (ThreadSummary, Vec<&'a Value>)> + 'a {
        // The team's reply owed on each thread, by the thread it is about.
        let mut replies: HashMap<&str, &Value> = HashMap::new();
        for t in self
            .tasks
            .iter()
            .filter(|t| carecycle_fhir::task_kind(t) == Some("reply"))
        {
            if let Some(root) = t["focus"]["reference"]
                .as_str()
                .and_then(|r| r.strip_prefix("Communication/"))
            {
                replies.entry(root).or_insert(t);
            }
        }
        let mut by_root: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for m in &self.messages {
            let id = m["id"].as_str().unwrap_or_default().to_owned();
            by_root.entry(root_of(m).unwrap_or(id)).or_default().push(m);
        }
        by_root.into_iter().filter_map(move |(root, mut list)| {
            list.sort_by(|a, b| a["sent"].as_str().cmp(&b["sent"].as_str()));
            let first = *list
                .iter()
                .find(|m| m["id"] == root.as_str())
                .or(list.first())?;
            let waiting = replies.get(root.as_str()).copied().filter(|t| {
                matches!(
                    t["status"].as_str(),
                    Some("requested" | "received" | "accepted" | "in-progress")
                )
            });
            let due = waiting
                .and_then(|t| t["restriction"]["period"]["end"].as_str())
                .map(str::to_owned);
            let overdue = due
                .as_deref()
                .and_then(|d| FhirDateTime::parse(d).ok())
                .is_some_and(|d| d.start_instant(&TimeZone::UTC) < now);
            let summary = ThreadSummary {
                id: format!("Communication/{root}"),
                subject: first["topic"]["text"].as_str().map(str::to_owned),
                kind: carecycle_fhir::message_kind(first).to_owned(),
                answered_by: waiting
                    .and_then(|t| t["owner"]["display"].as_str())
                    .map(str::to_owned),
                reply_due: due,
                overdue,
                unread: list.iter().filter(|m| is_unread(m, patient)).count() as u32,
                last_sent: list
                    .last()
                    .and_then(|m| m["sent"].as_str())
                    .map(str::to_owned),
                preview: list.last().map(|m| text_of(m)).filter(|t| !t.is_empty()),
            };
            Some((summary, list))
        })
    }
}

/// A message from the team the patient has not opened yet.
fn is_unread(m: &Value, patient: &str) -> bool {
    !from_patient(m, patient) && m.get("received").is_none()
}

/// Marks the team's messages in a thread as read: `Communication.received`
/// (when it reached the patient) is set and synced with If-Match, so the team
/// sees it was read and the patient's other devices stop calling it new.
/// Returns how many were marked.
pub fn mark_read(store: &mut Store, patient: &str, thread: &str, now: Timestamp) -> Result<u32> {
    let root = thread.trim_start_matches("Communication/");
    let unread: Vec<Value> = store
        .all(ResourceType::Communication)?
        .into_iter()
        .filter(|m| {
            let id = m["id"].as_str().unwrap_or_default();
            (id == root || root_of(m).as_deref() == Some(root))
                && !from_patient(m, patient)
                && m.get("received").is_none()
        })
        .collect();
    let stamp = carecycle_fhir::time::format_instant(now);
    for mut m in unread.iter().cloned() {
        let id = m["id"].as_str().unwrap_or_default().to_owned();
        m["received"] = json!(stamp);
        outbox::queue_update(store.connection(), ResourceType::Communication, &id, m, now)?;
    }
    Ok(unread.len() as u32)
}

fn draft_key(thread: Option<&str>) -> String {
    format!(
        "message_draft:{}",
        thread
            .map(|t| t.trim_start_matches("Communication/"))
            .unwrap_or("new")
    )
}

/// What the patient has started writing in a thread (or a new message), kept
/// in the encrypted store so it survives a restart. Empty text clears it.
pub fn save_draft(store: &Store, thread: Option<&str>, text: &str) -> Result<()> {
    store.set_meta(&draft_key(thread), text)
}

pub fn draft(store: &Store, thread: Option<&str>) -> Result<Option<String>> {
    Ok(store.meta(&draft_key(thread))?.filter(|t| !t.is_empty()))
}

/// Writes a message locally and queues it: it shows as pending at once, and
/// goes out with the next sync, exactly once. A new message may be about a
/// reading (`about`: "DocumentReference/…"): it says so in its subject and
/// links the document, so the team sees what the question is about. A photo
/// or PDF may go with it (checked by [`attachment`]). The draft of that
/// thread is cleared.
pub fn send(store: &mut Store, patient: &str, out: &Outgoing, now: Timestamp) -> Result<String> {
    let thread = out.thread.as_deref();
    let text = out.text.trim();
    let file = out
        .attachment
        .as_ref()
        .map(|f| attachment(f, now))
        .transpose()?;
    if text.is_empty() && file.is_none() {
        return Err(CoreError::InvalidInput(Invalid::MessageEmpty));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(CoreError::InvalidInput(Invalid::MessageTooLong {
            limit: MAX_MESSAGE_CHARS as u32,
        }));
    }
    let mut m = json!({
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": format!("Patient/{patient}")},
        "sender": {"reference": format!("Patient/{patient}")},
        "recipient": [{"display": "Your care team"}],
        "sent": carecycle_fhir::time::format_instant(now),
        "payload": []
    });
    if !text.is_empty() {
        m["payload"] = json!([{"contentString": text}]);
    }
    if let (Some(file), Some(list)) = (file, m["payload"].as_array_mut()) {
        list.push(json!({"contentAttachment": file}));
    }
    match thread {
        Some(root) => {
            let id = root.trim_start_matches("Communication/");
            if store.get(ResourceType::Communication, id)?.is_none() {
                return Err(CoreError::NotHere("that conversation"));
            }
            m["partOf"] = json!([{"reference": format!("Communication/{id}")}]);
        }
        None => {
            let kind = out.kind.as_deref().unwrap_or("other");
            if !KINDS.iter().any(|(k, _)| *k == kind) {
                return Err(CoreError::InvalidInput(Invalid::malformed(format!(
                    "unknown kind of message: {kind}"
                ))));
            }
            m["category"] = json!([{"coding": [{"system": MESSAGE_KIND_SYSTEM, "code": kind}]}]);
            if let Some(about) = out.about.as_deref() {
                let (id, doc) = crate::education::get(store, about)?;
                let title = crate::education::title_of(&doc);
                m["about"] =
                    json!([{"reference": format!("DocumentReference/{id}"), "display": title}]);
                m["topic"] = json!({"text": format!("Question about “{title}”")});
            }
        }
    }
    let local = outbox::queue_create(store.connection(), ResourceType::Communication, m, now)?;
    save_draft(store, thread, "")?;
    Ok(format!("Communication/{local}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{apply_page, new_database_key};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("p.db"), &new_database_key()).unwrap();
        let doc = json!({"resourceType": "DocumentReference", "id": "d1", "status": "current",
            "description": "Exercises before surgery",
            "content": [{"attachment": {"contentType": "text/markdown", "data": "IyBIaQ=="}}]});
        apply_page(
            store.connection(),
            &[(ResourceType::DocumentReference, "d1".to_owned(), doc)],
            None,
        )
        .unwrap();
        (dir, store)
    }

    fn now() -> Timestamp {
        "2026-11-23T15:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_question_about_a_reading_names_and_links_it() {
        let (_dir, mut s) = store();
        let ask = |about: &str, text: &str| Outgoing {
            kind: Some("clinical".into()),
            about: Some(about.into()),
            text: text.into(),
            ..Default::default()
        };
        let id = send(
            &mut s,
            "p1",
            &ask("DocumentReference/d1", "Can I cycle instead?"),
            now(),
        )
        .unwrap();
        let m = s
            .get(
                ResourceType::Communication,
                id.trim_start_matches("Communication/"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(m["about"][0]["reference"], "DocumentReference/d1");
        assert_eq!(
            m["topic"]["text"],
            "Question about “Exercises before surgery”"
        );
        let err = send(&mut s, "p1", &ask("DocumentReference/gone", "?"), now()).unwrap_err();
        assert!(err.to_string().contains("not on this device"), "{err}");
    }

    #[test]
    fn drafts_are_kept_per_thread_and_cleared_by_sending() {
        let (_dir, mut s) = store();
        save_draft(&s, None, "Dear team,").unwrap();
        save_draft(&s, Some("Communication/t1"), "Half a reply").unwrap();
        assert_eq!(draft(&s, None).unwrap().as_deref(), Some("Dear team,"));
        assert_eq!(
            draft(&s, Some("t1")).unwrap().as_deref(),
            Some("Half a reply")
        );
        let hello = Outgoing {
            kind: Some("other".into()),
            text: "Dear team, hello".into(),
            ..Default::default()
        };
        send(&mut s, "p1", &hello, now()).unwrap();
        assert_eq!(draft(&s, None).unwrap(), None);
        assert_eq!(
            draft(&s, Some("t1")).unwrap().as_deref(),
            Some("Half a reply"),
            "other threads keep theirs"
        );
    }

    fn file(name: &str, bytes: &[u8]) -> NewAttachment {
        use base64::Engine as _;
        NewAttachment {
            name: name.into(),
            data_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// The smallest valid PNG: a 1×1 transparent pixel.
    const PNG: [u8; 67] = [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn a_photo_goes_with_the_message_and_shows_in_the_thread() {
        let (_dir, mut s) = store();
        let out = Outgoing {
            kind: Some("clinical".into()),
            text: "The wound looks red today".into(),
            attachment: Some(file("wound.png", &PNG)),
            ..Default::default()
        };
        send(&mut s, "p1", &out, now()).unwrap();
        let threads = threads(&s, "p1", now()).unwrap();
        let m = &threads[0].messages[0];
        assert_eq!(m.text, "The wound looks red today");
        assert_eq!(m.attachments.len(), 1);
        let a = &m.attachments[0];
        assert_eq!(
            (a.title.as_deref(), a.content_type.as_str(), a.size),
            (Some("wound.png"), "image/png", Some(67))
        );
        assert!(
            a.data_url
                .as_deref()
                .unwrap()
                .starts_with("data:image/png;base64,iVBOR")
        );
        // A photo alone is a message too.
        let only = Outgoing {
            kind: Some("clinical".into()),
            attachment: Some(file("wound.png", &PNG)),
            ..Default::default()
        };
        send(&mut s, "p1", &only, now()).unwrap();
    }

    #[test]
    fn an_incoming_attachment_is_typed_by_its_bytes_not_by_the_server() {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let message = |content_type: &str, data: String, size: u64| {
            json!({"payload": [{"contentAttachment": {"contentType": content_type,
                "data": data, "title": "x", "size": size}}]})
        };
        // Declared a photo, but the bytes are a web page: never shown in place.
        let html = message("image/png", b64(b"<html><script>alert(1)</script>"), 9);
        let a = &attachments_of(&html)[0];
        assert_eq!(a.content_type, "application/octet-stream");
        assert_eq!((a.data_url.as_deref(), a.size), (None, Some(31)));
        // Declared as something else, but the bytes are a PNG: a photo.
        let png = message("text/html", b64(&PNG), 1_000_000_000);
        let a = &attachments_of(&png)[0];
        assert_eq!((a.content_type.as_str(), a.size), ("image/png", Some(67)));
        assert!(
            a.data_url
                .as_deref()
                .unwrap()
                .starts_with("data:image/png;")
        );
        // A PDF is listed, not shown; data that is no base64 or larger than
        // anything a patient could attach is not decoded.
        let pdf = message("application/pdf", b64(b"%PDF-1.4\n%fake"), 15);
        assert_eq!(attachments_of(&pdf)[0].content_type, "application/pdf");
        assert_eq!(attachments_of(&pdf)[0].data_url, None);
        for data in [
            "%%% not base64".to_owned(),
            "A".repeat(MAX_ATTACHMENT_BYTES * 2),
        ] {
            let a = &attachments_of(&message("image/png", data, 5))[0];
            assert_eq!(
                (a.content_type.as_str(), &a.data_url),
                ("application/octet-stream", &None)
            );
        }
    }

    #[test]
    fn files_of_the_wrong_kind_or_too_big_are_refused_and_nothing_is_queued() {
        let (_dir, mut s) = store();
        let with = |f: NewAttachment| Outgoing {
            kind: Some("clinical".into()),
            text: "See attached".into(),
            attachment: Some(f),
            ..Default::default()
        };
        // A program named like a photo is still a program.
        let exe = send(
            &mut s,
            "p1",
            &with(file("photo.jpg", b"\x7fELF\x02\x01\x01\x00rest")),
            now(),
        )
        .unwrap_err();
        assert!(
            matches!(exe, CoreError::InvalidInput(Invalid::FileType)),
            "{exe}"
        );
        let mut big = PNG.to_vec();
        big.resize(MAX_ATTACHMENT_BYTES + 1, 0);
        let err = send(&mut s, "p1", &with(file("huge.png", &big)), now()).unwrap_err();
        // Just over 5 MB is said as 5.1 MB (rounded up: never "5.0 MB, the limit is 5 MB").
        assert!(
            matches!(
                err,
                CoreError::InvalidInput(Invalid::FileTooLarge {
                    tenths_of_mb: 51,
                    limit_mb: 5
                })
            ),
            "{err}"
        );
        let err = send(
            &mut s,
            "p1",
            &with(NewAttachment {
                name: "x.png".into(),
                data_base64: "not base64!".into(),
            }),
            now(),
        )
        .unwrap_err();
        assert!(
            matches!(err, CoreError::InvalidInput(Invalid::FileUnreadable)),
            "{err}"
        );
        assert!(
            threads(&s, "p1", now()).unwrap().is_empty(),
            "nothing was queued"
        );
        let pdf = send(
            &mut s,
            "p1",
            &with(file("letter.pdf", b"%PDF-1.7\n%...")),
            now(),
        );
        assert!(pdf.is_ok(), "{pdf:?}");
    }

    #[test]
    fn opening_a_thread_marks_the_teams_messages_read_once() {
        let (_dir, mut s) = store();
        let team = json!({"resourceType": "Communication", "id": "t1", "status": "completed",
            "sender": {"reference": "Practitioner/pr"}, "sent": "2026-11-22T10:00:00Z",
            "meta": {"versionId": "1"}, "payload": [{"contentString": "How is the knee?"}]});
        apply_page(
            s.connection(),
            &[(ResourceType::Communication, "t1".to_owned(), team)],
            None,
        )
        .unwrap();
        let reply = Outgoing {
            thread: Some("Communication/t1".into()),
            text: "Better, thanks".into(),
            ..Default::default()
        };
        send(&mut s, "p1", &reply, now()).unwrap();
        assert_eq!(
            thread_list(&s, "p1", now()).unwrap()[0].unread,
            1,
            "my own reply is not unread"
        );
        assert_eq!(
            mark_read(&mut s, "p1", "Communication/t1", now()).unwrap(),
            1
        );
        let t = &threads(&s, "p1", now()).unwrap()[0];
        assert_eq!(t.summary.unread, 0);
        // The list says what the full threads say, and one thread is the same
        // as it is among all of them.
        assert_eq!(
            thread_list(&s, "p1", now()).unwrap(),
            threads(&s, "p1", now())
                .unwrap()
                .into_iter()
                .map(|t| t.summary)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            thread(&s, "p1", "Communication/t1", now())
                .unwrap()
                .as_ref(),
            Some(t)
        );
        assert_eq!(thread(&s, "p1", "Communication/nope", now()).unwrap(), None);
        assert_eq!(t.summary.preview.as_deref(), Some("Better, thanks"));
        // The read mark waits in the outbox, but the team's message is not the
        // patient's to send: it never reads "waiting to send".
        let theirs = t.messages.iter().find(|m| !m.from_me).unwrap();
        assert_eq!(theirs.state, ItemState::Sent);
        assert_eq!(
            s.get(ResourceType::Communication, "t1").unwrap().unwrap()["received"],
            carecycle_fhir::time::format_instant(now())
        );
        assert_eq!(mark_read(&mut s, "p1", "t1", now()).unwrap(), 0, "once");
    }
}
