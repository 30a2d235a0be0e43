//! The engine's words for the patient in Spanish: every scale and instrument
//! name, unit, band, band meaning and direction, why a score could not be
//! given, and each problem with an answer, beside the English it translates.
//! The cut-offs, the English and their sources stay in [`crate::scoring`] and
//! [`crate::response`]; tests there fail when either gains words this table
//! lacks. Changes are worded in both languages by
//! [`crate::scoring::Change::words_in`].

/// (English, Spanish).
const ES: &[(&str, &str)] = &[
    // Scale names.
    (
        "Depression symptoms (PHQ-9)",
        "Síntomas de depresión (PHQ-9)",
    ),
    ("Anxiety symptoms (GAD-7)", "Síntomas de ansiedad (GAD-7)"),
    (
        "Depression screen (PHQ-2)",
        "Detección de depresión (PHQ-2)",
    ),
    ("Anxiety screen (GAD-2)", "Detección de ansiedad (GAD-2)"),
    (
        "Anxiety and depression (PHQ-4)",
        "Ansiedad y depresión (PHQ-4)",
    ),
    (
        "Anxiety screen (PHQ-4 items 1–2)",
        "Detección de ansiedad (PHQ-4, preguntas 1–2)",
    ),
    (
        "Depression screen (PHQ-4 items 3–4)",
        "Detección de depresión (PHQ-4, preguntas 3–4)",
    ),
    (
        "Physical health (PROMIS Global)",
        "Salud física (PROMIS Global)",
    ),
    (
        "Mental health (PROMIS Global)",
        "Salud mental (PROMIS Global)",
    ),
    (
        "Back-related disability (ODI)",
        "Discapacidad por dolor de espalda (ODI)",
    ),
    ("Pain (0–10)", "Dolor (0–10)"),
    ("Health profile (EQ-5D-5L)", "Perfil de salud (EQ-5D-5L)"),
    ("Health today (EQ VAS)", "Salud hoy (EQ VAS)"),
    // Instrument names.
    ("PHQ-9 (depression)", "PHQ-9 (depresión)"),
    ("GAD-7 (anxiety)", "GAD-7 (ansiedad)"),
    (
        "PHQ-2 (depression screen)",
        "PHQ-2 (detección de depresión)",
    ),
    ("GAD-2 (anxiety screen)", "GAD-2 (detección de ansiedad)"),
    (
        "PHQ-4 (anxiety and depression screen)",
        "PHQ-4 (detección de ansiedad y depresión)",
    ),
    ("PROMIS Global Health", "PROMIS Salud Global"),
    (
        "Oswestry Disability Index",
        "Índice de Discapacidad de Oswestry",
    ),
    ("Pain rating (0–10)", "Calificación del dolor (0–10)"),
    ("Questionnaire", "Cuestionario"),
    // Units.
    ("points", "puntos"),
    ("T-score points", "puntos T"),
    ("level sum", "suma de niveles"),
    // Directions.
    (
        "A higher score is better.",
        "Una puntuación más alta es mejor.",
    ),
    (
        "A lower score is better.",
        "Una puntuación más baja es mejor.",
    ),
    (
        "This questionnaire does not say whether higher or lower is better.",
        "Este cuestionario no dice si es mejor una puntuación más alta o más baja.",
    ),
    // Screens (PHQ-2, GAD-2, PHQ-4 subscales).
    ("Negative screen", "Detección negativa"),
    ("Positive screen", "Detección positiva"),
    ("Few signs of depression.", "Pocos signos de depresión."),
    ("Few signs of anxiety.", "Pocos signos de ansiedad."),
    (
        "Possible depression; your care team will follow up with a fuller questionnaire.",
        "Posible depresión; su equipo de atención le dará seguimiento con un cuestionario más completo.",
    ),
    (
        "Possible anxiety; your care team will follow up with a fuller questionnaire.",
        "Posible ansiedad; su equipo de atención le dará seguimiento con un cuestionario más completo.",
    ),
    // Severity bands (PHQ-9, GAD-7, PHQ-4).
    ("None or minimal", "Ninguna o mínima"),
    ("Minimal", "Mínima"),
    ("Normal", "Normal"),
    ("Mild", "Leve"),
    ("Moderate", "Moderada"),
    ("Moderately severe", "Moderadamente grave"),
    ("Severe", "Grave"),
    (
        "Few or no symptoms of depression.",
        "Pocos o ningún síntoma de depresión.",
    ),
    (
        "Mild symptoms of depression.",
        "Síntomas leves de depresión.",
    ),
    (
        "Moderate symptoms of depression; your care team will talk them through with you.",
        "Síntomas moderados de depresión; su equipo de atención los hablará con usted.",
    ),
    (
        "Moderately severe symptoms of depression; your care team will follow up.",
        "Síntomas de depresión moderadamente graves; su equipo de atención le dará seguimiento.",
    ),
    (
        "Severe symptoms of depression; your care team will follow up soon.",
        "Síntomas graves de depresión; su equipo de atención le dará seguimiento pronto.",
    ),
    (
        "Few or no symptoms of anxiety.",
        "Pocos o ningún síntoma de ansiedad.",
    ),
    ("Mild symptoms of anxiety.", "Síntomas leves de ansiedad."),
    (
        "Moderate symptoms of anxiety; your care team will talk them through with you.",
        "Síntomas moderados de ansiedad; su equipo de atención los hablará con usted.",
    ),
    (
        "Severe symptoms of anxiety; your care team will follow up soon.",
        "Síntomas graves de ansiedad; su equipo de atención le dará seguimiento pronto.",
    ),
    (
        "Few or no symptoms of anxiety or depression.",
        "Pocos o ningún síntoma de ansiedad o depresión.",
    ),
    (
        "Mild symptoms of anxiety or depression.",
        "Síntomas leves de ansiedad o depresión.",
    ),
    (
        "Moderate symptoms; your care team will talk them through with you.",
        "Síntomas moderados; su equipo de atención los hablará con usted.",
    ),
    (
        "Severe symptoms; your care team will follow up soon.",
        "Síntomas graves; su equipo de atención le dará seguimiento pronto.",
    ),
    // PROMIS Global Health.
    ("Excellent", "Excelente"),
    ("Very good", "Muy buena"),
    ("Good", "Buena"),
    ("Fair", "Regular"),
    ("Poor", "Mala"),
    ("Much better than average.", "Mucho mejor que el promedio."),
    ("Better than average.", "Mejor que el promedio."),
    ("About average.", "Más o menos en el promedio."),
    ("Below average.", "Por debajo del promedio."),
    (
        "Well below average; your care team will talk this through with you.",
        "Muy por debajo del promedio; su equipo de atención lo hablará con usted.",
    ),
    // Oswestry Disability Index.
    ("Minimal disability", "Discapacidad mínima"),
    ("Moderate disability", "Discapacidad moderada"),
    ("Severe disability", "Discapacidad grave"),
    ("Very severe disability", "Discapacidad muy grave"),
    ("Bed-bound", "En cama"),
    (
        "You can cope with most everyday activities.",
        "Puede con la mayoría de las actividades diarias.",
    ),
    (
        "Pain makes sitting, lifting and standing harder.",
        "El dolor hace más difícil sentarse, levantar cosas y estar de pie.",
    ),
    (
        "Pain is a main problem in daily life.",
        "El dolor es uno de los principales problemas de su vida diaria.",
    ),
    (
        "Back pain affects every part of daily life.",
        "El dolor de espalda afecta todos los aspectos de su vida diaria.",
    ),
    (
        "You are mostly confined to bed.",
        "Pasa la mayor parte del tiempo en cama.",
    ),
    // Pain rating.
    ("No pain", "Sin dolor"),
    ("Mild pain", "Dolor leve"),
    ("Moderate pain", "Dolor moderado"),
    ("Severe pain", "Dolor intenso"),
    ("You reported no pain.", "No indicó dolor."),
    ("Mild pain.", "Dolor leve."),
    ("Moderate pain.", "Dolor moderado."),
    (
        "Severe pain; tell your care team if it is not controlled.",
        "Dolor intenso; avise a su equipo de atención si no está controlado.",
    ),
    // Why a score could not be given.
    (
        "The pain rating was not answered.",
        "No se respondió la calificación del dolor.",
    ),
    (
        "The health scale was not answered.",
        "No se respondió la escala de salud.",
    ),
    (
        "All five areas need an answer.",
        "Las cinco áreas necesitan una respuesta.",
    ),
    (
        "All four questions of this score need an answer.",
        "Esta puntuación necesita respuesta a sus cuatro preguntas.",
    ),
    // Problems with an answer, next to the question.
    (
        "Please answer at least one question in this section.",
        "Responda al menos una pregunta de esta sección.",
    ),
    (
        "This question needs an answer.",
        "Esta pregunta necesita una respuesta.",
    ),
    (
        "Please choose only one answer.",
        "Elija solo una respuesta.",
    ),
    (
        "Please choose one of the answers offered.",
        "Elija una de las respuestas ofrecidas.",
    ),
    ("yes or no", "sí o no"),
    ("a number", "un número"),
    ("a whole number", "un número entero"),
    ("a date", "una fecha"),
    ("a date and time", "una fecha y hora"),
    ("a time", "una hora"),
    ("some text", "un texto"),
    ("a web address", "una dirección web"),
    (
        "one of the answers offered",
        "una de las respuestas ofrecidas",
    ),
    ("an amount", "una cantidad"),
    ("a file", "un archivo"),
    // EQ-5D-5L.
    ("Health profile", "Perfil de salud"),
    (
        "One digit per area (mobility, self-care, usual activities, pain, anxiety): 1 means no problems, 5 means extreme problems.",
        "Un dígito por área (movilidad, cuidado personal, actividades habituales, dolor, ansiedad): 1 significa sin problemas y 5, problemas extremos.",
    ),
    (
        "How good or bad you rated your health today (100 is the best you can imagine).",
        "Cómo calificó su salud hoy (100 es la mejor salud que pueda imaginar).",
    ),
];

/// Sentences with numbers or names in them: (English, Spanish), `{}` where
/// each goes, in the same order.
const ES_WITH_VALUES: &[(&str, &str)] = &[
    ("{} out of 100", "{} de 100"),
    // An EQ-5D-5L profile with its digits, as a server may label it.
    ("Health profile {}", "Perfil de salud {}"),
    ("Please enter {}.", "Escriba {}."),
    (
        "The lowest answer allowed is {}.",
        "La respuesta más baja permitida es {}.",
    ),
    (
        "The highest answer allowed is {}.",
        "La respuesta más alta permitida es {}.",
    ),
    (
        "Please keep this to {} characters or fewer.",
        "Escriba {} caracteres o menos.",
    ),
    // Why a score could not be given.
    (
        "{} of {} questions are not answered; this score needs all of them.",
        "{} de {} preguntas no tienen respuesta; esta puntuación las necesita todas.",
    ),
    (
        "Only {} of 10 sections are answered; at least 8 are needed.",
        "Solo {} de 10 secciones tienen respuesta; se necesitan al menos 8.",
    ),
    (
        "{} scored questions are not answered.",
        "{} preguntas que cuentan para la puntuación no tienen respuesta.",
    ),
    (
        "{} turns answers into a 0–100 interval score through a conversion table from its publication; CareCycle does not ship that table and never approximates one. The answers are kept and sent to your care team, who score them.",
        "{} convierte las respuestas en una puntuación de 0 a 100 con una tabla de conversión de su publicación; CareCycle no incluye esa tabla y nunca la aproxima. Las respuestas se guardan y se envían a su equipo de atención, que las puntúa.",
    ),
];

/// Fills `spanish`'s `{}` with what stands at `english`'s `{}` in `text`,
/// when `text` has `english`'s shape.
fn fill(text: &str, english: &str, spanish: &str) -> Option<String> {
    let literals: Vec<&str> = english.split("{}").collect();
    let mut rest = text.strip_prefix(literals[0])?;
    let mut values = Vec::new();
    for (i, literal) in literals.iter().enumerate().skip(1) {
        let at = if i == literals.len() - 1 {
            rest.len().checked_sub(literal.len())?
        } else {
            rest.find(literal)?
        };
        if at == 0 || !rest[at..].starts_with(literal) {
            return None;
        }
        values.push(&rest[..at]);
        rest = &rest[at + literal.len()..];
    }
    let mut out = String::new();
    for (i, part) in spanish.split("{}").enumerate() {
        if i > 0 {
            // A value the engine words ("a whole number") is translated too.
            let value = values.get(i - 1)?;
            out.push_str(self::spanish(value).unwrap_or(value));
        }
        out.push_str(part);
    }
    Some(out)
}

/// Whether `language` (a tag such as "es", "es-MX" or "es_US.UTF-8") is
/// Spanish: the one test the engine, the core and its catalogs share.
pub fn is_spanish(language: &str) -> bool {
    language.trim().to_ascii_lowercase().starts_with("es")
}

/// `english`, as the engine words it, in `language`: its Spanish when asked
/// for Spanish and the table has it, else unchanged (a name the team gave, a
/// number).
pub fn words(english: &str, language: &str) -> String {
    if !is_spanish(language) {
        return english.to_owned();
    }
    spanish(english)
        .map(str::to_owned)
        .or_else(|| {
            ES_WITH_VALUES
                .iter()
                .find_map(|(en, es)| fill(english, en, es))
        })
        .unwrap_or_else(|| english.to_owned())
}

/// The Spanish of an English phrase of the engine, if the table has it.
pub fn spanish(english: &str) -> Option<&'static str> {
    ES.iter().find(|(en, _)| *en == english).map(|(_, es)| *es)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_stays_english_and_spanish_is_looked_up() {
        assert_eq!(words("Moderate", "en"), "Moderate");
        assert_eq!(words("Moderate", "es-MX"), "Moderada");
        assert_eq!(words("72 out of 100", "es"), "72 de 100");
        assert_eq!(words("Health profile 11223", "es"), "Perfil de salud 11223");
        assert_eq!(words("A name the team gave", "es"), "A name the team gave");
        assert_eq!(
            words(
                "2 of 9 questions are not answered; this score needs all of them.",
                "es"
            ),
            "2 de 9 preguntas no tienen respuesta; esta puntuación las necesita todas."
        );
        assert_eq!(
            words(" out of 100", "es"),
            " out of 100",
            "a value is never empty"
        );
    }

    #[test]
    fn each_english_phrase_is_translated_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (en, es) in ES {
            assert!(seen.insert(*en), "{en} twice");
            // "Normal" is the one word both languages share.
            assert!(en != es || *en == "Normal", "{en} untranslated");
        }
    }
}
