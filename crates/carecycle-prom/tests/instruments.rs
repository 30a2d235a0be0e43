//! Scoring against the instruments' publications. Each test names its source.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use carecycle_prom::library;
use carecycle_prom::red_flags::{self, Urgency};
use carecycle_prom::scoring::{self, Direction, Score, ScoreOutcome};
use carecycle_prom::{AnswerValue, ItemPath, Questionnaire, Response};
use serde_json::{Value, json};

fn load(text: &str) -> Questionnaire {
    Questionnaire::from_json(text).unwrap()
}

/// Answers a choice item with the option at `position` (as a patient would tap it).
fn choose(q: &Questionnaire, r: &mut Response, link_id: &str, position: usize) {
    let item = q
        .item(link_id)
        .unwrap_or_else(|| panic!("no item {link_id}"));
    let value = item.options[position].value.clone();
    let path = ItemPath::of(q, link_id).unwrap();
    r.set_answers(q, &path, vec![value]).unwrap();
}

fn set(q: &Questionnaire, r: &mut Response, link_id: &str, value: AnswerValue) {
    let path = ItemPath::of(q, link_id).unwrap();
    r.set_answers(q, &path, vec![value]).unwrap();
}

fn scored(outcomes: &[ScoreOutcome], scale: &str) -> Score {
    outcomes
        .iter()
        .find_map(|o| match o {
            ScoreOutcome::Scored(s) if s.scale == scale => Some((**s).clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no score for {scale}: {outcomes:?}"))
}

const PHQ9_ITEMS: [&str; 9] = [
    "/44250-9", "/44255-8", "/44259-0", "/44254-1", "/44251-7", "/44258-2", "/44252-5", "/44253-3",
    "/44260-8",
];

fn phq9(answers: [usize; 9]) -> (Questionnaire, Response) {
    let q = load(library::PHQ9);
    let mut r = Response::new(&q);
    for (link, a) in PHQ9_ITEMS.iter().zip(answers) {
        choose(&q, &mut r, link, a);
    }
    (q, r)
}

/// Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief
/// depression severity measure. J Gen Intern Med 2001;16:606–613: items scored
/// 0–3 and summed (0–27); severity cut points 5, 10, 15 and 20.
#[test]
fn phq9_sum_and_severity_bands_kroenke_2001() {
    let cases = [
        ([0, 0, 0, 0, 0, 0, 0, 0, 0], 0.0, "None or minimal"),
        ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4.0, "None or minimal"),
        ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5.0, "Mild"),
        ([2, 2, 2, 1, 1, 1, 0, 0, 0], 9.0, "Mild"),
        ([2, 2, 2, 2, 1, 1, 0, 0, 0], 10.0, "Moderate"),
        ([2, 2, 2, 2, 2, 2, 1, 1, 0], 14.0, "Moderate"),
        ([2, 2, 2, 2, 2, 2, 2, 1, 0], 15.0, "Moderately severe"),
        ([3, 3, 3, 2, 2, 2, 2, 2, 0], 19.0, "Moderately severe"),
        ([3, 3, 3, 3, 2, 2, 2, 1, 1], 20.0, "Severe"),
        ([3, 3, 3, 3, 3, 3, 3, 3, 3], 27.0, "Severe"),
    ];
    for (answers, total, band) in cases {
        let (q, r) = phq9(answers);
        let s = scored(&scoring::score(&q, &r), "phq-9");
        assert_eq!(s.value, total, "{answers:?}");
        assert_eq!(s.band.unwrap().label, band, "{answers:?}");
        assert_eq!(s.direction, Direction::HigherIsWorse);
        assert_eq!(s.mcid, Some(5.0));
        assert_eq!(s.loinc.as_deref(), Some("44261-6"));
    }
}

#[test]
fn phq9_item_10_is_not_scored_and_only_asked_after_a_problem() {
    let (q, mut r) = phq9([0; 9]);
    let item10 = ItemPath::of(&q, "/69722-7").unwrap();
    assert!(
        !r.is_enabled(&item10),
        "no problem checked off: item 10 is not asked"
    );
    choose(&q, &mut r, "/44250-9", 1);
    assert!(r.is_enabled(&item10));
    choose(&q, &mut r, "/69722-7", 3);
    assert_eq!(scored(&scoring::score(&q, &r), "phq-9").value, 1.0);
    // Back to "not at all": item 10 disappears and its answer is dropped.
    choose(&q, &mut r, "/44250-9", 0);
    assert!(!r.is_enabled(&item10));
    assert!(r.answers(&item10).is_empty());
}

#[test]
fn phq9_with_a_missing_item_is_not_scored() {
    let q = load(library::PHQ9);
    let mut r = Response::new(&q);
    for link in &PHQ9_ITEMS[..8] {
        choose(&q, &mut r, link, 2);
    }
    let outcomes = scoring::score(&q, &r);
    assert!(
        matches!(&outcomes[0], ScoreOutcome::NotScorable { reason, .. } if reason.contains("1 of 9")),
        "{outcomes:?}"
    );
}

/// The same PHQ-9 encoded as other publishers do: options without LOINC codes
/// or weights, in Spanish, and as plain integers. The score does not change.
#[test]
fn phq9_scores_the_same_whatever_the_encoding() {
    let answers = [3, 2, 1, 0, 1, 2, 3, 0, 1];
    let (q, r) = phq9(answers);
    let expected = scored(&scoring::score(&q, &r), "phq-9").value;
    assert_eq!(expected, 13.0);

    // Spanish displays, an unknown code system, no weights.
    let mut v: Value = serde_json::from_str(library::PHQ9).unwrap();
    let es = [
        "Ningún día",
        "Varios días",
        "Más de la mitad de los días",
        "Casi todos los días",
    ];
    for item in v["item"].as_array_mut().unwrap().iter_mut().skip(1).take(9) {
        item["answerOption"] = json!(
            es.iter()
                .enumerate()
                .map(|(i, d)| json!({"valueCoding": {"system": "urn:clinic:phq", "code": format!("x{i}"), "display": d}}))
                .collect::<Vec<_>>()
        );
    }
    v["item"].as_array_mut().unwrap().truncate(10);
    let q2 = Questionnaire::parse(&v).unwrap();
    let mut r2 = Response::new(&q2);
    for (link, a) in PHQ9_ITEMS.iter().zip(answers) {
        choose(&q2, &mut r2, link, a);
    }
    assert_eq!(scored(&scoring::score(&q2, &r2), "phq-9").value, expected);

    // Integer options 0–3 (position in the published order).
    for item in v["item"].as_array_mut().unwrap().iter_mut().skip(1) {
        item["answerOption"] = json!([{"valueInteger": 0}, {"valueInteger": 1}, {"valueInteger": 2}, {"valueInteger": 3}]);
    }
    let q3 = Questionnaire::parse(&v).unwrap();
    let mut r3 = Response::new(&q3);
    for (link, a) in PHQ9_ITEMS.iter().zip(answers) {
        set(&q3, &mut r3, link, AnswerValue::Integer(a as i64));
    }
    assert_eq!(scored(&scoring::score(&q3, &r3), "phq-9").value, expected);
}

/// Spitzer RL, Kroenke K, Williams JBW, Löwe B. A brief measure for assessing
/// generalized anxiety disorder: the GAD-7. Arch Intern Med 2006;166:1092–1097:
/// items 0–3 summed (0–21); cut points 5, 10 and 15.
#[test]
fn gad7_sum_and_bands_spitzer_2006() {
    let q = load(library::GAD7);
    let links: Vec<String> = q.items.iter().skip(1).map(|i| i.link_id.clone()).collect();
    for (answers, total, band) in [
        ([0, 0, 0, 0, 0, 0, 4], None, ""),
        ([1, 1, 1, 1, 0, 0, 0], Some(4.0), "Minimal"),
        ([1, 1, 1, 1, 1, 0, 0], Some(5.0), "Mild"),
        ([2, 2, 2, 2, 1, 1, 0], Some(10.0), "Moderate"),
        ([3, 3, 3, 2, 2, 1, 1], Some(15.0), "Severe"),
        ([3, 3, 3, 3, 3, 3, 3], Some(21.0), "Severe"),
    ] {
        let mut r = Response::new(&q);
        for (l, a) in links.iter().zip(answers) {
            if a < 4 {
                choose(&q, &mut r, l, a);
            }
        }
        let outcomes = scoring::score(&q, &r);
        match total {
            None => assert!(matches!(outcomes[0], ScoreOutcome::NotScorable { .. })),
            Some(t) => {
                let s = scored(&outcomes, "gad-7");
                assert_eq!(s.value, t);
                assert_eq!(s.band.unwrap().label, band);
                assert_eq!(s.mcid, Some(4.0));
            }
        }
    }
}

fn promis(answers: &[(&str, usize)], pain: i64) -> (Questionnaire, Response) {
    let q = load(library::PROMIS_GLOBAL_10);
    let mut r = Response::new(&q);
    for (link, pos) in answers {
        choose(&q, &mut r, link, *pos);
    }
    set(&q, &mut r, "Global07r", AnswerValue::Integer(pain));
    (q, r)
}

/// Physical and mental summary scores of one PROMIS Global response.
fn promis_scores(answers: &[(&str, usize)], pain: i64) -> (Score, Score) {
    let (q, r) = promis(answers, pain);
    let out = scoring::score(&q, &r);
    (
        scored(&out, "promis-global-physical"),
        scored(&out, "promis-global-mental"),
    )
}

/// PROMIS Global Health v1.2 scoring manual (HealthMeasures): Global Physical
/// Health = Global03 + Global06 + Global07 (recoded) + Global08r; Global Mental
/// Health = Global02 + Global04 + Global05 + Global10r; raw 4–20 converted by
/// the published tables. Options are listed best first on the form
/// (position 0 = 5 points).
#[test]
fn promis_global_raw_scores_and_t_scores_from_the_manual_tables() {
    // Worst possible: raw 4 → GPH 16.2 (SE 4.8), GMH 21.2 (SE 4.6).
    let worst = [
        ("Global02", 4),
        ("Global03", 4),
        ("Global04", 4),
        ("Global05", 4),
        ("Global06", 4),
        ("Global08r", 4),
        ("Global10r", 4),
    ];
    let (p, m) = promis_scores(&worst, 10);
    assert_eq!(
        (p.raw, p.value, p.standard_error),
        (Some(4.0), 16.2, Some(4.8))
    );
    assert_eq!(
        (m.raw, m.value, m.standard_error),
        (Some(4.0), 21.2, Some(4.6))
    );
    assert_eq!(p.band.unwrap().label, "Poor");

    // Best possible: raw 20 → GPH 67.7 (SE 5.9), GMH 67.6 (SE 5.3).
    let best = worst.map(|(l, _)| (l, 0));
    let (p, m) = promis_scores(&best, 0);
    assert_eq!(
        (p.raw, p.value, p.standard_error),
        (Some(20.0), 67.7, Some(5.9))
    );
    assert_eq!(
        (m.raw, m.value, m.standard_error),
        (Some(20.0), 67.6, Some(5.3))
    );
    assert_eq!(p.band.unwrap().label, "Excellent");
    assert_eq!(p.direction, Direction::HigherIsBetter);

    // A middle case: Global03 Good (3), Global06 Mostly (4), pain 5 → 3,
    // Global08r Moderate (3) → raw 13 → T 42.3 ("Good", Hays 2015 cut 42).
    // Global02 Very good (4), Global04 Good (3), Global05 Good (3), Global10r
    // Sometimes (3) → raw 13 → T 45.8.
    let middle = [
        ("Global02", 1),
        ("Global03", 2),
        ("Global04", 2),
        ("Global05", 2),
        ("Global06", 1),
        ("Global08r", 2),
        ("Global10r", 2),
    ];
    let (p, m) = promis_scores(&middle, 5);
    assert_eq!((p.raw, p.value), (Some(13.0), 42.3));
    assert_eq!(p.band.unwrap().label, "Good");
    assert_eq!((m.raw, m.value), (Some(13.0), 45.8));
    assert_eq!(m.band.unwrap().label, "Good");
}

/// Global07 pain recode from the manual: 0→5, 1–3→4, 4–6→3, 7–9→2, 10→1.
#[test]
fn promis_global_pain_recode() {
    let rest = [
        ("Global02", 0),
        ("Global03", 0),
        ("Global04", 0),
        ("Global05", 0),
        ("Global06", 0),
        ("Global08r", 0),
        ("Global10r", 0),
    ];
    // GPH raw = 5 + 5 + recoded pain + 5.
    for (pain, raw) in [
        (0, 20.0),
        (1, 19.0),
        (3, 19.0),
        (4, 18.0),
        (6, 18.0),
        (7, 17.0),
        (9, 17.0),
        (10, 16.0),
    ] {
        let (q, r) = promis(&rest, pain);
        assert_eq!(
            scored(&scoring::score(&q, &r), "promis-global-physical").raw,
            Some(raw),
            "pain {pain}"
        );
    }
}

/// A PROMIS Global form that encodes Global10 and Global08 the other way round
/// (Always = 5, Very severe = 5, as non-reversed forms in the wild do) scores
/// the same: the published direction comes from the option, not its weight.
#[test]
fn promis_global_reverse_items_whatever_the_weights() {
    let mut v: Value = serde_json::from_str(library::PROMIS_GLOBAL_10).unwrap();
    let past7 = v["item"][7]["item"].as_array_mut().unwrap();
    for item in past7.iter_mut().take(2) {
        let opts = item["answerOption"].as_array_mut().unwrap();
        opts.reverse();
        for (i, o) in opts.iter_mut().enumerate() {
            o["extension"][0]["valueDecimal"] = json!(i + 1);
            o["valueCoding"]["code"] = json!(format!("alt-{i}"));
        }
    }
    let q = Questionnaire::parse(&v).unwrap();
    let mut r = Response::new(&q);
    let pick = |q: &Questionnaire, r: &mut Response, link: &str, display: &str| {
        let item = q.item(link).unwrap();
        let o = item.options.iter().find(|o| o.label == display).unwrap();
        r.set_answers(q, &ItemPath::of(q, link).unwrap(), vec![o.value.clone()])
            .unwrap();
    };
    for l in ["Global02", "Global03", "Global04", "Global05"] {
        pick(&q, &mut r, l, "Good");
    }
    pick(&q, &mut r, "Global06", "Moderately");
    pick(&q, &mut r, "Global10r", "Never");
    pick(&q, &mut r, "Global08r", "Very severe");
    set(&q, &mut r, "Global07r", AnswerValue::Integer(2));
    let out = scoring::score(&q, &r);
    // GMH = 3 + 3 + 3 + Never(5) = 14 → 48.3; GPH = 3 + 3 + pain 2→4 + Very severe(1) = 11 → 37.4.
    assert_eq!(scored(&out, "promis-global-mental").raw, Some(14.0));
    assert_eq!(scored(&out, "promis-global-mental").value, 48.3);
    assert_eq!(scored(&out, "promis-global-physical").raw, Some(11.0));
    assert_eq!(scored(&out, "promis-global-physical").value, 37.4);
}

fn odi_questionnaire() -> Questionnaire {
    let items: Vec<Value> = (1..=10)
        .map(|i| {
            json!({
                "linkId": format!("odi-{i}"), "type": "choice", "text": format!("Section {i}"),
                "answerOption": (0..6).map(|s| json!({"valueCoding": {"code": format!("s{i}-{s}"), "display": format!("Statement {s}")}})).collect::<Vec<_>>()
            })
        })
        .collect();
    Questionnaire::parse(&json!({
        "resourceType": "Questionnaire", "url": "https://carecycle.dev/fhir/Questionnaire/odi", "status": "active", "item": items
    }))
    .unwrap()
}

/// Fairbank JCT, Pynsent PB. The Oswestry Disability Index. Spine
/// 2000;25:2940–2952, and the ODI v2.1a scoring instructions: "16 (total
/// scored) / 50 (total possible) × 100 = 32%"; "if one section is missed …
/// 16 / 45 × 100 = 35.5%" (the instructions truncate; CareCycle keeps the exact
/// value and the UI rounds for display).
#[test]
fn odi_worked_examples_from_the_scoring_instructions() {
    let q = odi_questionnaire();
    let mut r = Response::new(&q);
    let sections = [2, 2, 2, 2, 2, 2, 1, 1, 1, 1]; // 16
    for (i, s) in sections.iter().enumerate() {
        choose(&q, &mut r, &format!("odi-{}", i + 1), *s);
    }
    let s = scored(&scoring::score(&q, &r), "odi");
    assert!((s.value - 32.0).abs() < 1e-9);
    assert_eq!(s.band.unwrap().label, "Moderate disability");
    assert_eq!(s.mcid, Some(10.0));

    let mut r = Response::new(&q);
    let nine = [2, 2, 2, 2, 2, 2, 2, 1, 1]; // 16 over nine sections
    for (i, s) in nine.iter().enumerate() {
        choose(&q, &mut r, &format!("odi-{}", i + 1), *s);
    }
    let s = scored(&scoring::score(&q, &r), "odi");
    assert!((s.value - 16.0 / 45.0 * 100.0).abs() < 1e-9);
    assert_eq!(s.value.trunc(), 35.0);

    let mut r = Response::new(&q);
    for i in 1..=7 {
        choose(&q, &mut r, &format!("odi-{i}"), 1);
    }
    assert!(matches!(
        scoring::score(&q, &r)[0],
        ScoreOutcome::NotScorable { .. }
    ));
}

#[test]
fn knee_instruments_without_a_sourced_table_are_unsupported_never_approximated() {
    let q = load(library::KOOS_JR);
    let mut r = Response::new(&q);
    for i in 1..=7 {
        choose(&q, &mut r, &format!("koosjr-{i}"), 1);
    }
    let out = scoring::score(&q, &r);
    assert_eq!(out.len(), 1);
    assert!(
        matches!(&out[0], ScoreOutcome::Unsupported { instrument, reason, .. } if instrument == "koos-jr" && reason.contains("never approximates")),
        "{out:?}"
    );
}

/// A form that is no known instrument gets a total only when it defines one
/// itself (a calculated item summing its option weights), and never a band.
#[test]
fn a_total_only_where_an_unknown_form_defines_one() {
    let mut v = json!({
        "resourceType": "Questionnaire", "status": "active", "title": "Clinic sleep check",
        "item": [
            {"linkId": "a", "type": "choice", "answerOption": [
                {"valueCoding": {"code": "n", "display": "No"}, "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": 0}]},
                {"valueCoding": {"code": "y", "display": "Yes"}, "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": 2}]}]},
            {"linkId": "b", "type": "choice", "answerOption": [
                {"valueCoding": {"code": "n", "display": "No", "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value", "valueDecimal": 0}]}},
                {"valueCoding": {"code": "y", "display": "Yes", "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value", "valueDecimal": 3}]}}]}
        ]
    });
    let answer_both_yes = |q: &Questionnaire| {
        let mut r = Response::new(q);
        choose(q, &mut r, "a", 1);
        choose(q, &mut r, "b", 1);
        r
    };
    // Weights alone do not make a total: the form never says to add them up.
    let q = Questionnaire::parse(&v).unwrap();
    let r = answer_both_yes(&q);
    let a = scoring::assess(&q, &r);
    assert_eq!(a.recognised, None);
    assert!(a.outcomes.is_empty(), "{:?}", a.outcomes);

    // With its own calculated total, the form's total is given, without a band.
    v["item"].as_array_mut().unwrap().push(json!({
        "linkId": "total", "type": "integer", "text": "Total",
        "extension": [{"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
            "valueExpression": {"language": "text/fhirpath", "expression": "%resource.item.answer.value.weight().sum()"}}]
    }));
    let q = Questionnaire::parse(&v).unwrap();
    let r = answer_both_yes(&q);
    let s = scored(&scoring::score(&q, &r), "total");
    assert_eq!((s.value, s.min, s.max), (5.0, 0.0, 5.0));
    assert_eq!(s.direction, Direction::NotStated);
    assert_eq!(s.band, None);

    // A calculated item that does something else is not a weight total.
    v["item"][2]["extension"][0]["valueExpression"]["expression"] = json!("%resource.item.count()");
    let q = Questionnaire::parse(&v).unwrap();
    let r = answer_both_yes(&q);
    assert!(scoring::score(&q, &r).is_empty());
}

#[test]
fn change_since_baseline_is_judged_against_the_mcid() {
    let (q, base) = phq9([2, 2, 2, 2, 2, 2, 2, 2, 0]); // 16
    let base = scored(&scoring::score(&q, &base), "phq-9");
    let (_, small) = phq9([2, 2, 2, 2, 2, 2, 1, 1, 0]); // 14
    let small = scored(&scoring::score(&q, &small), "phq-9");
    let c = small.change_since(&base);
    assert_eq!(c.verdict, scoring::ChangeVerdict::AboutTheSame);
    assert_eq!(c.clinically_important, Some(false));
    let (_, big) = phq9([1, 1, 1, 1, 1, 1, 1, 1, 0]); // 8
    let big = scored(&scoring::score(&q, &big), "phq-9");
    let c = big.change_since(&base);
    assert_eq!(c.verdict, scoring::ChangeVerdict::Better);
    assert_eq!(c.difference, -8.0);
    assert!(c.words.starts_with("Better by 8 points"), "{}", c.words);
}

/// PHQ-9 item 9 above "Not at all" is an urgent red flag whatever the total.
#[test]
fn phq9_item_9_is_a_red_flag_regardless_of_total() {
    let rules = red_flags::default_rules();
    for item9 in 1..=3 {
        let mut answers = [0; 9];
        answers[8] = item9;
        let (q, r) = phq9(answers);
        let scores = scoring::score(&q, &r);
        assert_eq!(scored(&scores, "phq-9").value, item9 as f64);
        let flags = red_flags::evaluate(&rules, &q, &r, &scores, &[]);
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert_eq!(flags[0].rule_id, "phq9-item9");
        assert_eq!(flags[0].urgency, Urgency::Now);
        assert_eq!(flags[0].call.as_ref().unwrap().number, "988");
        assert!(flags[0].guidance.get("es").contains("988"));
    }
    let (q, r) = phq9([3, 3, 3, 3, 3, 3, 3, 3, 0]);
    let scores = scoring::score(&q, &r);
    let flags = red_flags::evaluate(&rules, &q, &r, &scores, &[]);
    assert_eq!(
        flags.iter().map(|f| f.rule_id.as_str()).collect::<Vec<_>>(),
        ["phq9-severe"]
    );
}

#[test]
fn red_flag_rules_are_configurable_data() {
    let rules: Vec<red_flags::Rule> = serde_json::from_value(json!([{
        "id": "promis-pain", "urgency": "soon",
        "trigger": {"when": "itemAtLeast", "instrument": "promis-global-10", "item": "Global07", "atLeast": 7},
        "title": {"en": "We will call you", "es": "Le llamaremos"},
        "guidance": {"en": "Your pain is high.", "es": "Su dolor es alto."},
        "call": null, "teamFlag": "Average pain 7/10 or more"
    }]))
    .unwrap();
    let best = [
        ("Global02", 0),
        ("Global03", 0),
        ("Global04", 0),
        ("Global05", 0),
        ("Global06", 0),
        ("Global08r", 0),
        ("Global10r", 0),
    ];
    let (q, r) = promis(&best, 8);
    let flags = red_flags::evaluate(&rules, &q, &r, &scoring::score(&q, &r), &[]);
    assert_eq!(flags.len(), 1);
    let (q, r) = promis(&best, 6);
    assert!(red_flags::evaluate(&rules, &q, &r, &scoring::score(&q, &r), &[]).is_empty());
}

#[test]
fn identifies_instruments_by_loinc_code_or_item_codes() {
    let mut v: Value = serde_json::from_str(library::PHQ9).unwrap();
    v.as_object_mut().unwrap().remove("url");
    assert_eq!(
        scoring::Instrument::identify(&Questionnaire::parse(&v).unwrap()),
        Some(scoring::Instrument::Phq9)
    );
    v.as_object_mut().unwrap().remove("code");
    assert_eq!(
        scoring::Instrument::identify(&Questionnaire::parse(&v).unwrap()),
        Some(scoring::Instrument::Phq9)
    );
}
