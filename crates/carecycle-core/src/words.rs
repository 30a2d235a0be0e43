//! The few things the core words itself, because they leave the app window:
//! notifications and the `.ics` file. One catalog, every language the app
//! offers; a phrase missing a language does not compile. Everything the window
//! shows is worded by the UI's own catalogs from codes the core returns.

/// A language the app speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Es,
}

impl Lang {
    /// "es…" (any region) is Spanish; anything else is English.
    pub fn from_tag(tag: &str) -> Lang {
        if carecycle_prom::spanish::is_spanish(tag) {
            Lang::Es
        } else {
            Lang::En
        }
    }

    /// The language's tag, as FHIR and the UI write it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    /// The person's choice, else the system's language, as the window decides it.
    pub fn chosen_or_system(choice: Option<&str>) -> Lang {
        choice
            .map(Lang::from_tag)
            .or_else(|| sys_locale::get_locale().map(|l| Lang::from_tag(&l)))
            .unwrap_or_default()
    }
}

/// When a checklist item is due, as a notification says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Now,
    Today,
    Tomorrow,
}

/// Every sentence the core words.
#[derive(Debug, Clone, Copy)]
pub enum Phrase<'a> {
    /// A notification's title when it says nothing about health.
    PrivateTitle,
    NewMessage,
    MessageFrom {
        who: &'a str,
    },
    About {
        subject: &'a str,
    },
    QuestionnaireReady,
    QuestionnaireToAnswer,
    QuestionnaireReadyNamed {
        title: &'a str,
    },
    AppointmentTomorrow,
    AppointmentTomorrowTitle,
    AppointmentTomorrowAt {
        title: &'a str,
        at: &'a str,
        place: Option<&'a str>,
    },
    ChecklistDue {
        when: Due,
    },
    ChecklistTitle,
    ChecklistItemDue {
        title: &'a str,
        when: Due,
    },
    /// `.ics` description lines.
    With {
        who: &'a str,
    },
    HowToPrepare {
        prepare: &'a str,
    },
}

/// `phrase` in `lang`.
pub fn say(lang: Lang, phrase: Phrase<'_>) -> String {
    use Phrase::*;
    let place = |p: Option<&str>| p.map(|p| format!(", {p}")).unwrap_or_default();
    match lang {
        Lang::En => match phrase {
            PrivateTitle => "CareCycle".into(),
            NewMessage => "New message from your care team".into(),
            MessageFrom { who } => format!("Message from {who}"),
            About { subject } => format!("About: {subject}"),
            QuestionnaireReady => "A questionnaire from your care team is ready for you.".into(),
            QuestionnaireToAnswer => "Questionnaire to answer".into(),
            QuestionnaireReadyNamed { title } => format!("{title} is ready for you to answer."),
            AppointmentTomorrow => "You have an appointment tomorrow.".into(),
            AppointmentTomorrowTitle => "Appointment tomorrow".into(),
            AppointmentTomorrowAt {
                title,
                at,
                place: p,
            } => {
                format!("{title} tomorrow at {at}{}.", place(p))
            }
            ChecklistDue { when } => format!(
                "Something on your checklist is due {}.",
                due(Lang::En, when)
            ),
            ChecklistTitle => "Checklist".into(),
            ChecklistItemDue { title, when } => format!("{title} — due {}.", due(Lang::En, when)),
            With { who } => format!("With {who}"),
            HowToPrepare { prepare } => format!("How to prepare: {prepare}"),
        },
        Lang::Es => match phrase {
            PrivateTitle => "CareCycle".into(),
            NewMessage => "Nuevo mensaje de su equipo de atención".into(),
            MessageFrom { who } => format!("Mensaje de {who}"),
            About { subject } => format!("Asunto: {subject}"),
            QuestionnaireReady => {
                "Su equipo de atención le envió un cuestionario para responder.".into()
            }
            QuestionnaireToAnswer => "Cuestionario para responder".into(),
            QuestionnaireReadyNamed { title } => format!("Ya puede responder «{title}»."),
            AppointmentTomorrow => "Tiene una cita mañana.".into(),
            AppointmentTomorrowTitle => "Cita mañana".into(),
            AppointmentTomorrowAt {
                title,
                at,
                place: p,
            } => {
                format!("{title} mañana a las {at}{}.", place(p))
            }
            ChecklistDue { when } => {
                format!("Algo de su lista de tareas vence {}.", due(Lang::Es, when))
            }
            ChecklistTitle => "Lista de tareas".into(),
            ChecklistItemDue { title, when } => format!("{title}: vence {}.", due(Lang::Es, when)),
            With { who } => format!("Con {who}"),
            HowToPrepare { prepare } => format!("Cómo prepararse: {prepare}"),
        },
    }
}

/// A message kind's name, for a thread that has no subject: the English the
/// team sees (carecycle-fhir's table), or its Spanish.
pub fn kind_label(lang: Lang, code: &str) -> String {
    let spanish = match code {
        "clinical" => "Un síntoma o una pregunta sobre mi salud",
        "scheduling" => "Citas y horarios",
        "medications" => "Mis medicamentos",
        "billing" => "Facturación y seguro",
        _ => "Otra cosa",
    };
    match lang {
        Lang::Es => spanish.to_owned(),
        Lang::En => carecycle_fhir::MESSAGE_KINDS
            .iter()
            .find(|(k, _)| *k == code)
            .map_or("Something else", |(_, label)| label)
            .to_owned(),
    }
}

fn due(lang: Lang, when: Due) -> &'static str {
    match (lang, when) {
        (Lang::En, Due::Now) => "now",
        (Lang::En, Due::Today) => "today",
        (Lang::En, Due::Tomorrow) => "tomorrow",
        (Lang::Es, Due::Now) => "ya",
        (Lang::Es, Due::Today) => "hoy",
        (Lang::Es, Due::Tomorrow) => "mañana",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each phrase, with a name a translation would not change.
    fn every_phrase() -> Vec<Phrase<'static>> {
        use Phrase::*;
        let mut all = vec![
            PrivateTitle,
            NewMessage,
            MessageFrom { who: "Priya Raman" },
            About { subject: "X" },
            QuestionnaireReady,
            QuestionnaireToAnswer,
            QuestionnaireReadyNamed { title: "PHQ-9" },
            AppointmentTomorrow,
            AppointmentTomorrowTitle,
            AppointmentTomorrowAt {
                title: "X",
                at: "09:30",
                place: Some("Clinic B"),
            },
            ChecklistTitle,
            With { who: "Priya Raman" },
            HowToPrepare { prepare: "X" },
        ];
        for when in [Due::Now, Due::Today, Due::Tomorrow] {
            all.push(ChecklistDue { when });
            all.push(ChecklistItemDue { title: "X", when });
        }
        all
    }

    #[test]
    fn spanish_has_no_english_left_in_it() {
        // Every English word of the catalog, but names and the product's.
        let english: std::collections::BTreeSet<String> = every_phrase()
            .into_iter()
            .flat_map(|p| {
                say(Lang::En, p)
                    .split(|c: char| !c.is_alphabetic())
                    .filter(|w| w.len() > 2)
                    .map(str::to_lowercase)
                    .collect::<Vec<_>>()
            })
            .filter(|w| !["carecycle", "priya", "raman", "clinic", "phq"].contains(&w.as_str()))
            .collect();
        assert!(english.len() > 20, "the English catalog was read");
        for phrase in every_phrase() {
            let spanish = say(Lang::Es, phrase);
            for word in spanish
                .split(|c: char| !c.is_alphabetic())
                .map(str::to_lowercase)
            {
                assert!(
                    !english.contains(&word),
                    "{word:?} in {spanish:?} is English"
                );
            }
        }
    }

    #[test]
    fn a_language_tag_picks_the_language() {
        assert_eq!(Lang::from_tag("es"), Lang::Es);
        assert_eq!(Lang::from_tag("es-MX"), Lang::Es);
        assert_eq!(Lang::from_tag("es_US.UTF-8"), Lang::Es);
        assert_eq!(Lang::from_tag("en-US"), Lang::En);
        assert_eq!(Lang::from_tag("fr"), Lang::En);
        assert_eq!(Lang::chosen_or_system(Some("es")), Lang::Es);
        assert_eq!(Lang::chosen_or_system(Some("en")), Lang::En);
    }
}
