//! The care team's command line against a running server on the same data
//! directory: what the team does shows up for the patient through the API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::seed::*;
use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn messages_schedule_and_questionnaires_from_the_team_reach_the_patient() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::demo_in(dir.path()).await;
    let d = dir.path();
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = eleanor.patient.clone().unwrap();
    let before = eleanor.search("Communication?_count=100").await.len();

    // The inbox shows the waiting scheduling question with who answers and by when.
    let inbox = ok(d, &["--as", KNEE_TEAM_USERNAME, "inbox"]);
    assert!(
        inbox.contains("Priya Raman, RN (Nurse navigator)"),
        "{inbox}"
    );
    let root = inbox
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("Communication/")
        .to_owned();
    let sent = ok(
        d,
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "send",
            "--patient",
            DEMO_PATIENT_USERNAME,
            "--thread",
            &root,
            "Yes: Tuesday at 2 pm works. See you then!",
        ],
    );
    assert!(sent.starts_with("sent Communication/"));
    let thread = eleanor
        .search(&format!("Communication?part-of=Communication/{root}"))
        .await;
    assert_eq!(thread.len(), 1);
    assert_eq!(
        thread[0]["payload"][0]["contentString"],
        "Yes: Tuesday at 2 pm works. See you then!"
    );
    assert_eq!(
        eleanor.search("Communication?_count=100").await.len(),
        before + 1
    );
    assert_eq!(
        eleanor
            .search(&format!("Task?focus=Communication/{root}"))
            .await[0]["status"],
        "completed"
    );
    assert!(ok(d, &["--as", KNEE_TEAM_USERNAME, "inbox"]).contains("no patient messages waiting"));

    // Appointment, activity, questionnaire and reading published for her.
    ok(
        d,
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "appointment",
            "--patient",
            DEMO_PATIENT_USERNAME,
            "--title",
            "Extra physio session",
            "--start",
            "2027-01-05T14:00:00-06:00",
            "--minutes",
            "45",
            "--place",
            "Rehab Gym",
        ],
    );
    assert!(
        eleanor
            .search("Appointment?_count=100")
            .await
            .iter()
            .any(|a| a["description"] == "Extra physio session"
                && a["end"] == "2027-01-05T14:45:00-06:00")
    );
    ok(
        d,
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "activity",
            "--patient",
            DEMO_PATIENT_USERNAME,
            "--title",
            "Collect your walker",
            "--due",
            "2027-01-04",
        ],
    );
    assert!(
        eleanor
            .search("Task?code=checklist&_count=100")
            .await
            .iter()
            .any(|t| t["description"] == "Collect your walker")
    );
    ok(
        d,
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "assign",
            "--patient",
            DEMO_PATIENT_USERNAME,
            "--questionnaire",
            "gad-7",
            "--from",
            "2027-01-01",
            "--to",
            "2027-01-14",
        ],
    );
    // An SDC Task: the form as its `questionnaire` input, no focus (sdc-t1).
    let assigned: Vec<Value> = eleanor
        .search("Task?code=complete-questionnaire&status=requested&_count=100")
        .await
        .into_iter()
        .filter(|t| {
            t["input"][0]["valueCanonical"] == "https://carecycle.dev/fhir/Questionnaire/gad-7"
        })
        .collect();
    assert_eq!(assigned.len(), 1, "{assigned:?}");
    assert_eq!(
        assigned[0]["code"]["coding"][0]["system"],
        "http://hl7.org/fhir/uv/sdc/CodeSystem/temp"
    );
    assert_eq!(
        assigned[0]["input"][0]["type"]["coding"][0]["code"],
        "questionnaire"
    );
    assert!(assigned[0].get("focus").is_none());
    let doc = dir.path().join("doc.md");
    std::fs::write(
        &doc,
        "# Ice and elevation\n\nTwenty minutes, three times a day.",
    )
    .unwrap();
    ok(
        d,
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "publish",
            "--patient",
            DEMO_PATIENT_USERNAME,
            "--phase",
            "Home rehabilitation",
            "--title",
            "Ice and elevation",
            "--file",
            doc.to_str().unwrap(),
        ],
    );
    assert!(
        eleanor
            .search("DocumentReference?_count=100")
            .await
            .iter()
            .any(|d| d["description"] == "Ice and elevation")
    );

    // Bad input: a clear error and a failing exit code, nothing written.
    let (success, _, err) = team(d, &["--as", DEMO_PATIENT_USERNAME, "inbox"]);
    assert!(!success && err.contains("not a care-team user"), "{err}");
    let (success, _, err) = team(
        d,
        &[
            "--as",
            BREAST_TEAM_USERNAME,
            "send",
            "--patient",
            DEMO_PATIENT_USERNAME,
            "hi",
        ],
    );
    assert!(
        !success && err.contains("no patient"),
        "another unit's team cannot reach her: {err}"
    );
    let (success, _, err) = team(
        d,
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "move-surgery",
            "--patient",
            DEMO_PATIENT_USERNAME,
            "--to",
            "next tuesday",
        ],
    );
    assert!(!success && err.contains("is not a date"), "{err}");
    let _ = p;
}

#[tokio::test]
async fn moving_the_surgery_moves_every_future_date_anchored_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::demo_in(dir.path()).await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let appointments = |list: Vec<Value>| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = list
            .iter()
            .map(|a| {
                (
                    a["description"].as_str().unwrap().to_owned(),
                    a["start"].as_str().unwrap().to_owned(),
                    a["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = appointments(eleanor.search("Appointment?_count=100").await);
    let surgery = before
        .iter()
        .find(|a| a.0 == "Right total knee replacement")
        .unwrap()
        .1
        .clone();
    let surgery_day: jiff::civil::Date = surgery[..10].parse().unwrap();
    let new_day = surgery_day.checked_add(jiff::Span::new().days(7)).unwrap();
    let out = ok(
        dir.path(),
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "move-surgery",
            "--patient",
            DEMO_PATIENT_USERNAME,
            "--to",
            &new_day.to_string(),
        ],
    );
    assert!(out.contains("(+7 days)"), "{out}");
    let after = appointments(eleanor.search("Appointment?_count=100").await);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.0, a.0);
        if b.2 == "fulfilled" {
            assert_eq!(b.1, a.1, "{} already happened and stays", b.0);
        } else {
            let moved: jiff::civil::Date = a.1[..10].parse().unwrap();
            let was: jiff::civil::Date = b.1[..10].parse().unwrap();
            assert_eq!(
                (moved - was).get_days(),
                7,
                "{} moves with the surgery",
                b.0
            );
            assert_eq!(a.1[10..16], b.1[10..16], "same time of day");
        }
    }
    // The phases move too: prehabilitation now ends the day before the new date.
    let phases = eleanor.search("CarePlan?category=phase&_count=100").await;
    let prehab = phases
        .iter()
        .find(|p| p["title"] == "Prehabilitation")
        .unwrap();
    assert_eq!(
        prehab["period"]["end"],
        new_day.yesterday().unwrap().to_string()
    );
    // Each date says how it stands to the surgery in R4's words
    // (cqf-relativeDateTime), which holds after the move: the prehabilitation
    // ends one day before the surgery, whichever day that is.
    let relative = &prehab["period"]["_end"]["extension"][0];
    assert_eq!(relative["url"], carecycle_fhir::planned::RELATIVE_DATE_TIME);
    let parts = relative["extension"].as_array().unwrap();
    let part = |name: &str| parts.iter().find(|e| e["url"] == name).unwrap();
    assert_eq!(part("relationship")["valueCode"], "before-start");
    assert_eq!(part("offset")["valueDuration"]["value"], 1);
    assert_eq!(part("offset")["valueDuration"]["code"], "d");
    let cycle = part("target")["valueReference"]["reference"]
        .as_str()
        .unwrap();
    let (_, cycle) = eleanor.get(cycle).await;
    assert_eq!(
        carecycle_fhir::planned::day(&cycle),
        Some(new_day.to_string().as_str())
    );
}

#[tokio::test]
async fn family_access_and_red_flags() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::demo_in(dir.path()).await;
    let d = dir.path();
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = eleanor.patient.clone().unwrap();

    let out = ok(
        d,
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "add-proxy",
            "--patient",
            DEMO_PATIENT_USERNAME,
            "--username",
            "robert",
            "--password",
            "husband-demo-2026",
            "--given",
            "Robert",
            "--family",
            "Whitfield",
            "--relationship",
            "Husband",
            "--grant",
            "schedule,messages",
        ],
    );
    assert!(out.contains("sees: schedule, messages"), "{out}");
    let robert = s.sign_in("robert", "husband-demo-2026").await;
    assert_eq!(robert.patient.as_deref(), Some(p.as_str()));
    assert_eq!(robert.get("Communication").await.0, 200);
    assert_eq!(robert.get("DocumentReference").await.0, 403);
    ok(
        d,
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "revoke",
            "--username",
            "robert",
            "--area",
            "messages",
        ],
    );
    // Revoking ends his sign-in at once; signing in again gets what is still shared.
    assert_eq!(robert.get("Communication").await.0, 401);
    let robert = s.sign_in("robert", "husband-demo-2026").await;
    assert_eq!(robert.get("Communication").await.0, 403);
    assert_eq!(robert.get("Appointment").await.0, 200);

    // A PHQ-9 with item 9 above "Not at all" is listed as a red flag.
    let coding =
        |code: &str| json!([{"valueCoding": {"system": "http://loinc.org", "code": code}}]);
    let mut items: Vec<Value> = [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
    ]
    .iter()
    .map(|c| json!({"linkId": format!("/{c}"), "answer": coding("LA6569-3")}))
    .collect();
    items.push(json!({"linkId": "/44260-8", "answer": coding("LA6570-1")}));
    let qr = json!({"resourceType": "QuestionnaireResponse", "status": "completed", "questionnaire": "https://carecycle.dev/fhir/Questionnaire/phq-9|1.0.0",
        "subject": {"reference": format!("Patient/{p}")}, "authored": "2026-11-23T10:00:00Z", "item": items});
    let (status, posted) = eleanor.post("QuestionnaireResponse", &qr).await;
    assert_eq!(status, 201);
    let qr_id = posted["id"].as_str().unwrap();
    // Extracted in the same write: one Observation per score, which the
    // patient reads and the team's list shows (not recomputed).
    let extracted = |observations: Vec<Value>| -> Vec<Value> {
        observations
            .into_iter()
            .filter(|o| {
                o["derivedFrom"][0]["reference"] == format!("QuestionnaireResponse/{qr_id}")
            })
            .collect()
    };
    let obs = extracted(eleanor.search("Observation?_count=500").await);
    assert_eq!(obs.len(), 1, "{obs:?}");
    assert_eq!(obs[0]["code"]["coding"][0]["code"], "44261-6");
    assert_eq!(obs[0]["valueQuantity"]["value"], 10.0);
    assert_eq!(obs[0]["identifier"][0]["value"], format!("{qr_id}/phq-9"));
    let responses = ok(d, &["--as", KNEE_TEAM_USERNAME, "responses"]);
    assert!(
        responses.contains("Depression symptoms (PHQ-9) 10 (Moderate)"),
        "{responses}"
    );
    // Amending the response updates its Observation, never adds one.
    let team = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let mut amended = posted.clone();
    amended["status"] = json!("amended");
    amended["item"][0]["answer"] = coding("LA6571-9");
    let (status, _) = team
        .put(&format!("QuestionnaireResponse/{qr_id}"), &amended)
        .await;
    assert_eq!(status, 200);
    let obs = extracted(eleanor.search("Observation?_count=500").await);
    assert_eq!(obs.len(), 1, "{obs:?}");
    assert_eq!(obs[0]["valueQuantity"]["value"], 12.0);
    assert_eq!(obs[0]["status"], "amended");
    let flags = ok(d, &["--as", KNEE_TEAM_USERNAME, "flags"]);
    assert!(flags.contains("RED FLAG (Now): PHQ-9 item 9"), "{flags}");
    assert!(
        ok(d, &["--as", BREAST_TEAM_USERNAME, "flags"]).contains("no red flags"),
        "another unit sees none"
    );
}
