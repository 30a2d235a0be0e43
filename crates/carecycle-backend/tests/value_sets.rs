//! Answer lists a questionnaire names by canonical URL instead of carrying:
//! the team publishes them with the form, the server expands them
//! (`ValueSet/$expand`, FHIR R4 §4.9.9) for the patient's app, and the team
//! is told — before any patient is — when the app could not show a form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::seed::*;
use serde_json::{Value, json};
use support::*;

/// LOINC's PHQ-9 answer list LL358-3 as a ValueSet, with the published item
/// weights 0–3 (Kroenke, Spitzer & Williams 2001, J Gen Intern Med 16:606) on
/// each concept, and Spanish designations: built from the bundled PHQ-9's own
/// options so the words and weights are the ones the engine already checks.
fn ll358_3(phq9: &Value) -> Value {
    let concepts: Vec<Value> = phq9["item"][1]["answerOption"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let c = &o["valueCoding"];
            let es = &c["_display"]["extension"][0]["extension"][1]["valueString"];
            json!({"code": c["code"], "display": c["display"], "extension": o["extension"],
                   "designation": [{"language": "es", "value": es}]})
        })
        .collect();
    json!({"resourceType": "ValueSet", "id": "ll358-3", "status": "active",
           "url": "http://loinc.org/vs/LL358-3", "name": "PHQ9AnswerList",
           "compose": {"include": [{"system": "http://loinc.org", "concept": concepts}]}})
}

/// The PHQ-9 the way LOINC-derived forms publish it: the same items, each
/// naming the answer list by canonical URL, under another publisher's URL.
fn phq9_naming_its_answers() -> (Value, Value) {
    let mut q: Value = serde_json::from_str(carecycle_prom::library::ALL[0].1).unwrap();
    let vs = ll358_3(&q);
    q["id"] = json!("phq9-by-value-set");
    q["url"] = json!("https://forms.example.org/Questionnaire/phq9");
    for item in q["item"].as_array_mut().unwrap() {
        if item["answerOption"][0]["valueCoding"]["code"] == "LA6568-5" {
            item.as_object_mut().unwrap().remove("answerOption");
            item["answerValueSet"] = json!("http://loinc.org/vs/LL358-3");
        }
    }
    (q, vs)
}

/// `team publish-form` with `document` written to a file: what the team is told.
fn publish(data: &std::path::Path, document: &Value) -> String {
    let file = data.join("publish.json");
    std::fs::write(&file, document.to_string()).unwrap();
    ok(
        data,
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "publish-form",
            "--file",
            file.to_str().unwrap(),
        ],
    )
}

#[tokio::test]
async fn a_form_naming_a_server_value_set_is_published_checked_expanded_and_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::demo_in(dir.path()).await;
    let d = dir.path();
    let (q, vs) = phq9_naming_its_answers();
    let bundle = json!({"resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": q}, {"resource": vs}]});

    // The team publishes form and list together and is told how the app reads it.
    let out = publish(d, &bundle);
    assert!(out.contains("ValueSet/ll358-3 version 1"), "{out}");
    assert!(
        out.contains("Questionnaire/phq9-by-value-set")
            && out.contains("usable; scored as phq-9 (recognised by its LOINC panel code)"),
        "{out}"
    );

    // The patient's app expands the list by its canonical URL …
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let (status, expanded) = eleanor
        .get("ValueSet/$expand?url=http%3A%2F%2Floinc.org%2Fvs%2FLL358-3")
        .await;
    assert_eq!(status, 200, "{expanded}");
    let contains = expanded["expansion"]["contains"].as_array().unwrap();
    let codes: Vec<&str> = contains
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]);
    assert_eq!(expanded["expansion"]["total"], 4);
    // … with each answer's published weight and its Spanish words.
    assert_eq!(contains[3]["extension"][0]["valueDecimal"], 3);
    assert_eq!(contains[0]["designation"][0]["language"], "es");
    assert_eq!(contains[0]["system"], "http://loinc.org");
    // By id, and by `url|version` as canonical references allow, the same list.
    let (status, by_id) = eleanor.get("ValueSet/ll358-3/$expand").await;
    assert_eq!(status, 200);
    assert_eq!(
        by_id["expansion"]["contains"],
        expanded["expansion"]["contains"]
    );

    // Found by its URL like any canonical resource, and the operation declared.
    let found = eleanor
        .search("ValueSet?url=http%3A%2F%2Floinc.org%2Fvs%2FLL358-3")
        .await;
    assert_eq!(found.len(), 1);
    let (_, capability) = eleanor.get("metadata").await;
    let value_set = capability["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "ValueSet")
        .unwrap()
        .clone();
    assert_eq!(value_set["operation"][0]["name"], "expand");

    // The form can be assigned, and the patient receives it like any other.
    let assigned = ok(
        d,
        &[
            "--as",
            KNEE_TEAM_USERNAME,
            "assign",
            "--patient",
            DEMO_PATIENT_USERNAME,
            "--questionnaire",
            "phq9-by-value-set",
            "--from",
            "2026-01-01",
            "--to",
            "2030-01-01",
        ],
    );
    assert!(assigned.starts_with("assigned Task/"), "{assigned}");
}

#[tokio::test]
async fn expand_refuses_what_it_cannot_answer_faithfully() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::demo_in(dir.path()).await;
    let d = dir.path();
    let filtered = json!({"resourceType": "ValueSet", "id": "knee-findings", "status": "active",
        "url": "https://carecycle.dev/fhir/ValueSet/knee-findings",
        "compose": {"include": [{"system": "http://snomed.info/sct",
            "filter": [{"property": "concept", "op": "is-a", "value": "239873007"}]}]}});
    publish(d, &filtered);
    let eleanor = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;

    // A filter needs a terminology server: refused naming the element, not a partial list.
    let (status, outcome) = eleanor.get("ValueSet/knee-findings/$expand").await;
    assert_eq!(status, 422, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .starts_with("ValueSet.compose.include[0].filter"),
        "{outcome}"
    );
    // A parameter that would change the list (paging, text filter) is refused, not ignored.
    for param in ["filter=knee", "count=1", "offset=2"] {
        let (status, outcome) = eleanor
            .get(&format!("ValueSet/knee-findings/$expand?{param}"))
            .await;
        assert_eq!(status, 400, "{param}: {outcome}");
    }
    let (status, _) = eleanor
        .get("ValueSet/$expand?url=https%3A%2F%2Fnowhere.example%2Fvs")
        .await;
    assert_eq!(status, 404);
    let (status, _) = eleanor.get("ValueSet/$expand").await;
    assert_eq!(status, 400);
    // Patients read value sets; only care teams write them.
    let (status, _) = eleanor
        .post(
            "ValueSet",
            &json!({"resourceType": "ValueSet", "status": "active"}),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_form_the_app_would_refuse_is_named_with_its_reason_and_never_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let _s = TestServer::demo_in(dir.path()).await;
    let d = dir.path();
    // A form naming a list nobody published, and one with a modifier the
    // engine does not understand (FHIR: such a resource must be refused).
    let (mut missing_list, _) = phq9_naming_its_answers();
    missing_list["id"] = json!("phq9-missing-list");
    let mut modified: Value = serde_json::from_str(carecycle_prom::library::ALL[1].1).unwrap();
    modified["id"] = json!("gad7-modified");
    modified["url"] = json!("https://forms.example.org/Questionnaire/gad7-modified");
    modified["modifierExtension"] =
        json!([{"url": "https://forms.example.org/only-for-clinicians", "valueBoolean": true}]);
    for form in [&missing_list, &modified] {
        let out = publish(d, form);
        assert!(out.contains("REFUSED by the app"), "{out}");
    }
    let forms = ok(d, &["--as", KNEE_TEAM_USERNAME, "forms"]);
    assert!(
        forms.contains("http://loinc.org/vs/LL358-3")
            && forms.contains("modifier extension https://forms.example.org/only-for-clinicians"),
        "{forms}"
    );
    // The bundled forms are listed as usable, each with how it was recognised.
    assert!(
        forms.contains("Questionnaire/phq-9")
            && forms.contains("usable; scored as phq-9 (recognised by its canonical URL)"),
        "{forms}"
    );
    for form in ["phq9-missing-list", "gad7-modified"] {
        let (success, _, err) = team(
            d,
            &[
                "--as",
                KNEE_TEAM_USERNAME,
                "assign",
                "--patient",
                DEMO_PATIENT_USERNAME,
                "--questionnaire",
                form,
                "--from",
                "2026-01-01",
                "--to",
                "2030-01-01",
            ],
        );
        assert!(!success && err.contains("the app would refuse it"), "{err}");
    }
}
