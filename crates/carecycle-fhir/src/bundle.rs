//! Bundle: search results, history, batch and transaction.

use crate::datatypes::Extra;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    #[serde(rename = "resourceType")]
    pub resource_type: BundleTag,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link: Vec<BundleLink>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Serializes as `"Bundle"` and refuses anything else when parsing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BundleTag;

impl Serialize for BundleTag {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("Bundle")
    }
}

impl<'de> Deserialize<'de> for BundleTag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "Bundle" {
            Ok(BundleTag)
        } else {
            Err(serde::de::Error::custom(format!(
                "expected resourceType Bundle, found {s}"
            )))
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BundleLink {
    pub relation: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<EntrySearch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<EntryRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<EntryResponse>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntrySearch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryRequest {
    pub method: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_none_exist: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_match: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryResponse {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Value>,
}

impl Bundle {
    pub fn new(type_: &str) -> Self {
        Bundle {
            type_: type_.to_owned(),
            ..Default::default()
        }
    }

    /// The URL of the next page, if the server gave one.
    pub fn next_link(&self) -> Option<&str> {
        self.link
            .iter()
            .find(|l| l.relation == "next")
            .map(|l| l.url.as_str())
    }

    /// Resources of entries whose search mode is `match` (or unstated).
    pub fn matches(&self) -> impl Iterator<Item = &Value> {
        self.entry
            .iter()
            .filter(|e| {
                e.search
                    .as_ref()
                    .and_then(|s| s.mode.as_deref())
                    .is_none_or(|m| m == "match")
            })
            .filter_map(|e| e.resource.as_ref())
    }

    /// Every resource in the bundle, matches and `_include`d ones alike.
    pub fn resources(&self) -> impl Iterator<Item = &Value> {
        self.entry.iter().filter_map(|e| e.resource.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn next_link_and_matches() {
        let b: Bundle = serde_json::from_value(json!({
            "resourceType": "Bundle", "type": "searchset",
            "link": [{"relation": "self", "url": "a"}, {"relation": "next", "url": "b"}],
            "entry": [
                {"resource": {"resourceType": "Task", "id": "1"}, "search": {"mode": "match"}},
                {"resource": {"resourceType": "Practitioner", "id": "2"}, "search": {"mode": "include"}}
            ]
        }))
        .unwrap();
        assert_eq!(b.next_link(), Some("b"));
        assert_eq!(b.matches().count(), 1);
        assert_eq!(b.resources().count(), 2);
    }

    #[test]
    fn refuses_other_resource_types() {
        let r: Result<Bundle, _> =
            serde_json::from_value(json!({"resourceType": "Patient", "type": "searchset"}));
        assert!(r.is_err());
    }
}
