//! OperationOutcome: how a FHIR server explains an error.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueSeverity {
    Fatal,
    Error,
    Warning,
    Information,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeIssue {
    pub severity: IssueSeverity,
    /// A code from http://hl7.org/fhir/issue-type (`invalid`, `not-found`, `conflict`…).
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    #[serde(rename = "resourceType")]
    resource_type: String,
    pub issue: Vec<OutcomeIssue>,
}

impl OperationOutcome {
    pub fn error(code: &str, diagnostics: impl Into<String>) -> Self {
        Self::single(IssueSeverity::Error, code, diagnostics)
    }

    pub fn single(severity: IssueSeverity, code: &str, diagnostics: impl Into<String>) -> Self {
        OperationOutcome {
            resource_type: "OperationOutcome".to_owned(),
            issue: vec![OutcomeIssue {
                severity,
                code: code.to_owned(),
                diagnostics: Some(diagnostics.into()),
                expression: Vec::new(),
            }],
        }
    }

    /// Errors each at an element (`expression`, a FHIRPath like `Task.for`),
    /// with a sentence each.
    pub fn at_elements(code: &str, problems: impl IntoIterator<Item = (String, String)>) -> Self {
        OperationOutcome {
            resource_type: "OperationOutcome".to_owned(),
            issue: problems
                .into_iter()
                .map(|(expression, diagnostics)| OutcomeIssue {
                    severity: IssueSeverity::Error,
                    code: code.to_owned(),
                    diagnostics: Some(diagnostics),
                    expression: if expression.is_empty() {
                        Vec::new()
                    } else {
                        vec![expression]
                    },
                })
                .collect(),
        }
    }

    /// The diagnostics of all issues, joined: what a client shows or logs.
    pub fn summary(&self) -> String {
        self.issue
            .iter()
            .map(|i| i.diagnostics.as_deref().unwrap_or(i.code.as_str()))
            .collect::<Vec<_>>()
            .join("; ")
    }
}
