//! Scores of standard instruments, computed exactly as their publications say,
//! whichever way a public questionnaire encodes its options.
//!
//! An instrument is recognised (see [`Recognition`]) by its canonical URL, its
//! LOINC panel code, its items' LOINC codes, or — when a form carries none of
//! these — by its title together with an exact match of its published
//! structure (number of scored questions, their options in the published
//! order). Items are then found by LOINC code or by position within that
//! verified structure; CareCycle's own linkIds count only in CareCycle's own
//! copies (recognised by their canonical URL). A form recognised by nothing
//! gets no band and no total it does not define itself.
//!
//! An answer becomes the published item score by, in order: its code (LOINC
//! answer codes), its display text (English or Spanish), or its position among
//! the item's options when the questionnaire lists exactly the published
//! options in the published order. Weights a questionnaire puts on its options
//! never become scores for known instruments: published forms differ (PROMIS
//! reverse-scored items are encoded both ways in the wild). For the PHQ and GAD
//! scales, weights 0–3 in order may only *verify* that options in an unknown
//! language are the published ones in the published order.
//!
//! Every score says its direction, its band in plain language and, where one is
//! published, the minimal clinically important difference (MCID), so the app
//! can tell a patient what a change means. Where a published table could not be
//! sourced (KOOS JR, HOOS JR, KOOS-PS, HOOS-PS, EQ-5D-5L index values), the
//! instrument is reported as unsupported: a table is never approximated.

use crate::model::{AnswerValue, Item, ItemType, Questionnaire};
use crate::response::Response;
use serde::Serialize;
use std::collections::HashSet;

pub const LOINC: &str = "http://loinc.org";
/// CareCycle's canonical base for questionnaires that have no other canonical URL.
pub use carecycle_fhir::QUESTIONNAIRE_BASE;

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    HigherIsBetter,
    HigherIsWorse,
    /// A generic total whose questionnaire does not say.
    NotStated,
}

impl Direction {
    /// In English words, for the patient (see [`crate::spanish::words`]).
    pub fn words(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "A higher score is better.",
            Direction::HigherIsWorse => "A lower score is better.",
            Direction::NotStated => {
                "This questionnaire does not say whether higher or lower is better."
            }
        }
    }
}

/// A band of a score, in plain language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Band {
    pub label: String,
    pub meaning: String,
}

/// One scored scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    pub instrument: String,
    pub instrument_name: String,
    /// Stable id of the scale (e.g. `phq-9`, `promis-global-physical`).
    pub scale: String,
    pub scale_name: String,
    pub value: f64,
    pub min: f64,
    pub max: f64,
    /// "points", "T-score", "%".
    pub unit: String,
    /// The raw sum behind a converted score (PROMIS T-scores).
    pub raw: Option<f64>,
    pub standard_error: Option<f64>,
    pub direction: Direction,
    pub band: Option<Band>,
    pub mcid: Option<f64>,
    /// LOINC code for an Observation of this score, where one exists.
    pub loinc: Option<String>,
    /// A descriptive profile instead of (or beside) a number (EQ-5D-5L "11223").
    pub profile: Option<String>,
    /// The missing-item rule applied, with its source.
    pub rule: String,
}

/// What scoring a response gave, scale by scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum ScoreOutcome {
    Scored(Box<Score>),
    /// The answers do not allow a score under the instrument's missing-item rule.
    NotScorable {
        scale: String,
        scale_name: String,
        reason: String,
    },
    /// The instrument is recognised but CareCycle cannot score it faithfully.
    Unsupported {
        instrument: String,
        instrument_name: String,
        reason: String,
    },
}

/// How a change between two scores reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub from: f64,
    pub to: f64,
    pub difference: f64,
    /// Better, worse, or about the same (within the MCID, when there is one).
    pub verdict: ChangeVerdict,
    /// Whether the change reaches the MCID (None where no MCID is published).
    pub clinically_important: Option<bool>,
    /// In English words (see [`Change::words_in`]).
    pub words: String,
    /// The scale's unit and MCID, to word the change in another language.
    #[serde(skip)]
    unit: String,
    #[serde(skip)]
    mcid: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeVerdict {
    Better,
    Worse,
    AboutTheSame,
    Unknown,
}

impl Score {
    /// The change from an earlier score of the same scale, judged against the MCID.
    pub fn change_since(&self, earlier: &Score) -> Change {
        let difference = round1(self.value - earlier.value);
        let improved = match self.direction {
            Direction::HigherIsBetter => Some(difference > 0.0),
            Direction::HigherIsWorse => Some(difference < 0.0),
            Direction::NotStated => None,
        };
        let important = self.mcid.map(|m| difference.abs() >= m);
        let verdict = match (improved, important) {
            (_, _) if difference == 0.0 => ChangeVerdict::AboutTheSame,
            (None, _) => ChangeVerdict::Unknown,
            (Some(_), Some(false)) => ChangeVerdict::AboutTheSame,
            (Some(true), _) => ChangeVerdict::Better,
            (Some(false), _) => ChangeVerdict::Worse,
        };
        let mut change = Change {
            from: earlier.value,
            to: self.value,
            difference,
            verdict,
            clinically_important: important,
            words: String::new(),
            unit: self.unit.clone(),
            mcid: self.mcid,
        };
        change.words = change.words_in("en");
        change
    }
}

impl Change {
    /// The change in words, in `language` ("en" or "es…"), judged against the
    /// MCID as [`Score::change_since`] judged it.
    pub fn words_in(&self, language: &str) -> String {
        let spanish = crate::spanish::is_spanish(language);
        let unit = crate::spanish::words(&self.unit, language);
        let amount = format_number(self.difference.abs());
        let mcid = self.mcid.map(format_number);
        let difference = self.difference;
        match (self.verdict, mcid, spanish) {
            (ChangeVerdict::AboutTheSame, Some(m), false) if difference != 0.0 => format!(
                "Changed by {amount} {unit}: less than the {m} that patients usually notice, so about the same."
            ),
            (ChangeVerdict::AboutTheSame, Some(m), true) if difference != 0.0 => format!(
                "Cambió {amount} {unit}: menos de los {m} que los pacientes suelen notar, así que está más o menos igual."
            ),
            (ChangeVerdict::AboutTheSame, _, false) => "About the same as before.".to_owned(),
            (ChangeVerdict::AboutTheSame, _, true) => "Más o menos igual que antes.".to_owned(),
            (ChangeVerdict::Better, Some(m), false) => {
                format!("Better by {amount} {unit}: at least the {m} that patients usually notice.")
            }
            (ChangeVerdict::Better, Some(m), true) => format!(
                "Mejor por {amount} {unit}: al menos los {m} que los pacientes suelen notar."
            ),
            (ChangeVerdict::Worse, Some(m), false) => {
                format!("Worse by {amount} {unit}: at least the {m} that patients usually notice.")
            }
            (ChangeVerdict::Worse, Some(m), true) => format!(
                "Peor por {amount} {unit}: al menos los {m} que los pacientes suelen notar."
            ),
            (ChangeVerdict::Better, None, false) => format!(
                "Better by {amount} {unit} (no published threshold says how much change patients notice)."
            ),
            (ChangeVerdict::Better, None, true) => format!(
                "Mejor por {amount} {unit} (ningún umbral publicado dice cuánto cambio notan los pacientes)."
            ),
            (ChangeVerdict::Worse, None, false) => format!(
                "Worse by {amount} {unit} (no published threshold says how much change patients notice)."
            ),
            (ChangeVerdict::Worse, None, true) => format!(
                "Peor por {amount} {unit} (ningún umbral publicado dice cuánto cambio notan los pacientes)."
            ),
            (ChangeVerdict::Unknown, _, false) => format!("Changed by {difference} {unit}."),
            (ChangeVerdict::Unknown, _, true) => format!("Cambió {difference} {unit}."),
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn format_number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

// ---------------------------------------------------------------------------
// Instrument definitions
// ---------------------------------------------------------------------------

/// A published response option: its item score and how forms name it.
#[derive(Debug)]
struct Opt {
    score: f64,
    codes: &'static [&'static str],
    texts: &'static [&'static str],
}

#[derive(Debug, Clone, Copy)]
enum Answers {
    /// Published options in published order.
    Options(&'static [Opt]),
    /// Options scored by their printed position, the first scoring `first`
    /// (ODI v2.1a sections: six statements scored 0–5; EQ-5D-5L levels 1–5).
    Positional { first: f64, count: usize },
    /// A number in a range (0–10 pain, 0–100 VAS).
    Numeric { min: f64, max: f64 },
}

/// One scored item of an instrument.
#[derive(Debug)]
struct ItemDef {
    /// Short name used in rules ("9" for PHQ-9 item 9, "Global07").
    name: &'static str,
    /// The item's LOINC code, where LOINC has one.
    loinc: Option<&'static str>,
    /// linkIds in CareCycle's own copies: used only for a form that is one of
    /// them (recognised by CareCycle's canonical URL), never to recognise one.
    link_ids: &'static [&'static str],
    /// Its position in the instrument's published structure.
    slot: usize,
    /// Words of the item's text (English, Spanish) that tell it apart from the
    /// instrument's other items, to check a mapping by position.
    keywords: &'static [&'static str],
    answers: Answers,
}

/// One question of an instrument's published structure, in published order.
#[derive(Debug)]
struct Slot {
    answers: Answers,
    /// Whether option weights (`ordinalValue`/`itemWeight`) or integer option
    /// values may verify the options when their labels are in an unknown
    /// language. Not for PROMIS: published forms encode it both ways.
    weights_verify: bool,
    /// The published form has it but does not score it (PHQ-9 item 10).
    optional: bool,
}

const fn slot(answers: Answers) -> Slot {
    Slot {
        answers,
        weights_verify: true,
        optional: false,
    }
}

const fn labelled_slot(answers: Answers) -> Slot {
    Slot {
        answers,
        weights_verify: false,
        optional: false,
    }
}
const FREQ_2_WEEKS: &[Opt] = &[
    Opt {
        score: 0.0,
        codes: &["LA6568-5"],
        texts: &["not at all", "ningún día", "nunca"],
    },
    Opt {
        score: 1.0,
        codes: &["LA6569-3"],
        texts: &["several days", "varios días"],
    },
    Opt {
        score: 2.0,
        codes: &["LA6570-1"],
        texts: &["more than half the days", "más de la mitad de los días"],
    },
    Opt {
        score: 3.0,
        codes: &["LA6571-9"],
        texts: &[
            "nearly every day",
            "casi todos los días",
            "casi todos los dias",
        ],
    },
];

/// PHQ-9 item 10 / GAD-7 difficulty question: on the published forms, not scored.
const DIFFICULTY: &[Opt] = &[
    Opt {
        score: 0.0,
        codes: &["LA6572-7"],
        texts: &["not difficult at all", "nada difícil", "para nada difícil"],
    },
    Opt {
        score: 1.0,
        codes: &[],
        texts: &["somewhat difficult", "un poco difícil", "algo difícil"],
    },
    Opt {
        score: 2.0,
        codes: &[],
        texts: &["very difficult", "muy difícil"],
    },
    Opt {
        score: 3.0,
        codes: &[],
        texts: &["extremely difficult", "extremadamente difícil"],
    },
];

const FREQ: Slot = slot(Answers::Options(FREQ_2_WEEKS));
const DIFFICULTY_SLOT: Slot = Slot {
    answers: Answers::Options(DIFFICULTY),
    weights_verify: true,
    optional: true,
};

// Keywords of the PHQ and GAD items (English as published by Pfizer, Spanish
// from the official translations), lower case.
const K_INTEREST: &[&str] = &["interest or pleasure", "interés o placer"];
const K_DOWN: &[&str] = &["depressed", "hopeless", "deprimid", "sin esperanza"];
const K_SLEEP: &[&str] = &["asleep", "sleeping", "dormir", "dormido"];
const K_TIRED: &[&str] = &["tired", "little energy", "cansad", "poca energía"];
const K_APPETITE: &[&str] = &["appetite", "apetito"];
const K_FAILURE: &[&str] = &["failure", "bad about yourself", "fracaso"];
const K_CONCENTRATE: &[&str] = &["concentrat"];
const K_SLOW: &[&str] = &["moving or speaking", "fidgety", "moverse o hablar"];
const K_SELF_HARM: &[&str] = &[
    "better off dead",
    "hurting yourself",
    "mejor muert",
    "hacerse daño",
    "lastimarse",
];
const K_NERVOUS: &[&str] = &["nervous", "nervios"];
const K_CONTROL_WORRY: &[&str] = &["control worrying", "dejar de preocupa", "controlar"];
const K_WORRY_TOO_MUCH: &[&str] = &[
    "worrying too much",
    "preocupándose demasiado",
    "preocuparse demasiado",
];
const K_RELAX: &[&str] = &["relax", "relajar"];
const K_RESTLESS: &[&str] = &["restless that", "hard to sit still", "inquiet"];
const K_ANNOYED: &[&str] = &["annoyed", "irritable", "molest"];
const K_AFRAID: &[&str] = &["afraid", "miedo"];

const fn freq_item(
    name: &'static str,
    loinc: &'static str,
    link_ids: &'static [&'static str],
    slot: usize,
    keywords: &'static [&'static str],
) -> ItemDef {
    ItemDef {
        name,
        loinc: Some(loinc),
        link_ids,
        slot,
        keywords,
        answers: Answers::Options(FREQ_2_WEEKS),
    }
}

// LOINC item codes: the PHQ-9 panel 44249-1 and GAD-7 panel 69737-5 as listed
// on loinc.org (and in the PHQ-SADS panel 69729-2 that contains both).
const PHQ9_ITEMS: &[ItemDef] = &[
    freq_item("1", "44250-9", &["phq9-1"], 0, K_INTEREST),
    freq_item("2", "44255-8", &["phq9-2"], 1, K_DOWN),
    freq_item("3", "44259-0", &["phq9-3"], 2, K_SLEEP),
    freq_item("4", "44254-1", &["phq9-4"], 3, K_TIRED),
    freq_item("5", "44251-7", &["phq9-5"], 4, K_APPETITE),
    freq_item("6", "44258-2", &["phq9-6"], 5, K_FAILURE),
    freq_item("7", "44252-5", &["phq9-7"], 6, K_CONCENTRATE),
    freq_item("8", "44253-3", &["phq9-8"], 7, K_SLOW),
    freq_item("9", "44260-8", &["phq9-9"], 8, K_SELF_HARM),
];
const PHQ9_STRUCTURE: &[Slot] = &[
    FREQ,
    FREQ,
    FREQ,
    FREQ,
    FREQ,
    FREQ,
    FREQ,
    FREQ,
    FREQ,
    DIFFICULTY_SLOT,
];

const GAD7_ITEMS: &[ItemDef] = &[
    freq_item("1", "69725-0", &["gad7-1"], 0, K_NERVOUS),
    freq_item("2", "68509-9", &["gad7-2"], 1, K_CONTROL_WORRY),
    freq_item("3", "69733-4", &["gad7-3"], 2, K_WORRY_TOO_MUCH),
    freq_item("4", "69734-2", &["gad7-4"], 3, K_RELAX),
    freq_item("5", "69735-9", &["gad7-5"], 4, K_RESTLESS),
    freq_item("6", "69689-8", &["gad7-6"], 5, K_ANNOYED),
    freq_item("7", "69736-7", &["gad7-7"], 6, K_AFRAID),
];
const GAD7_STRUCTURE: &[Slot] = &[FREQ, FREQ, FREQ, FREQ, FREQ, FREQ, FREQ, DIFFICULTY_SLOT];

// PHQ-2 (LOINC panel 55757-9): PHQ-9 items 1 and 2 (Kroenke 2003).
const PHQ2_ITEMS: &[ItemDef] = &[
    freq_item("1", "44250-9", &["phq2-1"], 0, K_INTEREST),
    freq_item("2", "44255-8", &["phq2-2"], 1, K_DOWN),
];
// GAD-2: GAD-7 items 1 and 2 (Kroenke 2007). No LOINC panel code could be
// verified, so it is recognised by its item codes or title and structure.
const GAD2_ITEMS: &[ItemDef] = &[
    freq_item("1", "69725-0", &["gad2-1"], 0, K_NERVOUS),
    freq_item("2", "68509-9", &["gad2-2"], 1, K_CONTROL_WORRY),
];
const TWO_FREQ: &[Slot] = &[FREQ, FREQ];
// PHQ-4 (LOINC panel 69724-3), as published (Kroenke 2009): items 1–2 are the
// GAD-2, items 3–4 the PHQ-2.
const PHQ4_ITEMS: &[ItemDef] = &[
    freq_item("1", "69725-0", &["phq4-1"], 0, K_NERVOUS),
    freq_item("2", "68509-9", &["phq4-2"], 1, K_CONTROL_WORRY),
    freq_item("3", "44250-9", &["phq4-3"], 2, K_INTEREST),
    freq_item("4", "44255-8", &["phq4-4"], 3, K_DOWN),
];
const FOUR_FREQ: &[Slot] = &[FREQ, FREQ, FREQ, FREQ];

// PROMIS Global Health v1.2, as on the HealthMeasures form. Items named with an
// "r" are already reverse-scored on that form (e.g. Global10r: Never = 5).
const EXCELLENT_POOR: &[Opt] = &[
    Opt {
        score: 5.0,
        codes: &[],
        texts: &["excellent", "excelente"],
    },
    Opt {
        score: 4.0,
        codes: &[],
        texts: &["very good", "muy buena", "muy bueno", "muy bien"],
    },
    Opt {
        score: 3.0,
        codes: &[],
        texts: &["good", "buena", "bueno", "bien"],
    },
    Opt {
        score: 2.0,
        codes: &[],
        texts: &["fair", "regular"],
    },
    Opt {
        score: 1.0,
        codes: &[],
        texts: &["poor", "mala", "malo", "mal"],
    },
];
const COMPLETELY_NOT: &[Opt] = &[
    Opt {
        score: 5.0,
        codes: &[],
        texts: &["completely", "completamente"],
    },
    Opt {
        score: 4.0,
        codes: &[],
        texts: &["mostly", "en su mayor parte", "mayormente"],
    },
    Opt {
        score: 3.0,
        codes: &[],
        texts: &["moderately", "moderadamente"],
    },
    Opt {
        score: 2.0,
        codes: &[],
        texts: &["a little", "un poco"],
    },
    Opt {
        score: 1.0,
        codes: &[],
        texts: &["not at all", "nada", "para nada"],
    },
];
const FATIGUE: &[Opt] = &[
    Opt {
        score: 5.0,
        codes: &[],
        texts: &["none", "ninguno", "ninguna", "nada"],
    },
    Opt {
        score: 4.0,
        codes: &[],
        texts: &["mild", "leve"],
    },
    Opt {
        score: 3.0,
        codes: &[],
        texts: &["moderate", "moderado", "moderada"],
    },
    Opt {
        score: 2.0,
        codes: &[],
        texts: &["severe", "severo", "severa", "intenso", "intensa"],
    },
    Opt {
        score: 1.0,
        codes: &[],
        texts: &[
            "very severe",
            "muy severo",
            "muy severa",
            "muy intenso",
            "muy intensa",
        ],
    },
];
const NEVER_ALWAYS: &[Opt] = &[
    Opt {
        score: 5.0,
        codes: &[],
        texts: &["never", "nunca"],
    },
    Opt {
        score: 4.0,
        codes: &[],
        texts: &["rarely", "casi nunca", "rara vez"],
    },
    Opt {
        score: 3.0,
        codes: &[],
        texts: &["sometimes", "a veces", "algunas veces"],
    },
    Opt {
        score: 2.0,
        codes: &[],
        texts: &["often", "a menudo", "frecuentemente", "con frecuencia"],
    },
    Opt {
        score: 1.0,
        codes: &[],
        texts: &["always", "siempre"],
    },
];

const fn promis_item(
    name: &'static str,
    loinc: &'static str,
    link_ids: &'static [&'static str],
    slot: usize,
    answers: Answers,
) -> ItemDef {
    ItemDef {
        name,
        loinc: Some(loinc),
        link_ids,
        slot,
        keywords: &[],
        answers,
    }
}

// LOINC item codes 61577-3 (Global01) … 61586-4 (Global10), as in the PROMIS
// short form - global panel 85524-7.
const PROMIS_GLOBAL_ITEMS: &[ItemDef] = &[
    promis_item(
        "Global02",
        "61578-1",
        &["global02"],
        1,
        Answers::Options(EXCELLENT_POOR),
    ),
    promis_item(
        "Global03",
        "61579-9",
        &["global03"],
        2,
        Answers::Options(EXCELLENT_POOR),
    ),
    promis_item(
        "Global04",
        "61580-7",
        &["global04"],
        3,
        Answers::Options(EXCELLENT_POOR),
    ),
    promis_item(
        "Global05",
        "61581-5",
        &["global05"],
        4,
        Answers::Options(EXCELLENT_POOR),
    ),
    promis_item(
        "Global06",
        "61582-3",
        &["global06"],
        6,
        Answers::Options(COMPLETELY_NOT),
    ),
    promis_item(
        "Global07",
        "61583-1",
        &["global07", "global07r", "global07rc"],
        9,
        Answers::Numeric {
            min: 0.0,
            max: 10.0,
        },
    ),
    promis_item(
        "Global08",
        "61584-9",
        &["global08", "global08r"],
        8,
        Answers::Options(FATIGUE),
    ),
    promis_item(
        "Global10",
        "61586-4",
        &["global10", "global10r"],
        7,
        Answers::Options(NEVER_ALWAYS),
    ),
];
/// The v1.2 form's order: Global01–05, Global09r, Global06, Global10r,
/// Global08r, Global07r. Options must match by their text: weights are not
/// trusted for PROMIS.
const PROMIS_STRUCTURE: &[Slot] = &[
    labelled_slot(Answers::Options(EXCELLENT_POOR)),
    labelled_slot(Answers::Options(EXCELLENT_POOR)),
    labelled_slot(Answers::Options(EXCELLENT_POOR)),
    labelled_slot(Answers::Options(EXCELLENT_POOR)),
    labelled_slot(Answers::Options(EXCELLENT_POOR)),
    labelled_slot(Answers::Options(EXCELLENT_POOR)),
    labelled_slot(Answers::Options(COMPLETELY_NOT)),
    labelled_slot(Answers::Options(NEVER_ALWAYS)),
    labelled_slot(Answers::Options(FATIGUE)),
    labelled_slot(Answers::Numeric {
        min: 0.0,
        max: 10.0,
    }),
];

/// PROMIS Global Health v1.2 raw score (4–20) → T-score and standard error.
/// Source: PROMIS Global Health scoring manual (HealthMeasures), conversion
/// tables for Global Physical Health and Global Mental Health (Hays RD et al.,
/// Qual Life Res 2009;18:873–880 calibration).
const GPH_T: [(f64, f64); 17] = [
    (16.2, 4.8),
    (19.9, 4.7),
    (23.5, 4.5),
    (26.7, 4.3),
    (29.6, 4.2),
    (32.4, 4.2),
    (34.9, 4.1),
    (37.4, 4.1),
    (39.8, 4.1),
    (42.3, 4.2),
    (44.9, 4.3),
    (47.7, 4.4),
    (50.8, 4.6),
    (54.1, 4.7),
    (57.7, 4.9),
    (61.9, 5.2),
    (67.7, 5.9),
];
const GMH_T: [(f64, f64); 17] = [
    (21.2, 4.6),
    (25.1, 4.1),
    (28.4, 3.9),
    (31.3, 3.7),
    (33.8, 3.7),
    (36.3, 3.7),
    (38.8, 3.6),
    (41.1, 3.6),
    (43.5, 3.6),
    (45.8, 3.6),
    (48.3, 3.7),
    (50.8, 3.7),
    (53.3, 3.7),
    (56.0, 3.8),
    (59.0, 3.9),
    (62.5, 4.2),
    (67.6, 5.3),
];

const SIX: Answers = Answers::Positional {
    first: 0.0,
    count: 6,
};

/// ODI v2.1a: ten sections of six statements, in the published order.
const ODI_ITEMS: &[ItemDef] = &[
    ItemDef {
        name: "pain-intensity",
        loinc: None,
        link_ids: &["odi-1"],
        slot: 0,
        keywords: &[],
        answers: SIX,
    },
    ItemDef {
        name: "personal-care",
        loinc: None,
        link_ids: &["odi-2"],
        slot: 1,
        keywords: &[],
        answers: SIX,
    },
    ItemDef {
        name: "lifting",
        loinc: None,
        link_ids: &["odi-3"],
        slot: 2,
        keywords: &[],
        answers: SIX,
    },
    ItemDef {
        name: "walking",
        loinc: None,
        link_ids: &["odi-4"],
        slot: 3,
        keywords: &[],
        answers: SIX,
    },
    ItemDef {
        name: "sitting",
        loinc: None,
        link_ids: &["odi-5"],
        slot: 4,
        keywords: &[],
        answers: SIX,
    },
    ItemDef {
        name: "standing",
        loinc: None,
        link_ids: &["odi-6"],
        slot: 5,
        keywords: &[],
        answers: SIX,
    },
    ItemDef {
        name: "sleeping",
        loinc: None,
        link_ids: &["odi-7"],
        slot: 6,
        keywords: &[],
        answers: SIX,
    },
    ItemDef {
        name: "sex-life",
        loinc: None,
        link_ids: &["odi-8"],
        slot: 7,
        keywords: &[],
        answers: SIX,
    },
    ItemDef {
        name: "social-life",
        loinc: None,
        link_ids: &["odi-9"],
        slot: 8,
        keywords: &[],
        answers: SIX,
    },
    ItemDef {
        name: "travelling",
        loinc: None,
        link_ids: &["odi-10"],
        slot: 9,
        keywords: &[],
        answers: SIX,
    },
];
const ODI_STRUCTURE: &[Slot] = &[
    slot(SIX),
    slot(SIX),
    slot(SIX),
    slot(SIX),
    slot(SIX),
    slot(SIX),
    slot(SIX),
    slot(SIX),
    slot(SIX),
    slot(SIX),
];

const PAIN_RANGE: Answers = Answers::Numeric {
    min: 0.0,
    max: 10.0,
};
const PAIN_NRS_ITEMS: &[ItemDef] = &[ItemDef {
    name: "pain",
    loinc: Some("72514-3"),
    link_ids: &["pain-nrs", "pain"],
    slot: 0,
    keywords: &[],
    answers: PAIN_RANGE,
}];
const PAIN_NRS_STRUCTURE: &[Slot] = &[slot(PAIN_RANGE)];

const FIVE_LEVELS: Answers = Answers::Positional {
    first: 1.0,
    count: 5,
};
const VAS: Answers = Answers::Numeric {
    min: 0.0,
    max: 100.0,
};
const EQ5D_ITEMS: &[ItemDef] = &[
    ItemDef {
        name: "MO",
        loinc: None,
        link_ids: &["eq5d5l-mobility", "mobility", "mo"],
        slot: 0,
        keywords: &[],
        answers: FIVE_LEVELS,
    },
    ItemDef {
        name: "SC",
        loinc: None,
        link_ids: &["eq5d5l-self-care", "self-care", "sc"],
        slot: 1,
        keywords: &[],
        answers: FIVE_LEVELS,
    },
    ItemDef {
        name: "UA",
        loinc: None,
        link_ids: &["eq5d5l-usual-activities", "usual-activities", "ua"],
        slot: 2,
        keywords: &[],
        answers: FIVE_LEVELS,
    },
    ItemDef {
        name: "PD",
        loinc: None,
        link_ids: &["eq5d5l-pain-discomfort", "pain-discomfort", "pd"],
        slot: 3,
        keywords: &[],
        answers: FIVE_LEVELS,
    },
    ItemDef {
        name: "AD",
        loinc: None,
        link_ids: &["eq5d5l-anxiety-depression", "anxiety-depression", "ad"],
        slot: 4,
        keywords: &[],
        answers: FIVE_LEVELS,
    },
    ItemDef {
        name: "VAS",
        loinc: None,
        link_ids: &["eq5d5l-vas", "vas", "eq-vas"],
        slot: 5,
        keywords: &[],
        answers: VAS,
    },
];
const EQ5D_STRUCTURE: &[Slot] = &[
    slot(FIVE_LEVELS),
    slot(FIVE_LEVELS),
    slot(FIVE_LEVELS),
    slot(FIVE_LEVELS),
    slot(FIVE_LEVELS),
    Slot {
        answers: VAS,
        weights_verify: true,
        optional: true,
    },
];

/// The instruments CareCycle knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Instrument {
    Phq9,
    Gad7,
    Phq2,
    Gad2,
    Phq4,
    PromisGlobal10,
    Odi,
    PainNrs,
    Eq5d5l,
    KoosJr,
    HoosJr,
    KoosPs,
    HoosPs,
}

/// How a questionnaire was recognised as a known instrument, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Recognition {
    /// `Questionnaire.url` is the instrument's canonical URL (LOINC's
    /// `http://loinc.org/q/…` or CareCycle's own copy).
    CanonicalUrl,
    /// `Questionnaire.code` carries the instrument's LOINC panel code.
    LoincPanel,
    /// The form's items carry every LOINC item code of the instrument.
    LoincItems,
    /// The title names the instrument and the questions match its published
    /// structure exactly: number of scored items, their options in the
    /// published order (by text, or by weights where weights may verify them).
    TitleAndStructure,
    /// By title only: used solely for instruments CareCycle reports as
    /// unsupported (no score, no band is ever given from a title alone).
    TitleOnly,
}

/// Which instrument a questionnaire is, and how that was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recognised {
    pub instrument: Instrument,
    /// Stable id (`phq-9`).
    pub instrument_id: &'static str,
    pub recognition: Recognition,
}

/// Scoring of a response, with what the form was scored as.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    /// None when the form is no known instrument.
    pub recognised: Option<Recognised>,
    pub outcomes: Vec<ScoreOutcome>,
    /// The form's own calculated scores (SDC `calculatedExpression` items
    /// with a number), as the form computed them, each compared with the
    /// engine's score of the same scale where the engine knows the instrument.
    pub form_scores: Vec<FormScore>,
}

/// A score the form calculates itself, shown as the form defines it. When
/// the engine scores the same scale, the two must agree; a disagreement is
/// for the care team to see (`agrees: Some(false)`), never settled silently.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FormScore {
    pub link_id: String,
    pub text: Option<String>,
    /// What the form's expression gave; None when it gave nothing.
    pub value: Option<f64>,
    /// The engine's scale it was compared with, and the engine's value.
    pub scale: Option<String>,
    pub engine_value: Option<f64>,
    /// None when there is nothing to compare (no such scale, or no value on one side).
    pub agrees: Option<bool>,
}

impl Assessment {
    /// The form's own scores that disagree with the engine's.
    pub fn disagreements(&self) -> impl Iterator<Item = &FormScore> {
        self.form_scores.iter().filter(|f| f.agrees == Some(false))
    }
}

/// How far apart two scores of one scale may be and still agree: half the
/// last place a published score is given to (T-scores to one decimal).
const AGREEMENT_TOLERANCE: f64 = 0.05;

/// The number a calculated item holds.
fn form_value(response: &Response, item: &Item) -> Option<f64> {
    response
        .answers_to(&item.link_id)
        .into_iter()
        .find_map(AnswerValue::as_number)
}

/// The form's calculated numeric items, each matched with the engine's
/// scale it scores: by the item's LOINC code for that scale, or, when the
/// form has one calculated number and the engine scores one scale, with it.
fn form_scores(
    q: &Questionnaire,
    response: &Response,
    outcomes: &[ScoreOutcome],
) -> Vec<FormScore> {
    let calculated: Vec<&Item> = q
        .walk()
        .into_iter()
        .map(|(i, _)| i)
        .filter(|i| {
            i.is_calculated()
                && matches!(
                    i.item_type,
                    ItemType::Integer | ItemType::Decimal | ItemType::Quantity
                )
        })
        .collect();
    let scales: Vec<(&str, Option<&str>, Option<f64>)> = outcomes
        .iter()
        .map(|o| match o {
            ScoreOutcome::Scored(s) => (s.scale.as_str(), s.loinc.as_deref(), Some(s.value)),
            ScoreOutcome::NotScorable { scale, .. } => (scale.as_str(), None, None),
            ScoreOutcome::Unsupported { instrument, .. } => (instrument.as_str(), None, None),
        })
        .collect();
    calculated
        .iter()
        .map(|item| {
            let value = form_value(response, item);
            let by_code = scales
                .iter()
                .find(|(_, loinc, _)| loinc.is_some_and(|l| item.has_code("http://loinc.org", l)));
            let only = (calculated.len() == 1 && scales.len() == 1 && item.codes.is_empty())
                .then(|| scales.first())
                .flatten();
            let matched = by_code.or(only);
            let engine_value = matched.and_then(|(_, _, v)| *v);
            FormScore {
                link_id: item.link_id.clone(),
                text: item.text.clone(),
                value,
                scale: matched.map(|(s, _, _)| (*s).to_owned()),
                engine_value,
                agrees: match (value, engine_value) {
                    (Some(a), Some(b)) => Some((a - b).abs() <= AGREEMENT_TOLERANCE),
                    _ => None,
                },
            }
        })
        .collect()
}

#[derive(Debug)]
struct Def {
    instrument: Instrument,
    id: &'static str,
    name: &'static str,
    urls: &'static [&'static str],
    /// LOINC panel codes.
    loinc: &'static [&'static str],
    /// LOINC codes of the instrument's own score items (a form's total-score
    /// item is not one of its questions).
    score_codes: &'static [&'static str],
    /// Names in the title, compared with the title's letters and digits only
    /// ("PHQ-9" → "phq9").
    title_words: &'static [&'static str],
    items: &'static [ItemDef],
    structure: &'static [Slot],
}

const INSTRUMENTS: &[Def] = &[
    Def {
        instrument: Instrument::Phq9,
        id: "phq-9",
        name: "PHQ-9 (depression)",
        urls: &[
            carecycle_fhir::carecycle_url!("/Questionnaire/phq-9"),
            "http://loinc.org/q/44249-1",
        ],
        loinc: &["44249-1"],
        score_codes: &["44261-6"],
        title_words: &[
            "phq9",
            "patienthealthquestionnaire9",
            "patienthealthquestionnairenine",
        ],
        items: PHQ9_ITEMS,
        structure: PHQ9_STRUCTURE,
    },
    Def {
        instrument: Instrument::Gad7,
        id: "gad-7",
        name: "GAD-7 (anxiety)",
        urls: &[
            carecycle_fhir::carecycle_url!("/Questionnaire/gad-7"),
            "http://loinc.org/q/69737-5",
        ],
        loinc: &["69737-5"],
        score_codes: &["70274-6"],
        title_words: &[
            "gad7",
            "generalizedanxietydisorder7",
            "generalisedanxietydisorder7",
        ],
        items: GAD7_ITEMS,
        structure: GAD7_STRUCTURE,
    },
    Def {
        instrument: Instrument::Phq2,
        id: "phq-2",
        name: "PHQ-2 (depression screen)",
        urls: &[
            carecycle_fhir::carecycle_url!("/Questionnaire/phq-2"),
            "http://loinc.org/q/55757-9",
        ],
        loinc: &["55757-9"],
        score_codes: &["55758-7"],
        title_words: &["phq2", "patienthealthquestionnaire2"],
        items: PHQ2_ITEMS,
        structure: TWO_FREQ,
    },
    Def {
        instrument: Instrument::Gad2,
        id: "gad-2",
        name: "GAD-2 (anxiety screen)",
        urls: &[carecycle_fhir::carecycle_url!("/Questionnaire/gad-2")],
        loinc: &[],
        score_codes: &[],
        title_words: &[
            "gad2",
            "generalizedanxietydisorder2",
            "generalisedanxietydisorder2",
        ],
        items: GAD2_ITEMS,
        structure: TWO_FREQ,
    },
    Def {
        instrument: Instrument::Phq4,
        id: "phq-4",
        name: "PHQ-4 (anxiety and depression screen)",
        urls: &[
            carecycle_fhir::carecycle_url!("/Questionnaire/phq-4"),
            "http://loinc.org/q/69724-3",
        ],
        loinc: &["69724-3"],
        score_codes: &[],
        title_words: &["phq4", "patienthealthquestionnaire4"],
        items: PHQ4_ITEMS,
        structure: FOUR_FREQ,
    },
    Def {
        instrument: Instrument::PromisGlobal10,
        id: "promis-global-10",
        name: "PROMIS Global Health",
        urls: &[
            carecycle_fhir::carecycle_url!("/Questionnaire/promis-global-10"),
            "http://loinc.org/q/85524-7",
        ],
        loinc: &["85524-7"],
        score_codes: &["71972-4", "71971-6", "71970-8", "71969-0"],
        title_words: &["promisglobal", "promis10", "globalhealth"],
        items: PROMIS_GLOBAL_ITEMS,
        structure: PROMIS_STRUCTURE,
    },
    Def {
        instrument: Instrument::Odi,
        id: "odi",
        name: "Oswestry Disability Index",
        urls: &[carecycle_fhir::carecycle_url!("/Questionnaire/odi")],
        loinc: &[],
        score_codes: &[],
        title_words: &["oswestry"],
        items: ODI_ITEMS,
        structure: ODI_STRUCTURE,
    },
    Def {
        instrument: Instrument::PainNrs,
        id: "pain-nrs",
        name: "Pain rating (0–10)",
        urls: &[carecycle_fhir::carecycle_url!("/Questionnaire/pain-nrs")],
        loinc: &[],
        score_codes: &[],
        title_words: &[],
        items: PAIN_NRS_ITEMS,
        structure: PAIN_NRS_STRUCTURE,
    },
    Def {
        instrument: Instrument::Eq5d5l,
        id: "eq-5d-5l",
        name: "EQ-5D-5L",
        urls: &[carecycle_fhir::carecycle_url!("/Questionnaire/eq-5d-5l")],
        loinc: &[],
        score_codes: &[],
        title_words: &["eq5d5l"],
        items: EQ5D_ITEMS,
        structure: EQ5D_STRUCTURE,
    },
    Def {
        instrument: Instrument::KoosJr,
        id: "koos-jr",
        name: "KOOS JR",
        urls: &[carecycle_fhir::carecycle_url!("/Questionnaire/koos-jr")],
        loinc: &[],
        score_codes: &[],
        title_words: &["koosjr"],
        items: &[],
        structure: &[],
    },
    Def {
        instrument: Instrument::HoosJr,
        id: "hoos-jr",
        name: "HOOS JR",
        urls: &[carecycle_fhir::carecycle_url!("/Questionnaire/hoos-jr")],
        loinc: &[],
        score_codes: &[],
        title_words: &["hoosjr"],
        items: &[],
        structure: &[],
    },
    Def {
        instrument: Instrument::KoosPs,
        id: "koos-ps",
        name: "KOOS-PS",
        urls: &[carecycle_fhir::carecycle_url!("/Questionnaire/koos-ps")],
        loinc: &[],
        score_codes: &[],
        title_words: &[
            "koosps",
            "kooshysicalfunctionshort",
            "koosphysicalfunctionshort",
        ],
        items: &[],
        structure: &[],
    },
    Def {
        instrument: Instrument::HoosPs,
        id: "hoos-ps",
        name: "HOOS-PS",
        urls: &[carecycle_fhir::carecycle_url!("/Questionnaire/hoos-ps")],
        loinc: &[],
        score_codes: &[],
        title_words: &["hoosps", "hoosphysicalfunctionshort"],
        items: &[],
        structure: &[],
    },
];

impl Instrument {
    /// Which known instrument a questionnaire is, if any.
    pub fn identify(q: &Questionnaire) -> Option<Instrument> {
        recognise(q).map(|r| r.instrument)
    }

    /// Stable id (`phq-9`).
    pub fn id(self) -> &'static str {
        def_of(self).map(|d| d.id).unwrap_or_default()
    }
}

fn def_of(i: Instrument) -> Option<&'static Def> {
    INSTRUMENTS.iter().find(|d| d.instrument == i)
}

/// Which known instrument a questionnaire is, and how that was established.
pub fn recognise(q: &Questionnaire) -> Option<Recognised> {
    recognise_def(q).map(|(d, how)| Recognised {
        instrument: d.instrument,
        instrument_id: d.id,
        recognition: how,
    })
}

/// Letters and digits only, lower case: "PHQ-9" and "Phq 9" both read "phq9".
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn recognise_def(q: &Questionnaire) -> Option<(&'static Def, Recognition)> {
    let url = q.url.as_deref().map(|u| u.split('|').next().unwrap_or(u));
    if let Some(d) = INSTRUMENTS
        .iter()
        .find(|d| url.is_some_and(|u| d.urls.contains(&u)))
    {
        return Some((d, Recognition::CanonicalUrl));
    }
    if let Some(d) = INSTRUMENTS
        .iter()
        .find(|d| d.loinc.iter().any(|c| q.has_code(LOINC, c)))
    {
        return Some((d, Recognition::LoincPanel));
    }
    // Every LOINC item code present (on the items' `code`). The instrument
    // with the most items wins: a PHQ-9 also carries the PHQ-2's codes.
    let items = all_items(q);
    let codes: HashSet<&str> = items
        .iter()
        .flat_map(|i| &i.codes)
        .filter(|c| c.system.as_deref().is_none_or(|s| s == LOINC))
        .filter_map(|c| c.code.as_deref())
        .collect();
    if let Some(d) = INSTRUMENTS
        .iter()
        .filter(|d| {
            !d.items.is_empty()
                && d.items
                    .iter()
                    .all(|i| i.loinc.is_some_and(|c| codes.contains(c)))
        })
        .max_by_key(|d| d.items.len())
    {
        return Some((d, Recognition::LoincItems));
    }
    let title = compact(&format!(
        "{} {}",
        q.title.as_deref().unwrap_or_default(),
        q.name.as_deref().unwrap_or_default()
    ));
    let named = |d: &&Def| d.title_words.iter().any(|w| title.contains(w));
    if let Some(d) = INSTRUMENTS
        .iter()
        .filter(named)
        .find(|d| !d.items.is_empty() && structure_match(&items, d).is_some())
    {
        return Some((d, Recognition::TitleAndStructure));
    }
    INSTRUMENTS
        .iter()
        .filter(named)
        .find(|d| d.items.is_empty())
        .map(|d| (d, Recognition::TitleOnly))
}

/// Every item at any depth, in document order.
fn all_items(q: &Questionnaire) -> Vec<&Item> {
    fn go<'q>(items: &'q [Item], out: &mut Vec<&'q Item>) {
        for item in items {
            out.push(item);
            go(&item.items, out);
        }
    }
    let mut out = Vec::new();
    go(&q.items, &mut out);
    out
}

/// The item carrying a LOINC code in `Questionnaire.item.code`.
fn item_with_code<'q>(items: &[&'q Item], code: &str) -> Option<&'q Item> {
    items.iter().copied().find(|i| i.has_code(LOINC, code))
}

/// Items that carry a LOINC code, in the code or (LHC-Forms' convention) as
/// the last segment of the linkId (`/44249-1/44260-8`).
fn items_with_code<'q>(items: &[&'q Item], code: &str) -> Vec<&'q Item> {
    items
        .iter()
        .copied()
        .filter(|i| i.has_code(LOINC, code) || i.link_id.rsplit('/').next() == Some(code))
        .collect()
}

/// The questions a form asks the patient that could be an instrument's items:
/// choices and numbers, not hidden, not calculated or read-only, and not the
/// instrument's own score items.
fn structure_candidates<'q>(items: &[&'q Item], d: &Def) -> Vec<&'q Item> {
    items
        .iter()
        .copied()
        .filter(|i| {
            matches!(
                i.item_type,
                ItemType::Choice | ItemType::OpenChoice | ItemType::Integer | ItemType::Decimal
            ) && !i.hidden
                && !i.read_only
                && !i.is_calculated()
                && !d.score_codes.iter().any(|c| i.has_code(LOINC, c))
        })
        .collect()
}

/// Whether an item's options are exactly a slot's published options.
fn fits(slot: &Slot, item: &Item) -> bool {
    match slot.answers {
        Answers::Options(published) => {
            if !matches!(
                item.item_type,
                ItemType::Choice | ItemType::OpenChoice | ItemType::Integer
            ) || item.options.len() != published.len()
            {
                return false;
            }
            let pairs = || item.options.iter().zip(published);
            let by_label = pairs().all(|(o, p)| {
                let coded = matches!(&o.value, AnswerValue::Coding(c)
                    if c.code.as_deref().is_some_and(|code| p.codes.contains(&code)));
                coded || p.texts.contains(&normalise(&o.label).as_str())
            });
            let by_weight = slot.weights_verify
                && (pairs().all(|(o, p)| o.weight == Some(p.score))
                    || pairs().all(|(o, p)| o.value.as_number() == Some(p.score)));
            by_label || by_weight
        }
        Answers::Positional { count, .. } => {
            matches!(item.item_type, ItemType::Choice | ItemType::OpenChoice)
                && item.options.len() == count
        }
        Answers::Numeric { min, max } => match item.item_type {
            ItemType::Integer | ItemType::Decimal if item.options.is_empty() => true,
            ItemType::Choice | ItemType::OpenChoice | ItemType::Integer => {
                let expected = (max - min) as usize + 1;
                item.options.len() == expected
                    && item.options.iter().enumerate().all(|(k, o)| {
                        let n = match &o.value {
                            AnswerValue::Integer(n) => Some(*n as f64),
                            AnswerValue::Coding(c) => c
                                .display
                                .as_deref()
                                .and_then(leading_number)
                                .or_else(|| c.code.as_deref().and_then(leading_number)),
                            _ => leading_number(&o.label),
                        };
                        n == Some(min + k as f64)
                    })
            }
            _ => false,
        },
    }
}

/// The form's items matched one by one, in order, to the instrument's
/// published structure (optional slots may be absent). Every candidate must be
/// used: a form with an extra or a missing question is not the instrument.
/// Where item texts name a different item of the instrument than the position
/// does, the texts decide if they identify every item; otherwise no match.
fn structure_match<'q>(items: &[&'q Item], d: &Def) -> Option<Vec<Option<&'q Item>>> {
    if d.structure.is_empty() {
        return None;
    }
    let candidates = structure_candidates(items, d);
    let mut slots: Vec<Option<&Item>> = vec![None; d.structure.len()];
    let mut next = 0;
    for (k, s) in d.structure.iter().enumerate() {
        match candidates.get(next) {
            Some(item) if fits(s, item) => {
                slots[k] = Some(item);
                next += 1;
            }
            _ if s.optional => {}
            _ => return None,
        }
    }
    if next != candidates.len() {
        return None;
    }
    // Which scored item does each text name, if exactly one?
    let named = |item: &Item| -> Option<usize> {
        let text = item.text.as_deref()?.to_lowercase();
        let mut hits = d
            .items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.keywords.iter().any(|k| text.contains(k)));
        match (hits.next(), hits.next()) {
            (Some((n, _)), None) => Some(n),
            _ => None,
        }
    };
    let disagrees = d.items.iter().enumerate().any(|(n, i)| {
        slots
            .get(i.slot)
            .copied()
            .flatten()
            .and_then(named)
            .is_some_and(|m| m != n)
    });
    if !disagrees {
        return Some(slots);
    }
    // Every scored item named by its text, each once, in slots of the same kind.
    let mut by_text: Vec<Option<&Item>> = vec![None; d.structure.len()];
    for i in d.items {
        let Some(item) = slots.get(i.slot).copied().flatten() else {
            continue;
        };
        let target = d.items.get(named(item)?)?;
        if !same_answers(i.answers, target.answers) {
            return None;
        }
        match by_text.get_mut(target.slot) {
            Some(place @ None) => *place = Some(item),
            _ => return None,
        }
    }
    Some(by_text)
}

fn same_answers(a: Answers, b: Answers) -> bool {
    match (a, b) {
        (Answers::Options(x), Answers::Options(y)) => std::ptr::eq(x, y),
        (
            Answers::Positional {
                first: f1,
                count: c1,
            },
            Answers::Positional {
                first: f2,
                count: c2,
            },
        ) => f1 == f2 && c1 == c2,
        (Answers::Numeric { min: a1, max: b1 }, Answers::Numeric { min: a2, max: b2 }) => {
            a1 == a2 && b1 == b2
        }
        _ => false,
    }
}

/// A form recognised as an instrument, with the form item that plays each
/// of the instrument's scored items (None where none could be found).
#[derive(Debug)]
struct Matched<'q> {
    def: &'static Def,
    how: Recognition,
    items: Vec<Option<&'q Item>>,
}

fn match_form(q: &Questionnaire) -> Option<Matched<'_>> {
    let (def, how) = recognise_def(q)?;
    Some(Matched {
        def,
        how,
        items: map_items(q, def, how),
    })
}

/// Finds each scored item: by its LOINC code; in CareCycle's own copies by
/// their linkIds; otherwise by its position in the verified structure; last,
/// by a LOINC code written as the linkId (LHC-Forms).
fn map_items<'q>(q: &'q Questionnaire, def: &Def, how: Recognition) -> Vec<Option<&'q Item>> {
    let ours = how == Recognition::CanonicalUrl
        && q.url
            .as_deref()
            .is_some_and(|u| u.starts_with(QUESTIONNAIRE_BASE));
    let items = all_items(q);
    let mut structure = None;
    def.items
        .iter()
        .map(|d| {
            if let Some(item) = d.loinc.and_then(|c| item_with_code(&items, c)) {
                return Some(item);
            }
            if ours
                && let Some(item) = items.iter().copied().find(|i| {
                    d.link_ids
                        .iter()
                        .any(|l| l.eq_ignore_ascii_case(&i.link_id))
                })
            {
                return Some(item);
            }
            let by_position = structure
                .get_or_insert_with(|| structure_match(&items, def))
                .as_ref()
                .and_then(|s| s.get(d.slot).copied().flatten());
            by_position.or_else(|| {
                d.loinc
                    .and_then(|c| items_with_code(&items, c).into_iter().next())
            })
        })
        .collect()
}

fn normalise(s: &str) -> String {
    s.trim()
        .trim_end_matches(['.', ':'])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The leading number of a label such as "7" or "10 - Worst pain imaginable".
fn leading_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    t[..end].parse().ok()
}

/// The published item score of the answer given to `item` (None when unanswered or unmappable).
fn item_score(def: &ItemDef, item: &Item, response: &Response) -> Option<f64> {
    let answers = response.answers_to(&item.link_id);
    let answer = answers.first()?;
    match &def.answers {
        Answers::Numeric { min, max } => {
            let n = match answer {
                AnswerValue::Integer(_) | AnswerValue::Decimal(_) | AnswerValue::Quantity(_) => {
                    answer.as_number()
                }
                AnswerValue::Coding(c) => c
                    .code
                    .as_deref()
                    .and_then(leading_number)
                    .or_else(|| c.display.as_deref().and_then(leading_number)),
                AnswerValue::String(s) => leading_number(s),
                _ => None,
            }?;
            (n >= *min && n <= *max).then_some(n)
        }
        Answers::Positional { first, count } => {
            if item.options.len() != *count {
                return None;
            }
            let pos = item.options.iter().position(|o| o.value.matches(answer))?;
            Some(first + pos as f64)
        }
        Answers::Options(published) => {
            if let AnswerValue::Coding(c) = answer
                && let Some(code) = &c.code
                && let Some(o) = published.iter().find(|o| o.codes.contains(&code.as_str()))
            {
                return Some(o.score);
            }
            let label = match answer {
                AnswerValue::Coding(c) => c
                    .display
                    .clone()
                    .or_else(|| item.option_for(answer).map(|o| o.label.clone())),
                AnswerValue::String(s) => Some(s.clone()),
                _ => item.option_for(answer).map(|o| o.label.clone()),
            };
            if let Some(label) = label {
                let label = normalise(&label);
                if let Some(o) = published
                    .iter()
                    .find(|o| o.texts.iter().any(|t| *t == label))
                {
                    return Some(o.score);
                }
            }
            if item.options.len() == published.len() {
                let pos = item.options.iter().position(|o| o.value.matches(answer))?;
                return Some(published[pos].score);
            }
            None
        }
    }
}

/// The item score of one named instrument item, for red-flag rules. The item
/// is found in a form recognised as that instrument and, following the item
/// itself, in any form that carries the item's LOINC code (PHQ-9 item 9,
/// 44260-8, inside a larger panel such as the PHQ-SADS). The highest wins.
pub(crate) fn flag_item_score(
    q: &Questionnaire,
    response: &Response,
    instrument_id: &str,
    item_name: &str,
) -> Option<f64> {
    let def = INSTRUMENTS.iter().find(|d| d.id == instrument_id)?;
    let (n, idef) = def
        .items
        .iter()
        .enumerate()
        .find(|(_, d)| d.name.eq_ignore_ascii_case(item_name))?;
    let mut found: Vec<&Item> = Vec::new();
    if let Some(m) = match_form(q)
        && m.def.id == def.id
        && let Some(item) = m.items.get(n).copied().flatten()
    {
        found.push(item);
    }
    if let Some(code) = idef.loinc {
        found.extend(items_with_code(&all_items(q), code));
    }
    found
        .into_iter()
        .filter_map(|item| item_score(idef, item, response))
        .reduce(f64::max)
}

/// Scores every scale of the questionnaire's instrument, or the total a form
/// defines itself (see [`assess`]).
pub fn score(q: &Questionnaire, response: &Response) -> Vec<ScoreOutcome> {
    assess(q, response).outcomes
}

/// Scores a response and says which instrument the form was scored as and
/// how it was recognised. A form that is no known instrument gets no band and
/// no total, except the total the form itself defines (see `generic_total`).
pub fn assess(q: &Questionnaire, response: &Response) -> Assessment {
    let Some(m) = match_form(q) else {
        let outcomes: Vec<ScoreOutcome> = generic_total(q, response).into_iter().collect();
        // Nothing to compare with: the engine does not know this instrument.
        let form_scores = form_scores(q, response, &[]);
        return Assessment {
            recognised: None,
            outcomes,
            form_scores,
        };
    };
    let scores: Vec<Option<f64>> = m
        .def
        .items
        .iter()
        .zip(&m.items)
        .map(|(d, item)| item.and_then(|i| item_score(d, i, response)))
        .collect();
    let outcomes = outcomes(m.def, &scores);
    Assessment {
        recognised: Some(Recognised {
            instrument: m.def.instrument,
            instrument_id: m.def.id,
            recognition: m.how,
        }),
        form_scores: form_scores(q, response, &outcomes),
        outcomes,
    }
}

/// Bands of a scale: (highest value in the band, label, meaning), lowest first.
type UpTo = &'static [(f64, &'static str, &'static str)];

/// How a value of a scale reads in words.
#[derive(Debug)]
enum Banding {
    /// (highest value in the band, label, meaning), lowest band first.
    UpTo(UpTo),
    /// (lowest value in the band, label, meaning), highest band first.
    From(&'static [(f64, &'static str, &'static str)]),
    /// "N out of 100", with what the scale measures.
    OutOf100(&'static str),
    /// A descriptive profile, which the label names (see [`eq5d5l`]).
    Profile(&'static str),
}

impl Banding {
    fn band(&self, value: f64) -> Band {
        let pick = |found: Option<&(f64, &str, &str)>| {
            let (_, label, meaning) = found.copied().unwrap_or((0.0, "", ""));
            Band {
                label: label.to_owned(),
                meaning: meaning.to_owned(),
            }
        };
        match self {
            Banding::UpTo(bands) => band_for(value, bands),
            Banding::From(bands) => pick(
                bands
                    .iter()
                    .find(|(lowest, _, _)| value >= *lowest)
                    .or(bands.last()),
            ),
            Banding::OutOf100(meaning) => Band {
                label: format!("{value:.0} out of 100"),
                meaning: (*meaning).to_owned(),
            },
            Banding::Profile(meaning) => Band {
                label: "Health profile".to_owned(),
                meaning: (*meaning).to_owned(),
            },
        }
    }
}

/// One scale the engine scores: everything about it but a value.
#[derive(Debug)]
struct ScaleDef {
    /// Stable id (`phq-9`, `promis-global-physical`).
    id: &'static str,
    instrument: Instrument,
    name: &'static str,
    min: f64,
    max: f64,
    unit: &'static str,
    direction: Direction,
    mcid: Option<f64>,
    /// LOINC code for an Observation of this score, where LOINC has one.
    loinc: Option<&'static str>,
    banding: Banding,
    /// The scoring rule, with its published source.
    rule: &'static str,
}

impl ScaleDef {
    /// This scale's score for `value`, with its band.
    fn score(&self, value: f64) -> Score {
        let instrument = def_of(self.instrument);
        Score {
            instrument: instrument.map(|d| d.id).unwrap_or_default().to_owned(),
            instrument_name: instrument.map(|d| d.name).unwrap_or_default().to_owned(),
            scale: self.id.to_owned(),
            scale_name: self.name.to_owned(),
            value,
            min: self.min,
            max: self.max,
            unit: self.unit.to_owned(),
            raw: None,
            standard_error: None,
            direction: self.direction,
            band: Some(self.banding.band(value)),
            mcid: self.mcid,
            loinc: self.loinc.map(str::to_owned),
            profile: None,
            rule: self.rule.to_owned(),
        }
    }

    fn not_scorable(&self, reason: &str) -> ScoreOutcome {
        not_scorable(self.id, self.name, reason)
    }
}

const SCREEN_BANDS_DEPRESSION: UpTo = &[
    (2.0, "Negative screen", "Few signs of depression."),
    (
        6.0,
        "Positive screen",
        "Possible depression; your care team will follow up with a fuller questionnaire.",
    ),
];
const SCREEN_BANDS_ANXIETY: UpTo = &[
    (2.0, "Negative screen", "Few signs of anxiety."),
    (
        6.0,
        "Positive screen",
        "Possible anxiety; your care team will follow up with a fuller questionnaire.",
    ),
];

/// A sum of items scored in points, higher is worse (the PHQ and GAD scales).
const fn points(
    id: &'static str,
    instrument: Instrument,
    name: &'static str,
    max: f64,
    bands: UpTo,
    rule: &'static str,
) -> ScaleDef {
    ScaleDef {
        id,
        instrument,
        name,
        min: 0.0,
        max,
        unit: "points",
        direction: Direction::HigherIsWorse,
        mcid: None,
        loinc: None,
        banding: Banding::UpTo(bands),
        rule,
    }
}

const PHQ9_SCALE: ScaleDef = ScaleDef {
    mcid: Some(5.0),
    loinc: Some("44261-6"),
    ..points(
        "phq-9",
        Instrument::Phq9,
        "Depression symptoms (PHQ-9)",
        27.0,
        &[
            (4.0, "None or minimal", "Few or no symptoms of depression."),
            (9.0, "Mild", "Mild symptoms of depression."),
            (
                14.0,
                "Moderate",
                "Moderate symptoms of depression; your care team will talk them through with you.",
            ),
            (
                19.0,
                "Moderately severe",
                "Moderately severe symptoms of depression; your care team will follow up.",
            ),
            (
                27.0,
                "Severe",
                "Severe symptoms of depression; your care team will follow up soon.",
            ),
        ],
        "Items 1–9 summed (0–27); item 10 is not scored. Scored only when all nine are answered: \
         no proration (Kroenke K, Spitzer RL, Williams JBW. J Gen Intern Med 2001;16:606–613). \
         MCID 5 points (Löwe B et al. Med Care 2004;42:1194–1201).",
    )
};

const GAD7_SCALE: ScaleDef = ScaleDef {
    mcid: Some(4.0),
    loinc: Some("70274-6"),
    ..points(
        "gad-7",
        Instrument::Gad7,
        "Anxiety symptoms (GAD-7)",
        21.0,
        &[
            (4.0, "Minimal", "Few or no symptoms of anxiety."),
            (9.0, "Mild", "Mild symptoms of anxiety."),
            (
                14.0,
                "Moderate",
                "Moderate symptoms of anxiety; your care team will talk them through with you.",
            ),
            (
                21.0,
                "Severe",
                "Severe symptoms of anxiety; your care team will follow up soon.",
            ),
        ],
        "Items 1–7 summed (0–21), scored only when all seven are answered \
         (Spitzer RL et al. Arch Intern Med 2006;166:1092–1097). \
         MCID 4 points (Toussaint A et al. J Affect Disord 2020;265:395–401).",
    )
};

const PHQ2_SCALE: ScaleDef = ScaleDef {
    loinc: Some("55758-7"),
    ..points(
        "phq-2",
        Instrument::Phq2,
        "Depression screen (PHQ-2)",
        6.0,
        SCREEN_BANDS_DEPRESSION,
        "Items 1 and 2 summed (0–6), scored only when both are answered. A score of 3 or more \
         is a positive screen for depression: the full PHQ-9 should follow (Kroenke K, Spitzer RL, \
         Williams JBW. Med Care 2003;41:1284–1292).",
    )
};

const GAD2_SCALE: ScaleDef = points(
    "gad-2",
    Instrument::Gad2,
    "Anxiety screen (GAD-2)",
    6.0,
    SCREEN_BANDS_ANXIETY,
    "Items 1 and 2 summed (0–6), scored only when both are answered. A score of 3 or more \
     is a positive screen for anxiety: the full GAD-7 should follow (Kroenke K, Spitzer RL, \
     Williams JBW, Monahan PO, Löwe B. Ann Intern Med 2007;146:317–325).",
);

macro_rules! phq4_source {
    () => {
        "Kroenke K, Spitzer RL, Williams JBW, Löwe B. An ultra-brief screening scale for \
         anxiety and depression: the PHQ-4. Psychosomatics 2009;50:613–621"
    };
}

const PHQ4_SCALE: ScaleDef = points(
    "phq-4",
    Instrument::Phq4,
    "Anxiety and depression (PHQ-4)",
    12.0,
    &[
        (
            2.0,
            "Normal",
            "Few or no symptoms of anxiety or depression.",
        ),
        (5.0, "Mild", "Mild symptoms of anxiety or depression."),
        (
            8.0,
            "Moderate",
            "Moderate symptoms; your care team will talk them through with you.",
        ),
        (
            12.0,
            "Severe",
            "Severe symptoms; your care team will follow up soon.",
        ),
    ],
    concat!(
        "Items 1–4 summed (0–12), scored only when all four are answered; bands 0–2 normal, \
         3–5 mild, 6–8 moderate, 9–12 severe (",
        phq4_source!(),
        ")."
    ),
);

const PHQ4_ANXIETY_SCALE: ScaleDef = points(
    "phq-4-anxiety",
    Instrument::Phq4,
    "Anxiety screen (PHQ-4 items 1–2)",
    6.0,
    SCREEN_BANDS_ANXIETY,
    concat!(
        "Anxiety subscale: items 1–2 (the GAD-2) summed (0–6); 3 or more is a positive screen (",
        phq4_source!(),
        ")."
    ),
);

const PHQ4_DEPRESSION_SCALE: ScaleDef = points(
    "phq-4-depression",
    Instrument::Phq4,
    "Depression screen (PHQ-4 items 3–4)",
    6.0,
    SCREEN_BANDS_DEPRESSION,
    concat!(
        "Depression subscale: items 3–4 (the PHQ-2) summed (0–6); 3 or more is a positive screen (",
        phq4_source!(),
        ")."
    ),
);

const PROMIS_RULE: &str = "Sum of the four items, all required (no missing items allowed), converted with the \
    PROMIS Global Health v1.2 scoring tables (HealthMeasures scoring manual). Global07 \
    pain recoded 0→5, 1–3→4, 4–6→3, 7–9→2, 10→1. T-score 50 is the average of the US general \
    population and 10 is one standard deviation. Bands: Hays RD et al. J Gen Intern Med \
    2015;30:1511–1516. No MCID is published for these summary scores.";

/// PROMIS Global Health bands from the T-score cut points (Hays 2015), highest first.
macro_rules! promis_bands {
    ($excellent:expr, $very_good:expr, $good:expr, $fair:expr) => {
        &[
            ($excellent, "Excellent", "Much better than average."),
            ($very_good, "Very good", "Better than average."),
            ($good, "Good", "About average."),
            ($fair, "Fair", "Below average."),
            (
                f64::NEG_INFINITY,
                "Poor",
                "Well below average; your care team will talk this through with you.",
            ),
        ]
    };
}

const fn t_score(
    id: &'static str,
    name: &'static str,
    table: &[(f64, f64); 17],
    bands: &'static [(f64, &'static str, &'static str)],
    loinc: &'static str,
) -> ScaleDef {
    ScaleDef {
        id,
        instrument: Instrument::PromisGlobal10,
        name,
        min: table[0].0,
        max: table[16].0,
        unit: "T-score points",
        direction: Direction::HigherIsBetter,
        mcid: None,
        loinc: Some(loinc),
        banding: Banding::From(bands),
        rule: PROMIS_RULE,
    }
}

const PROMIS_PHYSICAL_SCALE: ScaleDef = t_score(
    "promis-global-physical",
    "Physical health (PROMIS Global)",
    &GPH_T,
    promis_bands!(58.0, 50.0, 42.0, 35.0),
    "71971-6",
);

const PROMIS_MENTAL_SCALE: ScaleDef = t_score(
    "promis-global-mental",
    "Mental health (PROMIS Global)",
    &GMH_T,
    promis_bands!(56.0, 48.0, 40.0, 29.0),
    "71969-0",
);

const ODI_SCALE: ScaleDef = ScaleDef {
    id: "odi",
    instrument: Instrument::Odi,
    name: "Back-related disability (ODI)",
    min: 0.0,
    max: 100.0,
    unit: "%",
    direction: Direction::HigherIsWorse,
    mcid: Some(10.0),
    loinc: None,
    banding: Banding::UpTo(&[
        (
            20.0,
            "Minimal disability",
            "You can cope with most everyday activities.",
        ),
        (
            40.0,
            "Moderate disability",
            "Pain makes sitting, lifting and standing harder.",
        ),
        (
            60.0,
            "Severe disability",
            "Pain is a main problem in daily life.",
        ),
        (
            80.0,
            "Very severe disability",
            "Back pain affects every part of daily life.",
        ),
        (100.0, "Bed-bound", "You are mostly confined to bed."),
    ]),
    rule: "Sum of section scores ÷ (5 × sections answered) × 100, per Fairbank JCT, Pynsent PB. \
           Spine 2000;25:2940–2952; unanswered sections leave the denominator (at least 8 of 10 answered, \
           CareCycle's limit). Bands from Fairbank 1980. MCID 10 points (Ostelo RW et al. Spine 2008;33:90–94).",
};

const PAIN_NRS_SCALE: ScaleDef = ScaleDef {
    mcid: Some(2.0),
    loinc: Some("72514-3"),
    ..points(
        "pain-nrs",
        Instrument::PainNrs,
        "Pain (0–10)",
        10.0,
        &[
            (0.0, "No pain", "You reported no pain."),
            (3.0, "Mild pain", "Mild pain."),
            (6.0, "Moderate pain", "Moderate pain."),
            (
                10.0,
                "Severe pain",
                "Severe pain; tell your care team if it is not controlled.",
            ),
        ],
        "The single 0–10 rating as given. MCID 2 points (Farrar JT et al. Pain 2001;94:149–158). \
         Bands 1–3 mild, 4–6 moderate, 7–10 severe (Serlin RC et al. Pain 1995;61:277–284).",
    )
};

const EQ5D_PROFILE_SCALE: ScaleDef = ScaleDef {
    id: "eq-5d-5l-profile",
    instrument: Instrument::Eq5d5l,
    name: "Health profile (EQ-5D-5L)",
    min: 5.0,
    max: 25.0,
    unit: "level sum",
    direction: Direction::HigherIsWorse,
    mcid: None,
    loinc: None,
    banding: Banding::Profile(
        "One digit per area (mobility, self-care, usual activities, pain, anxiety): 1 means no problems, 5 means extreme problems.",
    ),
    rule: "EQ-5D-5L descriptive system reported as its five-digit profile (EuroQol user guide). \
           The index value needs a country value set, which CareCycle does not ship: no index is computed.",
};

const EQ_VAS_SCALE: ScaleDef = ScaleDef {
    id: "eq-vas",
    instrument: Instrument::Eq5d5l,
    name: "Health today (EQ VAS)",
    min: 0.0,
    max: 100.0,
    unit: "points",
    direction: Direction::HigherIsBetter,
    mcid: None,
    loinc: None,
    banding: Banding::OutOf100(
        "How good or bad you rated your health today (100 is the best you can imagine).",
    ),
    rule: "EQ VAS as marked, 0–100 (EuroQol user guide).",
};

/// Every scale the engine scores.
const SCALES: &[&ScaleDef] = &[
    &PHQ9_SCALE,
    &GAD7_SCALE,
    &PHQ2_SCALE,
    &GAD2_SCALE,
    &PHQ4_SCALE,
    &PHQ4_ANXIETY_SCALE,
    &PHQ4_DEPRESSION_SCALE,
    &PROMIS_PHYSICAL_SCALE,
    &PROMIS_MENTAL_SCALE,
    &ODI_SCALE,
    &PAIN_NRS_SCALE,
    &EQ5D_PROFILE_SCALE,
    &EQ_VAS_SCALE,
];

/// The scale id of a form's own total (its calculated score item).
pub const FORM_TOTAL: &str = "total";

/// Every score id the engine gives, with its name: the scales it scores and
/// a form's own total. These are the codes of CareCycle's score CodeSystem
/// (used where LOINC has no code for a score).
pub fn score_codes() -> Vec<(&'static str, &'static str)> {
    SCALES
        .iter()
        .map(|s| (s.id, s.name))
        .chain([(FORM_TOTAL, "The form's own total score")])
        .collect()
}

/// The score of a scale the engine knows, from its value alone (a score
/// recorded elsewhere, e.g. an Observation the server extracted): its name,
/// range, direction, MCID, LOINC code, rule and the band of that value, as
/// the engine gives them. `None` for a scale id the engine does not score
/// (a form's own total). The raw sum, standard error and EQ-5D-5L profile
/// are not in a value, so they are left out.
pub fn scale_score(scale_id: &str, value: f64) -> Option<Score> {
    SCALES
        .iter()
        .find(|s| s.id == scale_id)
        .map(|s| s.score(value))
}

fn outcomes(r: &Def, scores: &[Option<f64>]) -> Vec<ScoreOutcome> {
    match r.instrument {
        Instrument::Phq9 => vec![sum_all(scores, &PHQ9_SCALE)],
        Instrument::Gad7 => vec![sum_all(scores, &GAD7_SCALE)],
        Instrument::Phq2 => vec![sum_all(scores, &PHQ2_SCALE)],
        Instrument::Gad2 => vec![sum_all(scores, &GAD2_SCALE)],
        Instrument::Phq4 => vec![
            sum_all(scores, &PHQ4_SCALE),
            sum_all(scores.get(0..2).unwrap_or(&[]), &PHQ4_ANXIETY_SCALE),
            sum_all(scores.get(2..4).unwrap_or(&[]), &PHQ4_DEPRESSION_SCALE),
        ],
        Instrument::PromisGlobal10 => promis_global(scores),
        Instrument::Odi => vec![odi(scores)],
        Instrument::PainNrs => vec![match scores.first().copied().flatten() {
            None => PAIN_NRS_SCALE.not_scorable("The pain rating was not answered."),
            Some(v) => scored(PAIN_NRS_SCALE.score(v)),
        }],
        Instrument::Eq5d5l => eq5d5l(scores),
        Instrument::KoosJr | Instrument::HoosJr | Instrument::KoosPs | Instrument::HoosPs => {
            vec![ScoreOutcome::Unsupported {
                instrument: r.id.to_owned(),
                instrument_name: r.name.to_owned(),
                reason: format!(
                    "{} turns answers into a 0–100 interval score through a conversion table from its \
                     publication; CareCycle does not ship that table and never approximates one. \
                     The answers are kept and sent to your care team, who score them.",
                    r.name
                ),
            }]
        }
    }
}

fn scored(score: Score) -> ScoreOutcome {
    ScoreOutcome::Scored(Box::new(score))
}

fn not_scorable(scale: &str, scale_name: &str, reason: &str) -> ScoreOutcome {
    ScoreOutcome::NotScorable {
        scale: scale.to_owned(),
        scale_name: scale_name.to_owned(),
        reason: reason.to_owned(),
    }
}

fn band_for(value: f64, bands: &[(f64, &str, &str)]) -> Band {
    let (_, label, meaning) = bands
        .iter()
        .find(|(upper, _, _)| value <= *upper)
        .or(bands.last())
        .copied()
        .unwrap_or((0.0, "", ""));
    Band {
        label: label.to_owned(),
        meaning: meaning.to_owned(),
    }
}

fn sum_all(scores: &[Option<f64>], scale: &ScaleDef) -> ScoreOutcome {
    let missing = scores.iter().filter(|s| s.is_none()).count();
    if missing > 0 {
        return scale.not_scorable(&format!(
            "{missing} of {} questions are not answered; this score needs all of them.",
            scores.len()
        ));
    }
    scored(scale.score(scores.iter().flatten().sum()))
}

fn promis_global(scores: &[Option<f64>]) -> Vec<ScoreOutcome> {
    // Order in PROMIS_GLOBAL_ITEMS: 02, 03, 04, 05, 06, 07, 08, 10.
    let get = |i: usize| scores.get(i).copied().flatten();
    // Global07 (pain 0–10) is recoded before summing: 0→5, 1–3→4, 4–6→3, 7–9→2, 10→1.
    let pain = get(5).map(|p| match p as i64 {
        0 => 5.0,
        1..=3 => 4.0,
        4..=6 => 3.0,
        7..=9 => 2.0,
        _ => 1.0,
    });
    let scale = |def: &ScaleDef, parts: [Option<f64>; 4], table: &[(f64, f64); 17]| {
        if parts.iter().any(Option::is_none) {
            return def.not_scorable("All four questions of this score need an answer.");
        }
        let raw: f64 = parts.iter().flatten().sum();
        let idx = (raw as usize).saturating_sub(4).min(16);
        let (t, se) = table[idx];
        scored(Score {
            raw: Some(raw),
            standard_error: Some(se),
            ..def.score(t)
        })
    };
    vec![
        scale(
            &PROMIS_PHYSICAL_SCALE,
            [get(1), get(4), pain, get(6)],
            &GPH_T,
        ),
        scale(
            &PROMIS_MENTAL_SCALE,
            [get(0), get(2), get(3), get(7)],
            &GMH_T,
        ),
    ]
}

fn odi(scores: &[Option<f64>]) -> ScoreOutcome {
    let answered: Vec<f64> = scores.iter().flatten().copied().collect();
    // Fairbank & Pynsent: an unanswered section is left out of the denominator.
    // Below eight answered sections CareCycle gives no score: our own
    // conservative limit, not a published rule.
    if answered.len() < 8 {
        return ODI_SCALE.not_scorable(&format!(
            "Only {} of 10 sections are answered; at least 8 are needed.",
            answered.len()
        ));
    }
    let value = answered.iter().sum::<f64>() / (5.0 * answered.len() as f64) * 100.0;
    scored(ODI_SCALE.score(value))
}

fn eq5d5l(scores: &[Option<f64>]) -> Vec<ScoreOutcome> {
    let mut out = Vec::new();
    let dims = scores.get(..5).unwrap_or(&[]);
    if dims.len() == 5 && dims.iter().all(Option::is_some) {
        let profile: String = dims
            .iter()
            .flatten()
            .map(|l| format!("{}", *l as i64))
            .collect();
        // The profile has no single number; its sum of levels (5–25) is given only
        // so it can be charted, and is labelled as such.
        let mut score = EQ5D_PROFILE_SCALE.score(dims.iter().flatten().sum());
        if let Some(band) = score.band.as_mut() {
            band.label = format!("Health profile {profile}");
        }
        score.profile = Some(profile);
        out.push(scored(score));
    } else {
        out.push(EQ5D_PROFILE_SCALE.not_scorable("All five areas need an answer."));
    }
    out.push(match scores.get(5).copied().flatten() {
        Some(vas) => scored(EQ_VAS_SCALE.score(vas)),
        None => EQ_VAS_SCALE.not_scorable("The health scale was not answered."),
    });
    out
}

/// Whether an SDC calculated expression sums the form's option weights
/// (`ordinal()`, `weight()` or the `itemWeight`/`ordinalValue` extension).
fn sums_weights(expression: &str) -> bool {
    let e = expression.to_ascii_lowercase();
    e.contains("sum(")
        && ["ordinal()", "weight()", "itemweight", "ordinalvalue"]
            .iter()
            .any(|w| e.contains(w))
}

/// The total a form that is no known instrument defines itself: only when
/// every option of its weighted questions carries a weight
/// (`ordinalValue`/`itemWeight`) AND the form has a calculated item whose
/// expression sums those weights; the value is what that expression gives.
/// The range is the sum of the weights' bounds. Never a band, never a direction: the
/// form does not define them. Any other unknown form gets no number at all
/// (summing weights a form never meant to be added up would be invented).
fn generic_total(q: &Questionnaire, response: &Response) -> Option<ScoreOutcome> {
    let total_item = q
        .walk()
        .into_iter()
        .map(|(i, _)| i)
        .find(|i| i.calculated_expression.as_deref().is_some_and(sums_weights))?;
    let choices: Vec<&Item> = q
        .walk()
        .into_iter()
        .map(|(i, _)| i)
        .filter(|i| !i.options.is_empty() && !i.is_calculated())
        .collect();
    let weighted: Vec<&Item> = choices
        .iter()
        .copied()
        .filter(|i| i.options.iter().any(|o| o.weight.is_some()))
        .collect();
    if weighted.is_empty()
        || weighted
            .iter()
            .any(|i| i.options.iter().any(|o| o.weight.is_none()))
    {
        return None;
    }
    // Only what was asked counts, toward the total and toward its range.
    let weighted: Vec<&Item> = weighted
        .into_iter()
        .filter(|i| response.is_asked(&i.link_id))
        .collect();
    if weighted.is_empty() {
        return None;
    }
    let mut min = 0.0;
    let mut max = 0.0;
    let mut missing = 0;
    for item in &weighted {
        let weights = item.options.iter().filter_map(|o| o.weight);
        min += weights.clone().fold(f64::INFINITY, f64::min);
        max += weights.fold(f64::NEG_INFINITY, f64::max);
        let chosen: Vec<f64> = response
            .answers_to(&item.link_id)
            .into_iter()
            .filter_map(|a| item.option_for(a).and_then(|o| o.weight))
            .collect();
        if chosen.is_empty() {
            missing += 1;
        }
    }
    let name = q
        .title
        .clone()
        .or_else(|| q.name.clone())
        .unwrap_or_else(|| "Questionnaire".into());
    if missing > 0 {
        return Some(ScoreOutcome::NotScorable {
            scale: FORM_TOTAL.into(),
            scale_name: name,
            reason: format!("{missing} scored questions are not answered."),
        });
    }
    // The value is the form's own: its calculatedExpression, evaluated.
    let Some(value) = form_value(response, total_item) else {
        return Some(ScoreOutcome::NotScorable {
            scale: FORM_TOTAL.into(),
            scale_name: name,
            reason: "The form's own calculation gave no value.".into(),
        });
    };
    Some(scored(Score {
        instrument: q.url.clone().or_else(|| q.id.clone()).unwrap_or_default(),
        instrument_name: name.clone(),
        scale: FORM_TOTAL.into(),
        scale_name: name,
        value,
        min,
        max,
        unit: "points".into(),
        raw: None,
        standard_error: None,
        direction: Direction::NotStated,
        band: None,
        mcid: None,
        loinc: None,
        profile: None,
        rule: "The total this form defines (a calculated item summing its option weights), as the \
               form's own calculatedExpression gives it; every weighted question must be answered. \
               This form is no instrument CareCycle knows: no band is given."
            .into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word the engine gives a patient about a score has its Spanish:
    /// the names, units and directions of every scale and instrument, and the
    /// band and meaning of every value across each scale's range.
    #[test]
    fn every_word_for_the_patient_has_its_spanish() {
        let mut missing = std::collections::BTreeSet::new();
        let mut check = |english: &str| {
            if crate::spanish::words(english, "es") == english && english != "Normal" {
                missing.insert(english.to_owned());
            }
        };
        for def in INSTRUMENTS {
            if !def.name.contains(char::is_lowercase) {
                continue; // an acronym (EQ-5D-5L, KOOS JR) is the same in Spanish
            }
            check(def.name);
        }
        for scale in SCALES {
            check(scale.name);
            if scale.unit != "%" {
                check(scale.unit);
            }
            check(scale.direction.words());
            let mut value = scale.min;
            while value <= scale.max {
                let score = scale.score(value);
                if let Some(band) = &score.band {
                    check(&band.label);
                    check(&band.meaning);
                }
                value += 0.5;
            }
        }
        check(Direction::NotStated.words());
        // Why a score could not be given: every instrument with nothing answered.
        for def in INSTRUMENTS {
            for outcome in outcomes(def, &vec![None; def.items.len()]) {
                match outcome {
                    ScoreOutcome::NotScorable { reason, .. }
                    | ScoreOutcome::Unsupported { reason, .. } => check(&reason),
                    ScoreOutcome::Scored(_) => {}
                }
            }
        }
        assert!(missing.is_empty(), "no Spanish for {missing:#?}");
    }

    /// The LOINC code each scale's Observation carries is one the
    /// instrument's definition already names: a score code (loinc.org's
    /// panels list them) or, for a single-item scale, that item's code.
    #[test]
    fn every_scale_loinc_is_a_code_its_instrument_names() {
        for scale in SCALES {
            let Some(code) = scale.loinc else { continue };
            let def = def_of(scale.instrument);
            let named = def.is_some_and(|d| {
                d.score_codes.contains(&code) || d.items.iter().any(|i| i.loinc == Some(code))
            });
            assert!(named, "{}: {code}", scale.id);
        }
    }

    #[test]
    fn a_scale_reads_back_from_its_value_as_the_engine_scores_it() {
        let s = scale_score("phq-9", 12.0);
        assert_eq!(
            s.as_ref().map(|s| s.scale_name.as_str()),
            Some("Depression symptoms (PHQ-9)")
        );
        assert_eq!(
            s.as_ref()
                .and_then(|s| s.band.as_ref())
                .map(|b| b.label.as_str()),
            Some("Moderate")
        );
        assert_eq!(s.as_ref().and_then(|s| s.mcid), Some(5.0));
        let t = scale_score("promis-global-mental", 28.4);
        assert_eq!(
            t.as_ref()
                .and_then(|s| s.band.as_ref())
                .map(|b| b.label.as_str()),
            Some("Poor")
        );
        assert_eq!(t.map(|s| s.direction), Some(Direction::HigherIsBetter));
        assert!(scale_score("total", 3.0).is_none());
    }
}
