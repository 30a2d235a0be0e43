//! The access matrix, through the real HTTP API: patient A vs B, each proxy
//! grant on and off, a revoked grant, an expired token, a missing scope, the
//! team of another IPU. Every read and write of patient data is audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::access::{self, Area};
use carecycle_backend::seed::*;
use serde_json::json;
use support::*;

#[tokio::test]
async fn patients_reach_their_own_record_only() {
    let s = TestServer::demo().await;
    let a = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let b = s
        .sign_in(SECOND_PATIENT_USERNAME, SECOND_PATIENT_PASSWORD)
        .await;
    let (pa, pb) = (a.patient.clone().unwrap(), b.patient.clone().unwrap());

    let mine = a.search("Appointment").await;
    assert_eq!(mine.len(), 10);
    let theirs = b.search("Appointment").await;
    assert_eq!(theirs.len(), 1);
    let their_id = theirs[0]["id"].as_str().unwrap();

    // Another patient's resource is "not found", exactly like a missing one.
    let (status, outcome) = a.get(&format!("Appointment/{their_id}")).await;
    assert_eq!(status, 404);
    let (missing_status, missing) = a.get("Appointment/no-such-id").await;
    assert_eq!(missing_status, 404);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], missing["issue"][0]["code"]);
    assert_eq!(a.get(&format!("Patient/{pb}")).await.0, 404);
    assert_eq!(a.get(&format!("Appointment?patient={pb}")).await.0, 403);

    // Writing into another record is refused; into one's own, accepted.
    let msg = |p: &str| json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": format!("Patient/{p}")}, "payload": [{"contentString": "hello"}]});
    assert_eq!(a.post("Communication", &msg(&pb)).await.0, 403);
    assert_eq!(a.post("Communication", &msg(&pa)).await.0, 201);
    // Patients cannot change the shared directory or write audit events.
    assert_eq!(
        a.post("Practitioner", &json!({"resourceType": "Practitioner"}))
            .await
            .0,
        403
    );
    let audit = json!({"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": NOW, "agent": [{"requestor": true}], "source": {"observer": {"display": "x"}}, "entity": [{"what": {"reference": format!("Patient/{pa}")}}]});
    assert_eq!(a.post("AuditEvent", &audit).await.0, 403);
}

#[tokio::test]
async fn a_family_member_sees_only_granted_areas_and_revocation_is_immediate() {
    let s = TestServer::demo().await;
    let claire = s.sign_in(PROXY_USERNAME, PROXY_PASSWORD).await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let patient = claire.patient.clone().unwrap();
    assert_eq!(
        Some(&patient),
        eleanor.patient.as_ref(),
        "the token names the patient in context"
    );

    // The patient's name is always visible to a family member.
    let (status, p) = claire.get(&format!("Patient/{patient}")).await;
    assert_eq!(status, 200);
    assert_eq!(p["name"][0]["given"][0], "Eleanor");

    // Schedule granted: appointments, care plans and checklist tasks.
    assert_eq!(claire.search("Appointment").await.len(), 10);
    assert!(!claire.search("CarePlan").await.is_empty());
    // Checklist tasks only: questionnaire and reply tasks belong to other areas.
    assert_eq!(
        claire.search("Task?_count=100").await.len(),
        eleanor.search("Task?code=checklist&_count=100").await.len()
    );
    // Education granted.
    assert_eq!(claire.get("DocumentReference").await.0, 200);

    // Messages and questionnaires not granted: refused with a reason, and a
    // single message reads as not found.
    let (status, outcome) = claire.get("Communication").await;
    assert_eq!(status, 403);
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("messages")
    );
    assert_eq!(claire.get("QuestionnaireResponse").await.0, 403);
    assert_eq!(claire.get("AuditEvent").await.0, 403);
    let (_, sent) = eleanor
        .post("Communication", &json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": format!("Patient/{patient}")}, "payload": [{"contentString": "private"}]}))
        .await;
    assert_eq!(
        claire
            .get(&format!("Communication/{}", sent["id"].as_str().unwrap()))
            .await
            .0,
        404
    );
    let write = json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": format!("Patient/{patient}")}, "payload": [{"contentString": "from Claire"}]});
    assert_eq!(claire.post("Communication", &write).await.0, 403);

    // The patient grants messages: the same token now reaches them.
    let related: String = s
        .server
        .state
        .db
        .with(|c| {
            c.query_row("SELECT related_person FROM proxy_grant LIMIT 1", [], |r| {
                r.get(0)
            })
            .map_err(carecycle_backend::store::StoreError::from)
        })
        .unwrap();
    s.server
        .state
        .db
        .with(|c| {
            access::grant(c, &related, &patient, Area::Messages, NOW, None)
                .map_err(carecycle_backend::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(
        claire.search("Communication?_count=100").await.len(),
        eleanor.search("Communication?_count=100").await.len()
    );
    assert_eq!(claire.post("Communication", &write).await.0, 201);

    // Revoking the schedule ends her sign-in at once (the token and its
    // refresh token); signing in again grants what is still shared.
    s.server
        .state
        .db
        .with(|c| {
            access::revoke(c, &related, Area::Schedule, NOW)
                .map_err(carecycle_backend::store::StoreError::from)
        })
        .unwrap();
    assert_eq!(claire.get("Appointment").await.0, 401);
    let claire = s.sign_in(PROXY_USERNAME, PROXY_PASSWORD).await;
    assert_eq!(claire.get("Appointment").await.0, 403);
    assert!(
        claire.search("Task?code=checklist").await.is_empty(),
        "checklist tasks belong to the schedule"
    );
    assert!(
        !claire.search("Task?code=reply").await.is_empty(),
        "reply tasks belong to the messages, still shared"
    );
    let appointment = eleanor.search("Appointment").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        claire.get(&format!("Appointment/{appointment}")).await.0,
        404
    );
    // A family member never sees another family member's RelatedPerson.
    assert_eq!(claire.search("RelatedPerson").await.len(), 1);
}

#[tokio::test]
async fn expired_tokens_and_missing_scopes_are_refused() {
    let s = TestServer::demo().await;
    let narrow = s
        .sign_in_with_scope(
            DEMO_PATIENT_USERNAME,
            DEMO_PATIENT_PASSWORD,
            "launch/patient patient/Appointment.rs",
        )
        .await;
    let narrow = s.client(narrow);
    assert_eq!(narrow.get("Appointment").await.0, 200);
    assert_eq!(narrow.get("Task").await.0, 403);
    let write = json!({"resourceType": "Appointment", "status": "proposed", "participant": [{"actor": {"reference": format!("Patient/{}", narrow.patient.clone().unwrap())}, "status": "accepted"}]});
    assert_eq!(
        narrow.post("Appointment", &write).await.0,
        403,
        "rs does not allow create"
    );

    let unsigned = Client {
        token: "not-a-token".into(),
        ..narrow.clone()
    };
    assert_eq!(unsigned.get("Appointment").await.0, 401);

    s.clock.advance(jiff::SignedDuration::from_mins(16));
    let (status, outcome) = narrow.get("Appointment").await;
    assert_eq!(status, 401);
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn the_care_team_reaches_the_patients_of_its_own_unit() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let dana = s
        .sign_in(SECOND_PATIENT_USERNAME, SECOND_PATIENT_PASSWORD)
        .await;
    let knee = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let breast = s.sign_in(BREAST_TEAM_USERNAME, BREAST_TEAM_PASSWORD).await;
    let (pe, pd) = (
        eleanor.patient.clone().unwrap(),
        dana.patient.clone().unwrap(),
    );
    assert!(knee.patient.is_none(), "no patient in context for the team");

    assert_eq!(
        knee.search(&format!("Appointment?patient={pe}"))
            .await
            .len(),
        10
    );
    assert_eq!(knee.get(&format!("Appointment?patient={pd}")).await.0, 403);
    let all = knee.search("Appointment?_count=100").await;
    assert_eq!(all.len(), 10, "only the unit's own patients");
    let danas = dana.search("Appointment").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(knee.get(&format!("Appointment/{danas}")).await.0, 404);
    assert_eq!(breast.get(&format!("Patient/{pe}")).await.0, 404);
    assert_eq!(breast.get(&format!("Patient/{pd}")).await.0, 200);

    // The team writes into its patients' records and the directory.
    let note = json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": format!("Patient/{pe}")}, "sender": {"reference": "Practitioner/pr-raman"}, "payload": [{"contentString": "See you Tuesday."}]});
    assert_eq!(knee.post("Communication", &note).await.0, 201);
    let other = json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": format!("Patient/{pd}")}, "payload": [{"contentString": "x"}]});
    assert_eq!(knee.post("Communication", &other).await.0, 403);
}

#[tokio::test]
async fn every_read_and_write_of_patient_data_is_audited() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let knee = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let pe = eleanor.patient.clone().unwrap();
    let appointment = eleanor.search("Appointment").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    knee.get(&format!("Appointment/{appointment}")).await;
    let (_, created) = eleanor
        .post("Communication", &json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": format!("Patient/{pe}")}, "payload": [{"contentString": "hi"}]}))
        .await;

    let events = eleanor.search("AuditEvent?_count=100").await;
    let find = |agent: &str, code: &str, what: &str| {
        events.iter().any(|e| {
            e["agent"][0]["who"]["reference"] == agent
                && e["subtype"][0]["code"] == code
                && e["entity"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["what"]["reference"] == what)
        })
    };
    assert!(find(
        &format!("Patient/{pe}"),
        "search-type",
        &format!("Patient/{pe}")
    ));
    assert!(
        find(
            "Practitioner/pr-raman",
            "read",
            &format!("Appointment/{appointment}")
        ),
        "the patient sees who read their record"
    );
    assert!(find(
        &format!("Patient/{pe}"),
        "create",
        &format!("Communication/{}", created["id"].as_str().unwrap())
    ));
    // Audit events are not audited themselves, and the log names no content.
    assert!(events.iter().all(|e| !e.to_string().contains("\"hi\"")));
}
