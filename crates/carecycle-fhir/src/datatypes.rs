//! The FHIR R4 data types CareCycle reads. Each keeps unknown elements in `extra`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Unknown elements, kept for a faithful round trip.
pub type Extra = Map<String, Value>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<Coding>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coding {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Coding {
    pub fn new(system: &str, code: &str, display: &str) -> Self {
        Coding {
            system: Some(system.to_owned()),
            code: Some(code.to_owned()),
            display: Some(display.to_owned()),
            extra: Extra::new(),
        }
    }

    pub fn is(&self, system: &str, code: &str) -> bool {
        self.system.as_deref() == Some(system) && self.code.as_deref() == Some(code)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeableConcept {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl CodeableConcept {
    pub fn coded(system: &str, code: &str, display: &str) -> Self {
        CodeableConcept {
            coding: vec![Coding::new(system, code, display)],
            text: Some(display.to_owned()),
            extra: Extra::new(),
        }
    }

    pub fn text(text: &str) -> Self {
        CodeableConcept {
            text: Some(text.to_owned()),
            ..Default::default()
        }
    }

    pub fn has(&self, system: &str, code: &str) -> bool {
        self.coding.iter().any(|c| c.is(system, code))
    }

    /// Whether this names the team role `role`: by CareCycle's code, or by a
    /// standard code (SNOMED CT, NUCC) that means exactly that role, as a
    /// server that never heard of CareCycle writes it.
    pub fn is_team_role(&self, role: &str) -> bool {
        self.has(crate::TEAM_ROLE_SYSTEM, role)
            || self.coding.iter().any(|c| {
                c.system
                    .as_deref()
                    .zip(c.code.as_deref())
                    .is_some_and(|(system, code)| {
                        crate::published::is_standard_code_of(role, system, code)
                    })
            })
    }

    /// What to show a person: the text, else the first coding's display, else its code.
    pub fn label(&self) -> Option<&str> {
        self.text.as_deref().or_else(|| {
            self.coding
                .iter()
                .find_map(|c| c.display.as_deref().or(c.code.as_deref()))
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Reference {
    pub fn to(reference: &str) -> Self {
        Reference {
            reference: Some(reference.to_owned()),
            ..Default::default()
        }
    }

    pub fn with_display(reference: &str, display: &str) -> Self {
        Reference {
            reference: Some(reference.to_owned()),
            display: Some(display.to_owned()),
            extra: Extra::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Period {
    pub fn between(start: impl Into<String>, end: impl Into<String>) -> Self {
        Period {
            start: Some(start.into()),
            end: Some(end.into()),
            extra: Extra::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HumanName {
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suffix: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl HumanName {
    pub fn new(prefix: Option<&str>, given: &[&str], family: &str) -> Self {
        HumanName {
            use_: Some("official".to_owned()),
            family: Some(family.to_owned()),
            given: given.iter().map(|g| (*g).to_owned()).collect(),
            prefix: prefix.map(|p| vec![p.to_owned()]).unwrap_or_default(),
            ..Default::default()
        }
    }

    /// The name as a person would write it: `text` when given, else prefix, given
    /// names and family name joined by spaces, then suffixes after a comma
    /// ("Priya Raman, RN").
    pub fn display(&self) -> Option<String> {
        if let Some(text) = self.text.as_deref().filter(|t| !t.trim().is_empty()) {
            return Some(text.trim().to_owned());
        }
        let words = |it: &mut dyn Iterator<Item = &String>| -> Vec<String> {
            it.map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        };
        let name = words(
            &mut self
                .prefix
                .iter()
                .chain(self.given.iter())
                .chain(self.family.iter()),
        )
        .join(" ");
        let suffix = words(&mut self.suffix.iter()).join(", ");
        match (name.is_empty(), suffix.is_empty()) {
            (true, true) => None,
            (false, true) => Some(name),
            (true, false) => Some(suffix),
            (false, false) => Some(format!("{name}, {suffix}")),
        }
    }
}

/// The name to show from a list of names: the `usual` one, else `official`, else the first.
pub fn preferred_name(names: &[HumanName]) -> Option<String> {
    let pick = |u: &str| names.iter().find(|n| n.use_.as_deref() == Some(u));
    pick("usual")
        .or_else(|| pick("official"))
        .or(names.first())
        .and_then(HumanName::display)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Identifier {
    pub fn new(system: &str, value: &str) -> Self {
        Identifier {
            system: Some(system.to_owned()),
            value: Some(value.to_owned()),
            extra: Extra::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactPoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ContactPoint {
    pub fn new(system: &str, value: &str) -> Self {
        ContactPoint {
            system: Some(system.to_owned()),
            value: Some(value.to_owned()),
            ..Default::default()
        }
    }
}

/// An extension; its `value[x]` stays in `value` under its typed key
/// (`valueString`, `valueCoding`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    pub url: String,
    #[serde(flatten)]
    pub value: Extra,
}

impl Extension {
    pub fn string(url: &str, value: &str) -> Self {
        let mut map = Extra::new();
        map.insert("valueString".into(), Value::String(value.to_owned()));
        Extension {
            url: url.to_owned(),
            value: map,
        }
    }

    pub fn value_string(&self) -> Option<&str> {
        self.value.get("valueString").and_then(Value::as_str)
    }
}

/// The first extension with this URL.
pub fn find_extension<'a>(extensions: &'a [Extension], url: &str) -> Option<&'a Extension> {
    extensions.iter().find(|e| e.url == url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(v: serde_json::Value) -> HumanName {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn names_read_as_people_write_them() {
        let n = name(serde_json::json!({"given": ["Priya"], "family": "Raman", "suffix": ["RN"]}));
        assert_eq!(n.display().as_deref(), Some("Priya Raman, RN"));
        let n = name(
            serde_json::json!({"prefix": ["Dr."], "given": ["Ana", "María"], "family": "Ruiz", "suffix": ["MD", "PhD"]}),
        );
        assert_eq!(n.display().as_deref(), Some("Dr. Ana María Ruiz, MD, PhD"));
        let n = name(serde_json::json!({"text": " Kenji Sato ", "family": "Ignored"}));
        assert_eq!(n.display().as_deref(), Some("Kenji Sato"));
        assert_eq!(name(serde_json::json!({"given": [" "]})).display(), None);
    }
}
