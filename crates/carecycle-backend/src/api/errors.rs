//! What goes wrong in a FHIR interaction, and how it is answered: its HTTP
//! status and an OperationOutcome that says why.

use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carecycle_fhir::{FHIR_JSON, OperationOutcome};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("the request body is larger than the server accepts")]
    PayloadTooLarge,
    #[error("{0}")]
    Unprocessable(String),
    /// Not valid R4: every problem, each at its element.
    #[error("{}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<crate::validate::Problem>),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again in {0} seconds")]
    TooManyRequests(u64),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("the request URL is longer than the server accepts")]
    UriTooLong,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn from_sql(e: rusqlite::Error) -> ApiError {
        ApiError::Internal(e.to_string())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            ApiError::Gone(_) => (StatusCode::GONE, "deleted"),
            ApiError::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, "conflict"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too-long"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "processing"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "login"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported")
            }
            ApiError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "not-supported"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "not-supported"),
            ApiError::UriTooLong => (StatusCode::URI_TOO_LONG, "too-long"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "exception"),
        }
    }
}

impl ApiError {
    /// The status line and issue code, for a batch entry's response.
    pub(crate) fn clone_response_parts(&self) -> (String, &'static str) {
        let (status, code) = self.status_and_code();
        (status.to_string(), code)
    }

    /// The OperationOutcome that says why: one issue, or one per problem at
    /// its element (`expression`) for a resource that is not valid R4.
    pub(crate) fn outcome(&self) -> OperationOutcome {
        let (_, code) = self.status_and_code();
        match self {
            ApiError::Invalid(problems) => OperationOutcome::at_elements(
                code,
                problems
                    .iter()
                    .map(|p| (p.expression.clone(), p.message.clone())),
            ),
            // Never echo internals to the caller; they go to the (PHI-free) log.
            ApiError::Internal(_) => {
                OperationOutcome::error(code, "the server could not complete the request")
            }
            other => OperationOutcome::error(code, other.to_string()),
        }
    }

    /// The same error, said of entry `index` of a Bundle.
    pub(crate) fn in_entry(self, index: usize) -> ApiError {
        let at = |m: String| format!("entry {index}: {m}");
        match self {
            ApiError::BadRequest(m) => ApiError::BadRequest(at(m)),
            ApiError::NotFound(m) => ApiError::NotFound(at(m)),
            ApiError::Gone(m) => ApiError::Gone(at(m)),
            ApiError::PreconditionFailed(m) => ApiError::PreconditionFailed(at(m)),
            ApiError::Unprocessable(m) => ApiError::Unprocessable(at(m)),
            ApiError::Invalid(problems) => ApiError::Invalid(
                problems
                    .into_iter()
                    .map(|p| crate::validate::Problem {
                        message: at(p.message),
                        ..p
                    })
                    .collect(),
            ),
            ApiError::Forbidden(m) => ApiError::Forbidden(at(m)),
            ApiError::Conflict(m) => ApiError::Conflict(at(m)),
            other => other,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionConflict { current } => ApiError::PreconditionFailed(format!(
                "the resource has changed: it is now at version {current}"
            )),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(detail = %detail, "internal error");
        }
        let mut response = (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
            Json(self.outcome()),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"fhir\""),
            );
        }
        if let ApiError::TooManyRequests(seconds) = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
        }
        response
    }
}
