//! Search as FHIR R4 defines it (search.html), sent as raw HTTP after a real
//! SMART sign-in: strict and lenient handling of what the server does not
//! support, the self link, `_revinclude`, `:missing`, `:not`,
//! `_summary=count`, `_elements`, `POST [type]/_search`, XML refused, and a
//! CapabilityStatement that declares exactly the parameters search applies.
//! The attacks check that none of the new features reaches another patient.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::seed::*;
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;
use support::*;

const STRICT: (&str, &str) = ("prefer", "handling=strict");
const FORM: &str = "application/x-www-form-urlencoded";

async fn get_with(c: &Client, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = c
        .http
        .get(format!("{}/{path}", c.base))
        .bearer_auth(&c.token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn post_search(c: &Client, path: &str, form: &str, content_type: &str) -> (u16, Value) {
    let r = c
        .http
        .post(format!("{}/{path}", c.base))
        .bearer_auth(&c.token)
        .header("content-type", content_type)
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn entries_in<'a>(bundle: &'a Value, mode: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == mode)
        .map(|e| &e["resource"])
        .collect()
}

fn link<'a>(bundle: &'a Value, relation: &str) -> Option<&'a str> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)?["url"]
        .as_str()
}

fn ids(resources: &[&Value]) -> Vec<String> {
    resources
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            )
        })
        .collect()
}

fn diagnostics(outcome: &Value) -> String {
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["diagnostics"].as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A search that must succeed: its bundle.
async fn bundle(c: &Client, path: &str) -> Value {
    let (status, bundle) = c.get(path).await;
    assert_eq!(status, 200, "{path}: {bundle}");
    bundle
}

async fn signed_in(s: &TestServer) -> (Client, Client, Client, Client) {
    (
        s.sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
            .await,
        s.sign_in(SECOND_PATIENT_USERNAME, SECOND_PATIENT_PASSWORD)
            .await,
        s.sign_in(KNEE_TEAM_USERNAME, KNEE_TEAM_PASSWORD).await,
        s.sign_in(BREAST_TEAM_USERNAME, BREAST_TEAM_PASSWORD).await,
    )
}

#[tokio::test]
async fn strict_refuses_what_it_does_not_support_and_lenient_says_so() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    for (query, named) in [
        ("Task?colour=blue", "colour"),
        ("Task?focus:Questionnaire.url=x", ":Questionnaire.url"),
        ("Task?code:text=knee", ":text"),
        ("Task?_include:iterate=Task:focus", "_include:iterate"),
        ("Task?_summary=true", "_summary"),
        ("Task?_sort=status", "_sort"),
        ("Patient?status=active", "status"),
        ("CareTeam?organization=Organization/x", "organization"),
        (
            "Communication?in-response-to=Communication/x",
            "in-response-to",
        ),
        ("Communication?topic=x", "topic"),
    ] {
        let (status, outcome) = get_with(&eleanor, query, &[STRICT]).await;
        assert_eq!(status, 400, "{query}: {outcome}");
        let said = diagnostics(&outcome);
        assert!(said.contains(named), "{query}: {said}");
    }

    // Without handling=strict: ignored, said in an outcome entry, not in the self link.
    let plain = bundle(&eleanor, "Task?_count=500").await;
    let lenient = bundle(
        &eleanor,
        "Task?colour=blue&focus:Questionnaire.url=x&_count=500",
    )
    .await;
    assert_eq!(lenient["total"], plain["total"]);
    assert_eq!(
        ids(&entries_in(&lenient, "match")),
        ids(&entries_in(&plain, "match"))
    );
    let outcomes = entries_in(&lenient, "outcome");
    assert_eq!(outcomes.len(), 1, "{lenient}");
    assert_eq!(outcomes[0]["issue"][0]["severity"], "warning");
    let said = diagnostics(outcomes[0]);
    assert!(
        said.contains("colour") && said.contains(":Questionnaire.url"),
        "{said}"
    );
    let self_link = link(&lenient, "self").unwrap();
    assert!(
        !self_link.contains("colour") && !self_link.contains("focus"),
        "{self_link}"
    );
    // A supported search has no outcome entry.
    assert!(entries_in(&plain, "outcome").is_empty());
}

#[tokio::test]
async fn the_self_link_shows_exactly_the_parameters_applied() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let first = bundle(
        &eleanor,
        "Task?code=checklist&colour=blue&_count=2&_sort=-_lastUpdated",
    )
    .await;
    let self_link = url::Url::parse(link(&first, "self").unwrap()).unwrap();
    let applied: Vec<(String, String)> = self_link.query_pairs().into_owned().collect();
    let expected: Vec<(String, String)> = [
        ("code", "checklist"),
        ("_count", "2"),
        ("_sort", "-_lastUpdated"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(applied, expected);
    assert_eq!(self_link.path(), "/fhir/Task");
    // The next page's self link is the next link: the same parameters and its position.
    let next = link(&first, "next").unwrap().to_owned();
    let path = next.strip_prefix(&format!("{}/", eleanor.base)).unwrap();
    let second = bundle(&eleanor, path).await;
    assert_eq!(link(&second, "self").unwrap(), next);
    assert!(next.contains("_cursor=") && !next.contains("colour"));
}

#[tokio::test]
async fn missing_and_not_split_the_matches() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let all = bundle(&eleanor, "Task?_count=500").await["total"]
        .as_u64()
        .unwrap();
    let not_completed = bundle(&eleanor, "Task?status:not=completed&_count=500").await;
    let completed = bundle(&eleanor, "Task?status=completed&_count=500").await;
    assert!(completed["total"].as_u64().unwrap() > 0);
    assert!(not_completed["total"].as_u64().unwrap() > 0);
    assert_eq!(
        not_completed["total"].as_u64().unwrap() + completed["total"].as_u64().unwrap(),
        all
    );
    assert!(
        entries_in(&not_completed, "match")
            .iter()
            .all(|t| t["status"] != "completed")
    );
    // `:not` with two codes: neither.
    let neither = bundle(&eleanor, "Task?status:not=completed,requested&_count=500").await;
    assert!(
        entries_in(&neither, "match")
            .iter()
            .all(|t| t["status"] != "completed" && t["status"] != "requested")
    );

    let without = bundle(&eleanor, "Task?focus:missing=true&_count=500").await;
    let with = bundle(&eleanor, "Task?focus:missing=false&_count=500").await;
    assert!(
        entries_in(&without, "match")
            .iter()
            .all(|t| t.get("focus").is_none())
    );
    assert!(
        entries_in(&with, "match")
            .iter()
            .all(|t| t.get("focus").is_some())
    );
    assert!(with["total"].as_u64().unwrap() > 0);
    assert_eq!(
        without["total"].as_u64().unwrap() + with["total"].as_u64().unwrap(),
        all
    );
    let (status, outcome) = eleanor.get("Task?focus:missing=maybe").await;
    assert_eq!(status, 400, "{outcome}");
    // Task?period is R4's Task.executionPeriod, not the restriction period.
    for task in entries_in(
        &bundle(&eleanor, "Task?period=ge2000-01-01&_count=500").await,
        "match",
    ) {
        assert!(task.get("executionPeriod").is_some(), "{task}");
    }
}

#[tokio::test]
async fn summary_count_and_elements() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let all = bundle(&eleanor, "Task?_count=500").await;
    let count = bundle(&eleanor, "Task?_summary=count").await;
    assert_eq!(count["total"], all["total"]);
    assert!(
        count
            .get("entry")
            .is_none_or(|e| e.as_array().unwrap().is_empty()),
        "{count}"
    );
    assert!(link(&count, "next").is_none());
    assert!(link(&count, "self").unwrap().contains("_summary=count"));

    let some = bundle(
        &eleanor,
        "Task?_elements=status,code&_include=Task:focus&_count=500",
    )
    .await;
    let matches = entries_in(&some, "match");
    assert_eq!(matches.len(), entries_in(&all, "match").len());
    for task in matches {
        let keys: BTreeSet<&str> = task
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            keys.is_subset(&BTreeSet::from([
                "resourceType",
                "id",
                "meta",
                "status",
                "code"
            ])),
            "{keys:?}"
        );
        assert!(
            task["meta"]["tag"].to_string().contains("SUBSETTED"),
            "{task}"
        );
    }
    // Included resources come whole.
    let included = entries_in(&some, "include");
    assert!(!included.is_empty());
    assert!(
        included
            .iter()
            .all(|r| !r["meta"].to_string().contains("SUBSETTED"))
    );
    let (status, outcome) = eleanor.get("Task?_elements=status,../x").await;
    assert_eq!(status, 400, "{outcome}");
}

#[tokio::test]
async fn includes_and_revincludes_follow_the_named_parameter() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = eleanor.patient.clone().unwrap();
    // `_include` with a target type keeps only that type.
    // (Reply Tasks focus on their thread's first message; questionnaire
    // Tasks are SDC Tasks, which have no focus.)
    let typed = bundle(
        &eleanor,
        "Task?_include=Task:focus:Communication&_count=500",
    )
    .await;
    let included = entries_in(&typed, "include");
    assert!(!included.is_empty());
    assert!(
        included
            .iter()
            .all(|r| r["resourceType"] == "Communication")
    );

    // `_revinclude`: the Tasks whose focus is a matched Communication.
    let root = included[0]["id"].as_str().unwrap().to_owned();
    let thread = bundle(
        &eleanor,
        &format!("Communication?_id={root}&_revinclude=Task:focus"),
    )
    .await;
    assert_eq!(
        ids(&entries_in(&thread, "match")),
        [format!("Communication/{root}")]
    );
    let tasks = entries_in(&thread, "include");
    assert!(!tasks.is_empty(), "{thread}");
    for t in &tasks {
        assert_eq!(t["resourceType"], "Task");
        assert_eq!(t["focus"]["reference"], format!("Communication/{root}"));
        assert_eq!(t["for"]["reference"], format!("Patient/{p}"));
    }
    let direct = eleanor
        .search(&format!("Task?focus=Communication/{root}&_count=500"))
        .await;
    assert_eq!(tasks.len(), direct.len());

    // A canonical reference: QuestionnaireResponse.questionnaire, by URL or by Questionnaire/id.
    let responses = eleanor.search("QuestionnaireResponse?_count=500").await;
    let canonical = responses[0]["questionnaire"].as_str().unwrap().to_owned();
    let url = canonical.split('|').next().unwrap();
    let by_url = bundle(
        &eleanor,
        &format!("Questionnaire?url={url}&_revinclude=QuestionnaireResponse:questionnaire"),
    )
    .await;
    let questionnaire = entries_in(&by_url, "match")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revincluded = ids(&entries_in(&by_url, "include"));
    let by_id = eleanor
        .search(&format!(
            "QuestionnaireResponse?questionnaire=Questionnaire/{questionnaire}&_count=500"
        ))
        .await;
    let by_canonical = eleanor
        .search(&format!(
            "QuestionnaireResponse?questionnaire={canonical}&_count=500"
        ))
        .await;
    assert!(!by_id.is_empty());
    assert_eq!(
        ids(&by_id.iter().collect::<Vec<_>>()),
        ids(&by_canonical.iter().collect::<Vec<_>>())
    );
    assert_eq!(revincluded, ids(&by_id.iter().collect::<Vec<_>>()));

    // `_revinclude` of something that is not a reference parameter is unsupported.
    let (status, _) = get_with(&eleanor, "Questionnaire?_revinclude=Task:code", &[STRICT]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn post_search_means_what_get_means() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let query = "code=checklist&status:not=completed&_count=3&_include=Task:focus&colour=blue";
    let got = bundle(&eleanor, &format!("Task?{query}")).await;
    let (status, posted) = post_search(&eleanor, "Task/_search", query, FORM).await;
    assert_eq!(status, 200, "{posted}");
    for mode in ["match", "include"] {
        assert_eq!(
            ids(&entries_in(&posted, mode)),
            ids(&entries_in(&got, mode))
        );
    }
    assert_eq!(posted["total"], got["total"]);
    assert_eq!(link(&posted, "self"), link(&got, "self"));
    assert_eq!(
        diagnostics(entries_in(&posted, "outcome")[0]),
        diagnostics(entries_in(&got, "outcome")[0])
    );
    // Parameters in the URL and the body together.
    let (status, split) = post_search(
        &eleanor,
        "Task/_search?code=checklist&_count=3",
        "status:not=completed&_include=Task:focus",
        FORM,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        ids(&entries_in(&split, "match")),
        ids(&entries_in(&got, "match"))
    );
    // The body is a form, nothing else; strict handling holds there too.
    let (status, outcome) =
        post_search(&eleanor, "Task/_search", "{}", "application/fhir+json").await;
    assert_eq!(status, 415, "{outcome}");
    let r = eleanor
        .http
        .post(format!("{}/Task/_search", eleanor.base))
        .bearer_auth(&eleanor.token)
        .header("content-type", FORM)
        .header(STRICT.0, STRICT.1)
        .body("colour=blue")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn xml_is_not_acceptable() {
    let s = TestServer::demo().await;
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let xml = ("accept", "application/fhir+xml");
    for path in [
        "Task",
        "metadata",
        "Task?_format=xml",
        "Task?_format=application/fhir%2Bxml",
    ] {
        let headers: &[(&str, &str)] = if path.contains("_format") {
            &[]
        } else {
            &[xml]
        };
        let (status, outcome) = get_with(&eleanor, path, headers).await;
        assert_eq!(status, 406, "{path}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
    let (status, _) = post_search(&eleanor, "Task/_search", "_format=xml", FORM).await;
    assert_eq!(status, 406);
    let (status, _) = get_with(&eleanor, "Task?_format=json", &[]).await;
    assert_eq!(status, 200);
}

/// A value of the right type for a declared parameter, for `patient` searches as that patient.
fn sample_value(kind: &str, patient: &str) -> String {
    match kind {
        "reference" => format!("Patient/{patient}"),
        "date" => "ge2000-01-01".into(),
        "uri" => "https://carecycle.dev/fhir/Questionnaire/phq-9".into(),
        _ => "x".into(),
    }
}

#[tokio::test]
async fn the_capability_statement_declares_exactly_what_search_accepts() {
    let s = TestServer::demo().await;
    let (eleanor, _, knee, _) = signed_in(&s).await;
    let p = eleanor.patient.clone().unwrap();
    let (status, capability) = eleanor.get("metadata").await;
    assert_eq!(status, 200);
    let resources = capability["rest"][0]["resource"].as_array().unwrap();
    // Every name declared for some type, and names R4 does not give these types.
    let mut candidates: BTreeSet<String> = [
        "status",
        "organization",
        "in-response-to",
        "topic",
        "active",
        "colour",
    ]
    .iter()
    .map(|n| n.to_string())
    .collect();
    for r in resources {
        for sp in r["searchParam"].as_array().unwrap() {
            candidates.insert(sp["name"].as_str().unwrap().to_owned());
        }
    }
    let mut tested = 0;
    for r in resources {
        let t = r["type"].as_str().unwrap();
        // Whoever may search this type asks (the care team, or the patient).
        let mut caller = None;
        for c in [&knee, &eleanor] {
            if c.get(&format!("{t}?_count=1")).await.0 == 200 {
                caller = Some(c);
                break;
            }
        }
        let Some(c) = caller else { continue };
        let declared: Vec<(&str, &str)> = r["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sp| (sp["name"].as_str().unwrap(), sp["type"].as_str().unwrap()))
            .collect();
        for (name, kind) in &declared {
            let query = format!("{t}?{name}={}", sample_value(kind, &p));
            let (status, body) = get_with(c, &query, &[STRICT]).await;
            assert_eq!(status, 200, "declared but refused: {query}: {body}");
            tested += 1;
        }
        for name in candidates
            .iter()
            .filter(|n| !declared.iter().any(|(d, _)| d == *n))
        {
            let query = format!("{t}?{name}=x");
            let (status, body) = get_with(c, &query, &[STRICT]).await;
            assert_eq!(status, 400, "accepted but not declared: {query}: {body}");
        }
        for (key, param) in [
            ("searchInclude", "_include"),
            ("searchRevInclude", "_revinclude"),
        ] {
            for value in r[key].as_array().unwrap() {
                let query = format!("{t}?{param}={}&_count=1", value.as_str().unwrap());
                assert_eq!(get_with(c, &query, &[STRICT]).await.0, 200, "{query}");
            }
        }
    }
    assert!(tested > 50, "{tested}");
    let of = |t: &str| {
        resources.iter().find(|r| r["type"] == t).unwrap()["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sp| {
                (
                    sp["name"].as_str().unwrap().to_owned(),
                    sp["type"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(of("Patient").iter().any(|(n, _)| n == "active"));
    assert!(of("Goal").iter().any(|(n, _)| n == "lifecycle-status"));
    assert!(of("QuestionnaireResponse").contains(&("questionnaire".into(), "reference".into())));
}

#[tokio::test]
async fn revinclude_missing_and_not_stay_inside_the_callers_reach() {
    let s = TestServer::demo().await;
    let (eleanor, dana, _, kenji) = signed_in(&s).await;
    let hers = format!("Patient/{}", eleanor.patient.clone().unwrap());
    let leaks = |b: &Value| b.to_string().contains(&hers);
    assert!(leaks(&bundle(&eleanor, "Task?_count=500").await));
    // The other patient asks through every reverse path to what they share.
    for query in [
        "Questionnaire?_revinclude=Task:focus&_revinclude=QuestionnaireResponse:questionnaire&_count=500",
        "Organization?_revinclude=EpisodeOfCare:organization&_revinclude=PractitionerRole:organization&_count=500",
        "Practitioner?_revinclude=Task:owner&_revinclude=PractitionerRole:practitioner&_count=500",
        "Task?status:not=nothing&_count=500",
        "Task?focus:missing=false&_count=500",
        "Communication?part-of:missing=true&_count=500",
        "Communication?category:not=nothing&_count=500",
    ] {
        let b = bundle(&dana, query).await;
        assert!(!leaks(&b), "dana: {query}");
        let (status, b) = post_search(&dana, &query.replacen('?', "/_search?", 1), "", FORM).await;
        assert_eq!(status, 200);
        assert!(!leaks(&b), "dana, POST: {query}");
        // The other unit's care team, too.
        let b = bundle(&kenji, query).await;
        assert!(!leaks(&b), "kenji: {query}");
    }
    // Her record itself stays closed whatever the modifiers.
    for query in [
        format!("Task?patient={hers}&status:not=x"),
        format!("Communication?subject={hers}&part-of:missing=true"),
    ] {
        assert_eq!(dana.get(&query).await.0, 403, "{query}");
        assert_eq!(kenji.get(&query).await.0, 403, "{query}");
    }
    // Reverse includes reach only the caller's own record: dana's episode, not eleanor's.
    for (caller, query) in [
        (
            &dana,
            "Patient?_revinclude=EpisodeOfCare:patient&_revinclude=Appointment:actor",
        ),
        (
            &dana,
            "Organization?_revinclude=EpisodeOfCare:organization&_count=500",
        ),
        (
            &kenji,
            "Organization?_revinclude=EpisodeOfCare:organization&_count=500",
        ),
        (
            &eleanor,
            "Patient?_revinclude=Task:patient&_revinclude=Communication:subject",
        ),
    ] {
        let b = bundle(caller, query).await;
        let included = entries_in(&b, "include");
        assert!(!included.is_empty(), "{query}: {b}");
        let own = caller.patient.clone();
        for r in included {
            let text = r.to_string();
            match &own {
                Some(p) => assert!(text.contains(&format!("Patient/{p}")), "{query}: {r}"),
                None => assert!(!text.contains(&hers), "{query}: {r}"),
            }
        }
    }
    // A type the caller may not read adds nothing through _revinclude.
    let narrow = s.client(
        s.sign_in_with_scope(
            DEMO_PATIENT_USERNAME,
            DEMO_PATIENT_PASSWORD,
            "launch/patient patient/Questionnaire.rs",
        )
        .await,
    );
    let b = bundle(&narrow, "Questionnaire?_revinclude=Task:focus&_count=500").await;
    assert!(entries_in(&b, "include").is_empty(), "{b}");
    let r = narrow
        .http
        .request(Method::GET, format!("{}/Task", narrow.base))
        .bearer_auth(&narrow.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}
