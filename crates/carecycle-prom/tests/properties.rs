//! Properties that hold for any answers, and a parser that never panics on
//! any JSON (the fuzz target for the parser, run on every test run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use carecycle_prom::library;
use carecycle_prom::scoring::{self, ScoreOutcome};
use carecycle_prom::{AnswerValue, ItemPath, ItemType, Questionnaire, Response, ResponseStatus};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A chain of items where each is enabled by the one before it answering
/// above a threshold, with weights and the form's own calculated total of
/// them: the worst case for "disabled answers never count".
fn chained(n: usize) -> Questionnaire {
    let mut items: Vec<Value> = (0..n)
        .map(|i| {
            let mut item = json!({
                "linkId": format!("q{i}"), "type": "choice", "required": true,
                "answerOption": (0..4).map(|w| json!({"valueInteger": w, "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": w}]})).collect::<Vec<_>>()
            });
            if i > 0 {
                item["enableWhen"] = json!([{"question": format!("q{}", i - 1), "operator": ">", "answerInteger": 0}]);
            }
            item
        })
        .collect();
    items.push(json!({"linkId": "total", "type": "integer", "extension": [{
        "url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
        "valueExpression": {"language": "text/fhirpath", "expression": "%resource.item.answer.value.ordinal().sum()"}}]}));
    Questionnaire::parse(
        &json!({"resourceType": "Questionnaire", "status": "active", "item": items}),
    )
    .unwrap()
}

fn code(w: u8) -> AnswerValue {
    AnswerValue::Integer(i64::from(w))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever order answers are given in, answers of disabled items are gone
    /// and never count toward the total.
    #[test]
    fn disabled_answers_never_count(steps in prop::collection::vec((0usize..12, 0u8..4), 1..60)) {
        let q = chained(12);
        let mut r = Response::new(&q);
        for (i, w) in steps {
            let p = ItemPath::of(&q, &format!("q{i}")).unwrap();
            if r.is_enabled(&p) {
                r.set_answers(&q, &p, vec![code(w)]).unwrap();
            }
        }
        let eval = r.evaluate(&q);
        let mut expected = 0.0;
        let mut on = true;
        for i in 0..12 {
            let p = ItemPath::of(&q, &format!("q{i}")).unwrap();
            prop_assert_eq!(r.is_enabled(&p), on);
            let answers = r.answers(&p);
            if !on {
                prop_assert!(answers.is_empty(), "disabled q{} kept an answer", i);
            }
            let w = match answers.first() {
                Some(AnswerValue::Integer(n)) => *n as f64,
                _ => 0.0,
            };
            expected += w;
            on = on && !answers.is_empty() && w != 0.0;
        }
        match &scoring::score(&q, &r)[0] {
            ScoreOutcome::Scored(s) => prop_assert_eq!(s.value, expected),
            ScoreOutcome::NotScorable { .. } => prop_assert!(eval.answered < eval.questions),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    /// Any complete PHQ-9 scores within 0–27, PROMIS Global within its tables,
    /// and the completed response validates and reads back the same.
    #[test]
    fn scores_stay_in_range_and_responses_validate(phq in prop::array::uniform9(0usize..4), promis in prop::array::uniform7(0usize..5), pain in 0i64..=10) {
        let q = Questionnaire::from_json(library::PHQ9).unwrap();
        let mut r = Response::new(&q);
        for (item, pos) in q.items.iter().filter(|i| i.link_id.starts_with("/44")).zip(phq) {
            r.set_answers(&q, &ItemPath::of(&q, &item.link_id).unwrap(), vec![item.options[pos].value.clone()]).unwrap();
        }
        let s = match &scoring::score(&q, &r)[0] { ScoreOutcome::Scored(s) => s.clone(), o => panic!("{o:?}") };
        prop_assert!((0.0..=27.0).contains(&s.value));
        prop_assert_eq!(s.value, phq.iter().sum::<usize>() as f64);
        let done = r.complete(&q, "2026-11-23T10:00:00Z");
        prop_assert!(done.is_ok(), "{:?}", done.err());
        let back = Response::from_fhir(&q, &done.unwrap()).unwrap();
        prop_assert_eq!(back.to_fhir(&q, ResponseStatus::Completed, None), r.to_fhir(&q, ResponseStatus::Completed, None));

        let q = Questionnaire::from_json(library::PROMIS_GLOBAL_10).unwrap();
        let mut r = Response::new(&q);
        let choices: Vec<_> = q.walk().into_iter().map(|(i, _)| i).filter(|i| i.item_type == ItemType::Choice && i.link_id != "Global01" && i.link_id != "Global09r").collect();
        for (item, pos) in choices.iter().zip(promis) {
            r.set_answers(&q, &ItemPath::of(&q, &item.link_id).unwrap(), vec![item.options[pos].value.clone()]).unwrap();
        }
        r.set_answers(&q, &ItemPath::of(&q, "Global07r").unwrap(), vec![AnswerValue::Integer(pain)]).unwrap();
        for o in scoring::score(&q, &r) {
            let ScoreOutcome::Scored(s) = o else { panic!("{o:?}") };
            prop_assert!(s.value >= s.min && s.value <= s.max, "{:?}", s);
            prop_assert!((4.0..=20.0).contains(&s.raw.unwrap()));
        }
    }

    /// The parser returns an error or a questionnaire for any JSON: never a panic.
    #[test]
    fn parser_never_panics_on_arbitrary_json(v in arb_json()) {
        let _ = Questionnaire::parse(&v);
        let mut q = v.clone();
        if let Value::Object(m) = &mut q {
            m.insert("resourceType".into(), json!("Questionnaire"));
        }
        let _ = Questionnaire::parse(&q);
        let _ = Questionnaire::parse(&json!({"resourceType": "Questionnaire", "item": [v.clone()]}));
        let _ = Questionnaire::parse(&json!({"resourceType": "Questionnaire", "item": [{"linkId": "a", "type": "choice", "answerOption": [v]}]}));
    }

    /// Real questionnaires with one element replaced by arbitrary JSON: an
    /// error with a path, or a questionnaire, never a panic; and a response
    /// built on whatever parsed can be evaluated and scored.
    #[test]
    fn mutated_real_questionnaires_never_panic(which in 0usize..4, pick in any::<prop::sample::Index>(), replacement in arb_json()) {
        let mut v: Value = serde_json::from_str(library::ALL[which].1).unwrap();
        let mut slots = Vec::new();
        collect_pointers(&v, String::new(), &mut slots);
        let target = pick.get(&slots).clone();
        if let Some(slot) = v.pointer_mut(&target) {
            *slot = replacement;
        }
        match Questionnaire::parse(&v) {
            Ok(q) => {
                let mut r = Response::new(&q);
                let _ = r.evaluate(&q);
                let _ = scoring::score(&q, &r);
                let _ = Response::from_fhir(&q, &r.to_fhir(&q, ResponseStatus::InProgress, None));
            }
            Err(e) => prop_assert!(!e.path.is_empty() && !e.reason.is_empty()),
        }
    }
}

fn collect_pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                collect_pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("Questionnaire".to_owned()),
            Just("group".to_owned()),
            Just("choice".to_owned()),
            Just("=".to_owned()),
            Just("#vs".to_owned()),
            ".{0,12}".prop_map(|s: String| s),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("linkId".to_owned()),
                    Just("type".to_owned()),
                    Just("item".to_owned()),
                    Just("enableWhen".to_owned()),
                    Just("question".to_owned()),
                    Just("operator".to_owned()),
                    Just("answerCoding".to_owned()),
                    Just("answerOption".to_owned()),
                    Just("valueCoding".to_owned()),
                    Just("extension".to_owned()),
                    Just("url".to_owned()),
                    "[a-zA-Z]{1,8}".prop_map(|s: String| s),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
