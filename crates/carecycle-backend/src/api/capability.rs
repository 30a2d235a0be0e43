//! The CapabilityStatement (`GET /metadata`), from the same tables the
//! interactions and the search apply.

use crate::AppState;
use crate::search;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use carecycle_fhir::{FHIR_JSON, FHIR_VERSION, ResourceType};
use serde_json::{Value, json};

/// The CapabilityStatement: exactly what this server does.
pub async fn metadata(State(state): State<AppState>) -> Response {
    let origin = &state.origin;
    let resources: Vec<Value> = ResourceType::ALL
        .iter()
        .map(|t| {
            let interactions: Vec<Value> = [
                "read",
                "vread",
                "create",
                "update",
                "delete",
                "search-type",
                "history-instance",
                "history-type",
            ]
            .iter()
            .map(|c| json!({"code": c}))
            .collect();
            let mut resource = json!({
                "type": t.as_str(),
                "interaction": interactions,
                "versioning": "versioned-update",
                "conditionalCreate": true,
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
            });
            // searchParam, searchInclude, searchRevInclude: from the table search applies.
            if let (Some(resource), Value::Object(search)) =
                (resource.as_object_mut(), search::capability(*t))
            {
                resource.extend(search);
            }
            if *t == ResourceType::ValueSet {
                // R4 §4.9.9: the answer lists forms name by URL (terminology.rs).
                resource["operation"] = json!([{"name": "expand",
                    "definition": "http://hl7.org/fhir/OperationDefinition/ValueSet-expand"}]);
            }
            resource
        })
        .collect();
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
        Json(json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-22",
            "kind": "instance",
            "software": {"name": "CareCycle reference IPU back end", "version": env!("CARGO_PKG_VERSION")},
            "implementation": {"description": "CareCycle reference IPU back end", "url": state.fhir_base},
            "fhirVersion": FHIR_VERSION,
            "format": ["application/fhir+json", "json"],
            "rest": [{
                "mode": "server",
                "security": {
                    "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}]}],
                    "extension": [{
                        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                        "extension": [
                            {"url": "authorize", "valueUri": format!("{origin}/auth/authorize")},
                            {"url": "token", "valueUri": format!("{origin}/auth/token")},
                            {"url": "revoke", "valueUri": format!("{origin}/auth/revoke")}
                        ]
                    }]
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}]
            }]
        })),
    )
        .into_response()
}
