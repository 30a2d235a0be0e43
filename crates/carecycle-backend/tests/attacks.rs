//! The back end against a hostile client: each attack of issue #12 as a real
//! client would send it — a full SMART sign-in (authorization code + PKCE)
//! through the server's own endpoints, then plain HTTP — asserting the refusal
//! and that nothing leaked or changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::access::{self, Area};
use carecycle_backend::seed::*;
use carecycle_backend::store::StoreError;
use reqwest::Method;
use serde_json::{Value, json};
use support::*;

const EVERYTHING_PATIENT: &str = "launch/patient offline_access patient/*.cruds";

fn diagnostics(outcome: &Value) -> String {
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn message_for(patient: &str, text: &str) -> Value {
    json!({"resourceType": "Communication", "status": "completed",
           "subject": {"reference": format!("Patient/{patient}")}, "payload": [{"contentString": text}]})
}

fn related_person_of(s: &TestServer, username: &str) -> String {
    s.server
        .state
        .db
        .with(|c| {
            c.query_row(
                "SELECT substr(fhir_user, 15) FROM user_account WHERE username = ?1",
                [username],
                |r| r.get::<_, String>(0),
            )
            .map_err(StoreError::from)
        })
        .unwrap()
}

#[tokio::test]
async fn the_server_decides_scopes_whatever_is_asked() {
    let s = TestServer::demo().await;
    // A family member shared only the schedule and reading asks for everything.
    let token = s
        .sign_in_with_scope(PROXY_USERNAME, PROXY_PASSWORD, EVERYTHING_PATIENT)
        .await;
    let scope = token["scope"].as_str().unwrap();
    assert!(!scope.contains("*.cruds"), "{scope}");
    assert!(!scope.contains("AuditEvent"), "{scope}");
    assert!(!scope.contains("QuestionnaireResponse.c"), "{scope}");
    assert!(
        !scope.split_whitespace().any(|s| s.ends_with('d')),
        "{scope}"
    );
    let claire = s.client(token);
    let p = claire.patient.clone().unwrap();
    let answer = json!({"resourceType": "QuestionnaireResponse", "status": "completed",
        "subject": {"reference": format!("Patient/{p}")}});
    assert_eq!(claire.post("QuestionnaireResponse", &answer).await.0, 403);
    // What the token response says is exactly what the token can do.
    assert_eq!(claire.get("AuditEvent").await.0, 403);

    // A nurse through the patient app's client gets no FHIR access at all…
    let through_app = s
        .sign_in_with_scope(
            KNEE_TEAM_USERNAME,
            KNEE_TEAM_PASSWORD,
            "launch/patient patient/*.cruds",
        )
        .await;
    assert_eq!(through_app["scope"], "");
    assert!(through_app.get("patient").is_none());
    assert_eq!(s.client(through_app).get("Patient").await.0, 403);
    // …and with the team tool she may not rename another unit.
    let nurse = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let (_, mut other) = nurse.get(&format!("Organization/{BREAST_ORG_ID}")).await;
    other["name"] = json!("Renamed by the knee unit");
    let (status, outcome) = nurse
        .put(&format!("Organization/{BREAST_ORG_ID}"), &other)
        .await;
    assert_eq!(status, 403);
    assert!(
        diagnostics(&outcome).contains("own Organization"),
        "{outcome}"
    );
    assert_ne!(
        nurse.get(&format!("Organization/{BREAST_ORG_ID}")).await.1["name"],
        "Renamed by the knee unit"
    );
    let (_, mut own) = nurse.get(&format!("Organization/{KNEE_ORG_ID}")).await;
    own["alias"] = json!(["Knee & Hip"]);
    assert_eq!(
        nurse
            .put(&format!("Organization/{KNEE_ORG_ID}"), &own)
            .await
            .0,
        200
    );

    // Query-restricted scopes are refused out loud, back at the app.
    let answer = s
        .submit_sign_in(
            DEMO_PATIENT_USERNAME,
            DEMO_PATIENT_PASSWORD,
            "launch/patient patient/Observation.rs?category=survey",
        )
        .await;
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("error=invalid_scope"), "{location}");
}

#[tokio::test]
async fn nobody_but_the_unit_writes_who_looks_after_a_patient() {
    let s = TestServer::demo().await;
    let dana = s
        .sign_in_with_scope(
            SECOND_PATIENT_USERNAME,
            SECOND_PATIENT_PASSWORD,
            EVERYTHING_PATIENT,
        )
        .await;
    let dana = s.client(dana);
    let pd = dana.patient.clone().unwrap();
    let knee = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let breast = s.sign_in(BREAST_TEAM_USERNAME, BREAST_TEAM_PASSWORD).await;
    let secret = dana
        .post("Communication", &message_for(&pd, "a private question"))
        .await;
    assert_eq!(secret.0, 201);
    let secret_id = secret.1["id"].as_str().unwrap().to_owned();

    // The breast-cancer patient tries to hand her record to the knee unit.
    let handover = json!({"resourceType": "EpisodeOfCare", "status": "active",
        "patient": {"reference": format!("Patient/{pd}")},
        "managingOrganization": {"reference": format!("Organization/{KNEE_ORG_ID}")}});
    let (status, outcome) = dana.post("EpisodeOfCare", &handover).await;
    assert_eq!(status, 403);
    // A patient's token can never carry EpisodeOfCare.c (the ceiling comes from the policy).
    assert!(
        diagnostics(&outcome).contains("scopes do not allow"),
        "{outcome}"
    );
    // The same through a transaction entry.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": handover, "request": {"method": "POST", "url": "EpisodeOfCare"}}]});
    assert_eq!(dana.post("", &tx).await.0, 403);
    // The knee nurse still cannot read her messages.
    assert_eq!(
        knee.get(&format!("Communication?patient={pd}")).await.0,
        403
    );
    assert_eq!(knee.get(&format!("Communication/{secret_id}")).await.0, 404);
    assert_eq!(
        breast.get(&format!("Communication/{secret_id}")).await.0,
        200
    );

    // The breast unit ends its episode: its access ends with it, at once.
    let episode = breast.search(&format!("EpisodeOfCare?patient={pd}")).await[0].clone();
    let mut finished = episode.clone();
    finished["status"] = json!("finished");
    let id = episode["id"].as_str().unwrap();
    assert_eq!(
        breast
            .put(&format!("EpisodeOfCare/{id}"), &finished)
            .await
            .0,
        200
    );
    assert_eq!(
        breast.get(&format!("Communication/{secret_id}")).await.0,
        404
    );
    assert_eq!(
        breast.get(&format!("Communication?patient={pd}")).await.0,
        403
    );
    assert_eq!(
        breast
            .get(&format!("Communication/{secret_id}/_history"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_deleted_message_never_reaches_another_patient() {
    let s = TestServer::demo().await;
    let knee = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let breast = s.sign_in(BREAST_TEAM_USERNAME, BREAST_TEAM_PASSWORD).await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let dana = s
        .sign_in(SECOND_PATIENT_USERNAME, SECOND_PATIENT_PASSWORD)
        .await;
    let (pe, pd) = (
        eleanor.patient.clone().unwrap(),
        dana.patient.clone().unwrap(),
    );

    let (_, sent) = knee
        .post(
            "Communication",
            &message_for(&pe, "Your biopsy result is benign"),
        )
        .await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let path = format!("Communication/{id}");
    let gone = knee.send(Method::DELETE, &path, &Value::Null, &[]).await;
    assert_eq!(gone.0, 204);

    // Another patient cannot choose that id at all…
    let mut claim = message_for(&pd, "mine now");
    claim["id"] = json!(id);
    let (status, outcome) = dana.put(&path, &claim).await;
    assert_eq!(status, 403, "{outcome}");
    assert!(diagnostics(&outcome).contains("choose an id"), "{outcome}");
    // …and her unit cannot re-use it for her: the id belongs to another record.
    let (status, outcome) = breast.put(&path, &claim).await;
    assert_eq!(status, 409, "{outcome}");
    // Neither history nor vread of that id shows her anything.
    assert_eq!(dana.get(&format!("{path}/_history")).await.0, 404);
    assert_eq!(dana.get(&format!("{path}/_history/1")).await.0, 404);
    let (status, history) = dana.get("Communication/_history?_count=500").await;
    assert_eq!(status, 200);
    assert!(
        !history.to_string().contains("biopsy"),
        "type history leaked"
    );
    // The patient it was written for still sees its history.
    let (status, mine) = eleanor.get(&format!("{path}/_history")).await;
    assert_eq!(status, 200);
    assert!(mine.to_string().contains("biopsy"));
}

#[tokio::test]
async fn include_needs_the_same_scopes_as_a_read() {
    let s = TestServer::demo().await;
    let narrow = s
        .sign_in_with_scope(
            DEMO_PATIENT_USERNAME,
            DEMO_PATIENT_PASSWORD,
            "launch/patient patient/Task.rs",
        )
        .await;
    assert_eq!(narrow["scope"], "launch/patient patient/Task.rs");
    let narrow = s.client(narrow);
    let (status, bundle) = narrow
        .get("Task?_include=Task:focus&_include=Task:patient&_count=200")
        .await;
    assert_eq!(status, 200);
    let types: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert!(types.len() > 5);
    assert!(types.iter().all(|t| *t == "Task"), "{types:?}");
    let full = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let message = full.search("Communication").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(narrow.get(&format!("Communication/{message}")).await.0, 403);
}

#[tokio::test]
async fn a_patient_cannot_rewrite_the_record() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in_with_scope(
            DEMO_PATIENT_USERNAME,
            DEMO_PATIENT_PASSWORD,
            EVERYTHING_PATIENT,
        )
        .await;
    let eleanor = s.client(eleanor);
    let p = eleanor.patient.clone().unwrap();
    let me = format!("Patient/{p}");
    let from_team = eleanor
        .search("Communication?_count=200")
        .await
        .into_iter()
        .find(|m| {
            m["sender"]["reference"]
                .as_str()
                .is_some_and(|r| r.starts_with("Practitioner/"))
                && m["recipient"].to_string().contains(&me)
        })
        .unwrap();
    let id = from_team["id"].as_str().unwrap();
    let path = format!("Communication/{id}");
    let original = from_team["payload"].clone();

    // She changes what the pharmacist wrote: refused, and the message is unchanged.
    let mut forged = from_team.clone();
    forged["payload"] = json!([{"contentString": "Double the dose"}]);
    let (status, outcome) = eleanor.put(&path, &forged).await;
    assert_eq!(status, 403);
    assert!(
        diagnostics(&outcome).contains("you changed payload"),
        "{outcome}"
    );
    assert_eq!(eleanor.get(&path).await.1["payload"], original);
    // Marking it read is hers to do.
    let mut read = from_team.clone();
    read["received"] = json!(NOW);
    assert_eq!(eleanor.put(&path, &read).await.0, 200);

    // A message "from" a practitioner, a second Patient, a Practitioner, her own demographics.
    let mut impostor = message_for(&p, "Stop the anticoagulant");
    impostor["sender"] = json!({"reference": from_team["sender"]["reference"]});
    let (status, outcome) = eleanor.post("Communication", &impostor).await;
    assert_eq!(status, 403);
    assert!(
        diagnostics(&outcome).contains("sender must be you"),
        "{outcome}"
    );
    for (t, body) in [
        (
            "Patient",
            json!({"resourceType": "Patient", "name": [{"family": "Twin"}]}),
        ),
        (
            "Practitioner",
            json!({"resourceType": "Practitioner", "name": [{"family": "Fake"}]}),
        ),
        (
            "CareTeam",
            json!({"resourceType": "CareTeam", "status": "active", "subject": {"reference": me}}),
        ),
    ] {
        let (status, outcome) = eleanor.post(t, &body).await;
        assert_eq!(status, 403, "{t}: {outcome}");
        diagnostics(&outcome);
    }
    let (_, mut demographics) = eleanor.get(&me).await;
    demographics["name"] = json!([{"family": "Changed"}]);
    assert_eq!(eleanor.put(&me, &demographics).await.0, 403);
    // A message without a sender is hers: the server says so.
    let (status, sent) = eleanor
        .post("Communication", &message_for(&p, "hello"))
        .await;
    assert_eq!(status, 201);
    assert_eq!(sent["sender"]["reference"], me);
}

#[tokio::test]
async fn revoking_a_family_member_ends_their_sign_in_and_grants_can_end_by_date() {
    let s = TestServer::demo().await;
    let token = s
        .sign_in_with_scope(PROXY_USERNAME, PROXY_PASSWORD, EVERYTHING_PATIENT)
        .await;
    let refresh = token["refresh_token"].as_str().unwrap().to_owned();
    let claire = s.client(token);
    let p = claire.patient.clone().unwrap();
    assert_eq!(claire.get(&format!("Patient/{p}")).await.0, 200);
    let rp = related_person_of(&s, PROXY_USERNAME);
    s.server
        .state
        .db
        .with(|c| {
            for area in Area::ALL {
                access::revoke(c, &rp, area, NOW)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    // Her access token and her refresh token stop at once.
    assert_eq!(claire.get("Appointment").await.0, 401);
    let (status, answer) = s.refresh(&refresh, carecycle_backend::scopes::APP.id).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Signing in again, she no longer sees even the patient's name.
    let claire = s.sign_in(PROXY_USERNAME, PROXY_PASSWORD).await;
    assert_eq!(claire.get(&format!("Patient/{p}")).await.0, 404);
    assert_eq!(claire.get("Patient").await.0, 403);
    assert_eq!(claire.get("Appointment").await.0, 403);

    // A grant with an end date ends by itself.
    let until = "2026-11-23T15:05:00Z";
    s.server
        .state
        .db
        .with(|c| {
            access::grant(c, &rp, &p, Area::Schedule, NOW, Some(until)).map_err(StoreError::from)
        })
        .unwrap();
    let claire = s.sign_in(PROXY_USERNAME, PROXY_PASSWORD).await;
    assert_eq!(claire.get("Appointment").await.0, 200);
    s.clock.advance(jiff::SignedDuration::from_mins(6));
    assert_eq!(claire.get("Appointment").await.0, 403);
}

#[tokio::test]
async fn sign_in_cannot_be_brute_forced() {
    let s = TestServer::demo().await;
    let attempt = |user: &'static str, password: &'static str| {
        let s = &s;
        async move {
            let r = s.submit_sign_in(user, password, EVERYTHING_PATIENT).await;
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            (r.status().as_u16(), retry)
        }
    };
    // A few mistakes are free; then every attempt waits, the right password too.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(attempt(DEMO_PATIENT_USERNAME, "wrong").await.0);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    let (status, retry) = attempt(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD).await;
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|r| r >= 1));
    // An unknown name is answered exactly the same way.
    let mut unknown = Vec::new();
    for _ in 0..5 {
        unknown.push(attempt("mallory", "guess").await.0);
    }
    assert_eq!(unknown, [401, 401, 401, 429, 429]);
    // Once the wait has passed the right password works, and clears the count.
    s.clock.advance(jiff::SignedDuration::from_mins(16));
    assert_eq!(
        attempt(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
            .await
            .0,
        303
    );
    assert_eq!(attempt(DEMO_PATIENT_USERNAME, "wrong").await.0, 401);
    // One address trying many names is held up as a whole.
    for i in 0..carecycle_backend::throttle::ADDRESS_FREE_FAILURES {
        let name: &'static str = Box::leak(format!("name{i}").into_boxed_str());
        attempt(name, "guess").await;
    }
    assert_eq!(attempt(SECOND_PATIENT_USERNAME, "anything").await.0, 429);
}

#[tokio::test]
async fn the_audit_log_answers_who_tried_to_get_into_my_record() {
    let s = TestServer::demo().await;
    let wrong = s
        .submit_sign_in(DEMO_PATIENT_USERNAME, "wrong", EVERYTHING_PATIENT)
        .await;
    assert_eq!(wrong.status(), 401);
    let token = s
        .sign_in_with_scope(
            DEMO_PATIENT_USERNAME,
            DEMO_PATIENT_PASSWORD,
            EVERYTHING_PATIENT,
        )
        .await;
    let refresh = token["refresh_token"].as_str().unwrap().to_owned();
    let eleanor = s.client(token);
    let (status, _) = eleanor
        .post("Practitioner", &json!({"resourceType": "Practitioner"}))
        .await;
    assert_eq!(status, 403);
    let (status, refreshed) = s.refresh(&refresh, carecycle_backend::scopes::APP.id).await;
    assert_eq!(status, 200);
    let revoked = s
        .http
        .post(format!("{}/auth/revoke", s.origin()))
        .form(&[("token", refreshed["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let events = eleanor
        .search("AuditEvent?_count=500&_sort=-_lastUpdated")
        .await;
    let seen = |code: &str, outcome: &str| {
        events
            .iter()
            .any(|e| e["subtype"][0]["code"] == code && e["outcome"] == outcome)
    };
    assert!(seen("110122", "4"), "a failed sign-in on her account");
    assert!(seen("110122", "0"), "her sign-in");
    assert!(seen("token-issued", "0"));
    assert!(seen("token-refreshed", "0"));
    assert!(seen("110123", "0"), "the revocation");
    assert!(seen("refused", "4"), "the refused request");
    // Another patient reads none of it.
    let dana = s
        .sign_in(SECOND_PATIENT_USERNAME, SECOND_PATIENT_PASSWORD)
        .await;
    let p = eleanor.patient.clone().unwrap();
    assert_eq!(dana.get(&format!("AuditEvent?patient={p}")).await.0, 403);
    let hers = dana.search("AuditEvent?_count=500").await;
    assert!(!hers.iter().any(|e| e.to_string().contains(&p)));
}

#[tokio::test]
async fn every_error_is_an_operation_outcome_with_the_right_status() {
    let s = TestServer::demo().await;
    let c = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let base = s.base();
    let raw = |method: Method, url: String| s.http.request(method, url).bearer_auth(&c.token);
    let check = |status: u16, expected: u16, body: &Value, what: &str| {
        assert_eq!(status, expected, "{what}: {body}");
        assert_eq!(body["resourceType"], "OperationOutcome", "{what}: {body}");
    };
    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (status, body) = answer(
        raw(Method::PATCH, format!("{base}/Patient/x"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    check(status, 405, &body, "PATCH");
    let (status, body) = answer(
        raw(Method::GET, format!("{base}/Task"))
            .header("accept", "application/fhir+xml")
            .send()
            .await
            .unwrap(),
    )
    .await;
    check(status, 406, &body, "XML");
    let (status, body) = answer(
        raw(Method::GET, format!("{base}/Task?_format=xml"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    check(status, 406, &body, "_format=xml");
    let long = "x".repeat(9000);
    let (status, body) = answer(
        raw(Method::GET, format!("{base}/Task?code={long}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    check(status, 414, &body, "long URL");
    let (status, body) = answer(
        raw(Method::POST, format!("{base}/Communication"))
            .header("content-type", "text/plain")
            .body(r#"{"resourceType":"Communication","status":"completed"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    check(status, 415, &body, "text/plain");
    let (status, body) = answer(s.http.get(format!("{base}/Task")).send().await.unwrap()).await;
    check(status, 401, &body, "no token");
    // A parameter the server does not apply is not claimed in the Bundle's self link.
    let (status, bundle) = c.get("Task?focus:Questionnaire.url=x&_count=5").await;
    assert_eq!(status, 200);
    let self_link = bundle["link"][0]["url"].as_str().unwrap();
    assert!(
        self_link.contains("_count=5") && !self_link.contains("focus"),
        "{self_link}"
    );

    // Nothing a client sends is a server error.
    let p = c.patient.clone().unwrap();
    let garbage = [
        "null".to_owned(),
        "[]".to_owned(),
        "{".to_owned(),
        "[".repeat(5000),
        json!({"resourceType": "Communication", "status": 7}).to_string(),
        json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": "Patient/../../etc"}}).to_string(),
        json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": format!("Patient/{p}")}, "sender": "me"}).to_string(),
        json!({"resourceType": "Communication", "status": "completed", "subject": [1, 2]}).to_string(),
        json!({"resourceType": "QuestionnaireResponse", "status": "in-progress", "subject": {"reference": format!("Patient/{p}")}, "author": 5}).to_string(),
    ];
    for body in garbage {
        for (method, path) in [
            (Method::POST, "Communication"),
            (Method::PUT, "Communication/x1"),
            (Method::POST, ""),
        ] {
            let r = raw(method.clone(), format!("{base}/{path}"))
                .header("content-type", "application/fhir+json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert!(
                (400..500).contains(&status),
                "{method} {path} {body:.80}: {status}"
            );
        }
    }
    for query in [
        "_count=-1",
        "_lastUpdated=gtfoo",
        "_id=%00",
        "_cursor=!!",
        "_sort=x",
        "date=2026-13-45",
        "_include=Task:nothing",
    ] {
        let status = raw(Method::GET, format!("{base}/Task?{query}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!((200..500).contains(&status), "{query}: {status}");
    }
}

#[tokio::test]
async fn a_search_page_is_bounded_in_bytes_and_paging_continues() {
    let s = TestServer::demo().await;
    let knee = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = eleanor.patient.clone().unwrap();
    use base64::Engine;
    let photo = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 2 * 1024 * 1024]);
    for i in 0..3 {
        let mut m = message_for(&p, &format!("big {i}"));
        m["payload"] = json!([{"contentAttachment": {"contentType": "image/png", "data": photo}}]);
        assert_eq!(knee.post("Communication", &m).await.0, 201);
    }
    let (status, first) = eleanor
        .get("Communication?_count=100&_sort=-_lastUpdated")
        .await;
    assert_eq!(status, 200);
    let bytes = first.to_string().len();
    assert!(
        bytes < carecycle_backend::api::MAX_PAGE_BYTES + 3 * 1024 * 1024,
        "{bytes}"
    );
    assert!(entries(&first).len() < 5, "the page stopped early");
    let mut all = entries(&first).len();
    let mut page = first.clone();
    while let Some(next) = page["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
    {
        let path = next["url"]
            .as_str()
            .unwrap()
            .strip_prefix(&format!("{}/", s.base()))
            .unwrap()
            .to_owned();
        page = eleanor.get(&path).await.1;
        all += entries(&page).len();
    }
    assert_eq!(
        Some(all as u64),
        first["total"].as_u64(),
        "every message, once"
    );
    assert!(all >= 3);
}

#[tokio::test]
async fn the_sign_in_page_is_hardened_and_says_what_the_app_may_do() {
    let s = TestServer::demo().await;
    let challenge = "a".repeat(43);
    let url = |redirect: &str, lang: &str| {
        let mut u = url::Url::parse(&format!("{}/auth/authorize", s.origin())).unwrap();
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "carecycle-app")
            .append_pair("redirect_uri", redirect)
            .append_pair(
                "scope",
                "launch/patient offline_access patient/*.rs patient/Communication.cu",
            )
            .append_pair("state", "s")
            .append_pair("aud", &s.base())
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("ui_locales", lang);
        u.to_string()
    };
    let page = s
        .http
        .get(url("http://127.0.0.1:5000/callback", "es"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(
        !h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("lang=\"es\""));
    assert!(
        html.contains("Enviar mensajes a su equipo de atención"),
        "{html}"
    );
    assert!(
        !html.contains("Enviar sus respuestas"),
        "not asked for, not promised"
    );
    let en = s
        .http
        .get(url("http://127.0.0.1:5000/callback", "en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains("Send messages to your care team"));
    // A private-use scheme with a host is not the registered redirect.
    let evil = s
        .http
        .get(url("dev.carecycle.app://evil.example/callback", "en"))
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 400);
    assert!(evil.headers().get("location").is_none());
}

#[tokio::test]
async fn a_batch_of_reads_and_searches_is_judged_entry_by_entry_like_the_same_gets() {
    let s = TestServer::demo().await;
    let dana = s
        .sign_in(SECOND_PATIENT_USERNAME, SECOND_PATIENT_PASSWORD)
        .await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    // Eleanor asks; Dana is the other patient.
    let (me, other) = (
        eleanor.patient.clone().unwrap(),
        dana.patient.clone().unwrap(),
    );
    let get = |url: String| json!({"request": {"method": "GET", "url": url}});
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        get(format!("Patient/{me}")),
        get(format!("Communication?patient=Patient/{me}&_count=100")),
        // Someone else's record, by search, by read and by an unscoped search.
        get(format!("Communication?patient=Patient/{other}")),
        get(format!("Patient/{other}")),
        get("Communication?_count=100".into()),
        get("Nonsense?x=1".into()),
    ]});
    let audited = || {
        s.server
            .state
            .db
            .with(|c| {
                c.query_row(
                    "SELECT count(*) FROM audit.resource WHERE type = 'AuditEvent'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(StoreError::from)
            })
            .unwrap()
    };
    let before = audited();
    let (status, answer) = eleanor.post("", &batch).await;
    assert_eq!(status, 200, "{answer}");
    // Answered only once what it read is in the audit log: the patient read
    // and the three searches that found something of hers (refusals are
    // audited as security events of their own).
    assert!(audited() >= before + 3, "{before} → {}", audited());
    assert_eq!(answer["type"], "batch-response");
    let status_of = |i: usize| {
        answer["entry"][i]["response"]["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status_of(0), "200 OK");
    assert_eq!(answer["entry"][0]["resource"]["id"], me.as_str());
    // Her own messages, exactly what the same GET on its own finds.
    assert_eq!(status_of(1), "200 OK");
    let alone = eleanor
        .search(&format!("Communication?patient=Patient/{me}&_count=100"))
        .await;
    let in_batch = answer["entry"][1]["resource"]["entry"].as_array().unwrap();
    assert_eq!(in_batch.len(), alone.len());
    assert!(!alone.is_empty());
    assert!(status_of(2).starts_with("403"), "{}", status_of(2));
    assert!(status_of(3).starts_with("404"), "{}", status_of(3));
    // Unscoped: narrowed to her record, never Dana's.
    let unscoped = answer["entry"][4]["resource"]["entry"].as_array().unwrap();
    assert_eq!(unscoped.len(), alone.len());
    assert!(
        unscoped.iter().all(|e| !e["resource"]
            .to_string()
            .contains(&format!("Patient/{other}"))),
        "another patient's message leaked through a batch"
    );
    assert!(
        status_of(5).starts_with("400") || status_of(5).starts_with("404"),
        "{}",
        status_of(5)
    );
}

/// Issue #13 item 2: what is not valid R4 is refused, whoever sends it, and
/// the OperationOutcome names each element; nothing of it is stored — alone
/// or in a batch. (Before, `sent: "yesterday"` and an unknown element were
/// stored, and a third-party client then failed to parse the patient's messages.)
#[tokio::test]
async fn what_is_not_valid_r4_is_refused_at_its_elements_and_never_stored() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let knee = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let pe = eleanor.patient.clone().unwrap();
    let expressions = |outcome: &Value| -> Vec<String> {
        outcome["issue"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["expression"].as_array().cloned().unwrap_or_default())
            .map(|e| e.as_str().unwrap().to_owned())
            .collect()
    };
    let mut bad = message_for(&pe, "bad dates and colours");
    bad["sent"] = json!("yesterday");
    bad["colour"] = json!("blue");
    let (status, outcome) = eleanor.post("Communication", &bad).await;
    assert_eq!(status, 422, "{outcome}");
    assert_eq!(
        expressions(&outcome),
        ["Communication.sent", "Communication.colour"],
        "{outcome}"
    );
    assert!(
        outcome["issue"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["code"] == "invalid")
    );

    // The team is held to the same: a reference R4 does not allow there, an
    // empty payload, an update that would make a stored message invalid.
    let mut wrong_target = message_for(&pe, "about the wrong thing");
    wrong_target["basedOn"] = json!([{"reference": format!("Patient/{pe}")}]);
    wrong_target["recipient"] = json!([{"reference": "Observation/o1"}]);
    let (status, outcome) = knee.post("Communication", &wrong_target).await;
    assert_eq!(status, 422, "{outcome}");
    assert_eq!(
        expressions(&outcome),
        ["Communication.recipient[0].reference"],
        "{outcome}"
    );
    let (status, good) = knee.post("Communication", &message_for(&pe, "valid")).await;
    assert_eq!(status, 201, "{good}");
    let mut emptied = good.clone();
    emptied["payload"] = json!([{}]);
    let path = format!("Communication/{}", good["id"].as_str().unwrap());
    let (status, outcome) = knee.put(&path, &emptied).await;
    assert_eq!(status, 422, "{outcome}");
    assert_eq!(
        expressions(&outcome),
        ["Communication.payload[0].content[x]"],
        "{outcome}"
    );

    // In a batch, the invalid entry is refused at its elements and the valid one goes.
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": bad, "request": {"method": "POST", "url": "Communication"}},
        {"resource": message_for(&pe, "fine in a batch"), "request": {"method": "POST", "url": "Communication"}},
    ]});
    let (status, answer) = eleanor.post("", &batch).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["entry"][0]["response"]["status"]
            .as_str()
            .unwrap()
            .starts_with("422"),
        "{answer}"
    );
    assert_eq!(
        expressions(&answer["entry"][0]["response"]["outcome"]),
        ["Communication.sent", "Communication.colour"]
    );
    assert!(
        answer["entry"][1]["response"]["status"]
            .as_str()
            .unwrap()
            .starts_with("201"),
        "{answer}"
    );

    // Nothing invalid was stored, and the stored message is unchanged.
    let stored = knee
        .search(&format!("Communication?patient=Patient/{pe}&_count=200"))
        .await;
    assert!(
        !stored
            .iter()
            .any(|c| c.get("colour").is_some() || c["sent"] == "yesterday")
    );
    assert!(
        !stored
            .iter()
            .any(|c| c["payload"][0]["contentString"] == "about the wrong thing")
    );
    assert_eq!(
        knee.get(&path).await.1["payload"][0]["contentString"],
        "valid"
    );
}
