//! Red flags: answers that must reach a person now. Rules turn a response (and
//! its scores, and the patient's baseline) into an urgent result with guidance
//! for the patient and a flag for the care team. Evaluated locally, so the
//! guidance shows at once, offline. Rules are data (serde), so an IPU can set
//! its own thresholds; [`default_rules`] are CareCycle's. Rules on an
//! instrument's item follow the item (its LOINC code or its verified position),
//! not a linkId. A form can also declare rules on its own items with the
//! CareCycle `red-flag` extension; [`evaluate`] always includes those.

use crate::model::{AnswerValue, Item, ItemRedFlag, Operator, Questionnaire};
use crate::response::Response;
use crate::scoring::{self, ChangeVerdict, Score, ScoreOutcome};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Text in the languages the app ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    pub en: String,
    pub es: String,
}

impl Localized {
    pub fn get(&self, language: &str) -> &str {
        if crate::spanish::is_spanish(language) {
            &self.es
        } else {
            &self.en
        }
    }
}

/// How soon someone must act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Urgency {
    /// Act now: call the crisis line or emergency number.
    Now,
    /// The care team should contact the patient soon (same or next business day).
    Soon,
}

/// What triggers a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "camelCase")]
pub enum Trigger {
    /// One item of a known instrument scores at least this (item names as in
    /// the scoring library: PHQ-9 "9", PROMIS "Global07").
    #[serde(rename_all = "camelCase")]
    ItemAtLeast {
        instrument: String,
        item: String,
        at_least: f64,
    },
    /// A scale's score reaches a threshold.
    #[serde(rename_all = "camelCase")]
    ScoreAtLeast { scale: String, at_least: f64 },
    #[serde(rename_all = "camelCase")]
    ScoreAtMost { scale: String, at_most: f64 },
    /// A scale is worse than the patient's baseline by at least its MCID.
    #[serde(rename_all = "camelCase")]
    WorseThanBaseline { scale: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: String,
    pub trigger: Trigger,
    pub urgency: Urgency,
    /// Shown to the patient before anything else.
    pub title: Localized,
    pub guidance: Localized,
    /// Whom to call, e.g. a crisis line; shown as a call button where possible.
    pub call: Option<CallTarget>,
    /// What the care team's list says (no more PHI than the flag needs).
    pub team_flag: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallTarget {
    pub label: Localized,
    /// A dialable number (tel: URI without the scheme).
    pub number: String,
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedFlag {
    pub rule_id: String,
    pub urgency: Urgency,
    pub title: Localized,
    pub guidance: Localized,
    pub call: Option<CallTarget>,
    pub team_flag: String,
}

/// Evaluates rules against a response, its scores and the patient's baseline
/// scores (the first scores of the same scales). Most urgent first.
pub fn evaluate(
    rules: &[Rule],
    q: &Questionnaire,
    response: &Response,
    scores: &[ScoreOutcome],
    baseline: &[Score],
) -> Vec<RedFlag> {
    let scored: Vec<&Score> = scores
        .iter()
        .filter_map(|s| match s {
            ScoreOutcome::Scored(s) => Some(s.as_ref()),
            _ => None,
        })
        .collect();
    let mut out: Vec<RedFlag> = rules
        .iter()
        .filter(|rule| match &rule.trigger {
            // Follows the item: in a form recognised as the instrument (found
            // by code or verified position), and wherever its LOINC code appears.
            Trigger::ItemAtLeast {
                instrument,
                item,
                at_least,
            } => scoring::flag_item_score(q, response, instrument, item)
                .is_some_and(|s| s >= *at_least),
            Trigger::ScoreAtLeast { scale, at_least } => scored
                .iter()
                .any(|s| &s.scale == scale && s.value >= *at_least),
            Trigger::ScoreAtMost { scale, at_most } => scored
                .iter()
                .any(|s| &s.scale == scale && s.value <= *at_most),
            Trigger::WorseThanBaseline { scale } => scored.iter().any(|s| {
                &s.scale == scale
                    && s.mcid.is_some()
                    && baseline
                        .iter()
                        .find(|b| &b.scale == scale)
                        .is_some_and(|b| s.change_since(b).verdict == ChangeVerdict::Worse)
            }),
        })
        .map(|rule| RedFlag {
            rule_id: rule.id.clone(),
            urgency: rule.urgency,
            title: rule.title.clone(),
            guidance: rule.guidance.clone(),
            call: rule.call.clone(),
            team_flag: rule.team_flag.clone(),
        })
        .collect();
    out.extend(item_flags(q, response));
    out.sort_by_key(|f| f.urgency);
    out
}

/// The red flags the form declares on its own items (CareCycle extension
/// `red-flag`, see [`crate::model::ItemRedFlag`]) that the answers meet.
fn item_flags(q: &Questionnaire, response: &Response) -> Vec<RedFlag> {
    let mut out = Vec::new();
    for (item, _) in q.walk() {
        for (n, rule) in item.red_flags.iter().enumerate() {
            let answers = response.answers_to(&item.link_id);
            if item_rule_holds(item, rule, &answers) {
                out.push(RedFlag {
                    rule_id: format!("item:{}:{n}", item.link_id),
                    urgency: rule.urgency,
                    title: rule.title.clone(),
                    guidance: rule.guidance.clone(),
                    call: rule.call.clone(),
                    team_flag: rule.team_flag.clone(),
                });
            }
        }
    }
    out
}

/// Whether any answer meets the rule. A number compared with a coded answer
/// is compared with the chosen option's weight; `exists` asks whether there is
/// an answer at all; `!=` holds when an answer differs.
fn item_rule_holds(item: &Item, rule: &ItemRedFlag, answers: &[&AnswerValue]) -> bool {
    if rule.operator == Operator::Exists {
        let answered = !answers.is_empty();
        return matches!(rule.answer, AnswerValue::Boolean(b) if b == answered);
    }
    answers.iter().any(|a| {
        let weight = match (a, rule.answer.as_number()) {
            (AnswerValue::Coding(_), Some(_)) => item
                .option_for(a)
                .and_then(|o| o.weight)
                .map(AnswerValue::Decimal),
            _ => None,
        };
        let a = weight.as_ref().unwrap_or(a);
        match rule.operator {
            Operator::Equal => a.matches(&rule.answer),
            Operator::NotEqual => !a.matches(&rule.answer),
            Operator::Greater => a.compare(&rule.answer) == Some(Ordering::Greater),
            Operator::Less => a.compare(&rule.answer) == Some(Ordering::Less),
            Operator::GreaterOrEqual => {
                matches!(
                    a.compare(&rule.answer),
                    Some(Ordering::Greater | Ordering::Equal)
                )
            }
            Operator::LessOrEqual => {
                matches!(
                    a.compare(&rule.answer),
                    Some(Ordering::Less | Ordering::Equal)
                )
            }
            Operator::Exists => false,
        }
    })
}

fn text(en: &str, es: &str) -> Localized {
    Localized {
        en: en.to_owned(),
        es: es.to_owned(),
    }
}

/// The US 988 Suicide & Crisis Lifeline, named as it names itself in each
/// language; an IPU elsewhere replaces it with its own.
pub fn crisis_line() -> CallTarget {
    CallTarget {
        label: text(
            "988 Suicide & Crisis Lifeline",
            "988 Línea de Prevención del Suicidio y Crisis",
        ),
        number: "988".into(),
    }
}

/// The US emergency number.
pub fn emergency_services() -> CallTarget {
    CallTarget {
        label: text("Emergency services", "Servicios de emergencia"),
        number: "911".into(),
    }
}

/// CareCycle's default rules. The crisis line is [`crisis_line`].
pub fn default_rules() -> Vec<Rule> {
    let crisis = crisis_line();
    let soon_title = text(
        "Your care team will check in with you",
        "Su equipo de atención se comunicará con usted",
    );
    vec![
        Rule {
            id: "phq9-item9".into(),
            trigger: Trigger::ItemAtLeast {
                instrument: "phq-9".into(),
                item: "9".into(),
                at_least: 1.0,
            },
            urgency: Urgency::Now,
            title: text(
                "Please reach out for support now",
                "Por favor, busque apoyo ahora",
            ),
            guidance: text(
                "You told us you have had thoughts that you would be better off dead or of hurting yourself. \
                 You are not alone, and help is available right now. If you might act on these thoughts or are in \
                 danger, call 911 or your local emergency number. You can call or text 988 at any time, day or night, \
                 to talk with a trained counselor. Your care team will see this answer as soon as it is sent and will \
                 contact you.",
                "Usted nos dijo que ha pensado que estaría mejor muerto/a o en hacerse daño. No está solo/a y hay ayuda \
                 disponible ahora mismo. Si podría actuar según estos pensamientos o está en peligro, llame al 911 o a \
                 su número local de emergencias. Puede llamar o enviar un mensaje de texto al 988 a cualquier hora, de día \
                 o de noche, para hablar con un consejero capacitado. Su equipo de atención verá esta respuesta en cuanto \
                 se envíe y se comunicará con usted.",
            ),
            call: Some(crisis),
            team_flag: "PHQ-9 item 9 (thoughts of death or self-harm) answered above 'Not at all'"
                .into(),
        },
        Rule {
            id: "phq9-severe".into(),
            trigger: Trigger::ScoreAtLeast {
                scale: "phq-9".into(),
                at_least: 20.0,
            },
            urgency: Urgency::Soon,
            title: soon_title.clone(),
            guidance: text(
                "Your answers show severe symptoms of depression. Your care team will contact you soon. \
                 If you feel unsafe, call 911 or 988 now.",
                "Sus respuestas muestran síntomas graves de depresión. Su equipo de atención se comunicará con usted pronto. \
                 Si no se siente seguro/a, llame al 911 o al 988 ahora.",
            ),
            call: None,
            team_flag: "PHQ-9 total in the severe band (20 or more)".into(),
        },
        Rule {
            id: "gad7-severe".into(),
            trigger: Trigger::ScoreAtLeast {
                scale: "gad-7".into(),
                at_least: 15.0,
            },
            urgency: Urgency::Soon,
            title: soon_title.clone(),
            guidance: text(
                "Your answers show severe anxiety. Your care team will contact you soon.",
                "Sus respuestas muestran ansiedad grave. Su equipo de atención se comunicará con usted pronto.",
            ),
            call: None,
            team_flag: "GAD-7 total in the severe band (15 or more)".into(),
        },
        Rule {
            id: "pain-severe".into(),
            trigger: Trigger::ScoreAtLeast {
                scale: "pain-nrs".into(),
                at_least: 8.0,
            },
            urgency: Urgency::Soon,
            title: soon_title.clone(),
            guidance: text(
                "You rated your pain 8 or more out of 10. Your care team will contact you about it. If the pain comes \
                 with fever, a hot swollen leg, chest pain or trouble breathing, call 911 now.",
                "Usted calificó su dolor con 8 o más de 10. Su equipo de atención se comunicará con usted. Si el dolor \
                 viene con fiebre, una pierna caliente e hinchada, dolor en el pecho o dificultad para respirar, llame al 911 ahora.",
            ),
            call: None,
            team_flag: "Pain rated 8/10 or more".into(),
        },
        Rule {
            id: "odi-worse-than-baseline".into(),
            trigger: Trigger::WorseThanBaseline {
                scale: "odi".into(),
            },
            urgency: Urgency::Soon,
            title: soon_title,
            guidance: text(
                "Your back-related disability is clearly worse than when you started. Your care team will look at it.",
                "Su discapacidad por dolor de espalda está claramente peor que al inicio. Su equipo de atención lo revisará.",
            ),
            call: None,
            team_flag: "ODI worse than baseline by at least the MCID (10 points)".into(),
        },
    ]
}
