//! Questionnaires in the shapes other publishers build the same instruments
//! (written here, not copied): their own linkIds and no codes (SDC style),
//! LHC-Forms' LOINC panel and item codes, LOINC item codes under numeric
//! linkIds, contained value sets referenced by canonical URL, calculated total
//! items, translations, options weighted by `ordinalValue`/`itemWeight` or given
//! as integers. Each is answered at every band boundary of the published
//! scoring and checked for its red flags. Each test names its source.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use carecycle_prom::red_flags::{self, Urgency};
use carecycle_prom::scoring::{self, Recognition, Score, ScoreOutcome};
use carecycle_prom::{AnswerError, AnswerValue, ItemPath, Questionnaire, Response};
use serde_json::{Value, json};

const ORDINAL: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";
const ITEM_WEIGHT: &str = "http://hl7.org/fhir/StructureDefinition/itemWeight";
const TRANSLATION: &str = "http://hl7.org/fhir/StructureDefinition/translation";
const CALCULATED: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression";
const RED_FLAG: &str = "https://carecycle.dev/fhir/StructureDefinition/red-flag";

const FREQ_EN: [&str; 4] = [
    "Not at all",
    "Several days",
    "More than half the days",
    "Nearly every day",
];
const FREQ_ES: [&str; 4] = [
    "Ningún día",
    "Varios días",
    "Más de la mitad de los días",
    "Casi todos los días",
];
const FREQ_DE: [&str; 4] = [
    "Überhaupt nicht",
    "An einzelnen Tagen",
    "An mehr als der Hälfte der Tage",
    "Beinahe jeden Tag",
];
const FREQ_LA: [&str; 4] = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];
const DIFFICULTY_EN: [&str; 4] = [
    "Not difficult at all",
    "Somewhat difficult",
    "Very difficult",
    "Extremely difficult",
];

const PHQ9_TEXT: [&str; 9] = [
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself - or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite - being so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
];
const PHQ9_LOINC: [&str; 9] = [
    "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
    "44260-8",
];
const GAD7_TEXT: [&str; 7] = [
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
];
const GAD7_LOINC: [&str; 7] = [
    "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
];

/// How a publisher encodes the four frequency options.
#[derive(Clone, Copy)]
enum Options {
    /// LHC-Forms: LOINC answer codes, `ordinalValue` on the coding.
    LoincOrdinalOnCoding,
    /// A local code system, `ordinalValue` on the option, Spanish translations.
    LocalOrdinalTranslated,
    /// German labels only, `itemWeight` on the option: verified by weights.
    GermanItemWeight,
    /// `valueInteger` 0–3.
    Integers,
    /// LOINC codes, no weights, no displays: verified by the LOINC answer codes.
    LoincCodesOnly,
}

fn options(style: Options) -> Value {
    let list: Vec<Value> = (0..4)
        .map(|i| match style {
            Options::LoincOrdinalOnCoding => json!({"valueCoding": {
                "system": "http://loinc.org", "code": FREQ_LA[i], "display": FREQ_EN[i],
                "extension": [{"url": ORDINAL, "valueDecimal": i}]}}),
            Options::LocalOrdinalTranslated => json!({
                "valueCoding": {"system": "urn:example:freq", "code": format!("f{i}"), "display": FREQ_EN[i],
                    "_display": {"extension": [{"url": TRANSLATION, "extension": [
                        {"url": "lang", "valueCode": "es"}, {"url": "content", "valueString": FREQ_ES[i]}]}]}},
                "extension": [{"url": ORDINAL, "valueDecimal": i}]}),
            Options::GermanItemWeight => json!({
                "valueCoding": {"system": "urn:example:haeufigkeit", "code": format!("h{i}"), "display": FREQ_DE[i]},
                "extension": [{"url": ITEM_WEIGHT, "valueDecimal": i}]}),
            Options::Integers => json!({"valueInteger": i}),
            Options::LoincCodesOnly => {
                json!({"valueCoding": {"system": "http://loinc.org", "code": FREQ_LA[i]}})
            }
        })
        .collect();
    Value::Array(list)
}

fn difficulty_item(link_id: &str) -> Value {
    json!({"linkId": link_id, "type": "choice",
        "text": "If you checked off any problems, how difficult have these problems made it for you?",
        "answerOption": DIFFICULTY_EN.iter().enumerate()
            .map(|(i, d)| json!({"valueCoding": {"code": format!("d{i}"), "display": d}})).collect::<Vec<_>>()})
}

fn calculated_total(link_id: &str, loinc: Option<&str>) -> Value {
    let mut item = json!({"linkId": link_id, "type": "integer", "text": "Total score", "readOnly": true,
        "extension": [{"url": CALCULATED, "valueExpression": {"language": "text/fhirpath",
            "expression": "%resource.item.answer.value.ordinal().sum()"}}]});
    if let Some(code) = loinc {
        item["code"] = json!([{"system": "http://loinc.org", "code": code}]);
    }
    item
}

/// A form and the linkIds of its scored items in published order.
struct Shape {
    name: &'static str,
    form: Value,
    scored: Vec<String>,
    how: Recognition,
}

/// Freq-scale items: linkIds from `link`, optional LOINC codes, texts.
fn freq_items(
    texts: &[&str],
    link: impl Fn(usize) -> String,
    codes: Option<&[&str]>,
    style: Options,
    translate: bool,
) -> Vec<Value> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut item = json!({"linkId": link(i), "type": "choice", "text": t, "required": true,
                "answerOption": options(style)});
            if let Some(codes) = codes {
                item["code"] = json!([{"system": "http://loinc.org", "code": codes[i]}]);
            }
            if translate {
                item["_text"] = json!({"extension": [{"url": TRANSLATION, "extension": [
                    {"url": "lang", "valueCode": "es"}, {"url": "content", "valueString": format!("(es) {t}")}]}]});
            }
            item
        })
        .collect()
}

fn phq9_shapes() -> Vec<Shape> {
    let mut shapes = Vec::new();

    // SDC style: own linkIds q1–q10, no codes, ordinalValue on the options,
    // Spanish translations, a calculated total.
    let mut items = freq_items(
        &PHQ9_TEXT,
        |i| format!("q{}", i + 1),
        None,
        Options::LocalOrdinalTranslated,
        true,
    );
    items.push(difficulty_item("q10"));
    items.push(calculated_total("score", None));
    shapes.push(Shape {
        name: "sdc-own-linkids",
        form: json!({"resourceType": "Questionnaire", "status": "active",
            "url": "http://clinic.example.org/Questionnaire/depression-check", "title": "PHQ-9", "item": items}),
        scored: (1..=9).map(|i| format!("q{i}")).collect(),
        how: Recognition::TitleAndStructure,
    });

    // SDC IG style: a group, path-like linkIds, a contained value set
    // referenced by its canonical URL (concepts weighted with itemWeight), a
    // calculated quantity total coded 44261-6.
    let vs_url = "http://example.org/fhir/ValueSet/phq-frequency";
    let concepts: Vec<Value> = (0..4)
        .map(|i| {
            json!({"code": format!("{i}"), "display": FREQ_EN[i],
            "extension": [{"url": ITEM_WEIGHT, "valueDecimal": i}]})
        })
        .collect();
    let mut group_items: Vec<Value> = PHQ9_TEXT
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"linkId": format!("H1/T1/Q{}", i + 1), "type": "choice", "text": t,
            "answerValueSet": format!("{vs_url}|1.0.0")})
        })
        .collect();
    group_items.push(
        json!({"linkId": "H1/TS", "type": "quantity", "text": "Total score",
        "code": [{"system": "http://loinc.org", "code": "44261-6"}],
        "extension": [
            {"url": CALCULATED, "valueExpression": {"language": "text/fhirpath",
                "expression": "%resource.item.where(linkId!='H1/TS').answer.value.weight().sum()"}},
            {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption",
                "valueCoding": {"system": "http://unitsofmeasure.org", "code": "1"}}]}),
    );
    shapes.push(Shape {
        name: "sdc-ig-valueset-by-canonical",
        form: json!({"resourceType": "Questionnaire", "status": "active",
            "title": "Patient Health Questionnaire - 9 Item",
            "contained": [{"resourceType": "ValueSet", "id": "VSPHQ9", "url": vs_url, "version": "1.0.0", "status": "active",
                "compose": {"include": [{"system": "http://example.org/fhir/CodeSystem/phq", "concept": concepts}]}}],
            "item": [{"linkId": "H1/T1", "type": "group", "text": "Over the last two weeks…", "item": group_items}]}),
        scored: (1..=9).map(|i| format!("H1/T1/Q{i}")).collect(),
        how: Recognition::TitleAndStructure,
    });

    // LHC-Forms: LOINC panel and item codes, linkIds "/code", LA answer codes
    // with ordinalValue on the coding, a calculated total /44261-6.
    let mut items = freq_items(
        &PHQ9_TEXT,
        |i| format!("/{}", PHQ9_LOINC[i]),
        Some(&PHQ9_LOINC),
        Options::LoincOrdinalOnCoding,
        false,
    );
    items.push(difficulty_item("/69722-7"));
    items.push(calculated_total("/44261-6", Some("44261-6")));
    shapes.push(Shape {
        name: "lhc-loinc-panel",
        form: json!({"resourceType": "Questionnaire", "status": "active",
            "title": "PHQ-9 quick depression assessment panel",
            "code": [{"system": "http://loinc.org", "code": "44249-1"}], "item": items}),
        scored: PHQ9_LOINC.iter().map(|c| format!("/{c}")).collect(),
        how: Recognition::LoincPanel,
    });

    // LOINC item codes under numeric linkIds, no panel code, a neutral title;
    // LOINC answer codes only (no weights, no displays).
    let items = freq_items(
        &PHQ9_TEXT,
        |i| format!("{}", 14363 + i),
        Some(&PHQ9_LOINC),
        Options::LoincCodesOnly,
        false,
    );
    shapes.push(Shape {
        name: "loinc-items-numeric-linkids",
        form: json!({"resourceType": "Questionnaire", "status": "active", "title": "Mood check", "item": items}),
        scored: (0..9).map(|i| format!("{}", 14363 + i)).collect(),
        how: Recognition::LoincItems,
    });

    // LHC-style path linkIds but no codes at all.
    let mut items = freq_items(
        &PHQ9_TEXT,
        |i| format!("/44249-1/{}", PHQ9_LOINC[i]),
        None,
        Options::LocalOrdinalTranslated,
        false,
    );
    items.push(difficulty_item("/44249-1/69722-7"));
    shapes.push(Shape {
        name: "path-linkids-no-codes",
        form: json!({"resourceType": "Questionnaire", "status": "active",
            "title": "Patient Health Questionnaire (PHQ-9)", "item": items}),
        scored: PHQ9_LOINC.iter().map(|c| format!("/44249-1/{c}")).collect(),
        how: Recognition::TitleAndStructure,
    });

    // Integer options, research-app linkIds.
    let items = freq_items(
        &PHQ9_TEXT,
        |i| format!("phq_{}", i + 1),
        None,
        Options::Integers,
        false,
    );
    shapes.push(Shape {
        name: "integer-options",
        form: json!({"resourceType": "Questionnaire", "status": "active", "name": "PHQ9", "item": items}),
        scored: (1..=9).map(|i| format!("phq_{i}")).collect(),
        how: Recognition::TitleAndStructure,
    });

    // German labels, weights only (verified by itemWeight 0–3).
    let items = freq_items(
        &[""; 9],
        |i| format!("phq9_q{:02}", i + 1),
        None,
        Options::GermanItemWeight,
        false,
    );
    shapes.push(Shape {
        name: "german-weights-only",
        form: json!({"resourceType": "Questionnaire", "status": "active", "language": "de",
            "title": "Gesundheitsfragebogen für Patienten (PHQ-9)", "item": items}),
        scored: (1..=9).map(|i| format!("phq9_q{i:02}")).collect(),
        how: Recognition::TitleAndStructure,
    });
    shapes
}

fn answer(shape: &Shape, answers: &[usize]) -> (Questionnaire, Response) {
    let q = Questionnaire::parse(&shape.form).unwrap_or_else(|e| panic!("{}: {e}", shape.name));
    let mut r = Response::new(&q);
    for (link, pos) in shape.scored.iter().zip(answers) {
        let item = q.item(link).unwrap();
        let path = ItemPath::of(&q, link).unwrap();
        r.set_answers(&q, &path, vec![item.options[*pos].value.clone()])
            .unwrap_or_else(|e| panic!("{}: {e}", shape.name));
    }
    (q, r)
}

fn scored(outcomes: &[ScoreOutcome], scale: &str) -> Option<Score> {
    outcomes.iter().find_map(|o| match o {
        ScoreOutcome::Scored(s) if s.scale == scale => Some((**s).clone()),
        _ => None,
    })
}

/// Item answers (0–3 each) over `n` items summing to `total`, the last item fixed.
fn spread(total: usize, n: usize, last: usize) -> Option<Vec<usize>> {
    let mut rest = total.checked_sub(last)?;
    if rest > 3 * (n - 1) {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n - 1 {
        let a = rest.min(3);
        out.push(a);
        rest -= a;
    }
    out.push(last);
    Some(out)
}

/// Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief
/// depression severity measure. J Gen Intern Med 2001;16:606–613: items 0–3
/// summed (0–27), severity cut points 5, 10, 15, 20. Item 9 (thoughts of death
/// or self-harm) above "Not at all" is CareCycle's urgent red flag in every
/// shape, alone or with any other answers; 20 or more also flags "severe".
#[test]
fn phq9_in_every_published_shape_scores_bands_and_flags_item_9() {
    let bands = [
        (0, "None or minimal"),
        (4, "None or minimal"),
        (5, "Mild"),
        (9, "Mild"),
        (10, "Moderate"),
        (14, "Moderate"),
        (15, "Moderately severe"),
        (19, "Moderately severe"),
        (20, "Severe"),
        (27, "Severe"),
    ];
    let rules = red_flags::default_rules();
    let mut cases = 0;
    let mut mismatches = Vec::new();
    for shape in phq9_shapes() {
        let q = Questionnaire::parse(&shape.form).unwrap();
        let recognised = scoring::recognise(&q);
        assert_eq!(
            recognised.map(|r| (r.instrument_id, r.recognition)),
            Some(("phq-9", shape.how)),
            "{}",
            shape.name
        );
        for (total, band) in bands {
            for item9 in 0..=3 {
                let Some(answers) = spread(total, 9, item9) else {
                    continue;
                };
                cases += 1;
                let (q, r) = answer(&shape, &answers);
                let a = scoring::assess(&q, &r);
                let s = scored(&a.outcomes, "phq-9");
                let flags = red_flags::evaluate(&rules, &q, &r, &a.outcomes, &[]);
                let urgent = flags
                    .iter()
                    .any(|f| f.rule_id == "phq9-item9" && f.urgency == Urgency::Now);
                let severe = flags.iter().any(|f| f.rule_id == "phq9-severe");
                let ok = s.as_ref().is_some_and(|s| {
                    s.value == total as f64 && s.band.as_ref().is_some_and(|b| b.label == band)
                }) && urgent == (item9 > 0)
                    && severe == (total >= 20)
                    && a.outcomes.len() == 1;
                if !ok {
                    mismatches.push(format!("{} {answers:?}: {s:?} {flags:?}", shape.name));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert_eq!(cases, 7 * 34);
}

/// Item 9 alone, in a form that carries its LOINC code inside a larger panel
/// (PHQ-9 items plus GAD-7 items, as in PHQ-SADS, LOINC 69729-2): the flag
/// follows the item's code.
#[test]
fn phq9_item_9_is_flagged_by_its_loinc_code_inside_a_larger_form() {
    let mut items = freq_items(
        &GAD7_TEXT,
        |i| format!("g{i}"),
        Some(&GAD7_LOINC),
        Options::LoincCodesOnly,
        false,
    );
    items.extend(freq_items(
        &PHQ9_TEXT,
        |i| format!("p{i}"),
        Some(&PHQ9_LOINC),
        Options::LoincCodesOnly,
        false,
    ));
    let shape = Shape {
        name: "phq-sads-like",
        form: json!({"resourceType": "Questionnaire", "status": "active", "title": "Somatic, anxiety and depressive symptoms",
            "code": [{"system": "http://loinc.org", "code": "69729-2"}], "item": items}),
        scored: (0..9).map(|i| format!("p{i}")).collect(),
        how: Recognition::LoincItems,
    };
    let rules = red_flags::default_rules();
    for item9 in 0..=3 {
        let mut answers = [0; 9];
        answers[8] = item9;
        let (q, r) = answer(&shape, &answers);
        let scores = scoring::score(&q, &r);
        let flags = red_flags::evaluate(&rules, &q, &r, &scores, &[]);
        assert_eq!(
            flags.iter().any(|f| f.rule_id == "phq9-item9"),
            item9 > 0,
            "{flags:?}"
        );
    }
}

fn gad7_shapes() -> Vec<Shape> {
    let mut items = freq_items(
        &GAD7_TEXT,
        |i| format!("gad{}", i + 1),
        None,
        Options::LocalOrdinalTranslated,
        true,
    );
    items.push(difficulty_item("gad8"));
    items.push(calculated_total("gadscore", None));
    let own = Shape {
        name: "gad7-sdc-own-linkids",
        form: json!({"resourceType": "Questionnaire", "status": "active", "title": "GAD-7 Anxiety", "item": items}),
        scored: (1..=7).map(|i| format!("gad{i}")).collect(),
        how: Recognition::TitleAndStructure,
    };
    let items = freq_items(
        &GAD7_TEXT,
        |i| format!("/{}", GAD7_LOINC[i]),
        Some(&GAD7_LOINC),
        Options::LoincOrdinalOnCoding,
        false,
    );
    let lhc = Shape {
        name: "gad7-lhc-items",
        form: json!({"resourceType": "Questionnaire", "status": "active",
            "title": "Generalized anxiety disorder 7 item (GAD-7)", "item": items}),
        scored: GAD7_LOINC.iter().map(|c| format!("/{c}")).collect(),
        how: Recognition::LoincItems,
    };
    vec![own, lhc]
}

/// Spitzer RL, Kroenke K, Williams JBW, Löwe B. A brief measure for assessing
/// generalized anxiety disorder: the GAD-7. Arch Intern Med 2006;166:1092–1097:
/// items 0–3 summed (0–21), cut points 5, 10 and 15.
#[test]
fn gad7_in_published_shapes_scores_every_band_boundary() {
    let bands = [
        (0, "Minimal"),
        (4, "Minimal"),
        (5, "Mild"),
        (9, "Mild"),
        (10, "Moderate"),
        (14, "Moderate"),
        (15, "Severe"),
        (21, "Severe"),
    ];
    let rules = red_flags::default_rules();
    let mut cases = 0;
    for shape in gad7_shapes() {
        let q = Questionnaire::parse(&shape.form).unwrap();
        assert_eq!(
            scoring::recognise(&q).map(|r| (r.instrument_id, r.recognition)),
            Some(("gad-7", shape.how)),
            "{}",
            shape.name
        );
        for (total, band) in bands {
            let answers = spread(total, 7, total.min(3)).unwrap();
            cases += 1;
            let (q, r) = answer(&shape, &answers);
            let scores = scoring::score(&q, &r);
            let s =
                scored(&scores, "gad-7").unwrap_or_else(|| panic!("{}: {scores:?}", shape.name));
            assert_eq!(s.value, total as f64, "{} {answers:?}", shape.name);
            assert_eq!(s.band.unwrap().label, band, "{} {answers:?}", shape.name);
            let flags = red_flags::evaluate(&rules, &q, &r, &scores, &[]);
            assert_eq!(
                flags.iter().any(|f| f.rule_id == "gad7-severe"),
                total >= 15
            );
        }
    }
    assert_eq!(cases, 16);
}

/// Kroenke K, Spitzer RL, Williams JBW, Löwe B. An ultra-brief screening
/// scale for anxiety and depression: the PHQ-4. Psychosomatics
/// 2009;50:613–621: items 1–2 (anxiety, the GAD-2) and 3–4 (depression, the
/// PHQ-2) scored 0–3; total 0–12 with bands 0–2 normal, 3–5 mild, 6–8
/// moderate, 9–12 severe; each subscale 3 or more is a positive screen.
#[test]
fn phq4_bands_and_subscales_kroenke_2009() {
    let texts = [GAD7_TEXT[0], GAD7_TEXT[1], PHQ9_TEXT[0], PHQ9_TEXT[1]];
    let codes = [GAD7_LOINC[0], GAD7_LOINC[1], PHQ9_LOINC[0], PHQ9_LOINC[1]];
    let own = Shape {
        name: "phq4-own-linkids",
        form: json!({"resourceType": "Questionnaire", "status": "active", "title": "PHQ-4",
            "item": freq_items(&texts, |i| format!("item{}", i + 1), None, Options::LocalOrdinalTranslated, true)}),
        scored: (1..=4).map(|i| format!("item{i}")).collect(),
        how: Recognition::TitleAndStructure,
    };
    let panel = Shape {
        name: "phq4-loinc-panel",
        form: json!({"resourceType": "Questionnaire", "status": "active", "title": "PHQ-4",
            "code": [{"system": "http://loinc.org", "code": "69724-3"}],
            "item": freq_items(&texts, |i| format!("/{}", codes[i]), Some(&codes), Options::LoincOrdinalOnCoding, false)}),
        scored: codes.iter().map(|c| format!("/{c}")).collect(),
        how: Recognition::LoincPanel,
    };
    // Depression items first, as some apps print it: the item texts name
    // each item, so the subscales still follow the items.
    let reordered = [texts[2], texts[3], texts[0], texts[1]];
    let depression_first = Shape {
        name: "phq4-depression-first",
        form: json!({"resourceType": "Questionnaire", "status": "active", "title": "Patient Health Questionnaire-4",
            "item": freq_items(&reordered, |i| format!("phq4_q{}", i + 1), None, Options::Integers, false)}),
        // Published order: anxiety (q3, q4), then depression (q1, q2).
        scored: ["phq4_q3", "phq4_q4", "phq4_q1", "phq4_q2"]
            .map(String::from)
            .to_vec(),
        how: Recognition::TitleAndStructure,
    };
    let bands = [
        ([0, 0, 0, 0], "Normal"),
        ([1, 1, 0, 0], "Normal"),
        ([2, 1, 0, 0], "Mild"),
        ([3, 1, 1, 0], "Mild"),
        ([3, 2, 1, 0], "Moderate"),
        ([3, 2, 2, 1], "Moderate"),
        ([3, 2, 2, 2], "Severe"),
        ([3, 3, 3, 3], "Severe"),
        ([0, 0, 2, 1], "Mild"),
        ([1, 1, 1, 1], "Mild"),
    ];
    let screen = |v: usize| {
        if v >= 3 {
            "Positive screen"
        } else {
            "Negative screen"
        }
    };
    for shape in [own, panel, depression_first] {
        let q = Questionnaire::parse(&shape.form).unwrap();
        assert_eq!(
            scoring::recognise(&q).map(|r| (r.instrument_id, r.recognition)),
            Some(("phq-4", shape.how)),
            "{}",
            shape.name
        );
        for (answers, band) in bands {
            let (q, r) = answer(&shape, &answers);
            let out = scoring::score(&q, &r);
            let total = scored(&out, "phq-4").unwrap();
            assert_eq!(total.value, answers.iter().sum::<usize>() as f64);
            assert_eq!(
                total.band.unwrap().label,
                band,
                "{} {answers:?}",
                shape.name
            );
            let anxiety = scored(&out, "phq-4-anxiety").unwrap();
            assert_eq!(
                anxiety.value,
                (answers[0] + answers[1]) as f64,
                "{}",
                shape.name
            );
            assert_eq!(anxiety.band.unwrap().label, screen(answers[0] + answers[1]));
            let depression = scored(&out, "phq-4-depression").unwrap();
            assert_eq!(
                depression.value,
                (answers[2] + answers[3]) as f64,
                "{}",
                shape.name
            );
            assert_eq!(
                depression.band.unwrap().label,
                screen(answers[2] + answers[3])
            );
        }
    }
}

/// PHQ-2: Kroenke K, Spitzer RL, Williams JBW. The Patient Health
/// Questionnaire-2: validity of a two-item depression screener. Med Care
/// 2003;41:1284–1292 (items 0–3 summed, 0–6; 3 or more positive). GAD-2:
/// Kroenke K, Spitzer RL, Williams JBW, Monahan PO, Löwe B. Anxiety disorders
/// in primary care. Ann Intern Med 2007;146:317–325 (same, cut point 3).
#[test]
fn phq2_and_gad2_cut_point_3() {
    let phq2_panel = Shape {
        name: "phq2-loinc-panel",
        form: json!({"resourceType": "Questionnaire", "status": "active", "title": "PHQ-2",
            "code": [{"system": "http://loinc.org", "code": "55757-9"}],
            "item": freq_items(&PHQ9_TEXT[..2], |i| format!("/{}", PHQ9_LOINC[i]), Some(&PHQ9_LOINC[..2]), Options::LoincOrdinalOnCoding, false)}),
        scored: vec!["/44250-9".into(), "/44255-8".into()],
        how: Recognition::LoincPanel,
    };
    let phq2_own = Shape {
        name: "phq2-own-linkids",
        form: json!({"resourceType": "Questionnaire", "status": "active", "title": "Depression screen (PHQ-2)",
            "item": freq_items(&PHQ9_TEXT[..2], |i| format!("d{i}"), None, Options::GermanItemWeight, false)}),
        scored: vec!["d0".into(), "d1".into()],
        how: Recognition::TitleAndStructure,
    };
    let gad2_codes = Shape {
        name: "gad2-loinc-items",
        form: json!({"resourceType": "Questionnaire", "status": "active", "title": "Anxiety screen",
            "item": freq_items(&GAD7_TEXT[..2], |i| format!("a{i}"), Some(&GAD7_LOINC[..2]), Options::LoincCodesOnly, false)}),
        scored: vec!["a0".into(), "a1".into()],
        how: Recognition::LoincItems,
    };
    let gad2_own = Shape {
        name: "gad2-own-linkids",
        form: json!({"resourceType": "Questionnaire", "status": "active", "title": "GAD-2",
            "item": freq_items(&GAD7_TEXT[..2], |i| format!("x{i}"), None, Options::LocalOrdinalTranslated, true)}),
        scored: vec!["x0".into(), "x1".into()],
        how: Recognition::TitleAndStructure,
    };
    for (shape, id) in [
        (phq2_panel, "phq-2"),
        (phq2_own, "phq-2"),
        (gad2_codes, "gad-2"),
        (gad2_own, "gad-2"),
    ] {
        let q = Questionnaire::parse(&shape.form).unwrap();
        assert_eq!(
            scoring::recognise(&q).map(|r| (r.instrument_id, r.recognition)),
            Some((id, shape.how)),
            "{}",
            shape.name
        );
        for (answers, band) in [
            ([0, 0], "Negative screen"),
            ([1, 1], "Negative screen"),
            ([2, 0], "Negative screen"),
            ([2, 1], "Positive screen"),
            ([0, 3], "Positive screen"),
            ([3, 3], "Positive screen"),
        ] {
            let (q, r) = answer(&shape, &answers);
            let s = scored(&scoring::score(&q, &r), id).unwrap();
            assert_eq!(s.value, (answers[0] + answers[1]) as f64, "{}", shape.name);
            assert_eq!(s.band.unwrap().label, band, "{} {answers:?}", shape.name);
            assert_eq!(s.max, 6.0);
        }
        let (q, r) = answer(&shape, &[1]);
        assert!(matches!(
            scoring::score(&q, &r).as_slice(),
            [ScoreOutcome::NotScorable { .. }]
        ));
    }
}

fn promis_form(coded: bool, title: &str) -> (Value, Vec<&'static str>) {
    let ep = ["Excellent", "Very good", "Good", "Fair", "Poor"];
    let cn = [
        "Completely",
        "Mostly",
        "Moderately",
        "A little",
        "Not at all",
    ];
    let na = ["Never", "Rarely", "Sometimes", "Often", "Always"];
    let fat = ["None", "Mild", "Moderate", "Severe", "Very severe"];
    // Published v1.2 order with LOINC item codes (PROMIS short form - global, 85524-7).
    let layout: [(&str, &str, &[&str]); 9] = [
        ("health", "61577-3", &ep),
        ("quality_of_life", "61578-1", &ep),
        ("physical_health", "61579-9", &ep),
        ("mental_health", "61580-7", &ep),
        ("satisfaction_social", "61581-5", &ep),
        ("social_activities", "61585-6", &ep),
        ("physical_activities", "61582-3", &cn),
        ("emotional", "61586-4", &na),
        ("fatigue", "61584-9", &fat),
    ];
    let mut items: Vec<Value> = layout
        .iter()
        .map(|(link, code, opts)| {
            let options: Vec<Value> = opts
                .iter()
                .enumerate()
                // Weights as some publishers write them (1 = worst, 5 = best
                // reading left to right): never trusted for PROMIS.
                .map(|(i, d)| {
                    json!({"valueCoding": {"code": format!("{link}-{i}"), "display": d},
                    "extension": [{"url": ORDINAL, "valueDecimal": (i + 1) as f64}]})
                })
                .collect();
            let mut item =
                json!({"linkId": link, "type": "choice", "text": link, "answerOption": options});
            if coded {
                item["code"] = json!([{"system": "http://loinc.org", "code": code}]);
            }
            item
        })
        .collect();
    let mut pain = json!({"linkId": "pain", "type": "integer", "text": "Average pain (0-10)"});
    if coded {
        pain["code"] = json!([{"system": "http://loinc.org", "code": "61583-1"}]);
    }
    items.push(pain);
    let mut form =
        json!({"resourceType": "Questionnaire", "status": "active", "title": title, "item": items});
    if coded {
        form["code"] = json!([{"system": "http://loinc.org", "code": "85524-7"}]);
    }
    let links = layout.iter().map(|(l, _, _)| *l).collect();
    (form, links)
}

/// PROMIS Global Health v1.2 scoring manual (HealthMeasures): GPH is the sum
/// of Global03, Global06, recoded Global07 and Global08r; GMH the sum of
/// Global02, Global04, Global05 and Global10r; raw 4–20 to T-score by the
/// manual's tables (raw 20: GPH 67.7, GMH 67.6; raw 4: GPH 16.2, GMH 21.2).
/// A LOINC-coded form and an uncoded one (retitled) both give the two
/// T-scores, never a summed "total".
#[test]
fn promis_global_from_outside_forms_gives_t_scores_not_a_total() {
    for (coded, title, how) in [
        (
            true,
            "PROMIS Scale v1.2 - Global Health",
            Recognition::LoincPanel,
        ),
        (
            false,
            "My global health questionnaire",
            Recognition::TitleAndStructure,
        ),
    ] {
        let (form, links) = promis_form(coded, title);
        let q = Questionnaire::parse(&form).unwrap();
        assert_eq!(
            scoring::recognise(&q).map(|r| (r.instrument_id, r.recognition)),
            Some(("promis-global-10", how))
        );
        for (position, pain, gph, gmh) in [(0, 0, 67.7, 67.6), (4, 10, 16.2, 21.2)] {
            let mut r = Response::new(&q);
            for link in &links {
                let item = q.item(link).unwrap();
                let path = ItemPath::of(&q, link).unwrap();
                r.set_answers(&q, &path, vec![item.options[position].value.clone()])
                    .unwrap();
            }
            let path = ItemPath::of(&q, "pain").unwrap();
            r.set_answers(&q, &path, vec![AnswerValue::Integer(pain)])
                .unwrap();
            let out = scoring::score(&q, &r);
            assert!(scored(&out, "total").is_none(), "{out:?}");
            let p = scored(&out, "promis-global-physical").unwrap();
            let m = scored(&out, "promis-global-mental").unwrap();
            assert_eq!((p.value, m.value), (gph, gmh), "{title}");
            assert_eq!(p.loinc.as_deref(), Some("71971-6"));
            assert_eq!(m.loinc.as_deref(), Some("71969-0"));
        }
    }
}

/// Fairbank JCT, Pynsent PB. The Oswestry Disability Index. Spine
/// 2000;25:2940–2952 and the ODI v2.1a scoring instructions: "16 / 50 × 100 =
/// 32%". An ODI whose linkIds are its publisher's own is found by its title
/// and its ten six-statement sections.
#[test]
fn odi_with_other_linkids_is_scored_from_its_structure() {
    let items: Vec<Value> = (1..=10)
        .map(|i| json!({"linkId": format!("section_{i}"), "type": "choice", "text": format!("Section {i}"),
            "answerOption": (0..6).map(|s| json!({"valueString": format!("Statement {s}")})).collect::<Vec<_>>()}))
        .collect();
    let shape = Shape {
        name: "odi-own-linkids",
        form: json!({"resourceType": "Questionnaire", "status": "active",
            "title": "Oswestry Low Back Pain Disability Questionnaire", "item": items}),
        scored: (1..=10).map(|i| format!("section_{i}")).collect(),
        how: Recognition::TitleAndStructure,
    };
    let (q, r) = answer(&shape, &[2, 2, 2, 2, 2, 2, 1, 1, 1, 1]);
    assert_eq!(
        scoring::recognise(&q).map(|r| r.recognition),
        Some(shape.how)
    );
    let s = scored(&scoring::score(&q, &r), "odi").unwrap();
    assert!((s.value - 32.0).abs() < 1e-9);
    assert_eq!(s.band.unwrap().label, "Moderate disability");
}

/// What does not match exactly is not scored as the instrument: no band and
/// no total the form does not define, whatever its title says.
#[test]
fn unverifiable_forms_get_no_band_and_no_invented_total() {
    let mut broken = Vec::new();
    // Eight items titled PHQ-9.
    broken.push(json!({"resourceType": "Questionnaire", "status": "active", "title": "PHQ-9",
        "item": freq_items(&PHQ9_TEXT[..8], |i| format!("q{i}"), None, Options::LocalOrdinalTranslated, false)}));
    // Nine items, options in the reverse order.
    let mut items = freq_items(
        &PHQ9_TEXT,
        |i| format!("q{i}"),
        None,
        Options::LocalOrdinalTranslated,
        false,
    );
    for item in &mut items {
        item["answerOption"].as_array_mut().unwrap().reverse();
    }
    broken.push(json!({"resourceType": "Questionnaire", "status": "active", "title": "PHQ-9", "item": items}));
    // Nine weighted items with an unknown language and the wrong weights.
    let mut items = freq_items(
        &[""; 9],
        |i| format!("q{i}"),
        None,
        Options::GermanItemWeight,
        false,
    );
    for item in &mut items {
        for (k, o) in item["answerOption"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .enumerate()
        {
            o["extension"][0]["valueDecimal"] = json!(k + 1);
        }
    }
    broken.push(json!({"resourceType": "Questionnaire", "status": "active", "title": "PHQ-9", "item": items}));
    for form in broken {
        let q = Questionnaire::parse(&form).unwrap();
        assert_eq!(scoring::recognise(&q), None, "{form}");
        let mut r = Response::new(&q);
        for item in &q.items {
            let path = ItemPath::of(&q, &item.link_id).unwrap();
            r.set_answers(&q, &path, vec![item.options[3].value.clone()])
                .unwrap();
        }
        assert!(scoring::score(&q, &r).is_empty());
    }
}

/// FHIR R4 (Element.modifierExtension): a reader must refuse content with a
/// modifier extension it does not understand.
#[test]
fn unknown_modifier_extensions_refuse_the_form_and_say_where() {
    let base = phq9_shapes().swap_remove(0).form;
    let modifier = json!([{"url": "http://example.org/fhir/StructureDefinition/not-for-patients", "valueBoolean": true}]);
    let mut root = base.clone();
    root["modifierExtension"] = modifier.clone();
    let e = Questionnaire::parse(&root).unwrap_err();
    assert_eq!(e.path, "Questionnaire.modifierExtension");
    assert!(e.reason.contains("not-for-patients"), "{e}");

    let mut item = base.clone();
    item["item"][8]["modifierExtension"] = modifier.clone();
    let e = Questionnaire::parse(&item).unwrap_err();
    assert_eq!(e.path, "Questionnaire.item[8].modifierExtension");

    let mut option = base;
    option["item"][0]["answerOption"][1]["modifierExtension"] = modifier;
    let e = Questionnaire::parse(&option).unwrap_err();
    assert_eq!(
        e.path,
        "Questionnaire.item[0].answerOption[1].modifierExtension"
    );
}

#[test]
fn answer_value_sets_resolve_by_id_and_by_canonical_url() {
    let shapes = phq9_shapes();
    let form = &shapes[1].form;
    for reference in [
        "#VSPHQ9",
        "http://example.org/fhir/ValueSet/phq-frequency",
        "http://example.org/fhir/ValueSet/phq-frequency|1.0.0",
    ] {
        let mut f = form.clone();
        f["item"][0]["item"][0]["answerValueSet"] = json!(reference);
        let q = Questionnaire::parse(&f).unwrap();
        let item = q.item("H1/T1/Q1").unwrap();
        assert_eq!(item.options.len(), 4, "{reference}");
        assert_eq!(item.options[3].weight, Some(3.0));
    }
    let mut f = form.clone();
    f["item"][0]["item"][0]["answerValueSet"] = json!("http://example.org/fhir/ValueSet/other");
    let e = Questionnaire::parse(&f).unwrap_err();
    assert!(e.reason.contains("neither contained"), "{e}");
}

/// SDC behaviours the engine does not carry out are listed for the team.
#[test]
fn unimplemented_sdc_extensions_are_listed_as_warnings() {
    let shapes = phq9_shapes();
    let q = Questionnaire::parse(&shapes[1].form).unwrap();
    let found: Vec<(&str, &str)> = q
        .warnings
        .iter()
        .map(|w| (w.path.as_str(), w.extension.as_str()))
        .collect();
    // The calculated total is evaluated now; the unit choice is not.
    assert_eq!(
        found,
        [(
            "Questionnaire.item[0].item[9].extension[1]",
            "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption"
        )]
    );
    let mut f = shapes[0].form.clone();
    f["extension"] = json!([{"url": "http://hl7.org/fhir/StructureDefinition/variable",
        "valueExpression": {"name": "x", "language": "text/fhirpath", "expression": "1"}}]);
    f["item"][2]["extension"] = json!([{"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression",
        "valueExpression": {"language": "text/fhirpath", "expression": "true"}},
        {"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-candidateExpression",
        "valueExpression": {"language": "text/fhirpath", "expression": "{}"}}]);
    let q = Questionnaire::parse(&f).unwrap();
    let paths: Vec<(&str, &str)> = q
        .warnings
        .iter()
        .map(|w| (w.path.as_str(), w.extension.as_str()))
        .collect();
    // variable, enableWhenExpression and calculatedExpression run; candidateExpression does not.
    assert_eq!(
        paths,
        [(
            "Questionnaire.item[2].extension[1]",
            "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-candidateExpression"
        )]
    );
    assert!(
        q.warnings
            .iter()
            .all(|w| w.message.starts_with("Not implemented"))
    );
    // The bundled forms need nothing the engine lacks.
    for (id, text) in carecycle_prom::library::ALL {
        assert!(
            Questionnaire::from_json(text).unwrap().warnings.is_empty(),
            "{id}"
        );
    }
}

/// A calculated total is shown, never asked: not a question to answer, not
/// an unanswered required question, and it cannot be answered by hand.
#[test]
fn calculated_items_are_never_asked() {
    let shapes = phq9_shapes();
    let mut form = shapes[0].form.clone();
    form["item"][10]["required"] = json!(true);
    let q = Questionnaire::parse(&form).unwrap();
    let total = q.item("score").unwrap();
    assert!(total.is_calculated() && total.read_only);
    assert_eq!(
        total.calculated_expression.as_deref(),
        Some("%resource.item.answer.value.ordinal().sum()")
    );
    let mut r = Response::new(&q);
    let e = r.evaluate(&q);
    assert_eq!(e.questions, 10, "nine items and the difficulty question");
    let path = ItemPath::of(&q, "score").unwrap();
    assert!(
        e.problems.iter().all(|p| p.path != path),
        "{:?}",
        e.problems
    );
    assert_eq!(
        r.set_answers(&q, &path, vec![AnswerValue::Integer(27)]),
        Err(AnswerError::ReadOnly("score".into()))
    );
}

fn red_flag_ext(parts: Value) -> Value {
    json!({"url": RED_FLAG, "extension": parts})
}

/// An IPU's own red-flag rules on its own items (CareCycle extension).
#[test]
fn a_form_declares_its_own_red_flags_on_its_items() {
    let wound_options: Vec<Value> = ["Dry", "A little wet", "Oozing or red"]
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({"valueCoding": {"code": format!("w{i}"), "display": d},
            "extension": [{"url": ITEM_WEIGHT, "valueDecimal": i}]})
        })
        .collect();
    let form = json!({"resourceType": "Questionnaire", "status": "active", "title": "After your knee surgery",
    "item": [
        {"linkId": "calf", "type": "boolean", "text": "Is your calf swollen, hot or painful?",
         "extension": [red_flag_ext(json!([
            {"url": "operator", "valueCode": "="}, {"url": "answer", "valueBoolean": true},
            {"url": "urgency", "valueCode": "now"},
            {"url": "title", "valueString": "Call us now"},
            {"url": "guidance", "valueString": "This can be a blood clot. Call the ward now.",
             "_valueString": {"extension": [{"url": TRANSLATION, "extension": [
                {"url": "lang", "valueCode": "es"}, {"url": "content", "valueString": "Puede ser un coágulo. Llame a la planta ahora."}]}]}},
            {"url": "teamFlag", "valueString": "Possible DVT reported"},
            {"url": "callNumber", "valueString": "+15550100"}]))]},
        {"linkId": "wound", "type": "choice", "text": "How does your wound look?",
         "answerOption": wound_options,
         "extension": [red_flag_ext(json!([
            {"url": "operator", "valueCode": ">="}, {"url": "answer", "valueInteger": 2},
            {"url": "urgency", "valueCode": "soon"},
            {"url": "guidance", "valueString": "Your care team will look at your wound."}]))]}
    ]});
    let q = Questionnaire::parse(&form).unwrap();
    let flags_for = |calf: bool, wound: usize| {
        let mut r = Response::new(&q);
        r.set_answers(
            &q,
            &ItemPath::of(&q, "calf").unwrap(),
            vec![AnswerValue::Boolean(calf)],
        )
        .unwrap();
        let w = q.item("wound").unwrap().options[wound].value.clone();
        r.set_answers(&q, &ItemPath::of(&q, "wound").unwrap(), vec![w])
            .unwrap();
        red_flags::evaluate(
            &red_flags::default_rules(),
            &q,
            &r,
            &scoring::score(&q, &r),
            &[],
        )
    };
    assert!(flags_for(false, 1).is_empty());
    let flags = flags_for(true, 2);
    assert_eq!(flags.len(), 2, "{flags:?}");
    assert_eq!(flags[0].urgency, Urgency::Now);
    assert_eq!(flags[0].team_flag, "Possible DVT reported");
    assert!(flags[0].guidance.get("es").starts_with("Puede ser"));
    assert_eq!(flags[0].call.as_ref().unwrap().number, "+15550100");
    assert_eq!(flags[1].urgency, Urgency::Soon);
    assert_eq!(flags[1].guidance.get("es"), flags[1].guidance.get("en"));
    let flags = flags_for(false, 2);
    assert_eq!(flags.len(), 1);

    // A rule that cannot be read refuses the form: a safety rule is never dropped.
    let mut bad = form.clone();
    bad["item"][1]["extension"][0]["extension"][2]["valueCode"] = json!("later");
    let e = Questionnaire::parse(&bad).unwrap_err();
    assert!(e.reason.contains("urgency"), "{e}");
    let mut bad = form.clone();
    bad["item"][0]["extension"][0]["extension"][0]["valueCode"] = json!(">");
    assert!(Questionnaire::parse(&bad).is_err());
    // A number compared with options that have no weight could never fire.
    let mut bad = form;
    bad["item"][1]["answerOption"][0]
        .as_object_mut()
        .unwrap()
        .remove("extension");
    let e = Questionnaire::parse(&bad).unwrap_err();
    assert!(e.reason.contains("weight"), "{e}");
}
