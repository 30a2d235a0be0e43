//! Parsing of literal references (`Patient/123`, `Patient/123/_history/2`, or an
//! absolute URL on the same server).

use crate::ResourceType;

/// A reference resolved to a resource on the same server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReference {
    pub resource_type: ResourceType,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("reference {0:?} is not of the form Type/id")]
    Malformed(String),
    #[error("reference {0:?} names an unsupported resource type")]
    UnknownType(String),
}

/// A valid FHIR id: 1–64 of `A-Z a-z 0-9 - .`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

impl LocalReference {
    pub fn new(resource_type: ResourceType, id: impl Into<String>) -> Self {
        LocalReference {
            resource_type,
            id: id.into(),
        }
    }

    /// Parses `Type/id`, `Type/id/_history/v`, or `{base}/Type/id` when `base`
    /// is this server's base URL.
    pub fn parse(reference: &str, base: Option<&str>) -> Result<Self, ReferenceError> {
        let mut rest = reference;
        if let Some(base) = base {
            let base = base.trim_end_matches('/');
            if let Some(stripped) = reference.strip_prefix(base) {
                rest = stripped.trim_start_matches('/');
            }
        }
        let malformed = || ReferenceError::Malformed(reference.to_owned());
        let mut parts = rest.split('/');
        let (Some(type_name), Some(id)) = (parts.next(), parts.next()) else {
            return Err(malformed());
        };
        match (parts.next(), parts.next(), parts.next()) {
            (None, None, None) => {}
            (Some("_history"), Some(v), None) if !v.is_empty() => {}
            _ => return Err(malformed()),
        }
        if !is_valid_id(id) {
            return Err(malformed());
        }
        let resource_type = type_name
            .parse()
            .map_err(|_| ReferenceError::UnknownType(reference.to_owned()))?;
        Ok(LocalReference::new(resource_type, id))
    }

    /// Accepts either a bare id (taken to be of `default_type`) or a reference;
    /// search parameters such as `patient=123` and `patient=Patient/123` mean the same.
    pub fn parse_search_value(
        value: &str,
        default_type: ResourceType,
    ) -> Result<Self, ReferenceError> {
        if is_valid_id(value) {
            Ok(LocalReference::new(default_type, value))
        } else {
            Self::parse(value, None)
        }
    }
}

impl std::fmt::Display for LocalReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.resource_type, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_relative_versioned_and_absolute() {
        let p = LocalReference::new(ResourceType::Patient, "abc-1");
        assert_eq!(LocalReference::parse("Patient/abc-1", None), Ok(p.clone()));
        assert_eq!(
            LocalReference::parse("Patient/abc-1/_history/3", None),
            Ok(p.clone())
        );
        assert_eq!(
            LocalReference::parse("http://h/fhir/Patient/abc-1", Some("http://h/fhir/")),
            Ok(p.clone())
        );
        assert_eq!(
            LocalReference::parse_search_value("abc-1", ResourceType::Patient),
            Ok(p)
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "Patient",
            "Patient/",
            "Patient/a b",
            "Patient/1/x",
            "Nope/1",
            "/1",
        ] {
            assert!(LocalReference::parse(bad, None).is_err(), "{bad}");
        }
    }
}
