//! FHIR's core `translation` extension: a string element's text in another
//! language, carried on the element's `_`-twin —
//! `"title": "Surgery", "_title": {"extension": [{"url": ".../translation",
//! "extension": [{"url": "lang", "valueCode": "es"}, {"url": "content",
//! "valueString": "Cirugía"}]}]}`. What the care team writes (phases,
//! appointments, roles, checklist items) reaches the patient in their language
//! this way; a string without a translation stays as the team wrote it.

use serde_json::{Map, Value, json};

/// The core extension's canonical URL.
pub const TRANSLATION_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/translation";

/// Adds `text` in `lang` as a translation of `object.element`.
pub fn add(object: &mut Map<String, Value>, element: &str, lang: &str, text: &str) {
    let twin = object
        .entry(format!("_{element}"))
        .or_insert_with(|| json!({}));
    if !twin.is_object() {
        *twin = json!({});
    }
    let extension = twin
        .as_object_mut()
        .map(|t| t.entry("extension").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = extension {
        list.push(json!({
            "url": TRANSLATION_EXTENSION,
            "extension": [
                {"url": "lang", "valueCode": lang},
                {"url": "content", "valueString": text}
            ]
        }));
    }
}

/// The translation of `object.element` into `lang`, if it carries one: the
/// exact tag first ("es-MX"), then any of the same language ("es").
pub fn get<'a>(object: &'a Map<String, Value>, element: &str, lang: &str) -> Option<&'a str> {
    let translations: Vec<(&str, &str)> = object
        .get(&format!("_{element}"))?
        .get("extension")?
        .as_array()?
        .iter()
        .filter(|e| e["url"] == TRANSLATION_EXTENSION)
        .filter_map(|e| {
            let part = |name: &str| e["extension"].as_array()?.iter().find(|p| p["url"] == name);
            Some((
                part("lang")?["valueCode"].as_str()?,
                part("content")?["valueString"].as_str()?,
            ))
        })
        .collect();
    translations
        .iter()
        .find(|(tag, _)| tag.eq_ignore_ascii_case(lang))
        .or_else(|| {
            translations
                .iter()
                .find(|(tag, _)| same_language(tag, lang))
        })
        .map(|(_, text)| *text)
}

/// Whether two BCP 47 tags name the same language ("es-MX" and "es").
pub fn same_language(a: &str, b: &str) -> bool {
    let primary = |tag: &str| {
        tag.split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    primary(a) == primary(b)
}

/// The language a resource's text is written in when it does not say
/// (`Resource.language` absent): English, the reference back end's and the
/// seed data's.
pub const UNSAID_LANGUAGE: &str = "en";

/// Puts `resource` in `lang` (`localize`) and returns the language its text
/// is left in when that is not `lang` (`left_in`).
pub fn localize_resource(resource: &mut Value, lang: &str) -> Option<String> {
    let translated = localize(resource, lang);
    left_in(resource, lang, translated)
}

/// The language `resource`'s text is shown in after `localize` put
/// `translated` of its elements into `lang`, when that is not `lang`: nothing
/// was translated and the resource is written in another language. A screen
/// marks such text with this language so a screen reader pronounces it right.
/// A resource translated in part counts as translated.
pub fn left_in(resource: &Value, lang: &str, translated: usize) -> Option<String> {
    let written = resource["language"].as_str().unwrap_or(UNSAID_LANGUAGE);
    (translated == 0 && !same_language(written, lang)).then(|| written.to_owned())
}

/// Replaces, throughout `value`, every string element that carries a
/// translation into `lang` with that translation.
/// Returns how many it replaced.
pub fn localize(value: &mut Value, lang: &str) -> usize {
    match value {
        Value::Object(object) => {
            let translated: Vec<(String, String)> = object
                .iter()
                .filter(|(key, v)| !key.starts_with('_') && v.is_string())
                .filter_map(|(key, _)| Some((key.clone(), get(object, key, lang)?.to_owned())))
                .collect();
            let here = translated.len();
            for (key, text) in translated {
                object.insert(key, Value::String(text));
            }
            here + object
                .iter_mut()
                .filter(|(key, _)| !key.starts_with('_'))
                .map(|(_, child)| localize(child, lang))
                .sum::<usize>()
        }
        Value::Array(items) => items.iter_mut().map(|item| localize(item, lang)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_translated_element_reads_in_the_patients_language() {
        let mut plan = json!({"resourceType": "CarePlan", "title": "Surgery",
            "activity": [{"detail": {"description": "Walk daily"}}]});
        add(plan.as_object_mut().unwrap(), "title", "es", "Cirugía");
        add(
            plan["activity"][0]["detail"].as_object_mut().unwrap(),
            "description",
            "es-MX",
            "Camine a diario",
        );
        let mut spanish = plan.clone();
        assert_eq!(localize(&mut spanish, "es-US"), 2);
        assert_eq!(left_in(&spanish, "es-US", 2), None);
        assert_eq!(spanish["title"], "Cirugía");
        assert_eq!(
            spanish["activity"][0]["detail"]["description"],
            "Camine a diario"
        );
        let mut english = plan.clone();
        assert_eq!(localize(&mut english, "en"), 0);
        assert_eq!(english, plan, "no translation into English: as written");
        assert_eq!(left_in(&english, "en", 0), None, "written in English");
        // Nothing in Spanish: shown as written, and said to be English (the
        // resource does not say its language) or what it says it is in.
        let mut untranslated = json!({"resourceType": "Appointment", "description": "Blood test"});
        assert_eq!(localize(&mut untranslated, "es"), 0);
        assert_eq!(left_in(&untranslated, "es", 0).as_deref(), Some("en"));
        untranslated["language"] = json!("fr-CA");
        assert_eq!(left_in(&untranslated, "es", 0).as_deref(), Some("fr-CA"));
        assert_eq!(left_in(&untranslated, "fr", 0), None);
        assert_eq!(get(plan.as_object().unwrap(), "title", "fr"), None);
    }
}
