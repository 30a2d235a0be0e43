//! SDC expressions on a live response: `variable`, `calculatedExpression`,
//! `enableWhenExpression`, `initialExpression`, `answerExpression`, and a
//! form's own total held against the engine's score of the same instrument.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use carecycle_prom::{
    AnswerError, AnswerValue, ExpressionKind, ItemPath, ProblemKind, Questionnaire, Response,
    ScoreOutcome, library, scoring,
};
use serde_json::{Value, json};

const CALCULATED: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression";
const ENABLE_WHEN: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression";
const INITIAL: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression";
const ANSWER: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-answerExpression";
const VARIABLE: &str = "http://hl7.org/fhir/StructureDefinition/variable";

fn expr(url: &str, text: &str) -> Value {
    json!({"url": url, "valueExpression": {"language": "text/fhirpath", "expression": text}})
}

fn var(name: &str, text: &str) -> Value {
    json!({"url": VARIABLE, "valueExpression": {"name": name, "language": "text/fhirpath", "expression": text}})
}

fn set(q: &Questionnaire, r: &mut Response, link_id: &str, values: Vec<AnswerValue>) {
    let path = ItemPath::of(q, link_id).unwrap();
    r.set_answers(q, &path, values).unwrap();
}

fn value(r: &Response, link_id: &str) -> Vec<AnswerValue> {
    r.answers_to(link_id).into_iter().cloned().collect()
}

/// Weight, height, a BMI computed from a variable, a calculated flag that
/// reads the BMI, and a question shown only when the BMI is high.
fn bmi_form() -> Questionnaire {
    Questionnaire::parse(&json!({"resourceType": "Questionnaire", "status": "active",
        "extension": [var("weight", "%resource.item.where(linkId='weight').answer.value")],
        "item": [
            {"linkId": "weight", "type": "decimal", "text": "Weight (kg)"},
            {"linkId": "height", "type": "decimal", "text": "Height (m)"},
            // Declared after the BMI that reads it: dependency order, not document order.
            {"linkId": "obese", "type": "boolean", "text": "BMI 30 or more",
                "extension": [expr(CALCULATED, "%resource.item.where(linkId='bmi').answer.value >= 30")]},
            {"linkId": "bmi", "type": "decimal", "text": "BMI", "required": true,
                "extension": [
                    var("height", "%resource.item.where(linkId='height').answer.value"),
                    expr(CALCULATED, "iif(%height.exists() and %weight.exists(), (%weight / (%height * %height)).round(1), {})")]},
            {"linkId": "advice", "type": "boolean", "text": "Would you like advice on weight?",
                "extension": [expr(ENABLE_WHEN, "%resource.item.where(linkId='obese').answer.value = true")]}]}))
    .unwrap()
}

#[test]
fn calculated_items_follow_the_answers_in_dependency_order() {
    let q = bmi_form();
    assert!(q.warnings.is_empty(), "{:?}", q.warnings);
    let mut r = Response::new(&q);
    let e = r.evaluate(&q);
    assert_eq!(value(&r, "bmi"), [], "nothing to compute yet");
    assert_eq!(value(&r, "obese"), []);
    assert!(
        !r.is_asked("advice"),
        "hidden while the expression is not true"
    );
    // A calculated item is never asked: not counted, never "required & unanswered".
    assert_eq!(e.questions, 2);
    assert!(e.problems.is_empty(), "{:?}", e.problems);

    set(&q, &mut r, "weight", vec![AnswerValue::Decimal(95.0)]);
    let e = set_and_eval(&q, &mut r, "height", AnswerValue::Decimal(1.7));
    assert_eq!(value(&r, "bmi"), [AnswerValue::Decimal(32.9)]);
    assert_eq!(value(&r, "obese"), [AnswerValue::Boolean(true)]);
    assert!(
        r.is_asked("advice"),
        "shown once the calculated flag is true"
    );
    assert_eq!(e.questions, 3);
    assert!(
        e.expression_failures.is_empty(),
        "{:?}",
        e.expression_failures
    );

    // Change an answer: everything downstream follows, and the question goes.
    set(&q, &mut r, "advice", vec![AnswerValue::Boolean(true)]);
    set(&q, &mut r, "weight", vec![AnswerValue::Decimal(60.0)]);
    assert_eq!(value(&r, "bmi"), [AnswerValue::Decimal(20.8)]);
    assert_eq!(value(&r, "obese"), [AnswerValue::Boolean(false)]);
    assert!(!r.is_asked("advice"));
    assert_eq!(
        value(&r, "advice"),
        [],
        "answers of hidden items are dropped"
    );

    // The patient cannot overwrite a calculated value.
    let bmi = ItemPath::of(&q, "bmi").unwrap();
    assert_eq!(
        r.set_answers(&q, &bmi, vec![AnswerValue::Decimal(1.0)]),
        Err(AnswerError::ReadOnly("bmi".into()))
    );
    // The calculated values travel in the QuestionnaireResponse.
    let fhir = r.to_fhir(&q, carecycle_prom::ResponseStatus::InProgress, None);
    let bmi_json = fhir["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["linkId"] == "bmi")
        .unwrap();
    assert_eq!(bmi_json["answer"][0]["valueDecimal"], json!(20.8));
    // A saved draft resumes with the values recomputed.
    let back = Response::from_fhir(&q, &fhir).unwrap();
    assert_eq!(value(&back, "bmi"), [AnswerValue::Decimal(20.8)]);
}

fn set_and_eval(
    q: &Questionnaire,
    r: &mut Response,
    link_id: &str,
    v: AnswerValue,
) -> carecycle_prom::Evaluation {
    let path = ItemPath::of(q, link_id).unwrap();
    r.set_answers(q, &path, vec![v]).unwrap()
}

#[test]
fn a_calculation_that_cannot_fit_its_item_leaves_it_empty_and_says_why() {
    let q = Questionnaire::parse(&json!({"resourceType": "Questionnaire", "status": "active",
        "item": [
            {"linkId": "a", "type": "integer"},
            {"linkId": "half", "type": "integer", "extension": [expr(CALCULATED, "%resource.item.where(linkId='a').answer.value / 2")]},
            {"linkId": "loop1", "type": "integer", "extension": [expr(CALCULATED, "%resource.item.where(linkId='loop2').answer.value.combine(0).first() + 1")]},
            {"linkId": "loop2", "type": "integer", "extension": [expr(CALCULATED, "(%resource.item.where(linkId='loop1').answer.value + 1).combine(0).first()")]}]}))
    .unwrap();
    let mut r = Response::new(&q);
    let e = set_and_eval(&q, &mut r, "a", AnswerValue::Integer(4));
    assert_eq!(
        value(&r, "half"),
        [AnswerValue::Integer(2)],
        "2.0 fits an integer item"
    );
    let e2 = set_and_eval(&q, &mut r, "a", AnswerValue::Integer(5));
    assert_eq!(value(&r, "half"), [], "2.5 is not a whole number");
    assert!(
        e2.expression_failures
            .iter()
            .any(|f| f.kind == ExpressionKind::Calculated && f.path.to_string() == "half"),
        "{:?}",
        e2.expression_failures
    );
    // Two calculations that feed each other forever stop, say so, and show
    // no value that was still moving.
    assert!(
        e.expression_failures
            .iter()
            .any(|f| f.message.contains("did not settle")),
        "{:?}",
        e.expression_failures
    );
    assert_eq!(value(&r, "loop1"), []);
}

#[test]
fn initial_expressions_start_a_new_response() {
    let q = Questionnaire::parse(&json!({"resourceType": "Questionnaire", "status": "active",
        "extension": [var("base", "10")],
        "item": [
            {"linkId": "n", "type": "integer", "extension": [expr(INITIAL, "%base * 2")]},
            {"linkId": "fixed", "type": "integer", "initial": [{"valueInteger": 1}],
                "extension": [expr(INITIAL, "99")]},
            {"linkId": "who", "type": "string", "extension": [expr(INITIAL, "%patient.name.given.first()")]}]}))
    .unwrap();
    let mut r = Response::new(&q);
    assert_eq!(value(&r, "n"), [AnswerValue::Integer(20)]);
    assert_eq!(
        value(&r, "fixed"),
        [AnswerValue::Integer(1)],
        "a fixed initial value wins"
    );
    assert_eq!(
        value(&r, "who"),
        [],
        "no launch context: the item starts empty"
    );
    let e = r.evaluate(&q);
    assert!(
        e.expression_failures
            .iter()
            .any(|f| f.kind == ExpressionKind::Initial && f.message.contains("%patient")),
        "{:?}",
        e.expression_failures
    );
    // An initial value is only a start: the patient can change it.
    set(&q, &mut r, "n", vec![AnswerValue::Integer(3)]);
    assert_eq!(value(&r, "n"), [AnswerValue::Integer(3)]);
}

#[test]
fn answer_expressions_compute_the_options_offered() {
    let q = Questionnaire::parse(&json!({"resourceType": "Questionnaire", "status": "active",
        "item": [
            {"linkId": "people", "type": "string", "repeats": true, "text": "Who lives with you?"},
            {"linkId": "main", "type": "choice", "text": "Who helps you most?",
                "extension": [expr(ANSWER, "%resource.item.where(linkId='people').answer.value")]}]}))
    .unwrap();
    let mut r = Response::new(&q);
    let main = ItemPath::of(&q, "main").unwrap();
    assert!(r.options(&q, &main).is_empty());
    set(
        &q,
        &mut r,
        "people",
        vec![
            AnswerValue::String("Ana".into()),
            AnswerValue::String("Ben".into()),
        ],
    );
    let labels: Vec<&str> = r
        .options(&q, &main)
        .iter()
        .map(|o| o.label.as_str())
        .collect();
    assert_eq!(labels, ["Ana", "Ben"]);
    let e = set_and_eval(&q, &mut r, "main", AnswerValue::String("Ben".into()));
    assert!(e.problems.is_empty(), "{:?}", e.problems);
    let e = set_and_eval(&q, &mut r, "main", AnswerValue::String("Cy".into()));
    assert_eq!(e.problems[0].kind, ProblemKind::NotAnOption);
}

#[test]
fn the_five_expressions_are_no_longer_warnings_but_unreadable_ones_are() {
    let q = bmi_form();
    assert!(q.warnings.is_empty());
    let q = Questionnaire::parse(&json!({"resourceType": "Questionnaire", "status": "active",
        "item": [
            {"linkId": "a", "type": "integer", "extension": [expr(CALCULATED, "1 +")]},
            {"linkId": "b", "type": "integer", "extension": [
                {"url": CALCULATED, "valueExpression": {"language": "text/cql", "expression": "1"}}]},
            {"linkId": "c", "type": "string", "extension": [expr(ENABLE_WHEN, "today() > @2020-01-01")]}]}))
    .unwrap();
    let found: Vec<(&str, &str)> = q
        .warnings
        .iter()
        .map(|w| (w.path.as_str(), w.message.as_str()))
        .collect();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].1.contains("syntax error") && found[0].1.contains("stays empty"));
    assert!(found[1].1.contains("text/cql"));
    assert!(found[2].1.contains("today()") && found[2].1.contains("no such condition"));
    // The item whose condition cannot be evaluated is shown, never silently hidden.
    let r = Response::new(&q);
    assert!(r.is_asked("c"));
}

fn phq9_with_total(expression: &str) -> Questionnaire {
    let mut v: Value = serde_json::from_str(library::PHQ9).unwrap();
    // Our copy carries its own total; these forms carry another instead.
    v["item"]
        .as_array_mut()
        .unwrap()
        .retain(|i| i["linkId"] != "/44261-6");
    v["item"].as_array_mut().unwrap().push(json!({
        "linkId": "total", "type": "integer", "text": "Total score", "readOnly": true,
        "code": [{"system": "http://loinc.org", "code": "44261-6"}],
        "extension": [expr(CALCULATED, expression)]}));
    Questionnaire::parse(&v).unwrap()
}

const PHQ9_ITEMS: [&str; 9] = [
    "/44250-9", "/44255-8", "/44259-0", "/44254-1", "/44251-7", "/44258-2", "/44252-5", "/44253-3",
    "/44260-8",
];

fn answer_phq9(q: &Questionnaire, positions: [usize; 9]) -> Response {
    let mut r = Response::new(q);
    for (link, p) in PHQ9_ITEMS.iter().zip(positions) {
        let v = q.item(link).unwrap().options[p].value.clone();
        set(q, &mut r, link, vec![v]);
    }
    r
}

/// CareCycle's own PHQ-9 carries the LOINC total item (44261-6) as a
/// calculated, read-only item; its value is the published sum (Kroenke 2001)
/// and agrees with the engine at the band boundaries.
#[test]
fn the_bundled_phq9_total_is_calculated_and_agrees_with_the_engine() {
    let q = Questionnaire::parse(&serde_json::from_str::<Value>(library::PHQ9).unwrap()).unwrap();
    let total = q.item("/44261-6").unwrap();
    assert!(total.read_only && total.calculated_expression.is_some());
    // Totals 4, 5, 9, 10, 14, 15, 19, 20 and 27: either side of each band boundary.
    for positions in [
        [1, 1, 1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 1, 1, 1, 1],
        [2, 1, 1, 1, 1, 1, 1, 1, 1],
        [2, 2, 2, 2, 2, 1, 1, 1, 1],
        [2, 2, 2, 2, 2, 2, 1, 1, 1],
        [3, 2, 2, 2, 2, 2, 2, 2, 2],
        [3, 3, 2, 2, 2, 2, 2, 2, 2],
        [3, 3, 3, 3, 3, 3, 3, 3, 3],
    ] {
        let r = answer_phq9(&q, positions);
        let sum: usize = positions.iter().sum();
        assert_eq!(value(&r, "/44261-6"), [AnswerValue::Integer(sum as i64)]);
        let a = scoring::assess(&q, &r);
        assert_eq!(a.disagreements().count(), 0, "{positions:?}");
        assert_eq!(a.form_scores[0].engine_value, Some(sum as f64));
    }
}

/// The form's own total is shown as the form computes it; the engine also
/// knows PHQ-9 and both must agree (Kroenke 2001: items 0–3 summed). A form
/// whose expression computes something else is a visible disagreement.
#[test]
fn a_forms_own_phq9_total_agrees_with_the_engine_or_is_flagged() {
    // 2+2+2+1+1+1+0+0+1 = 10
    let positions = [2, 2, 2, 1, 1, 1, 0, 0, 1];
    let q = phq9_with_total(
        "%resource.repeat(item).where(linkId != 'total').answer.value.ordinal().sum()",
    );
    let r = answer_phq9(&q, positions);
    assert_eq!(value(&r, "total"), [AnswerValue::Integer(10)]);
    let a = scoring::assess(&q, &r);
    let ScoreOutcome::Scored(s) = &a.outcomes[0] else {
        panic!("{:?}", a.outcomes)
    };
    assert_eq!((s.scale.as_str(), s.value), ("phq-9", 10.0));
    assert_eq!(a.form_scores.len(), 1);
    let f = &a.form_scores[0];
    assert_eq!(
        (
            f.link_id.as_str(),
            f.value,
            f.scale.as_deref(),
            f.engine_value,
            f.agrees
        ),
        ("total", Some(10.0), Some("phq-9"), Some(10.0), Some(true))
    );
    assert_eq!(a.disagreements().count(), 0);

    // A form that forgets item 9 (and so under-counts thoughts of self-harm).
    let q = phq9_with_total(
        "%resource.repeat(item).where(linkId != 'total' and linkId != '/44260-8').answer.value.ordinal().sum()",
    );
    let r = answer_phq9(&q, positions);
    assert_eq!(
        value(&r, "total"),
        [AnswerValue::Integer(9)],
        "shown as the form defines it"
    );
    let a = scoring::assess(&q, &r);
    let bad: Vec<_> = a.disagreements().collect();
    assert_eq!(bad.len(), 1);
    assert_eq!((bad[0].value, bad[0].engine_value), (Some(9.0), Some(10.0)));
    // The engine's own score is still the published one.
    let ScoreOutcome::Scored(s) = &a.outcomes[0] else {
        panic!()
    };
    assert_eq!(s.value, 10.0);
}
