//! Who answers and by when: a new patient thread is routed to the role the IPU
//! names for its kind, with a due time from the IPU's business calendar, all
//! readable from standard Task elements.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::seed::*;
use serde_json::{Value, json};
use support::*;

fn message(patient: &str, kind: Option<&str>, part_of: Option<&str>, text: &str) -> Value {
    let mut m = json!({"resourceType": "Communication", "status": "completed",
        "subject": {"reference": format!("Patient/{patient}")}, "payload": [{"contentString": text}]});
    if let Some(k) = kind {
        m["category"] = json!([{"coding": [{"system": "https://carecycle.dev/fhir/CodeSystem/message-kind", "code": k}]}]);
    }
    if let Some(root) = part_of {
        m["partOf"] = json!([{"reference": format!("Communication/{root}")}]);
    }
    m
}

async fn reply_task(c: &Client, root: &str) -> Value {
    let tasks = c
        .search(&format!("Task?focus=Communication/{root}&code=reply"))
        .await;
    assert_eq!(tasks.len(), 1, "one reply task per thread");
    tasks[0].clone()
}

#[tokio::test]
async fn new_threads_are_routed_by_kind_with_a_business_day_due_time() {
    let s = TestServer::demo().await; // Monday 2026-11-23 09:00 in Chicago
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = eleanor.patient.clone().unwrap();

    let (_, clinical) = eleanor
        .post(
            "Communication",
            &message(&p, Some("clinical"), None, "My calf is sore."),
        )
        .await;
    let task = reply_task(&eleanor, clinical["id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "requested");
    assert_eq!(task["owner"]["reference"], "PractitionerRole/role-pr-raman");
    assert_eq!(
        task["owner"]["display"],
        "Priya Raman, RN (Nurse navigator)"
    );
    assert_eq!(
        task["restriction"]["period"]["end"], "2026-11-23T17:00:00-06:00",
        "clinical: the same business day"
    );

    let (_, meds) = eleanor
        .post(
            "Communication",
            &message(&p, Some("medications"), None, "Which painkiller?"),
        )
        .await;
    let task = reply_task(&eleanor, meds["id"].as_str().unwrap()).await;
    assert_eq!(task["owner"]["reference"], "PractitionerRole/role-pr-cho");
    assert_eq!(
        task["restriction"]["period"]["end"], "2026-11-24T17:00:00-06:00",
        "medications: next business day"
    );

    // Billing: two business days, across Thanksgiving (closed) → Friday.
    s.clock.advance(jiff::SignedDuration::from_hours(24 * 2)); // Wednesday 09:00
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let (_, bill) = eleanor
        .post(
            "Communication",
            &message(&p, Some("billing"), None, "A bill arrived."),
        )
        .await;
    let task = reply_task(&eleanor, bill["id"].as_str().unwrap()).await;
    assert_eq!(
        task["owner"]["reference"],
        "PractitionerRole/role-pr-lindqvist"
    );
    assert_eq!(
        task["restriction"]["period"]["end"],
        "2026-11-30T17:00:00-06:00"
    );
    // No kind: routed as "other".
    let (_, other) = eleanor
        .post("Communication", &message(&p, None, None, "Hello"))
        .await;
    let task = reply_task(&eleanor, other["id"].as_str().unwrap()).await;
    assert_eq!(task["input"][0]["valueCoding"]["code"], "other");
}

#[tokio::test]
async fn a_team_reply_completes_the_task_and_a_new_patient_message_reopens_it() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let team = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let p = eleanor.patient.clone().unwrap();
    let (_, root) = eleanor
        .post(
            "Communication",
            &message(&p, Some("scheduling"), None, "Can I come earlier?"),
        )
        .await;
    let root = root["id"].as_str().unwrap().to_owned();
    // A second patient message while waiting keeps the first due time.
    let due = reply_task(&eleanor, &root).await["restriction"]["period"]["end"].clone();
    s.clock.advance(jiff::SignedDuration::from_hours(30));
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let team = {
        let _ = team;
        s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await
    };
    eleanor
        .post(
            "Communication",
            &message(&p, None, Some(&root), "Any news?"),
        )
        .await;
    assert_eq!(
        reply_task(&eleanor, &root).await["restriction"]["period"]["end"],
        due
    );

    let mut reply = message(&p, None, Some(&root), "Yes, 9 am works.");
    reply["sender"] = json!({"reference": "Practitioner/pr-raman"});
    let (status, reply) = team.post("Communication", &reply).await;
    assert_eq!(status, 201);
    let task = reply_task(&eleanor, &root).await;
    assert_eq!(task["status"], "completed");
    assert_eq!(
        task["output"][0]["valueReference"]["reference"],
        format!("Communication/{}", reply["id"].as_str().unwrap())
    );

    eleanor
        .post(
            "Communication",
            &message(&p, None, Some(&root), "Thanks! One more thing…"),
        )
        .await;
    let task = reply_task(&eleanor, &root).await;
    assert_eq!(task["status"], "requested", "the thread is waiting again");
    assert_ne!(task["restriction"]["period"]["end"], due);
}

#[tokio::test]
async fn the_seed_has_an_answered_thread_and_one_waiting() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let tasks = eleanor.search("Task?code=reply").await;
    let statuses: Vec<&str> = tasks
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&"completed") && statuses.contains(&"requested"));
    let (_, org) = eleanor.get(&format!("Organization/{KNEE_ORG_ID}")).await;
    assert!(
        org["extension"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["url"] == "https://carecycle.dev/fhir/StructureDefinition/reply-policy")
    );
    // Education documents per phase, some in Spanish; questionnaires and assignments.
    let docs = eleanor.search("DocumentReference?_count=100").await;
    assert_eq!(docs.len(), 12);
    assert!(
        docs.iter()
            .any(|d| d["content"][0]["attachment"]["language"] == "es")
    );
    assert_eq!(eleanor.search("Questionnaire").await.len(), 4);
    assert_eq!(
        eleanor
            .search("Task?code=http://hl7.org/fhir/uv/sdc/CodeSystem/temp|complete-questionnaire&_count=100")
            .await
            .len(),
        9
    );
    // The baselines already answered come with their extracted scores.
    let observations = eleanor.search("Observation?_count=100").await;
    assert!(!observations.is_empty());
    assert!(observations.iter().all(|o| {
        o["derivedFrom"][0]["reference"]
            .as_str()
            .is_some_and(|r| r.starts_with("QuestionnaireResponse/"))
            && o["subject"]["reference"]
                == format!("Patient/{}", eleanor.patient.as_deref().unwrap_or_default())
    }));
}
