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
    let primary = |tag: &str| {
        tag.split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    translations
        .iter()
        .find(|(tag, _)| tag.eq_ignore_ascii_case(lang))
        .or_else(|| {
            translations
                .iter()
                .find(|(tag, _)| primary(tag) == primary(lang))
        })
        .map(|(_, text)| *text)
}

/// Replaces, throughout `value`, every string element that carries a
/// translation into `lang` with that translation.
pub fn localize(value: &mut Value, lang: &str) {
    match value {
        Value::Object(object) => {
            let translated: Vec<(String, String)> = object
                .iter()
                .filter(|(key, v)| !key.starts_with('_') && v.is_string())
                .filter_map(|(key, _)| Some((key.clone(), get(object, key, lang)?.to_owned())))
                .collect();
            for (key, text) in translated {
                object.insert(key, Value::String(text));
            }
            for (key, child) in object.iter_mut() {
                if !key.starts_with('_') {
                    localize(child, lang);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| localize(item, lang)),
        _ => {}
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
        localize(&mut spanish, "es-US");
        assert_eq!(spanish["title"], "Cirugía");
        assert_eq!(
            spanish["activity"][0]["detail"]["description"],
            "Camine a diario"
        );
        let mut english = plan.clone();
        localize(&mut english, "en");
        assert_eq!(english, plan, "no translation into English: as written");
        assert_eq!(get(plan.as_object().unwrap(), "title", "fr"), None);
    }
}
