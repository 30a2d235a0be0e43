//! What every request passes before and after its handler:
//!
//! - web hardening on every answer (CSP on HTML, `X-Frame-Options: DENY`,
//!   `Referrer-Policy: no-referrer`, `nosniff`);
//! - the FHIR endpoint's rules for what a client sends: URL length (414),
//!   content type of a body (415), what it accepts back (406), methods (405) —
//!   each an OperationOutcome;
//! - an AuditEvent for every refused (403) FHIR request, naming who asked.

use crate::AppState;
use crate::api::ApiError;
use crate::audit::{self, Actor, SecurityEvent};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};

const FORM: &str = "application/x-www-form-urlencoded";

/// The longest request URL the server reads.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The sign-in page's policy: its own styles inline, no scripts, no framing,
/// and a form that posts only here (its redirect goes to the app's registered
/// loopback or private-use address).
const HTML_CSP: &str = concat!(
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
    form-action 'self' http://127.0.0.1:* http://[::1]:* ",
    carecycle_fhir::app_identifier!(),
    ":; frame-ancestors 'none'; base-uri 'none'"
);

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(HTML_CSP),
        );
    }
    response
}

fn essence(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_json_type(value: &str) -> bool {
    matches!(
        essence(value).as_str(),
        "application/fhir+json" | "application/json" | "application/json+fhir"
    )
}

/// A `_format` value this server answers in (`json` or a JSON media type).
pub(crate) fn is_json_format(value: &str) -> bool {
    value == "json" || is_json_type(value)
}

fn accepts_json(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let essence = essence(part);
        is_json_type(&essence) || matches!(essence.as_str(), "*/*" | "application/*" | "")
    })
}

/// `_format` in the query, if any (`json`, `application/fhir+json`, `xml`…).
fn format_param(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "_format")
        .map(|(_, v)| v.into_owned())
}

/// The FHIR endpoint's rules for what a request carries.
pub async fn fhir_request(request: Request, next: Next) -> Response {
    if request.uri().to_string().len() > MAX_URI_BYTES {
        return ApiError::UriTooLong.into_response();
    }
    let headers = request.headers();
    match format_param(request.uri().query()) {
        Some(f) if !is_json_format(&f) => {
            return ApiError::NotAcceptable(format!(
                "_format={f} is not supported; this server speaks application/fhir+json"
            ))
            .into_response();
        }
        Some(_) => {}
        None => {
            if let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())
                && !accepts_json(accept)
            {
                return ApiError::NotAcceptable(format!(
                    "this server answers only application/fhir+json, not {accept}"
                ))
                .into_response();
            }
        }
    }
    if matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    ) {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // R4 http.html#search: `POST [type]/_search` carries a form.
        let (wanted, fits): (&str, fn(&str) -> bool) = if request.uri().path().ends_with("/_search")
        {
            (FORM, |v| essence(v) == FORM)
        } else {
            ("application/fhir+json", is_json_type)
        };
        if !content_type.is_some_and(fits) {
            return ApiError::UnsupportedMediaType(format!(
                "this request body must be {wanted}, not {}",
                content_type.unwrap_or("(none)")
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// Where the handler's caller is noted, for the refusal audit.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(pub Arc<Mutex<Option<Actor>>>);

impl CallerSlot {
    pub fn note(&self, actor: Actor) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(actor);
        }
    }
}

/// Audits every FHIR request the policy or the scopes refused.
pub async fn audit_refusals(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let what = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    if response.status() == StatusCode::FORBIDDEN {
        let actor = slot
            .0
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .unwrap_or_default();
        let stamper = state.stamper.clone();
        let recorded = state
            .db
            .call(move |conn| -> Result<(), ApiError> {
                let tx = conn.transaction().map_err(ApiError::from_sql)?;
                audit::security(&tx, &stamper, SecurityEvent::Refused, &actor, &what)?;
                tx.commit().map_err(ApiError::from_sql)
            })
            .await;
        if recorded.is_err() {
            tracing::error!("a refused request could not be audited");
        }
    }
    response
}

pub async fn method_not_allowed(request: Request) -> Response {
    ApiError::MethodNotAllowed(format!(
        "{} is not supported on {}",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_types_and_accept_headers() {
        assert!(is_json_type("application/fhir+json; charset=utf-8"));
        assert!(is_json_type("application/json"));
        assert!(!is_json_type("text/plain"));
        assert!(!is_json_type("application/fhir+xml"));
        assert!(accepts_json("text/html, application/fhir+json;q=0.9"));
        assert!(accepts_json("*/*"));
        assert!(!accepts_json("application/fhir+xml"));
    }
}
