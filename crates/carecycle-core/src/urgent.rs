//! The urgent-symptom guard: before a message goes to the care team (who may
//! read it hours later), text that suggests an emergency brings up call-now
//! guidance first. The rules are phrases in English and Spanish, matched on
//! normalised text, with a simple negation check ("no chest pain" is not an
//! emergency). It errs on the side of showing the guidance: a false alarm
//! costs a tap, a missed one can cost much more.

use serde::Serialize;
use ts_rs::TS;

/// How soon to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Urgency {
    /// Call the emergency number (or the crisis line) now.
    Emergency,
    /// Call the care unit now rather than waiting for a reply.
    CallToday,
    /// The care team will contact the patient soon (a questionnaire's red flag).
    TeamWillContact,
}

/// What the patient is shown before sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UrgentGuidance {
    pub urgency: Urgency,
    /// What was recognised, in plain words ("chest pain").
    pub concern: String,
    pub title: String,
    pub advice: String,
    /// Numbers to call, most urgent first: (label, number).
    pub calls: Vec<(String, String)>,
}

struct Rule {
    urgency: Urgency,
    concern: &'static str,
    /// Phrases, lower-case and without accents; every word of one phrase must
    /// appear in order, with at most one word between them.
    phrases: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        urgency: Urgency::Emergency,
        concern: "thoughts of harming yourself",
        phrases: &[
            "kill myself",
            "end my life",
            "suicide",
            "suicidal",
            "hurt myself",
            "harm myself",
            "better off dead",
            "want to die",
            "matarme",
            "suicidarme",
            "quitarme la vida",
            "hacerme dano",
            "mejor muerto",
            "mejor muerta",
            "quiero morir",
        ],
    },
    Rule {
        urgency: Urgency::Emergency,
        concern: "chest pain",
        phrases: &[
            "chest pain",
            "pain in my chest",
            "chest hurts",
            "chest tight",
            "dolor de pecho",
            "dolor en el pecho",
            "me duele el pecho",
        ],
    },
    Rule {
        urgency: Urgency::Emergency,
        concern: "trouble breathing",
        phrases: &[
            "can't breathe",
            "cant breathe",
            "cannot breathe",
            "short of breath",
            "trouble breathing",
            "hard to breathe",
            "struggling to breathe",
            "no puedo respirar",
            "falta de aire",
            "me falta el aire",
            "dificultad para respirar",
        ],
    },
    Rule {
        urgency: Urgency::Emergency,
        concern: "heavy bleeding",
        phrases: &[
            "heavy bleeding",
            "bleeding heavily",
            "bleeding a lot",
            "won't stop bleeding",
            "wont stop bleeding",
            "bleeding won't stop",
            "sangrado abundante",
            "sangra mucho",
            "no para de sangrar",
        ],
    },
    Rule {
        urgency: Urgency::Emergency,
        concern: "signs of a stroke",
        phrases: &[
            "face drooping",
            "slurred speech",
            "can't move my arm",
            "cara caida",
            "no puedo hablar bien",
        ],
    },
    Rule {
        urgency: Urgency::CallToday,
        concern: "a possible blood clot in the leg",
        phrases: &[
            "calf swollen",
            "swollen calf",
            "calf pain",
            "pain in my calf",
            "dolor en la pantorrilla",
            "pantorrilla hinchada",
        ],
    },
    Rule {
        urgency: Urgency::CallToday,
        concern: "fever or a wound that may be infected",
        phrases: &[
            "fever",
            "chills",
            "wound is leaking",
            "pus",
            "wound is red",
            "wound opened",
            "fiebre",
            "escalofrios",
            "la herida supura",
            "herida abierta",
        ],
    },
];

const NEGATIONS: [&str; 6] = ["no", "not", "without", "never", "sin", "nunca"];

/// Lower case, accents removed, punctuation as spaces (apostrophes kept).
fn normalise(text: &str) -> Vec<String> {
    let folded: String = text
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            '’' => '\'',
            c if c.is_alphanumeric() || c == '\'' => c,
            _ => ' ',
        })
        .collect();
    folded.split_whitespace().map(str::to_owned).collect()
}

/// Where the phrase occurs in `words` (its first word's index), allowing one
/// extra word between the phrase's words.
fn find(words: &[String], phrase: &str) -> Option<usize> {
    let wanted = normalise(phrase);
    let first = wanted.first()?;
    'start: for (i, w) in words.iter().enumerate() {
        if w != first {
            continue;
        }
        let mut at = i;
        for next in &wanted[1..] {
            match words[at + 1..].iter().take(2).position(|x| x == next) {
                Some(p) => at += 1 + p,
                None => continue 'start,
            }
        }
        return Some(i);
    }
    None
}

fn negated(words: &[String], at: usize) -> bool {
    words[at.saturating_sub(3)..at]
        .iter()
        .any(|w| NEGATIONS.contains(&w.as_str()))
}

/// The guidance to show before sending `text`, if it suggests an emergency.
/// `language` picks English or Spanish wording.
pub fn check(text: &str, language: &str) -> Option<UrgentGuidance> {
    let words = normalise(text);
    let spanish = carecycle_prom::spanish::is_spanish(language);
    let rule = RULES.iter().find(|r| {
        r.phrases
            .iter()
            .any(|p| find(&words, p).is_some_and(|at| !negated(&words, at)))
    })?;
    let self_harm = rule.concern == "thoughts of harming yourself";
    let (title, advice) = match (rule.urgency, spanish) {
        (Urgency::Emergency, false) => (
            "This may be an emergency".to_owned(),
            if self_harm {
                "You are not alone. Call or text 988 now to talk with someone, or call 911 if you are in danger. Your care team reads messages during office hours, so please do not wait for a reply.".to_owned()
            } else {
                format!("You mentioned {}. Call 911 now. Do not wait for a message reply: your care team may not read it for hours.", rule.concern)
            },
        ),
        (Urgency::Emergency, true) => (
            "Esto puede ser una emergencia".to_owned(),
            if self_harm {
                "No está solo/a. Llame o envíe un mensaje de texto al 988 ahora, o llame al 911 si está en peligro. Su equipo lee los mensajes en horario de oficina; no espere una respuesta.".to_owned()
            } else {
                "Llame al 911 ahora. No espere la respuesta a un mensaje: su equipo puede tardar horas en leerlo.".to_owned()
            },
        ),
        (Urgency::CallToday | Urgency::TeamWillContact, false) => (
            "Please call us today".to_owned(),
            format!("You mentioned {}. Call the unit now so a nurse can advise you; you can still send your message.", rule.concern),
        ),
        (Urgency::CallToday | Urgency::TeamWillContact, true) => (
            "Por favor, llámenos hoy".to_owned(),
            "Llame a la unidad ahora para que una enfermera le aconseje; también puede enviar su mensaje.".to_owned(),
        ),
    };
    let mut calls = Vec::new();
    if rule.urgency == Urgency::Emergency {
        let lines = self_harm
            .then(carecycle_prom::red_flags::crisis_line)
            .into_iter()
            .chain([carecycle_prom::red_flags::emergency_services()]);
        for line in lines {
            calls.push((line.label.get(language).to_owned(), line.number));
        }
    }
    Some(UrgentGuidance {
        urgency: rule.urgency,
        concern: rule.concern.to_owned(),
        title,
        advice,
        calls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urgency(text: &str) -> Option<Urgency> {
        check(text, "en").map(|g| g.urgency)
    }

    #[test]
    fn emergencies_are_recognised_in_plain_words() {
        for text in [
            "I have chest pain since this morning",
            "My chest hurts when I walk",
            "I can't breathe properly",
            "I’m really short of breath",
            "The wound won't stop bleeding",
            "Sometimes I think I would be better off dead",
            "I want to kill myself",
            "Me duele el pecho desde anoche",
            "No puedo respirar bien",
        ] {
            assert_eq!(urgency(text), Some(Urgency::Emergency), "{text}");
        }
        let g = check("I keep thinking about suicide", "en").unwrap();
        assert_eq!(g.calls[0].1, "988");
        let es = check("quiero morir", "es").unwrap();
        assert!(es.advice.contains("988"));
        assert_eq!(
            es.calls,
            [
                (
                    "988 Línea de Prevención del Suicidio y Crisis".to_owned(),
                    "988".to_owned()
                ),
                ("Servicios de emergencia".to_owned(), "911".to_owned())
            ]
        );
    }

    #[test]
    fn call_today_for_clots_and_infection() {
        assert_eq!(
            urgency("my calf is swollen and hot"),
            Some(Urgency::CallToday),
            "one word between is fine"
        );
        assert_eq!(urgency("I have a swollen calf"), Some(Urgency::CallToday));
        assert_eq!(
            urgency("I had a fever of 101 last night"),
            Some(Urgency::CallToday)
        );
        assert_eq!(urgency("Tengo fiebre"), Some(Urgency::CallToday));
    }

    #[test]
    fn ordinary_messages_and_negations_pass() {
        for text in [
            "Can I move my appointment to Tuesday?",
            "No chest pain, just a sore knee",
            "I have not had any fever",
            "The bleeding stopped quickly",
            "Should I stop my fish oil?",
        ] {
            assert_eq!(urgency(text), None, "{text}");
        }
    }
}
