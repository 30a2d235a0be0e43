//! FHIR R4 REST semantics through the real HTTP API: versions and ETags,
//! conditional create and update, search parameters, paging while resources
//! change, history, atomic transactions, and the error statuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::seed::*;
use reqwest::Method;
use serde_json::{Value, json};
use support::*;

fn message(patient: &str, text: &str) -> Value {
    json!({"resourceType": "Communication", "status": "completed",
           "category": [{"coding": [{"system": "https://carecycle.dev/fhir/CodeSystem/message-kind", "code": "billing"}]}],
           "subject": {"reference": format!("Patient/{patient}")}, "payload": [{"contentString": text}]})
}

#[tokio::test]
async fn versions_etags_and_conditional_writes() {
    let s = TestServer::demo().await;
    let p = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await
        .patient
        .unwrap();
    // The team may edit its messages (a patient may only mark them read).
    let c = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;

    let (status, created, headers) = c
        .send(Method::POST, "Communication", &message(&p, "one"), &[])
        .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["meta"]["versionId"], "1");
    assert_eq!(headers["etag"], "W/\"1\"");
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/Communication/{id}/_history/1"))
    );
    assert!(headers.contains_key("last-modified"));

    // Update with the right version, then with a stale one: 412, never an overwrite.
    let mut v2 = created.clone();
    v2["payload"][0]["contentString"] = json!("two");
    let path = format!("Communication/{id}");
    let put_if_v1 = || c.send(Method::PUT, &path, &v2, &[("if-match", "W/\"1\"")]);
    let (status, updated, headers) = put_if_v1().await;
    assert_eq!(status, 200);
    assert_eq!(updated["meta"]["versionId"], "2");
    assert_eq!(headers["etag"], "W/\"2\"");
    let (status, outcome, _) = put_if_v1().await;
    assert_eq!(status, 412, "{outcome}");
    assert_eq!(
        c.get(&format!("Communication/{id}")).await.1["payload"][0]["contentString"],
        "two"
    );
    assert_eq!(
        c.get(&format!("Communication/{id}/_history/1")).await.1["payload"][0]["contentString"],
        "one"
    );

    // Prefer: return=minimal answers with no body.
    let (status, body, headers) = c
        .send(
            Method::PUT,
            &format!("Communication/{id}"),
            &v2,
            &[("prefer", "return=minimal")],
        )
        .await;
    assert_eq!((status, body), (200, Value::Null));
    assert_eq!(headers["etag"], "W/\"3\"");

    // Conditional create: a retry with the same client identifier returns the first.
    let mut with_id = message(&p, "retry me");
    with_id["identifier"] =
        json!([{"system": "https://carecycle.dev/fhir/sid/client-id", "value": "c-123"}]);
    let cond = [(
        "if-none-exist",
        "identifier=https://carecycle.dev/fhir/sid/client-id|c-123",
    )];
    let (first, a, _) = c.send(Method::POST, "Communication", &with_id, &cond).await;
    let (second, b, _) = c.send(Method::POST, "Communication", &with_id, &cond).await;
    assert_eq!((first, second), (201, 200));
    assert_eq!(a["id"], b["id"]);
    assert_eq!(
        c.search("Communication?identifier=https://carecycle.dev/fhir/sid/client-id|c-123")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn delete_gone_and_history() {
    let s = TestServer::demo().await;
    let team = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = eleanor.patient.clone().unwrap();
    let since = {
        let (_, b) = team.get("Communication?_sort=-_lastUpdated&_count=1").await;
        b["entry"][0]["resource"]["meta"]["lastUpdated"]
            .as_str()
            .map(str::to_owned)
    };
    let (_, created) = team.post("Communication", &message(&p, "v1")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let mut v2 = created.clone();
    v2["payload"][0]["contentString"] = json!("v2");
    assert_eq!(team.put(&format!("Communication/{id}"), &v2).await.0, 200);
    let (status, _, _) = team
        .send(
            Method::DELETE,
            &format!("Communication/{id}"),
            &Value::Null,
            &[],
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(team.get(&format!("Communication/{id}")).await.0, 410);
    assert_eq!(eleanor.get(&format!("Communication/{id}")).await.0, 410);

    let (status, history) = eleanor.get(&format!("Communication/{id}/_history")).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["type"], "history");
    let methods: Vec<&str> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["DELETE", "PUT", "POST"], "newest first");

    // Type-level history with _since sees only what changed since.
    let mut query = "Communication/_history".to_owned();
    if let Some(since) = since {
        query.push_str(&format!("?_since={}", since.replace('+', "%2B")));
    }
    let (_, typed) = eleanor.get(&query).await;
    assert_eq!(typed["entry"].as_array().unwrap().len(), 3, "{typed}");
    // Another patient's history is theirs alone.
    let dana = s
        .sign_in(SECOND_PATIENT_USERNAME, SECOND_PATIENT_PASSWORD)
        .await;
    assert_eq!(
        dana.get(&format!("Communication/{id}/_history")).await.0,
        404
    );
    assert!(
        dana.get("Communication/_history").await.1["entry"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn search_parameters_the_app_needs() {
    let s = TestServer::demo().await;
    let c = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = c.patient.clone().unwrap();

    // Threads: part-of and category.
    let (_, root) = c.post("Communication", &message(&p, "root")).await;
    let root_id = root["id"].as_str().unwrap();
    let mut reply = message(&p, "reply");
    reply["partOf"] = json!([{"reference": format!("Communication/{root_id}")}]);
    reply["category"] = json!([{"coding": [{"system": "https://carecycle.dev/fhir/CodeSystem/message-kind", "code": "clinical"}]}]);
    c.post("Communication", &reply).await;
    assert_eq!(
        c.search(&format!("Communication?part-of=Communication/{root_id}"))
            .await
            .len(),
        1
    );
    assert_eq!(
        c.search(&format!("Communication?part-of={root_id}"))
            .await
            .len(),
        1,
        "bare id"
    );
    assert_eq!(c.search("Communication?category=clinical").await.len(), 1);
    assert_eq!(
        c.search(
            "Communication?category=https://carecycle.dev/fhir/CodeSystem/message-kind|billing"
        )
        .await
        .len(),
        1
    );
    assert_eq!(
        c.search("Communication?category=other-system|clinical")
            .await
            .len(),
        0
    );
    // The seed holds three messages of this patient besides the two above.
    assert_eq!(
        c.search(&format!("Communication?subject={p}")).await.len(),
        5,
        "subject as a bare id"
    );
    assert_eq!(
        c.search(&format!("Communication?subject=Patient/{p}"))
            .await
            .len(),
        5
    );

    // Tasks: owner, based-on, code; appointments by date.
    let tasks = c
        .search(&format!("Task?owner=Patient/{p}&code=checklist"))
        .await;
    assert_eq!(tasks.len(), 6);
    let phase = tasks[1]["basedOn"][0]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!c.search(&format!("Task?based-on={phase}")).await.is_empty());
    let all = c.search("Appointment?_count=100").await;
    let first_start = all
        .iter()
        .map(|a| a["start"].as_str().unwrap().to_owned())
        .min()
        .unwrap();
    let day = &first_start[..10];
    assert_eq!(c.search(&format!("Appointment?date={day}")).await.len(), 1);
    assert_eq!(
        c.search(&format!("Appointment?date=gt{day}")).await.len(),
        9
    );
    assert_eq!(
        c.search(&format!("Appointment?date=le{day}")).await.len(),
        1
    );

    // _include follows a reference; _sort=-_lastUpdated gives newest first.
    let (status, bundle) = c
        .get(&format!(
            "Communication?part-of={root_id}&_include=Communication:part-of"
        ))
        .await;
    assert_eq!(status, 200);
    let modes: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["search"]["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["match", "include"]);
    let phq9 = json!({"resourceType": "QuestionnaireResponse", "status": "in-progress",
        "questionnaire": "https://carecycle.dev/fhir/Questionnaire/phq-9|1.0.0",
        "subject": {"reference": format!("Patient/{p}")}});
    assert_eq!(c.post("QuestionnaireResponse", &phq9).await.0, 201);
    assert_eq!(
        c.search(
            "QuestionnaireResponse?questionnaire=https://carecycle.dev/fhir/Questionnaire/phq-9"
        )
        .await
        .len(),
        1,
        "a canonical matches any version"
    );
    assert_eq!(
        c.search(
            "QuestionnaireResponse?questionnaire=https://carecycle.dev/fhir/Questionnaire/gad-7"
        )
        .await
        .len(),
        0
    );
    let (_, with_focus) = c.get("Task?code=reply&_include=Task:focus").await;
    assert!(
        with_focus["entry"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["search"]["mode"] == "include"
                && e["resource"]["resourceType"] == "Communication")
    );
    let newest = c.search("Communication?_sort=-_lastUpdated").await;
    assert_eq!(newest[0]["payload"][0]["contentString"], "reply");
    // An unsupported sort is ignored and said so (search_r4.rs: 400 under handling=strict).
    let (status, sorted) = c.get("Communication?_sort=status").await;
    assert_eq!(status, 200);
    assert!(
        sorted["entry"].to_string().contains("_sort=status"),
        "{sorted}"
    );
    let (_, cap) = c.get("metadata").await;
    let task = cap["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Task")
        .unwrap();
    let names: Vec<&str> = task["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        task["searchInclude"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "Task:focus")
    );
    for n in [
        "owner",
        "focus",
        "based-on",
        "code",
        "patient",
        "_lastUpdated",
    ] {
        assert!(names.contains(&n), "{n} in the CapabilityStatement");
    }
}

#[tokio::test]
async fn paging_stays_correct_while_resources_change() {
    let s = TestServer::demo().await;
    let c = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = c.patient.clone().unwrap();
    let team = s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await;
    let seeded = c.search("Communication?_count=100").await.len();
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            c.post("Communication", &message(&p, &format!("m{i}")))
                .await
                .1["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (_, mut page) = c.get("Communication?_count=10").await;
    let mut seen = Vec::new();
    let mut changed = false;
    loop {
        seen.extend(
            entries(&page)
                .into_iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        if !changed {
            // A resource already paged past changes (the team edits it); a new one arrives.
            let mut first = team.get(&format!("Communication/{}", ids[0])).await.1;
            first["payload"][0]["contentString"] = json!("edited");
            assert_eq!(
                team.put(&format!("Communication/{}", ids[0]), &first)
                    .await
                    .0,
                200
            );
            ids.push(
                c.post("Communication", &message(&p, "late")).await.1["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            changed = true;
        }
        let Some(next) = page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
        else {
            break;
        };
        let url = next["url"].as_str().unwrap().to_owned();
        let path = url
            .strip_prefix(&format!("{}/", c.base))
            .unwrap()
            .to_owned();
        page = c.get(&path).await.1;
    }
    // Nothing skipped: every resource is seen; the edited one shows again at the end (changed after the cursor).
    for id in &ids {
        assert!(seen.contains(id), "{id} was skipped");
    }
    assert_eq!(seen.len(), seeded + ids.len() + 1);
}

#[tokio::test]
async fn transactions_are_atomic_and_resolve_placeholders() {
    let s = TestServer::demo().await;
    let c = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = c.patient.clone().unwrap();
    let root = "urn:uuid:7c8e1a0e-0000-4000-8000-000000000001";
    let mut reply = message(&p, "second");
    reply["partOf"] = json!([{"reference": root}]);
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:7c8e1a0e-0000-4000-8000-000000000002", "resource": reply, "request": {"method": "POST", "url": "Communication"}},
        {"fullUrl": root, "resource": message(&p, "first"), "request": {"method": "POST", "url": "Communication"}}
    ]});
    let (status, answer) = c.post("", &tx).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["type"], "transaction-response");
    let root_location = answer["entry"][1]["response"]["location"].as_str().unwrap();
    let root_id = root_location.split('/').nth(1).unwrap();
    let replies = c
        .search(&format!("Communication?part-of=Communication/{root_id}"))
        .await;
    assert_eq!(
        replies.len(),
        1,
        "the placeholder was rewritten to the new id"
    );

    // One bad entry rolls back the whole transaction.
    let before = c.search("Communication?_count=100").await.len();
    let bad = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": message(&p, "would be lost"), "request": {"method": "POST", "url": "Communication"}},
        {"resource": {"resourceType": "Communication", "status": "sent", "subject": {"reference": format!("Patient/{p}")}}, "request": {"method": "POST", "url": "Communication"}}
    ]});
    let (status, outcome) = c.post("", &bad).await;
    assert_eq!(status, 422);
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .starts_with("entry 1:"),
        "{outcome}"
    );
    assert_eq!(c.search("Communication?_count=100").await.len(), before);

    // A batch reports each entry on its own.
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": message(&p, "kept"), "request": {"method": "POST", "url": "Communication"}},
        {"request": {"method": "GET", "url": "Communication/does-not-exist"}}
    ]});
    let (status, answer) = c.post("", &batch).await;
    assert_eq!(status, 200);
    assert_eq!(answer["entry"][0]["response"]["status"], "201 Created");
    assert!(
        answer["entry"][1]["response"]["status"]
            .as_str()
            .unwrap()
            .starts_with("404")
    );
    assert_eq!(c.search("Communication?_count=100").await.len(), before + 1);
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_never_breaks_the_server() {
    let s = TestServer::demo().await;
    let c = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = c.patient.clone().unwrap();
    let raw = |body: Vec<u8>| {
        let c = c.clone();
        async move {
            c.http
                .post(format!("{}/Communication", c.base))
                .bearer_auth(&c.token)
                .header("content-type", "application/fhir+json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    for body in [
        b"{".to_vec(),
        b"[]".to_vec(),
        b"\xff\xfe".to_vec(),
        b"{\"resourceType\": \"Patient\"}".to_vec(),
        Vec::new(),
    ] {
        let r = raw(body).await;
        assert_eq!(r.status().as_u16(), 400);
        let outcome: Value = r.json().await.unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
    let big = vec![b' '; carecycle_backend::api::MAX_BODY_BYTES + 1];
    assert_eq!(raw(big).await.status().as_u16(), 413);
    let mut invalid = message(&p, "x");
    invalid["status"] = json!("sent");
    let (status, outcome) = c.post("Communication", &invalid).await;
    assert_eq!(status, 422);
    assert_eq!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .split(" is not")
            .next()
            .unwrap(),
        "Communication.status 'sent'"
    );
    let mut bad_ref = message(&p, "x");
    bad_ref["partOf"] = json!([{"reference": "not a reference"}]);
    assert_eq!(c.post("Communication", &bad_ref).await.0, 422);
    assert_eq!(c.get("Nonsense/1").await.0, 404);
    assert_eq!(c.get("Communication?_count=lots").await.0, 400);
    // After all that, the server still answers.
    assert_eq!(c.get("Appointment").await.0, 200);
}

#[tokio::test]
async fn start_up_errors_are_clear() {
    use carecycle_backend::{ServerOptions, StartError, start};
    use carecycle_fhir::time::SystemClock;
    use std::sync::Arc;
    let first = TestServer::demo().await;
    let taken = first.server.addr;
    let options = |addr, data_dir| ServerOptions {
        addr,
        data_dir,
        seed: None,
        clock: Arc::new(SystemClock),
    };
    match start(options(taken, None)).await {
        Err(e @ StartError::AddrInUse(_)) => assert!(e.to_string().contains("already in use")),
        other => panic!("{other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(carecycle_backend::DATABASE_FILE),
        b"this is not a database at all, not even close",
    )
    .unwrap();
    match start(options(
        "127.0.0.1:0".parse().unwrap(),
        Some(dir.path().to_owned()),
    ))
    .await
    {
        Err(e @ StartError::Database(..)) => {
            assert!(e.to_string().contains("cannot be used"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    match start(options(
        "127.0.0.1:0".parse().unwrap(),
        Some(file.join("sub")),
    ))
    .await
    {
        Err(e @ StartError::DataDir(..)) => {
            assert!(e.to_string().contains("cannot be created or written"))
        }
        other => panic!("{other:?}"),
    }
}

/// Hundreds of damaged bodies (truncated, bytes flipped, types swapped, deep
/// nesting) against create, update and transaction: every answer is a
/// FHIR error or a success, never a crash, and the record stays usable.
#[tokio::test]
async fn damaged_bodies_never_crash_the_server() {
    use rand::{Rng, SeedableRng};
    let s = TestServer::demo().await;
    let c = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = c.patient.clone().unwrap();
    let valid = serde_json::to_vec(&message(&p, "fuzz")).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes();
    let mut bodies: Vec<Vec<u8>> = vec![
        deep,
        b"null".to_vec(),
        b"{\"resourceType\": \"Communication\", \"status\": 5}".to_vec(),
    ];
    for _ in 0..300 {
        let mut b = valid.clone();
        match rng.gen_range(0..3) {
            0 => b.truncate(rng.gen_range(0..valid.len())),
            1 => {
                for _ in 0..rng.gen_range(1..6) {
                    let i = rng.gen_range(0..b.len());
                    b[i] = rng.r#gen();
                }
            }
            _ => {
                let text = String::from_utf8_lossy(&b)
                    .replace("\"completed\"", "[]")
                    .replace("\"payload\"", "\"subject\"");
                b = text.into_bytes();
            }
        }
        bodies.push(b);
    }
    for (i, body) in bodies.into_iter().enumerate() {
        let (method, path) = match i % 3 {
            0 => (Method::POST, format!("{}/Communication", c.base)),
            1 => (Method::PUT, format!("{}/Communication/fuzz-{i}", c.base)),
            _ => (Method::POST, c.base.clone()),
        };
        let r = c
            .http
            .request(method, path)
            .bearer_auth(&c.token)
            .header("content-type", "application/fhir+json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            matches!(status, 200 | 201 | 400 | 403 | 404 | 412 | 413 | 422),
            "status {status}"
        );
        if status >= 400 {
            let outcome: Value = r.json().await.unwrap();
            assert_eq!(outcome["resourceType"], "OperationOutcome");
        }
    }
    assert_eq!(c.get("Communication?_count=1").await.0, 200);
}

#[tokio::test]
async fn carecycle_codes_and_extensions_are_published_and_every_code_used_is_defined() {
    let s = TestServer::demo().await;
    let patient = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    // Found by canonical URL, as a stock client resolves a system or an extension.
    let found = patient
        .search(&format!(
            "CodeSystem?url={}",
            carecycle_fhir::MESSAGE_KIND_SYSTEM
        ))
        .await;
    assert_eq!(found.len(), 1);
    let kinds: Vec<&str> = found[0]["concept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["clinical", "scheduling", "medications", "billing", "other"]
    );
    let scores = patient
        .search(&format!("CodeSystem?url={}", carecycle_fhir::SCORE_SYSTEM))
        .await;
    let codes: Vec<&str> = scores[0]["concept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"odi") && codes.contains(&"total"),
        "{codes:?}"
    );
    let sd = patient
        .search(&format!(
            "StructureDefinition?url={}",
            carecycle_fhir::REPLY_POLICY_EXTENSION
        ))
        .await;
    assert_eq!(sd.len(), 1);
    assert_eq!(sd[0]["type"], "Extension");

    // Every CareCycle code the seeded record uses is a concept of a published
    // CodeSystem; every CareCycle extension it uses has a StructureDefinition.
    let stored: Vec<Value> = s
        .server
        .state
        .db
        .with(|c| {
            let mut stmt = c.prepare("SELECT content FROM resource WHERE deleted = 0")?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, carecycle_backend::store::StoreError>(rows)
        })
        .unwrap()
        .iter()
        .map(|c| serde_json::from_str(c).unwrap())
        .collect();
    let mut defined = std::collections::HashSet::new();
    let mut extensions = std::collections::HashSet::new();
    for r in &stored {
        match r["resourceType"].as_str() {
            Some("CodeSystem") => {
                for c in r["concept"].as_array().unwrap() {
                    defined.insert(format!(
                        "{}|{}",
                        r["url"].as_str().unwrap(),
                        c["code"].as_str().unwrap()
                    ));
                }
            }
            Some("StructureDefinition") => {
                extensions.insert(r["url"].as_str().unwrap().to_owned());
            }
            _ => {}
        }
    }
    fn walk(v: &Value, out: &mut Vec<(String, Option<String>)>) {
        match v {
            Value::Object(m) => {
                let ours = |s: &str| s.starts_with(carecycle_fhir::CARECYCLE_CANONICAL);
                if let (Some(system), Some(code)) = (
                    m.get("system").and_then(Value::as_str),
                    m.get("code").and_then(Value::as_str),
                ) && ours(system)
                    && !system.contains("/sid/")
                {
                    out.push((format!("{system}|{code}"), None));
                }
                if let Some(url) = m.get("url").and_then(Value::as_str)
                    && url.contains("/StructureDefinition/")
                    && ours(url)
                    && m.keys().any(|k| k.starts_with("value") || k == "extension")
                {
                    out.push((url.to_owned(), Some(url.to_owned())));
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut used = Vec::new();
    for r in stored
        .iter()
        .filter(|r| r["resourceType"] != "StructureDefinition")
    {
        walk(r, &mut used);
    }
    assert!(used.len() > 20, "{used:?}");
    let undefined: std::collections::BTreeSet<&String> = used
        .iter()
        .filter(|(key, ext)| match ext {
            None => !defined.contains(key),
            Some(url) => !extensions.contains(url),
        })
        .map(|(key, _)| key)
        .collect();
    assert!(
        undefined.is_empty(),
        "used but not published: {undefined:?}"
    );
}

/// Where a standard code or element exists, the seeded record uses it (#13
/// item 5): team roles carry SNOMED CT occupations and NUCC specialties, as
/// US Core binds them; education documents a LOINC document type; the care
/// cycle R4's `workflow-episodeOfCare` and its planned surgery as an activity
/// of kind ServiceRequest, not CareCycle's extensions.
#[tokio::test]
async fn the_seed_uses_standard_codes_where_a_standard_exists() {
    let s = TestServer::demo().await;
    let team = s
        .sign_in(
            carecycle_backend::seed::KNEE_TEAM_USERNAME,
            carecycle_backend::seed::KNEE_TEAM_PASSWORD,
        )
        .await;
    let has = |concept: &Value, system: &str, code: &str| {
        concept["coding"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["system"] == system && c["code"] == code)
        })
    };
    let roles = team.search("PractitionerRole?_count=100").await;
    let surgeon = roles
        .iter()
        .find(|r| {
            has(
                &r["code"][0],
                carecycle_fhir::TEAM_ROLE_SYSTEM,
                "orthopaedic-surgeon",
            )
        })
        .expect("the surgeon's role");
    assert!(
        has(&surgeon["code"][0], "http://snomed.info/sct", "22731001"),
        "{surgeon}"
    );
    assert!(
        has(
            &surgeon["specialty"][0],
            "http://nucc.org/provider-taxonomy",
            "207X00000X"
        ),
        "{surgeon}"
    );
    let captain = roles.iter().find(|r| {
        r["code"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| has(c, carecycle_fhir::TEAM_ROLE_SYSTEM, "team-captain"))
    });
    if let Some(captain) = captain {
        assert!(
            captain.get("specialty").is_none(),
            "no standard code, no empty specialty: {captain}"
        );
    }
    let teams = team.search("CareTeam?_count=10").await;
    let coordinator_roles: Vec<&Value> = teams
        .iter()
        .flat_map(|t| t["participant"].as_array().unwrap())
        .flat_map(|p| p["role"].as_array().unwrap())
        .filter(|r| has(r, carecycle_fhir::TEAM_ROLE_SYSTEM, "care-coordinator"))
        .collect();
    assert!(!coordinator_roles.is_empty());
    for r in coordinator_roles {
        assert!(has(r, "http://snomed.info/sct", "768820003"), "{r}");
    }
    let docs = team.search("DocumentReference?_count=100").await;
    assert!(!docs.is_empty());
    for d in &docs {
        assert!(has(&d["type"], "http://loinc.org", "69730-0"), "{d}");
    }
    let cycles = team
        .search(&format!(
            "CarePlan?category={}|care-cycle",
            carecycle_fhir::CARE_PLAN_KIND_SYSTEM
        ))
        .await;
    assert!(!cycles.is_empty());
    for c in &cycles {
        let urls: Vec<&str> = c["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["url"].as_str())
            .collect();
        assert!(
            !urls
                .iter()
                .any(|u| u.starts_with(carecycle_fhir::CARECYCLE_CANONICAL)),
            "{urls:?}"
        );
    }
    let knee = cycles
        .iter()
        .find(|c| carecycle_fhir::planned::day(c).is_some())
        .expect("the knee cycle's planned surgery");
    assert_eq!(knee["activity"][0]["detail"]["kind"], "ServiceRequest");
    assert!(knee["extension"].as_array().unwrap().iter().any(|e| {
        e["url"] == carecycle_fhir::EPISODE_OF_CARE_EXTENSION
            && e["valueReference"]["reference"]
                .as_str()
                .is_some_and(|r| r.starts_with("EpisodeOfCare/"))
    }));
}
