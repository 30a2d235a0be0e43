//! The engine on questionnaires written the way others publish them: every
//! item type, enableWhen at any depth (inside repeating groups too), contained
//! value sets, translations, display hints, precise errors, and responses that
//! survive a round trip through FHIR JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use carecycle_prom::model::{Orientation, Quantity};
use carecycle_prom::{
    AnswerValue, Code, ItemPath, ItemType, ProblemKind, Questionnaire, Response, ResponseStatus,
};
use serde_json::{Value, json};

fn coding(code: &str) -> AnswerValue {
    AnswerValue::Coding(Code {
        system: Some("urn:test".into()),
        code: Some(code.into()),
        display: None,
    })
}

fn path(text: &str) -> ItemPath {
    ItemPath::parse(text).unwrap()
}

/// A questionnaire in the style of the SDC examples: nested groups, a
/// repeating group whose inner question depends on a sibling, a contained
/// ValueSet with ordinal values, every supported type.
fn kitchen_sink() -> Value {
    json!({
        "resourceType": "Questionnaire",
        "url": "https://example.org/Questionnaire/sink", "version": "2",
        "status": "active",
        "contained": [{
            "resourceType": "ValueSet", "id": "yn",
            "compose": {"include": [{"system": "urn:test", "concept": [
                {"code": "y", "display": "Yes", "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 1}]},
                {"code": "n", "display": "No", "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 0}]}
            ]}]}
        }],
        "item": [
            {"linkId": "about", "type": "group", "text": "About you", "item": [
                {"linkId": "smoker", "type": "choice", "text": "Do you smoke?", "_text": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/translation", "extension": [{"url": "lang", "valueCode": "es"}, {"url": "content", "valueString": "¿Fuma?"}]}]},
                 "answerValueSet": "#yn", "required": true,
                 "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-choiceOrientation", "valueCode": "horizontal"}]},
                {"linkId": "per-day", "type": "integer", "text": "Cigarettes a day", "required": true,
                 "enableWhen": [{"question": "smoker", "operator": "=", "answerCoding": {"system": "urn:test", "code": "y"}}],
                 "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 1}, {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 100}]},
                {"linkId": "heavy", "type": "display", "text": "Heavy smoking",
                 "enableWhen": [{"question": "per-day", "operator": ">=", "answerInteger": 20}]}
            ]},
            {"linkId": "meds", "type": "group", "text": "Medicines", "repeats": true, "item": [
                {"linkId": "med-name", "type": "string", "text": "Name", "maxLength": 10},
                {"linkId": "med-prn", "type": "boolean", "text": "Only when needed?"},
                {"linkId": "med-reason", "type": "text", "text": "What for?", "required": true,
                 "enableWhen": [{"question": "med-prn", "operator": "=", "answerBoolean": true}]}
            ]},
            {"linkId": "weight", "type": "quantity", "text": "Weight"},
            {"linkId": "temp", "type": "decimal", "text": "Temperature",
             "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueDecimal": 43.0}]},
            {"linkId": "fever", "type": "display", "text": "Fever",
             "enableWhen": [{"question": "temp", "operator": ">", "answerDecimal": 38.0}, {"question": "temp", "operator": "exists", "answerBoolean": true}],
             "enableBehavior": "all"},
            {"linkId": "surgery", "type": "date", "text": "Surgery date"},
            {"linkId": "after", "type": "display", "text": "After surgery",
             "enableWhen": [{"question": "surgery", "operator": "<", "answerDate": "2026-12-01"}]},
            {"linkId": "seen", "type": "dateTime", "text": "Last seen"},
            {"linkId": "wake", "type": "time", "text": "Wake time"},
            {"linkId": "site", "type": "url", "text": "Web page"},
            {"linkId": "where", "type": "open-choice", "text": "Where does it hurt?", "repeats": true,
             "answerOption": [{"valueCoding": {"system": "urn:test", "code": "knee", "display": "Knee"}}, {"valueCoding": {"system": "urn:test", "code": "hip", "display": "Hip"}}]},
            {"linkId": "not-knee", "type": "display", "text": "Not the knee",
             "enableWhen": [{"question": "where", "operator": "!=", "answerCoding": {"system": "urn:test", "code": "knee"}}]},
            {"linkId": "photo", "type": "attachment", "text": "Photo"},
            {"linkId": "hidden", "type": "string", "text": "Internal",
             "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden", "valueBoolean": true}]},
            {"linkId": "ro", "type": "string", "text": "Read only", "readOnly": true, "initial": [{"valueString": "from the clinic"}]},
            {"linkId": "any", "type": "display", "text": "Either",
             "enableWhen": [{"question": "smoker", "operator": "=", "answerCoding": {"system": "urn:test", "code": "n"}}, {"question": "wake", "operator": "exists", "answerBoolean": true}],
             "enableBehavior": "any"}
        ]
    })
}

#[test]
fn parses_every_supported_type_and_hint() {
    let q = Questionnaire::parse(&kitchen_sink()).unwrap();
    assert_eq!(
        q.canonical().as_deref(),
        Some("https://example.org/Questionnaire/sink|2")
    );
    let smoker = q.item("smoker").unwrap();
    assert_eq!(smoker.options.len(), 2);
    assert_eq!(smoker.options[0].weight, Some(1.0));
    assert_eq!(smoker.text_in("es-MX"), Some("¿Fuma?"));
    assert_eq!(smoker.text_in("fr"), Some("Do you smoke?"));
    assert_eq!(smoker.choice_orientation, Some(Orientation::Horizontal));
    assert!(q.item("hidden").unwrap().hidden);
    assert_eq!(
        q.item("per-day").unwrap().max_value,
        Some(AnswerValue::Integer(100))
    );
    let types: Vec<ItemType> = q.walk().iter().map(|(i, _)| i.item_type).collect();
    for t in [
        ItemType::Group,
        ItemType::Display,
        ItemType::Boolean,
        ItemType::Decimal,
        ItemType::Integer,
        ItemType::Date,
        ItemType::DateTime,
        ItemType::Time,
        ItemType::String,
        ItemType::Text,
        ItemType::Url,
        ItemType::Choice,
        ItemType::OpenChoice,
        ItemType::Quantity,
        ItemType::Attachment,
    ] {
        assert!(types.contains(&t), "{t:?} missing");
    }
}

#[test]
fn enable_when_every_operator_and_behaviour() {
    let q = Questionnaire::parse(&kitchen_sink()).unwrap();
    let mut r = Response::new(&q);
    let on = |r: &Response, p: &str| r.is_enabled(&path(p));

    assert!(!on(&r, "about/per-day"));
    r.set_answers(&q, &path("about/smoker"), vec![coding("y")])
        .unwrap();
    assert!(on(&r, "about/per-day"));
    r.set_answers(&q, &path("about/per-day"), vec![AnswerValue::Integer(25)])
        .unwrap();
    assert!(on(&r, "about/heavy"), ">=");
    r.set_answers(&q, &path("about/per-day"), vec![AnswerValue::Integer(19)])
        .unwrap();
    assert!(!on(&r, "about/heavy"));

    // A chain: turning the smoker off disables per-day, drops its answer, and
    // "heavy" (which reads per-day) sees it as unanswered.
    r.set_answers(&q, &path("about/per-day"), vec![AnswerValue::Integer(30)])
        .unwrap();
    r.set_answers(&q, &path("about/smoker"), vec![coding("n")])
        .unwrap();
    assert!(!on(&r, "about/per-day"));
    assert!(
        r.answers(&path("about/per-day")).is_empty(),
        "answers of disabled items are dropped"
    );
    assert!(!on(&r, "about/heavy"));
    assert!(on(&r, "any"), "any: smoker = n");

    // "all" with > and exists.
    assert!(!on(&r, "fever"));
    r.set_answers(&q, &path("temp"), vec![AnswerValue::Decimal(38.5)])
        .unwrap();
    assert!(on(&r, "fever"));
    r.set_answers(&q, &path("temp"), vec![AnswerValue::Decimal(37.0)])
        .unwrap();
    assert!(!on(&r, "fever"));

    // < on dates.
    r.set_answers(
        &q,
        &path("surgery"),
        vec![AnswerValue::Date("2026-11-02".into())],
    )
    .unwrap();
    assert!(on(&r, "after"));
    r.set_answers(
        &q,
        &path("surgery"),
        vec![AnswerValue::Date("2027-01-10".into())],
    )
    .unwrap();
    assert!(!on(&r, "after"));

    // != : true while no answer equals "knee" (including when there is none).
    assert!(on(&r, "not-knee"));
    r.set_answers(&q, &path("where"), vec![coding("hip"), coding("knee")])
        .unwrap();
    assert!(!on(&r, "not-knee"));
    r.set_answers(
        &q,
        &path("where"),
        vec![coding("hip"), AnswerValue::String("lower back".into())],
    )
    .unwrap();
    assert!(on(&r, "not-knee"));
}

#[test]
fn enable_when_inside_a_repeating_group_reads_its_own_repetition() {
    let q = Questionnaire::parse(&kitchen_sink()).unwrap();
    let mut r = Response::new(&q);
    let second = r.add_repetition(&q, &path("meds")).unwrap();
    assert_eq!(second.to_string(), "meds[1]");
    r.set_answers(
        &q,
        &path("meds[1]/med-prn"),
        vec![AnswerValue::Boolean(true)],
    )
    .unwrap();
    assert!(r.is_enabled(&path("meds[1]/med-reason")));
    assert!(
        !r.is_enabled(&path("meds/med-reason")),
        "the first medicine is not 'when needed'"
    );
    r.set_answers(
        &q,
        &path("meds[1]/med-reason"),
        vec![AnswerValue::String("pain".into())],
    )
    .unwrap();

    // Removing the first repetition moves the second up, with its answers.
    r.set_answers(
        &q,
        &path("meds/med-name"),
        vec![AnswerValue::String("aspirin".into())],
    )
    .unwrap();
    r.remove_repetition(&q, &path("meds")).unwrap();
    assert!(r.is_enabled(&path("meds/med-reason")));
    assert_eq!(
        r.answers(&path("meds/med-reason")),
        [AnswerValue::String("pain".into())]
    );
    assert!(r.answers(&path("meds/med-name")).is_empty());
    assert!(
        r.add_repetition(&q, &path("about")).is_err(),
        "about does not repeat"
    );
}

/// Every problem the engine reports has its Spanish (carecycle-prom/src/spanish.rs).
fn spanish_too(eval: &carecycle_prom::Evaluation) {
    for p in &eval.problems {
        assert_ne!(
            carecycle_prom::spanish::words(&p.message, "es"),
            p.message,
            "no Spanish for {:?}",
            p.message
        );
    }
}

#[test]
fn validation_reports_each_problem_next_to_its_item_and_keeps_the_answer() {
    let q = Questionnaire::parse(&kitchen_sink()).unwrap();
    let mut r = Response::new(&q);
    let eval = r.evaluate(&q);
    spanish_too(&eval);
    assert_eq!(eval.problems.len(), 1);
    assert_eq!(eval.problems[0].path.to_string(), "about/smoker");
    assert_eq!(eval.problems[0].kind, ProblemKind::Required);

    r.set_answers(&q, &path("about/smoker"), vec![coding("y")])
        .unwrap();
    let eval = r
        .set_answers(&q, &path("about/per-day"), vec![AnswerValue::Integer(0)])
        .unwrap();
    spanish_too(&eval);
    assert!(
        eval.problems
            .iter()
            .any(|p| p.kind == ProblemKind::BelowMin { min: "1".into() })
    );
    let eval = r
        .set_answers(&q, &path("about/per-day"), vec![AnswerValue::Decimal(2.5)])
        .unwrap();
    spanish_too(&eval);
    assert!(
        eval.problems.iter().any(|p| matches!(&p.kind, ProblemKind::WrongType { expected } if expected == "a whole number")),
        "{:?}",
        eval.problems
    );
    assert_eq!(
        r.answers(&path("about/per-day")),
        [AnswerValue::Decimal(2.5)],
        "nothing typed is lost"
    );
    r.set_answers(&q, &path("about/per-day"), vec![AnswerValue::Integer(5)])
        .unwrap();

    let eval = r
        .set_answers(
            &q,
            &path("meds/med-name"),
            vec![AnswerValue::String("paracetamol 500".into())],
        )
        .unwrap();
    spanish_too(&eval);
    assert!(
        eval.problems
            .iter()
            .any(|p| p.kind == ProblemKind::TooLong { max: 10 })
    );
    r.set_answers(
        &q,
        &path("meds/med-name"),
        vec![AnswerValue::String("ibuprofen".into())],
    )
    .unwrap();

    let eval = r
        .set_answers(&q, &path("temp"), vec![AnswerValue::Decimal(45.0)])
        .unwrap();
    spanish_too(&eval);
    assert!(
        eval.problems
            .iter()
            .any(|p| p.kind == ProblemKind::AboveMax { max: "43".into() })
    );
    r.set_answers(&q, &path("temp"), vec![AnswerValue::Decimal(37.2)])
        .unwrap();

    let eval = r
        .set_answers(&q, &path("about/smoker"), vec![coding("maybe")])
        .unwrap();
    spanish_too(&eval);
    assert!(
        eval.problems
            .iter()
            .any(|p| p.kind == ProblemKind::NotAnOption)
    );
    let eval = r
        .set_answers(&q, &path("about/smoker"), vec![coding("y"), coding("n")])
        .unwrap();
    spanish_too(&eval);
    assert!(
        eval.problems
            .iter()
            .any(|p| p.kind == ProblemKind::OnlyOneAnswer)
    );
    r.set_answers(&q, &path("about/smoker"), vec![coding("y")])
        .unwrap();
    // While smoker held no valid "yes", per-day was not asked and its answer went.
    assert!(r.answers(&path("about/per-day")).is_empty());
    r.set_answers(&q, &path("about/per-day"), vec![AnswerValue::Integer(5)])
        .unwrap();

    let eval = r
        .set_answers(
            &q,
            &path("surgery"),
            vec![AnswerValue::Date("2026-02-31x".into())],
        )
        .unwrap();
    spanish_too(&eval);
    assert!(
        eval.problems
            .iter()
            .any(|p| matches!(&p.kind, ProblemKind::WrongType { .. }))
    );
    r.set_answers(&q, &path("surgery"), vec![]).unwrap();

    assert_eq!(
        r.set_answers(&q, &path("ro"), vec![])
            .unwrap_err()
            .to_string(),
        "'ro' cannot be changed"
    );
    assert!(
        r.set_answers(&q, &path("about/heavy"), vec![]).is_err(),
        "display items take no answers"
    );
    assert!(r.set_answers(&q, &path("nope"), vec![]).is_err());

    let eval = r.evaluate(&q);
    spanish_too(&eval);
    assert!(eval.is_valid(), "{:?}", eval.problems);
    assert!(eval.answered <= eval.questions);
}

#[test]
fn responses_round_trip_through_fhir_and_complete_only_when_valid() {
    let q = Questionnaire::parse(&kitchen_sink()).unwrap();
    let mut r = Response::new(&q);
    assert!(
        r.complete(&q, "2026-11-23T10:00:00Z").is_err(),
        "required smoker question"
    );
    r.set_answers(&q, &path("about/smoker"), vec![coding("y")])
        .unwrap();
    r.set_answers(&q, &path("about/per-day"), vec![AnswerValue::Integer(5)])
        .unwrap();
    r.add_repetition(&q, &path("meds")).unwrap();
    r.set_answers(
        &q,
        &path("meds/med-name"),
        vec![AnswerValue::String("aspirin".into())],
    )
    .unwrap();
    r.set_answers(
        &q,
        &path("meds[1]/med-prn"),
        vec![AnswerValue::Boolean(true)],
    )
    .unwrap();
    r.set_answers(
        &q,
        &path("meds[1]/med-reason"),
        vec![AnswerValue::String("pain".into())],
    )
    .unwrap();
    r.set_answers(
        &q,
        &path("weight"),
        vec![AnswerValue::Quantity(Quantity {
            value: Some(72.5),
            unit: Some("kg".into()),
            system: Some("http://unitsofmeasure.org".into()),
            code: Some("kg".into()),
        })],
    )
    .unwrap();
    r.set_answers(
        &q,
        &path("seen"),
        vec![AnswerValue::DateTime("2026-11-20T09:15:00+01:00".into())],
    )
    .unwrap();
    r.set_answers(
        &q,
        &path("wake"),
        vec![AnswerValue::Time("06:45:00".into())],
    )
    .unwrap();

    let draft = r.to_fhir(&q, ResponseStatus::InProgress, None);
    assert_eq!(draft["status"], "in-progress");
    assert_eq!(
        draft["questionnaire"],
        "https://example.org/Questionnaire/sink|2"
    );
    let meds: Vec<&Value> = draft["item"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["linkId"] == "meds")
        .collect();
    assert_eq!(
        meds.len(),
        2,
        "a repeating group is one item per repetition"
    );
    assert_eq!(
        draft["item"][0]["item"][0]["answer"][0]["valueCoding"]["code"],
        "y"
    );

    let resumed = Response::from_fhir(&q, &draft).unwrap();
    assert_eq!(resumed.to_fhir(&q, ResponseStatus::InProgress, None), draft);

    let done = r.complete(&q, "2026-11-23T10:00:00Z").unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["authored"], "2026-11-23T10:00:00Z");
    // The read-only initial value travels with the response.
    assert!(
        done["item"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["linkId"] == "ro")
    );
}

#[test]
fn a_saved_response_that_does_not_fit_is_a_clear_error() {
    let q = Questionnaire::parse(&kitchen_sink()).unwrap();
    let bad = json!({"resourceType": "QuestionnaireResponse", "status": "in-progress", "item": [{"linkId": "about", "item": [{"linkId": "zzz"}]}]});
    let e = Response::from_fhir(&q, &bad).unwrap_err();
    assert_eq!(e.path, "QuestionnaireResponse.item[0].item[0]");
    assert!(e.reason.contains("'zzz'"), "{e}");
}

fn parse_error(mutate: impl FnOnce(&mut Value)) -> String {
    let mut v = kitchen_sink();
    mutate(&mut v);
    Questionnaire::parse(&v).unwrap_err().to_string()
}

#[test]
fn invalid_structures_give_the_path_and_the_reason() {
    assert_eq!(
        parse_error(|v| v["item"][0]["item"][0]["linkId"] = json!("per-day")),
        "Questionnaire.item[0].item[1]: linkId 'per-day' is used twice"
    );
    assert_eq!(
        parse_error(|v| v["item"][2]["type"] = json!("reference")),
        "Questionnaire.item[2].type: items of type 'reference' are not supported: a patient cannot pick a FHIR resource"
    );
    assert_eq!(
        parse_error(|v| v["item"][0]["item"][1]["enableWhen"][0]["question"] = json!("ghost")),
        "item 'per-day'.enableWhen[0]: refers to linkId 'ghost', which does not exist"
    );
    assert_eq!(
        parse_error(
            |v| v["item"][0]["item"][0]["answerValueSet"] = json!("http://loinc.org/vs/LL358-9")
        ),
        "Questionnaire.item[0].item[0].answerValueSet: value set 'http://loinc.org/vs/LL358-9' is neither contained in the questionnaire nor supplied; expand it into answerOption or contain it"
    );
    assert_eq!(
        parse_error(|v| v["item"][0]["item"][1]["enableWhen"][0]["operator"] = json!("~")),
        "Questionnaire.item[0].item[1].enableWhen[0].operator: unknown operator '~'"
    );
    assert_eq!(
        parse_error(|v| v["item"][4]["enableWhen"][0]["answerDecimal"] = json!("hot")),
        "Questionnaire.item[4].enableWhen[0].answerDecimal: expected a number"
    );
    assert_eq!(
        parse_error(|v| v["item"][1]["item"][0]["maxLength"] = json!(-3)),
        "Questionnaire.item[1].item[0].maxLength: expected a positive integer"
    );
    assert_eq!(
        parse_error(|v| {
            v["item"][4]
                .as_object_mut()
                .unwrap()
                .remove("enableBehavior");
        }),
        "Questionnaire.item[4]: enableBehavior is required when there is more than one enableWhen"
    );
    assert_eq!(
        parse_error(|v| v["item"][0]["item"][1]["enableWhen"][0]["answerCoding"] = json!(null)),
        "Questionnaire.item[0].item[1].enableWhen[0].answerCoding: expected a Coding object"
    );
    assert_eq!(
        parse_error(|v| v["resourceType"] = json!("Patient")),
        "Questionnaire: expected a Questionnaire, found a Patient"
    );
    assert!(
        Questionnaire::from_json("{\"resourceType\": \"Questionnaire\", ")
            .unwrap_err()
            .reason
            .starts_with("not valid JSON")
    );
}

#[test]
fn external_value_sets_can_be_supplied() {
    let mut v = kitchen_sink();
    v["item"][0]["item"][0]["answerValueSet"] = json!("http://example.org/vs/yn");
    let vs = json!({"resourceType": "ValueSet", "url": "http://example.org/vs/yn",
        "expansion": {"contains": [{"system": "urn:test", "code": "y", "display": "Yes",
            "designation": [{"language": "es", "value": "Sí"}]}, {"system": "urn:test", "code": "n", "display": "No"}]}});
    // What the reader must fetch: the nested item's canonical, not contained ones.
    assert_eq!(
        carecycle_prom::parse::external_value_sets(&v),
        ["http://example.org/vs/yn"]
    );
    let q = Questionnaire::parse_with_value_sets(&v, &[vs]).unwrap();
    let options = &q.item("smoker").unwrap().options;
    assert_eq!(options.len(), 2);
    // A designation in a language translates the answer, as `_display` would.
    assert_eq!(options[0].label_translations["es"], "Sí");
    // Without it the form is refused, naming the item and the value set.
    let e = Questionnaire::parse(&v).unwrap_err();
    assert!(e.reason.contains("http://example.org/vs/yn"), "{e}");
}
