//! Benchmark (prints figures; not a timed test): the work after one answer
//! changes on a 100-item questionnaire — enablement, validation and score —
//! without and with SDC expressions (calculated running totals, conditions
//! by enableWhenExpression, a form-level variable). Target: under 1 ms. Run with `cargo bench -p carecycle-prom`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use carecycle_prom::{AnswerValue, ItemPath, Questionnaire, Response, library, scoring};
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Ten sections of ten weighted choice questions; every other question depends
/// on the one before it, and each section's last question on the first
/// question of the questionnaire (so one change ripples everywhere).
fn hundred_items() -> Questionnaire {
    let weight = |w: i64| json!([{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": w}]);
    let sections: Vec<Value> = (0..10)
        .map(|s| {
            let items: Vec<Value> = (0..10)
                .map(|i| {
                    let id = format!("s{s}q{i}");
                    let mut item = json!({
                        "linkId": id, "type": "choice", "required": true, "text": format!("Question {s}.{i}"),
                        "answerOption": (0..5).map(|w| json!({"valueCoding": {"system": "urn:bench", "code": format!("a{w}"), "display": format!("Answer {w}")}, "extension": weight(w)})).collect::<Vec<_>>()
                    });
                    if i % 2 == 1 {
                        item["enableWhen"] = json!([{"question": format!("s{s}q{}", i - 1), "operator": "!=", "answerCoding": {"system": "urn:bench", "code": "a0"}}]);
                    }
                    if i == 9 {
                        item["enableWhen"] = json!([
                            {"question": format!("s{s}q8"), "operator": "exists", "answerBoolean": true},
                            {"question": "s0q0", "operator": "=", "answerCoding": {"system": "urn:bench", "code": "a4"}}
                        ]);
                        item["enableBehavior"] = json!("any");
                    }
                    item
                })
                .collect();
            json!({"linkId": format!("s{s}"), "type": "group", "text": format!("Section {s}"), "item": items})
        })
        .collect();
    Questionnaire::parse(&json!({"resourceType": "Questionnaire", "status": "active", "title": "Bench", "item": sections})).unwrap()
}

/// The same shape with SDC expressions: ten sections of nine weighted
/// questions and a calculated running total (this section's weights plus the
/// previous section's total, so the ten totals form one dependency chain);
/// the fifth question of every section has an `enableWhenExpression` reading
/// a form-level `variable`. 100 items, 10 calculated, 10 expression conditions.
fn hundred_items_with_expressions() -> Questionnaire {
    let weight = |w: i64| json!([{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": w}]);
    let fhirpath = |url: &str, e: String| json!({"url": url, "valueExpression": {"language": "text/fhirpath", "expression": e}});
    let calc =
        "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression";
    let ewe =
        "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression";
    let sections: Vec<Value> = (0..10)
        .map(|s| {
            let mut items: Vec<Value> = (0..9)
                .map(|i| {
                    let id = format!("s{s}q{i}");
                    let mut item = json!({
                        "linkId": id, "type": "choice", "required": true, "text": format!("Question {s}.{i}"),
                        "answerOption": (0..5).map(|w| json!({"valueCoding": {"system": "urn:bench", "code": format!("a{w}"), "display": format!("Answer {w}")}, "extension": weight(w)})).collect::<Vec<_>>()
                    });
                    if i % 2 == 1 {
                        item["enableWhen"] = json!([{"question": format!("s{s}q{}", i - 1), "operator": "!=", "answerCoding": {"system": "urn:bench", "code": "a0"}}]);
                    }
                    if i == 4 {
                        item["extension"] = json!([fhirpath(ewe, format!(
                            "%first < 4 or %resource.item.where(linkId='s{s}').item.where(linkId='s{s}q2').answer.exists()"))]);
                    }
                    item
                })
                .collect();
            let previous = if s == 0 {
                "0".to_owned()
            } else {
                format!("%resource.item.where(linkId='s{p}').item.where(linkId='s{p}t').answer.value.combine(0).first()", p = s - 1)
            };
            items.push(json!({"linkId": format!("s{s}t"), "type": "integer", "text": format!("Running total after section {s}"),
                "extension": [fhirpath(calc, format!("%resource.item.where(linkId='s{s}').item.answer.value.ordinal().sum() + {previous}"))]}));
            json!({"linkId": format!("s{s}"), "type": "group", "text": format!("Section {s}"), "item": items})
        })
        .collect();
    Questionnaire::parse(&json!({"resourceType": "Questionnaire", "status": "active", "title": "Bench with expressions",
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/variable",
            "valueExpression": {"name": "first", "language": "text/fhirpath",
                "expression": "%resource.item.first().item.first().answer.value.ordinal()"}}],
        "item": sections})).unwrap()
}

fn answer(code: usize) -> AnswerValue {
    AnswerValue::Coding(carecycle_prom::Code {
        system: Some("urn:bench".into()),
        code: Some(format!("a{code}")),
        display: None,
    })
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    println!(
        "{name:<58} n={:<5} median {:>8.1} µs   p95 {:>8.1} µs   max {:>8.1} µs",
        samples.len(),
        pct(0.5).as_secs_f64() * 1e6,
        pct(0.95).as_secs_f64() * 1e6,
        samples[samples.len() - 1].as_secs_f64() * 1e6
    );
}

fn main() {
    let q = hundred_items();
    assert_eq!(
        q.walk()
            .iter()
            .filter(|(i, _)| i.item_type.is_question())
            .count(),
        100
    );
    let mut r = Response::new(&q);
    let paths: Vec<ItemPath> = (0..100)
        .map(|n| ItemPath::of(&q, &format!("s{}q{}", n / 10, n % 10)).unwrap())
        .collect();
    for p in &paths {
        if r.is_enabled(p) {
            r.set_answers(&q, p, vec![answer(2)]).unwrap();
        }
    }

    let runs = 3000;
    let mut samples = Vec::with_capacity(runs);
    for n in 0..runs {
        // Alternate the first answer between a value that changes who is asked
        // and one that does not, and touch a question deep inside.
        let start = Instant::now();
        let eval = r
            .set_answers(&q, &paths[0], vec![answer(if n % 2 == 0 { 4 } else { 3 })])
            .unwrap();
        let scores = scoring::score(&q, &r);
        black_box((&eval, &scores));
        samples.push(start.elapsed());
    }
    report(
        "100 items: one change → enablement + validation + score",
        samples,
    );

    let q = hundred_items_with_expressions();
    assert!(q.warnings.is_empty(), "{:?}", q.warnings);
    let mut r = Response::new(&q);
    let paths: Vec<ItemPath> = (0..90)
        .map(|n| ItemPath::of(&q, &format!("s{}q{}", n / 9, n % 9)).unwrap())
        .collect();
    for p in &paths {
        if r.is_enabled(p) {
            r.set_answers(&q, p, vec![answer(2)]).unwrap();
        }
    }
    // Every question answered 2 (and the two the first answer hides, gone): the
    // last running total is 2 × the questions asked.
    let asked = paths.iter().filter(|p| r.is_enabled(p)).count() as i64;
    assert_eq!(r.answers_to("s9t"), [&AnswerValue::Integer(2 * asked)]);
    let mut samples = Vec::with_capacity(runs);
    for n in 0..runs {
        let start = Instant::now();
        let eval = r
            .set_answers(&q, &paths[0], vec![answer(if n % 2 == 0 { 4 } else { 3 })])
            .unwrap();
        let scores = scoring::score(&q, &r);
        black_box((&eval, &scores));
        samples.push(start.elapsed());
    }
    assert!(r.evaluate(&q).expression_failures.is_empty());
    report(
        "100 items + expressions: one change → recalc + enablement…",
        samples,
    );

    let phq = Questionnaire::from_json(library::PHQ9).unwrap();
    let mut r = Response::new(&phq);
    let links: Vec<ItemPath> = phq
        .items
        .iter()
        .filter(|i| i.link_id.starts_with("/44"))
        .map(|i| ItemPath::of(&phq, &i.link_id).unwrap())
        .collect();
    let mut samples = Vec::with_capacity(runs);
    for n in 0..runs {
        let item = &phq.item(links[n % 9].link_id()).unwrap().options[n % 4];
        let start = Instant::now();
        let eval = r
            .set_answers(&phq, &links[n % 9], vec![item.value.clone()])
            .unwrap();
        let scores = scoring::score(&phq, &r);
        black_box((&eval, &scores));
        samples.push(start.elapsed());
    }
    report(
        "PHQ-9: one change → enablement + validation + score",
        samples,
    );

    let mut samples = Vec::with_capacity(200);
    for _ in 0..200 {
        let start = Instant::now();
        black_box(Questionnaire::from_json(library::PHQ9).unwrap());
        samples.push(start.elapsed());
    }
    report("PHQ-9: parse the questionnaire JSON", samples);
}
