//! Scores of standard instruments, computed exactly as their publications say,
//! whichever way a public questionnaire encodes its options.
//!
//! An instrument is recognised by its canonical URL, its LOINC panel code, or
//! (for the LOINC-coded PHQ-9 and GAD-7) by carrying all its LOINC item codes.
//! An answer becomes the published item score by, in order: its code (LOINC
//! answer codes), its display text (English or Spanish), or its position among
//! the item's options when the questionnaire lists exactly the published
//! options in the published order. Weights a questionnaire puts on its options
//! are deliberately not trusted for known instruments: published forms differ
//! (PROMIS reverse-scored items are encoded both ways in the wild).
//!
//! Every score says its direction, its band in plain language and, where one is
//! published, the minimal clinically important difference (MCID), so the app
//! can tell a patient what a change means. Where a published table could not be
//! sourced (KOOS JR, HOOS JR, KOOS-PS, HOOS-PS, EQ-5D-5L index values), the
//! instrument is reported as unsupported: a table is never approximated.

use crate::model::{AnswerValue, Item, Questionnaire};
use crate::response::Response;
use serde::Serialize;

pub const LOINC: &str = "http://loinc.org";
/// CareCycle's canonical base for questionnaires that have no other canonical URL.
pub const QUESTIONNAIRE_BASE: &str = "https://carecycle.dev/fhir/Questionnaire/";

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
    /// In words, for the patient.
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
    pub words: String,
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
        let amount = format_number(difference.abs());
        let words = match (verdict, self.mcid) {
            (ChangeVerdict::AboutTheSame, Some(m)) if difference != 0.0 => format!(
                "Changed by {amount} {}: less than the {} that patients usually notice, so about the same.",
                self.unit,
                format_number(m)
            ),
            (ChangeVerdict::AboutTheSame, _) => "About the same as before.".to_owned(),
            (ChangeVerdict::Better, Some(m)) => format!(
                "Better by {amount} {}: at least the {} that patients usually notice.",
                self.unit,
                format_number(m)
            ),
            (ChangeVerdict::Worse, Some(m)) => format!(
                "Worse by {amount} {}: at least the {} that patients usually notice.",
                self.unit,
                format_number(m)
            ),
            (ChangeVerdict::Better, None) => format!(
                "Better by {amount} {} (no published threshold says how much change patients notice).",
                self.unit
            ),
            (ChangeVerdict::Worse, None) => format!(
                "Worse by {amount} {} (no published threshold says how much change patients notice).",
                self.unit
            ),
            (ChangeVerdict::Unknown, _) => format!("Changed by {difference} {}.", self.unit),
        };
        Change {
            from: earlier.value,
            to: self.value,
            difference,
            verdict,
            clinically_important: important,
            words,
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

#[derive(Debug)]
enum Answers {
    /// Published options in published order.
    Options(&'static [Opt]),
    /// Options scored by their printed position, the first scoring `first`
    /// (ODI v2.1a sections: six statements scored 0–5; EQ-5D-5L levels 1–5).
    Positional { first: f64, count: usize },
    /// A number in a range (0–10 pain, 0–100 VAS).
    Numeric { min: f64, max: f64 },
}

#[derive(Debug)]
struct ItemDef {
    /// Short name used in rules ("9" for PHQ-9 item 9, "Global07").
    name: &'static str,
    /// linkIds and LOINC item codes that identify it.
    ids: &'static [&'static str],
    answers: Answers,
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

const PHQ9_ITEMS: &[ItemDef] = &[
    ItemDef {
        name: "1",
        ids: &["44250-9", "phq9-1"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "2",
        ids: &["44255-8", "phq9-2"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "3",
        ids: &["44259-0", "phq9-3"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "4",
        ids: &["44254-1", "phq9-4"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "5",
        ids: &["44251-7", "phq9-5"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "6",
        ids: &["44258-2", "phq9-6"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "7",
        ids: &["44252-5", "phq9-7"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "8",
        ids: &["44253-3", "phq9-8"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "9",
        ids: &["44260-8", "phq9-9"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
];

const GAD7_ITEMS: &[ItemDef] = &[
    ItemDef {
        name: "1",
        ids: &["69725-0", "gad7-1"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "2",
        ids: &["68509-9", "gad7-2"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "3",
        ids: &["69733-4", "gad7-3"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "4",
        ids: &["69734-2", "gad7-4"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "5",
        ids: &["69735-9", "gad7-5"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "6",
        ids: &["69689-8", "gad7-6"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
    ItemDef {
        name: "7",
        ids: &["69736-7", "gad7-7"],
        answers: Answers::Options(FREQ_2_WEEKS),
    },
];

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

const PROMIS_GLOBAL_ITEMS: &[ItemDef] = &[
    ItemDef {
        name: "Global02",
        ids: &["global02"],
        answers: Answers::Options(EXCELLENT_POOR),
    },
    ItemDef {
        name: "Global03",
        ids: &["global03"],
        answers: Answers::Options(EXCELLENT_POOR),
    },
    ItemDef {
        name: "Global04",
        ids: &["global04"],
        answers: Answers::Options(EXCELLENT_POOR),
    },
    ItemDef {
        name: "Global05",
        ids: &["global05"],
        answers: Answers::Options(EXCELLENT_POOR),
    },
    ItemDef {
        name: "Global06",
        ids: &["global06"],
        answers: Answers::Options(COMPLETELY_NOT),
    },
    ItemDef {
        name: "Global07",
        ids: &["global07", "global07r", "global07rc"],
        answers: Answers::Numeric {
            min: 0.0,
            max: 10.0,
        },
    },
    ItemDef {
        name: "Global08",
        ids: &["global08", "global08r"],
        answers: Answers::Options(FATIGUE),
    },
    ItemDef {
        name: "Global10",
        ids: &["global10", "global10r"],
        answers: Answers::Options(NEVER_ALWAYS),
    },
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

const ODI_ITEMS: &[ItemDef] = &[
    ItemDef {
        name: "pain-intensity",
        ids: &["odi-1"],
        answers: Answers::Positional {
            first: 0.0,
            count: 6,
        },
    },
    ItemDef {
        name: "personal-care",
        ids: &["odi-2"],
        answers: Answers::Positional {
            first: 0.0,
            count: 6,
        },
    },
    ItemDef {
        name: "lifting",
        ids: &["odi-3"],
        answers: Answers::Positional {
            first: 0.0,
            count: 6,
        },
    },
    ItemDef {
        name: "walking",
        ids: &["odi-4"],
        answers: Answers::Positional {
            first: 0.0,
            count: 6,
        },
    },
    ItemDef {
        name: "sitting",
        ids: &["odi-5"],
        answers: Answers::Positional {
            first: 0.0,
            count: 6,
        },
    },
    ItemDef {
        name: "standing",
        ids: &["odi-6"],
        answers: Answers::Positional {
            first: 0.0,
            count: 6,
        },
    },
    ItemDef {
        name: "sleeping",
        ids: &["odi-7"],
        answers: Answers::Positional {
            first: 0.0,
            count: 6,
        },
    },
    ItemDef {
        name: "sex-life",
        ids: &["odi-8"],
        answers: Answers::Positional {
            first: 0.0,
            count: 6,
        },
    },
    ItemDef {
        name: "social-life",
        ids: &["odi-9"],
        answers: Answers::Positional {
            first: 0.0,
            count: 6,
        },
    },
    ItemDef {
        name: "travelling",
        ids: &["odi-10"],
        answers: Answers::Positional {
            first: 0.0,
            count: 6,
        },
    },
];

const PAIN_NRS_ITEMS: &[ItemDef] = &[ItemDef {
    name: "pain",
    ids: &["72514-3", "pain-nrs", "pain"],
    answers: Answers::Numeric {
        min: 0.0,
        max: 10.0,
    },
}];

const EQ5D_ITEMS: &[ItemDef] = &[
    ItemDef {
        name: "MO",
        ids: &["eq5d5l-mobility", "mobility", "mo"],
        answers: Answers::Positional {
            first: 1.0,
            count: 5,
        },
    },
    ItemDef {
        name: "SC",
        ids: &["eq5d5l-self-care", "self-care", "sc"],
        answers: Answers::Positional {
            first: 1.0,
            count: 5,
        },
    },
    ItemDef {
        name: "UA",
        ids: &["eq5d5l-usual-activities", "usual-activities", "ua"],
        answers: Answers::Positional {
            first: 1.0,
            count: 5,
        },
    },
    ItemDef {
        name: "PD",
        ids: &["eq5d5l-pain-discomfort", "pain-discomfort", "pd"],
        answers: Answers::Positional {
            first: 1.0,
            count: 5,
        },
    },
    ItemDef {
        name: "AD",
        ids: &["eq5d5l-anxiety-depression", "anxiety-depression", "ad"],
        answers: Answers::Positional {
            first: 1.0,
            count: 5,
        },
    },
    ItemDef {
        name: "VAS",
        ids: &["eq5d5l-vas", "vas", "eq-vas"],
        answers: Answers::Numeric {
            min: 0.0,
            max: 100.0,
        },
    },
];

/// The instruments CareCycle knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Instrument {
    Phq9,
    Gad7,
    PromisGlobal10,
    Odi,
    PainNrs,
    Eq5d5l,
    KoosJr,
    HoosJr,
    KoosPs,
    HoosPs,
}

struct Recognition {
    instrument: Instrument,
    id: &'static str,
    name: &'static str,
    urls: &'static [&'static str],
    loinc: &'static [&'static str],
    /// Words in the title or name that identify it when nothing else does.
    title_words: &'static [&'static str],
    items: &'static [ItemDef],
}

const INSTRUMENTS: &[Recognition] = &[
    Recognition {
        instrument: Instrument::Phq9,
        id: "phq-9",
        name: "PHQ-9 (depression)",
        urls: &[
            "https://carecycle.dev/fhir/Questionnaire/phq-9",
            "http://loinc.org/q/44249-1",
        ],
        loinc: &["44249-1"],
        title_words: &[],
        items: PHQ9_ITEMS,
    },
    Recognition {
        instrument: Instrument::Gad7,
        id: "gad-7",
        name: "GAD-7 (anxiety)",
        urls: &[
            "https://carecycle.dev/fhir/Questionnaire/gad-7",
            "http://loinc.org/q/69737-5",
        ],
        loinc: &["69737-5"],
        title_words: &[],
        items: GAD7_ITEMS,
    },
    Recognition {
        instrument: Instrument::PromisGlobal10,
        id: "promis-global-10",
        name: "PROMIS Global Health",
        urls: &["https://carecycle.dev/fhir/Questionnaire/promis-global-10"],
        loinc: &[],
        title_words: &["promis global health", "promis-10", "promis global-10"],
        items: PROMIS_GLOBAL_ITEMS,
    },
    Recognition {
        instrument: Instrument::Odi,
        id: "odi",
        name: "Oswestry Disability Index",
        urls: &["https://carecycle.dev/fhir/Questionnaire/odi"],
        loinc: &[],
        title_words: &["oswestry"],
        items: ODI_ITEMS,
    },
    Recognition {
        instrument: Instrument::PainNrs,
        id: "pain-nrs",
        name: "Pain rating (0–10)",
        urls: &["https://carecycle.dev/fhir/Questionnaire/pain-nrs"],
        loinc: &[],
        title_words: &[],
        items: PAIN_NRS_ITEMS,
    },
    Recognition {
        instrument: Instrument::Eq5d5l,
        id: "eq-5d-5l",
        name: "EQ-5D-5L",
        urls: &["https://carecycle.dev/fhir/Questionnaire/eq-5d-5l"],
        loinc: &[],
        title_words: &["eq-5d-5l"],
        items: EQ5D_ITEMS,
    },
    Recognition {
        instrument: Instrument::KoosJr,
        id: "koos-jr",
        name: "KOOS JR",
        urls: &["https://carecycle.dev/fhir/Questionnaire/koos-jr"],
        loinc: &[],
        title_words: &["koos jr", "koos, jr", "koos-jr"],
        items: &[],
    },
    Recognition {
        instrument: Instrument::HoosJr,
        id: "hoos-jr",
        name: "HOOS JR",
        urls: &["https://carecycle.dev/fhir/Questionnaire/hoos-jr"],
        loinc: &[],
        title_words: &["hoos jr", "hoos, jr", "hoos-jr"],
        items: &[],
    },
    Recognition {
        instrument: Instrument::KoosPs,
        id: "koos-ps",
        name: "KOOS-PS",
        urls: &["https://carecycle.dev/fhir/Questionnaire/koos-ps"],
        loinc: &[],
        title_words: &["koos-ps", "koos physical function short"],
        items: &[],
    },
    Recognition {
        instrument: Instrument::HoosPs,
        id: "hoos-ps",
        name: "HOOS-PS",
        urls: &["https://carecycle.dev/fhir/Questionnaire/hoos-ps"],
        loinc: &[],
        title_words: &["hoos-ps", "hoos physical function short"],
        items: &[],
    },
];

impl Instrument {
    /// Which known instrument a questionnaire is, if any.
    pub fn identify(q: &Questionnaire) -> Option<Instrument> {
        recognise(q).map(|r| r.instrument)
    }

    /// Stable id (`phq-9`).
    pub fn id(self) -> &'static str {
        recognition(self).id
    }
}

fn recognition(i: Instrument) -> &'static Recognition {
    INSTRUMENTS
        .iter()
        .find(|r| r.instrument == i)
        .unwrap_or(&INSTRUMENTS[0])
}

fn recognise(q: &Questionnaire) -> Option<&'static Recognition> {
    let url = q.url.as_deref().map(|u| u.split('|').next().unwrap_or(u));
    if let Some(r) = INSTRUMENTS
        .iter()
        .find(|r| url.is_some_and(|u| r.urls.contains(&u)))
    {
        return Some(r);
    }
    if let Some(r) = INSTRUMENTS
        .iter()
        .find(|r| r.loinc.iter().any(|c| q.has_code(LOINC, c)))
    {
        return Some(r);
    }
    let title = format!(
        "{} {}",
        q.title.as_deref().unwrap_or_default(),
        q.name.as_deref().unwrap_or_default()
    )
    .to_lowercase();
    if let Some(r) = INSTRUMENTS
        .iter()
        .find(|r| r.title_words.iter().any(|w| title.contains(w)))
    {
        return Some(r);
    }
    // A form that carries every LOINC item code of PHQ-9 or GAD-7 is that instrument.
    INSTRUMENTS
        .iter()
        .filter(|r| !r.loinc.is_empty())
        .find(|r| {
            r.items
                .iter()
                .all(|d| d.ids.iter().any(|id| find_item(q, id).is_some()))
        })
}

/// The questionnaire item that plays an instrument item: by linkId (LHC-Forms
/// writes `/44260-8`), case-insensitively, or by LOINC item code.
fn find_item<'q>(q: &'q Questionnaire, id: &str) -> Option<&'q Item> {
    q.walk().into_iter().map(|(i, _)| i).find(|i| {
        let link = i.link_id.rsplit('/').next().unwrap_or(&i.link_id);
        link.eq_ignore_ascii_case(id) || i.has_code(LOINC, id)
    })
}

fn item_for<'q>(q: &'q Questionnaire, def: &ItemDef) -> Option<&'q Item> {
    def.ids.iter().find_map(|id| find_item(q, id))
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

/// The item score of one named instrument item, for red-flag rules.
pub(crate) fn named_item_score(
    q: &Questionnaire,
    response: &Response,
    item_name: &str,
) -> Option<f64> {
    let r = recognise(q)?;
    let def = r
        .items
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(item_name))?;
    let item = item_for(q, def)?;
    item_score(def, item, response)
}

/// Scores every scale of the questionnaire's instrument, or a generic total.
pub fn score(q: &Questionnaire, response: &Response) -> Vec<ScoreOutcome> {
    let Some(r) = recognise(q) else {
        return generic_total(q, response).into_iter().collect();
    };
    let scores: Vec<Option<f64>> = r
        .items
        .iter()
        .map(|def| item_for(q, def).and_then(|item| item_score(def, item, response)))
        .collect();
    let base = |scale: &str, scale_name: &str| Score {
        instrument: r.id.to_owned(),
        instrument_name: r.name.to_owned(),
        scale: scale.to_owned(),
        scale_name: scale_name.to_owned(),
        value: 0.0,
        min: 0.0,
        max: 0.0,
        unit: "points".to_owned(),
        raw: None,
        standard_error: None,
        direction: Direction::HigherIsWorse,
        band: None,
        mcid: None,
        loinc: None,
        profile: None,
        rule: String::new(),
    };
    match r.instrument {
        Instrument::Phq9 => vec![sum_all(
            &scores,
            Score {
                max: 27.0,
                mcid: Some(5.0),
                loinc: Some("44261-6".into()),
                rule: "Items 1–9 summed (0–27); item 10 is not scored. Scored only when all nine are answered: \
                       no proration (Kroenke K, Spitzer RL, Williams JBW. J Gen Intern Med 2001;16:606–613). \
                       MCID 5 points (Löwe B et al. Med Care 2004;42:1194–1201)."
                    .into(),
                ..base("phq-9", "Depression symptoms (PHQ-9)")
            },
            &[
                (4.0, "None or minimal", "Few or no symptoms of depression."),
                (9.0, "Mild", "Mild symptoms of depression."),
                (14.0, "Moderate", "Moderate symptoms of depression; your care team will talk them through with you."),
                (19.0, "Moderately severe", "Moderately severe symptoms of depression; your care team will follow up."),
                (27.0, "Severe", "Severe symptoms of depression; your care team will follow up soon."),
            ],
        )],
        Instrument::Gad7 => vec![sum_all(
            &scores,
            Score {
                max: 21.0,
                mcid: Some(4.0),
                loinc: Some("70274-6".into()),
                rule: "Items 1–7 summed (0–21), scored only when all seven are answered \
                       (Spitzer RL et al. Arch Intern Med 2006;166:1092–1097). \
                       MCID 4 points (Toussaint A et al. J Affect Disord 2020;265:395–401)."
                    .into(),
                ..base("gad-7", "Anxiety symptoms (GAD-7)")
            },
            &[
                (4.0, "Minimal", "Few or no symptoms of anxiety."),
                (9.0, "Mild", "Mild symptoms of anxiety."),
                (14.0, "Moderate", "Moderate symptoms of anxiety; your care team will talk them through with you."),
                (21.0, "Severe", "Severe symptoms of anxiety; your care team will follow up soon."),
            ],
        )],
        Instrument::PromisGlobal10 => promis_global(&scores, base),
        Instrument::Odi => vec![odi(&scores, base)],
        Instrument::PainNrs => vec![match scores.first().copied().flatten() {
            None => not_scorable("pain-nrs", "Pain rating", "The pain rating was not answered."),
            Some(v) => scored(Score {
                value: v,
                max: 10.0,
                mcid: Some(2.0),
                loinc: Some("72514-3".into()),
                band: Some(band_for(
                    v,
                    &[
                        (0.0, "No pain", "You reported no pain."),
                        (3.0, "Mild pain", "Mild pain."),
                        (6.0, "Moderate pain", "Moderate pain."),
                        (10.0, "Severe pain", "Severe pain; tell your care team if it is not controlled."),
                    ],
                )),
                rule: "The single 0–10 rating as given. MCID 2 points (Farrar JT et al. Pain 2001;94:149–158). \
                       Bands 1–3 mild, 4–6 moderate, 7–10 severe (Serlin RC et al. Pain 1995;61:277–284)."
                    .into(),
                ..base("pain-nrs", "Pain (0–10)")
            }),
        }],
        Instrument::Eq5d5l => eq5d5l(&scores, base),
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

fn sum_all(scores: &[Option<f64>], template: Score, bands: &[(f64, &str, &str)]) -> ScoreOutcome {
    let missing = scores.iter().filter(|s| s.is_none()).count();
    if missing > 0 {
        return not_scorable(
            &template.scale,
            &template.scale_name,
            &format!(
                "{missing} of {} questions are not answered; this score needs all of them.",
                scores.len()
            ),
        );
    }
    let value: f64 = scores.iter().flatten().sum();
    scored(Score {
        value,
        band: Some(band_for(value, bands)),
        ..template
    })
}

fn promis_global(scores: &[Option<f64>], base: impl Fn(&str, &str) -> Score) -> Vec<ScoreOutcome> {
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
    let rule = "Sum of the four items, all required (no missing items allowed), converted with the \
                PROMIS Global Health v1.2 scoring tables (HealthMeasures scoring manual). Global07 \
                pain recoded 0→5, 1–3→4, 4–6→3, 7–9→2, 10→1. T-score 50 is the average of the US general \
                population and 10 is one standard deviation. Bands: Hays RD et al. J Gen Intern Med \
                2015;30:1511–1516. No MCID is published for these summary scores.";
    let scale = |id: &str,
                 name: &str,
                 parts: [Option<f64>; 4],
                 table: &[(f64, f64); 17],
                 cuts: [f64; 4],
                 loinc: Option<&str>| {
        if parts.iter().any(Option::is_none) {
            return not_scorable(id, name, "All four questions of this score need an answer.");
        }
        let raw: f64 = parts.iter().flatten().sum();
        let idx = (raw as usize).saturating_sub(4).min(16);
        let (t, se) = table[idx];
        let band = if t >= cuts[0] {
            ("Excellent", "Much better than average.")
        } else if t >= cuts[1] {
            ("Very good", "Better than average.")
        } else if t >= cuts[2] {
            ("Good", "About average.")
        } else if t >= cuts[3] {
            ("Fair", "Below average.")
        } else {
            (
                "Poor",
                "Well below average; your care team will talk this through with you.",
            )
        };
        scored(Score {
            value: t,
            min: table[0].0,
            max: table[16].0,
            unit: "T-score points".into(),
            raw: Some(raw),
            standard_error: Some(se),
            direction: Direction::HigherIsBetter,
            band: Some(Band {
                label: band.0.into(),
                meaning: band.1.into(),
            }),
            loinc: loinc.map(str::to_owned),
            rule: rule.into(),
            ..base(id, name)
        })
    };
    vec![
        scale(
            "promis-global-physical",
            "Physical health (PROMIS Global)",
            [get(1), get(4), pain, get(6)],
            &GPH_T,
            [58.0, 50.0, 42.0, 35.0],
            None,
        ),
        scale(
            "promis-global-mental",
            "Mental health (PROMIS Global)",
            [get(0), get(2), get(3), get(7)],
            &GMH_T,
            [56.0, 48.0, 40.0, 29.0],
            None,
        ),
    ]
}

fn odi(scores: &[Option<f64>], base: impl Fn(&str, &str) -> Score) -> ScoreOutcome {
    let answered: Vec<f64> = scores.iter().flatten().copied().collect();
    // Fairbank & Pynsent: an unanswered section is left out of the denominator.
    // Below eight answered sections CareCycle gives no score: our own
    // conservative limit, not a published rule.
    if answered.len() < 8 {
        return not_scorable(
            "odi",
            "Back-related disability (ODI)",
            &format!(
                "Only {} of 10 sections are answered; at least 8 are needed.",
                answered.len()
            ),
        );
    }
    let value = answered.iter().sum::<f64>() / (5.0 * answered.len() as f64) * 100.0;
    scored(Score {
        value,
        max: 100.0,
        unit: "%".into(),
        mcid: Some(10.0),
        band: Some(band_for(
            value,
            &[
                (20.0, "Minimal disability", "You can cope with most everyday activities."),
                (40.0, "Moderate disability", "Pain makes sitting, lifting and standing harder."),
                (60.0, "Severe disability", "Pain is a main problem in daily life."),
                (80.0, "Very severe disability", "Back pain affects every part of daily life."),
                (100.0, "Bed-bound", "You are mostly confined to bed."),
            ],
        )),
        rule: "Sum of section scores ÷ (5 × sections answered) × 100, per Fairbank JCT, Pynsent PB. \
               Spine 2000;25:2940–2952; unanswered sections leave the denominator (at least 8 of 10 answered, \
               CareCycle's limit). Bands from Fairbank 1980. MCID 10 points (Ostelo RW et al. Spine 2008;33:90–94)."
            .into(),
        ..base("odi", "Back-related disability (ODI)")
    })
}

fn eq5d5l(scores: &[Option<f64>], base: impl Fn(&str, &str) -> Score) -> Vec<ScoreOutcome> {
    let mut out = Vec::new();
    let dims = &scores[..5];
    if dims.iter().all(Option::is_some) {
        let profile: String = dims
            .iter()
            .flatten()
            .map(|l| format!("{}", *l as i64))
            .collect();
        // The profile has no single number; its sum of levels (5–25) is given only
        // so it can be charted, and is labelled as such.
        let level_sum: f64 = dims.iter().flatten().sum();
        out.push(scored(Score {
            value: level_sum,
            min: 5.0,
            max: 25.0,
            unit: "level sum".into(),
            profile: Some(profile.clone()),
            band: Some(Band {
                label: format!("Health profile {profile}"),
                meaning: "One digit per area (mobility, self-care, usual activities, pain, anxiety): 1 means no problems, 5 means extreme problems.".into(),
            }),
            rule: "EQ-5D-5L descriptive system reported as its five-digit profile (EuroQol user guide). \
                   The index value needs a country value set, which CareCycle does not ship: no index is computed."
                .into(),
            ..base("eq-5d-5l-profile", "Health profile (EQ-5D-5L)")
        }));
    } else {
        out.push(not_scorable(
            "eq-5d-5l-profile",
            "Health profile (EQ-5D-5L)",
            "All five areas need an answer.",
        ));
    }
    match scores.get(5).copied().flatten() {
        Some(vas) => out.push(scored(Score {
            value: vas,
            max: 100.0,
            direction: Direction::HigherIsBetter,
            band: Some(Band {
                label: format!("{vas:.0} out of 100"),
                meaning:
                    "How good or bad you rated your health today (100 is the best you can imagine)."
                        .into(),
            }),
            rule: "EQ VAS as marked, 0–100 (EuroQol user guide).".into(),
            ..base("eq-vas", "Health today (EQ VAS)")
        })),
        None => out.push(not_scorable(
            "eq-vas",
            "Health today (EQ VAS)",
            "The health scale was not answered.",
        )),
    }
    out
}

/// A total for a questionnaire that weights its options but is no known
/// instrument: the sum of the weights of the options chosen in enabled items.
fn generic_total(q: &Questionnaire, response: &Response) -> Option<ScoreOutcome> {
    let weighted: Vec<&Item> = q
        .walk()
        .into_iter()
        .map(|(i, _)| i)
        .filter(|i| !i.options.is_empty() && i.options.iter().all(|o| o.weight.is_some()))
        .collect();
    if weighted.is_empty() {
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
    let mut value = 0.0;
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
        value += chosen.iter().sum::<f64>();
    }
    let name = q
        .title
        .clone()
        .or_else(|| q.name.clone())
        .unwrap_or_else(|| "Questionnaire".into());
    if missing > 0 {
        return Some(ScoreOutcome::NotScorable {
            scale: "total".into(),
            scale_name: name,
            reason: format!("{missing} scored questions are not answered."),
        });
    }
    Some(scored(Score {
        instrument: q.url.clone().or_else(|| q.id.clone()).unwrap_or_default(),
        instrument_name: name.clone(),
        scale: "total".into(),
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
        rule: "Sum of the weights (ordinalValue/itemWeight) of the chosen options; every weighted question must be answered.".into(),
    }))
}
