//! A generator of one-year records of any size, for benchmarks and load tests:
//! a patient of the knee IPU with a year of message threads, checklist tasks
//! and appointments, questionnaire responses and education documents. The
//! content is varied and plausible, never real; the shape matches the seed.

use crate::access::TASK_KIND_SYSTEM;
use crate::api::ApiError;
use crate::auth;
use crate::routing::{MESSAGE_KIND_SYSTEM, MESSAGE_KINDS};
use crate::seed::{EDUCATION_ID_SYSTEM, KNEE_ORG_ID};
use crate::store::{self, Stamper};
use carecycle_fhir::ResourceType;
use carecycle_fhir::time::format_instant;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use serde_json::{Value, json};

/// How much one record holds.
#[derive(Debug, Clone, Copy)]
pub struct RecordSize {
    pub messages: usize,
    pub tasks: usize,
    pub responses: usize,
    pub documents: usize,
}

impl RecordSize {
    /// The "one-year record": 2,000 messages, 300 activities and tasks,
    /// 60 responses, 120 documents.
    pub const YEAR: RecordSize = RecordSize {
        messages: 2_000,
        tasks: 300,
        responses: 60,
        documents: 120,
    };

    /// A light record (for many simulated patients).
    pub const SMALL: RecordSize = RecordSize {
        messages: 20,
        tasks: 10,
        responses: 2,
        documents: 5,
    };
}

const OPENERS: [&str; 8] = [
    "My knee feels warmer than yesterday, is that normal?",
    "Can I take paracetamol together with my other tablets?",
    "Could we move next week's appointment to the afternoon?",
    "I received a bill I don't understand.",
    "How many times a day should I do the bending exercise?",
    "The swelling goes down at night but comes back by lunchtime.",
    "Is it safe to climb the stairs at home yet?",
    "I slept badly because of the pain. What can I do?",
];
const REPLIES: [&str; 6] = [
    "Thank you for telling us. A little warmth is expected for several weeks; call us if it spreads or you have a fever.",
    "Yes, that is fine. Keep to the doses on the label and do not take more than 4 grams a day.",
    "I have moved it to 2 pm on the same day. You will see the new time in the app.",
    "I will look into it and call you tomorrow.",
    "Three times a day, 10 bends each time. Ice afterwards helps.",
    "Raise your leg above your heart for 20 minutes after your exercises.",
];

/// Messages in the record's first thread (issue #16: "a 200-message thread").
pub const LONG_THREAD: usize = 200;

/// Adds a patient of the knee IPU with a year-long record, signing in as
/// `username`/`password`. Returns the patient id. Runs in one transaction.
pub fn year_record(
    conn: &mut Connection,
    stamper: &Stamper,
    username: &str,
    password: &str,
    size: RecordSize,
    seed: u64,
) -> Result<String, ApiError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let tx = conn.transaction().map_err(ApiError::from_sql)?;
    let patient = uuid::Uuid::new_v4().to_string();
    let pref = json!({"reference": format!("Patient/{patient}")});
    // As the API writes: a completed response is extracted to its Observations.
    let put = |t: ResourceType, content: Value| -> Result<(), ApiError> {
        let stored = store::write(
            &tx,
            stamper,
            t,
            &uuid::Uuid::new_v4().to_string(),
            content,
            None,
        )?;
        crate::extract::after_write(&tx, stamper, &stored)
    };
    store::write(
        &tx,
        stamper,
        ResourceType::Patient,
        &patient,
        json!({"resourceType": "Patient", "active": true,
               "name": [{"given": [format!("Test{}", seed)], "family": "Patient"}], "birthDate": "1960-01-01"}),
        None,
    )?;
    auth::put_user(
        &tx,
        username,
        password,
        &format!("Patient/{patient}"),
        Some(&patient),
    )?;
    put(
        ResourceType::EpisodeOfCare,
        json!({"resourceType": "EpisodeOfCare", "status": "active", "patient": pref,
               "type": [{"text": "Knee osteoarthritis"}],
               "managingOrganization": {"reference": format!("Organization/{KNEE_ORG_ID}")}}),
    )?;
    let start = stamper.clock().now() - jiff::SignedDuration::from_hours(24 * 365);
    let at = |day: f64| format_instant(start + jiff::SignedDuration::from_secs_f64(day * 86_400.0));

    let mut root: Option<String> = None;
    for i in 0..size.messages {
        let day = 365.0 * i as f64 / size.messages.max(1) as f64;
        let from_patient = i % 2 == 0;
        let id = uuid::Uuid::new_v4().to_string();
        let mut m = json!({
            "resourceType": "Communication", "status": "completed", "subject": pref, "sent": at(day),
            "payload": [{"contentString": if from_patient { OPENERS[rng.gen_range(0..OPENERS.len())] } else { REPLIES[rng.gen_range(0..REPLIES.len())] }}],
            "sender": if from_patient { pref.clone() } else { json!({"reference": "Practitioner/pr-raman"}) }
        });
        if !from_patient {
            // Addressed to the patient, who may then mark it read.
            m["recipient"] = json!([pref]);
        }
        // The first thread runs to LONG_THREAD messages (a long conversation
        // to open); the rest are six each.
        match (&root, i % 6) {
            (Some(r), _) if i < LONG_THREAD => {
                m["partOf"] = json!([{"reference": format!("Communication/{r}")}]);
            }
            (Some(r), 1..) => m["partOf"] = json!([{"reference": format!("Communication/{r}")}]),
            _ => {
                let (kind, _) = MESSAGE_KINDS[rng.gen_range(0..MESSAGE_KINDS.len())];
                m["category"] =
                    json!([{"coding": [{"system": MESSAGE_KIND_SYSTEM, "code": kind}]}]);
                root = Some(id.clone());
            }
        }
        store::write(&tx, stamper, ResourceType::Communication, &id, m, None)?;
    }
    for i in 0..size.tasks {
        let day = 365.0 * i as f64 / size.tasks.max(1) as f64;
        if i % 3 == 0 {
            put(
                ResourceType::Appointment,
                json!({
                    "resourceType": "Appointment", "status": if day < 300.0 { "fulfilled" } else { "booked" },
                    "description": format!("Physical therapy session {}", i / 3 + 1), "start": at(day), "end": at(day + 0.03),
                    "participant": [{"actor": pref, "status": "accepted"}, {"actor": {"reference": "Practitioner/pr-herrera"}, "status": "accepted"}]
                }),
            )?;
        } else {
            put(
                ResourceType::Task,
                json!({
                    "resourceType": "Task", "status": if day < 300.0 { "completed" } else { "requested" }, "intent": "order",
                    "code": {"coding": [{"system": TASK_KIND_SYSTEM, "code": "checklist"}]},
                    "description": format!("Home exercise log, week {}", i / 3 + 1), "for": pref, "owner": pref,
                    "restriction": {"period": {"end": at(day)}}
                }),
            )?;
        }
    }
    let phq9 = [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
        "44260-8",
    ];
    let la = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];
    for i in 0..size.responses {
        let day = 365.0 * i as f64 / size.responses.max(1) as f64;
        let items: Vec<Value> = phq9
            .iter()
            .enumerate()
            .map(|(n, code)| {
                // Item 9 stays at "Not at all": generated records raise no red flags.
                let answer = if n == 8 { la[0] } else { la[rng.gen_range(0..3)] };
                json!({"linkId": format!("/{code}"), "answer": [{"valueCoding": {"system": "http://loinc.org", "code": answer}}]})
            })
            .collect();
        put(
            ResourceType::QuestionnaireResponse,
            json!({
                "resourceType": "QuestionnaireResponse", "status": "completed",
                "questionnaire": carecycle_fhir::carecycle_url!("/Questionnaire/phq-9|1.0.0"),
                "subject": pref, "authored": at(day), "item": items
            }),
        )?;
    }
    let body = "# Recovering well\n\nWalk a little further every day. Ice and raise your leg after exercising. ".repeat(8);
    let data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body.as_bytes());
    for i in 0..size.documents {
        put(
            ResourceType::DocumentReference,
            json!({
                "resourceType": "DocumentReference", "status": "current",
                "identifier": [{"system": EDUCATION_ID_SYSTEM, "value": format!("generated-{i}-en")}],
                "type": carecycle_fhir::published::education_document_type(),
                "category": [carecycle_fhir::published::concept(carecycle_fhir::DOCUMENT_KIND_SYSTEM, "education")],
                "subject": pref, "description": format!("Reading {}", i + 1),
                "content": [{"attachment": {"contentType": "text/markdown; charset=utf-8", "language": "en", "title": format!("Reading {}", i + 1), "data": data}}]
            }),
        )?;
    }
    tx.commit().map_err(ApiError::from_sql)?;
    Ok(patient)
}
