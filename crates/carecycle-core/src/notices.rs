//! Desktop notifications: what is worth telling the patient about — a new
//! message from the team, a questionnaire that is now due, an appointment
//! tomorrow, a checklist item due — worked out from the store after a sync.
//! Each notice has a stable key and is given once per device. The first time
//! a record is looked at, what is already there is taken as known (nobody
//! wants forty notifications for last month's messages).
//!
//! By default the text carries no health information ("New message from your
//! care team"): notifications show on lock screens and shared computers. The
//! patient may choose more detail (who wrote, which questionnaire, which
//! appointment), a setting kept with the record on this device.

use crate::care_cycle::{self, Record};
use crate::contract::StepKind;
use crate::error::Result;
use crate::messages;
use crate::questionnaires;
use crate::store::Store;
use crate::words::{self, Due, Lang, Phrase, say};
use jiff::Timestamp;
use rusqlite::params;
use serde::Serialize;

const DETAIL_KEY: &str = "notification_detail";
const BASELINE_KEY: &str = "notices_baseline";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NoticeKind {
    Message,
    Questionnaire,
    Appointment,
    Checklist,
}

/// One notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// Stable: the same event never notifies twice.
    pub key: String,
    pub kind: NoticeKind,
    pub title: String,
    pub body: String,
}

pub fn detail(store: &Store) -> Result<bool> {
    Ok(store.meta(DETAIL_KEY)?.as_deref() == Some("on"))
}

pub fn set_detail(store: &Store, on: bool) -> Result<()> {
    store.set_meta(DETAIL_KEY, if on { "on" } else { "off" })
}

/// Everything that could be notified now, with its text in `lang`.
pub fn candidates(
    store: &Store,
    patient: &str,
    now: Timestamp,
    detailed: bool,
    lang: Lang,
) -> Result<Vec<Notice>> {
    let private = || say(lang, Phrase::PrivateTitle);
    let record = Record::load(store, lang.code())?;
    let tz = record.time_zone();
    let mut out = Vec::new();

    for thread in messages::threads(store, patient, now)? {
        for m in thread
            .messages
            .iter()
            .filter(|m| !m.from_me && m.state == crate::outbox::ItemState::Sent)
        {
            let (title, body) =
                match (&m.sender, detailed) {
                    (Some(who), true) => (
                        say(lang, Phrase::MessageFrom { who }),
                        say(
                            lang,
                            Phrase::About {
                                subject: &thread.summary.subject.clone().unwrap_or_else(|| {
                                    words::kind_label(lang, &thread.summary.kind)
                                }),
                            },
                        ),
                    ),
                    _ => (private(), say(lang, Phrase::NewMessage)),
                };
            out.push(Notice {
                key: format!("message:{}", m.id),
                kind: NoticeKind::Message,
                title,
                body,
            });
        }
    }

    for q in questionnaires::due_list(store, now, &tz, lang.code())?
        .into_iter()
        .filter(|q| q.answerable)
    {
        let (title, body) = if detailed {
            (
                say(lang, Phrase::QuestionnaireToAnswer),
                match &q.title {
                    Some(title) => say(lang, Phrase::QuestionnaireReadyNamed { title }),
                    None => say(lang, Phrase::QuestionnaireReady),
                },
            )
        } else {
            (private(), say(lang, Phrase::QuestionnaireReady))
        };
        out.push(Notice {
            key: format!("questionnaire:{}", q.task_id),
            kind: NoticeKind::Questionnaire,
            title,
            body,
        });
    }

    let today = now.to_zoned(tz.clone()).date();
    let tomorrow = today.tomorrow().unwrap_or(today).to_string();
    let today = today.to_string();
    for step in care_cycle::next_steps(&record, now, &tz) {
        match step.kind {
            StepKind::Appointment if step.date == tomorrow => {
                let at = step.time.as_deref().unwrap_or_default();
                let (title, body) = if detailed {
                    (
                        say(lang, Phrase::AppointmentTomorrowTitle),
                        say(
                            lang,
                            Phrase::AppointmentTomorrowAt {
                                title: &step.title,
                                at,
                                place: step.place.as_deref(),
                            },
                        ),
                    )
                } else {
                    (private(), say(lang, Phrase::AppointmentTomorrow))
                };
                out.push(Notice {
                    // A moved appointment is news again.
                    key: format!("appointment:{}:{}T{at}", step.id, step.date),
                    kind: NoticeKind::Appointment,
                    title,
                    body,
                });
            }
            StepKind::Checklist if step.date <= tomorrow => {
                let when = if step.date == tomorrow {
                    Due::Tomorrow
                } else if step.date == today {
                    Due::Today
                } else {
                    Due::Now
                };
                let (title, body) = if detailed {
                    (
                        say(lang, Phrase::ChecklistTitle),
                        say(
                            lang,
                            Phrase::ChecklistItemDue {
                                title: &step.title,
                                when,
                            },
                        ),
                    )
                } else {
                    (private(), say(lang, Phrase::ChecklistDue { when }))
                };
                out.push(Notice {
                    key: format!("checklist:{}:{}", step.id, step.date),
                    kind: NoticeKind::Checklist,
                    title,
                    body,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The notices not given before, now marked as given, worded in `lang`. The
/// first call for a record gives none and takes everything already there as
/// known. While the app is `locked` they carry no detail, whatever the patient
/// chose.
pub fn take_new(
    store: &mut Store,
    patient: &str,
    now: Timestamp,
    locked: bool,
    lang: Lang,
) -> Result<Vec<Notice>> {
    let detailed = detail(store)? && !locked;
    let all = candidates(store, patient, now, detailed, lang)?;
    let first_time = store.meta(BASELINE_KEY)?.is_none();
    let stamp = now.to_string();
    let tx = store.connection().transaction()?;
    let mut fresh = Vec::new();
    for notice in all {
        let added = tx.execute(
            "INSERT OR IGNORE INTO notified (key, at) VALUES (?1, ?2)",
            params![notice.key, stamp],
        )?;
        if added > 0 && !first_time {
            fresh.push(notice);
        }
    }
    tx.execute(
        "INSERT INTO profile_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        params![BASELINE_KEY, stamp],
    )?;
    tx.commit()?;
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{apply_page, new_database_key};
    use carecycle_fhir::ResourceType;
    use serde_json::json;

    fn now() -> Timestamp {
        // Monday 23 November 2026, 9:00 in Chicago.
        "2026-11-23T15:00:00Z".parse().unwrap()
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("p.db"), &new_database_key()).unwrap();
        let page = vec![
            (
                ResourceType::Patient,
                "p1".to_owned(),
                json!({"resourceType": "Patient", "id": "p1", "name": [{"given": ["Ana"], "family": "Ruiz"}]}),
            ),
            (
                ResourceType::Communication,
                "old".to_owned(),
                json!({"resourceType": "Communication", "id": "old", "status": "completed",
                    "sender": {"reference": "Practitioner/pr", "display": "Priya Raman, RN"},
                    "topic": {"text": "Your knee brace"}, "sent": "2026-11-01T10:00:00Z", "payload": [{"contentString": "Old news"}]}),
            ),
        ];
        let org = json!({"resourceType": "Organization", "id": "o1", "name": "Riverside",
            "extension": [{"url": care_cycle::TIME_ZONE_EXTENSION, "valueCode": "America/Chicago"}]});
        let episode = json!({"resourceType": "EpisodeOfCare", "id": "e1", "status": "active",
            "patient": {"reference": "Patient/p1"}, "managingOrganization": {"reference": "Organization/o1"}});
        let mut page = page;
        page.push((ResourceType::Organization, "o1".to_owned(), org));
        page.push((ResourceType::EpisodeOfCare, "e1".to_owned(), episode));
        apply_page(store.connection(), &page, None).unwrap();
        store.set_patient_id("p1").unwrap();
        (dir, store)
    }

    fn add(store: &mut Store, t: ResourceType, id: &str, v: serde_json::Value) {
        apply_page(store.connection(), &[(t, id.to_owned(), v)], None).unwrap();
    }

    fn questionnaire_task(id: &str, title: &str, start: &str, end: &str) -> serde_json::Value {
        json!({"resourceType": "Task", "id": id, "status": "requested",
            "code": {"coding": [{"system": carecycle_fhir::TASK_KIND_SYSTEM, "code": "questionnaire"}]},
            "description": title, "restriction": {"period": {"start": start, "end": end}}})
    }

    /// The pre-operative assessment, on 24 November at `time` (Chicago, UTC−6).
    fn assessment_at(time: &str, updated: &str) -> serde_json::Value {
        json!({"resourceType": "Appointment", "id": "a", "status": "booked",
            "description": "Pre-operative assessment", "start": format!("2026-11-24T{time}:00-06:00"),
            "meta": {"lastUpdated": updated},
            "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"}]})
    }

    /// A reply from the nurse about an MRI, and a PHQ-9 due now: both health details.
    fn add_reply_and_mood_check(s: &mut Store) {
        add(
            s,
            ResourceType::Communication,
            "new",
            json!({"resourceType": "Communication", "id": "new", "status": "completed",
            "sender": {"reference": "Practitioner/pr", "display": "Priya Raman, RN"}, "partOf": [{"reference": "Communication/old"}],
            "sent": "2026-11-23T14:00:00Z", "payload": [{"contentString": "Your MRI shows a tear"}]}),
        );
        add(
            s,
            ResourceType::Task,
            "q",
            questionnaire_task("q", "Mood check (PHQ-9)", "2026-11-22", "2026-11-30"),
        );
    }

    #[test]
    fn what_was_there_is_known_and_each_new_thing_notifies_once_without_health_details() {
        let (_dir, mut s) = store();
        assert!(
            take_new(&mut s, "p1", now(), false, Lang::En)
                .unwrap()
                .is_empty(),
            "baseline"
        );
        add_reply_and_mood_check(&mut s);
        add(
            &mut s,
            ResourceType::Task,
            "later",
            questionnaire_task("later", "Knee health", "2027-01-10", "2027-01-20"),
        );
        add(
            &mut s,
            ResourceType::Appointment,
            "a",
            assessment_at("10:00", "2026-11-20T10:00:00Z"),
        );
        add(
            &mut s,
            ResourceType::Task,
            "c",
            json!({"resourceType": "Task", "id": "c", "status": "requested", "intent": "order",
            "code": {"coding": [{"system": carecycle_fhir::TASK_KIND_SYSTEM, "code": "checklist"}]},
            "description": "Stop your blood thinner", "restriction": {"period": {"end": "2026-11-23"}}}),
        );

        let notices = take_new(&mut s, "p1", now(), false, Lang::En).unwrap();
        let kinds: Vec<NoticeKind> = notices.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            [
                NoticeKind::Message,
                NoticeKind::Questionnaire,
                NoticeKind::Checklist,
                NoticeKind::Appointment
            ],
            "{notices:#?}"
        );
        for n in &notices {
            assert_eq!(n.title, "CareCycle");
            for private in [
                "MRI",
                "Priya",
                "PHQ",
                "Pre-operative",
                "blood thinner",
                "knee",
            ] {
                assert!(!n.body.contains(private), "{private} in {n:?}");
            }
        }
        assert_eq!(notices[0].body, "New message from your care team");
        assert!(
            take_new(&mut s, "p1", now(), false, Lang::En)
                .unwrap()
                .is_empty(),
            "each notifies once"
        );

        // Moved to another day, the appointment is news again; with detail on, it says what.
        set_detail(&s, true).unwrap();
        add(
            &mut s,
            ResourceType::Appointment,
            "a",
            assessment_at("14:00", "2026-11-23T14:00:00Z"),
        );
        let again = take_new(&mut s, "p1", now(), false, Lang::En).unwrap();
        assert_eq!(again.len(), 1, "{again:#?}");
        assert_eq!(again[0].body, "Pre-operative assessment tomorrow at 14:00.");
    }

    #[test]
    fn detail_names_the_sender_and_the_subject() {
        let (_dir, mut s) = store();
        set_detail(&s, true).unwrap();
        let all = candidates(&s, "p1", now(), detail(&s).unwrap(), Lang::En).unwrap();
        assert_eq!(all[0].title, "Message from Priya Raman, RN");
        assert_eq!(all[0].body, "About: Your knee brace");
        assert!(
            take_new(&mut s, "p1", now(), false, Lang::En)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn while_locked_notices_carry_no_detail_even_when_chosen() {
        let (_dir, mut s) = store();
        set_detail(&s, true).unwrap();
        assert!(
            take_new(&mut s, "p1", now(), true, Lang::En)
                .unwrap()
                .is_empty()
        );
        add_reply_and_mood_check(&mut s);
        let notices = take_new(&mut s, "p1", now(), true, Lang::En).unwrap();
        assert_eq!(notices.len(), 2, "{notices:#?}");
        for n in &notices {
            assert_eq!(n.title, "CareCycle");
            for private in ["Priya", "knee", "Knee", "MRI", "PHQ", "Mood"] {
                assert!(!n.body.contains(private), "{n:?}");
            }
        }
        assert_eq!(notices[0].body, "New message from your care team");
    }

    #[test]
    fn in_spanish_notices_are_spanish() {
        let (_dir, mut s) = store();
        assert!(
            take_new(&mut s, "p1", now(), false, Lang::Es)
                .unwrap()
                .is_empty()
        );
        add_reply_and_mood_check(&mut s);
        let notices = take_new(&mut s, "p1", now(), false, Lang::Es).unwrap();
        let bodies: Vec<&str> = notices.iter().map(|n| n.body.as_str()).collect();
        assert_eq!(
            bodies,
            [
                "Nuevo mensaje de su equipo de atención",
                "Su equipo de atención le envió un cuestionario para responder."
            ]
        );
        set_detail(&s, true).unwrap();
        let detailed = candidates(&s, "p1", now(), true, Lang::Es).unwrap();
        assert_eq!(detailed[0].title, "Mensaje de Priya Raman, RN");
    }
}
