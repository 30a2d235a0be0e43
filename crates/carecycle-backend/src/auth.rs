//! SMART App Launch v2 authorization server for native apps: authorization code
//! with PKCE S256 (required), loopback and custom-scheme redirects (RFC 8252),
//! short-lived access tokens, rotating refresh tokens whose reuse revokes the
//! whole family. Passwords are argon2 hashes; codes and tokens are stored as
//! SHA-256 hashes, so a copy of the database grants nothing.

use crate::AppState;
use crate::access::Role;
use crate::api::ApiError;
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use axum::Form;
use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carecycle_fhir::time::format_instant;
use jiff::{SignedDuration, Timestamp};
use maud::{DOCTYPE, Markup, html};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS user_account (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    fhir_user TEXT NOT NULL,
    patient TEXT,
    organization TEXT
);
CREATE TABLE IF NOT EXISTS auth_code (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope TEXT NOT NULL,
    username TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS token (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    family TEXT NOT NULL,
    client_id TEXT NOT NULL,
    username TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'used', 'revoked'))
);
CREATE INDEX IF NOT EXISTS token_by_family ON token (family);
"#;

/// The one registered client: CareCycle's native app, a public client.
pub const APP_CLIENT_ID: &str = "carecycle-app";
/// The app's custom URL scheme for mobile redirects (`dev.carecycle.app:/callback`).
pub const APP_CUSTOM_SCHEME: &str = "dev.carecycle.app";

const CODE_LIFETIME: SignedDuration = SignedDuration::from_secs(60);
const ACCESS_LIFETIME: SignedDuration = SignedDuration::from_secs(15 * 60);
const REFRESH_LIFETIME: SignedDuration = SignedDuration::from_secs(30 * 24 * 3600);

/// Scopes this server grants: SMART v2 patient scopes (and their v1 spellings).
pub const SUPPORTED_SCOPES: &[&str] = &[
    "launch/patient",
    "offline_access",
    "fhirUser",
    "patient/*.rs",
    "patient/*.cruds",
    "patient/*.read",
    "patient/*.write",
    "user/*.rs",
    "user/*.cruds",
];

fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ApiError::Internal("password hashing failed".into()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Adds or replaces a user who signs in to see one patient's record: the
/// patient (`fhir_user` Patient/…) or a family member (RelatedPerson/…).
pub fn put_user(
    conn: &Connection,
    username: &str,
    password: &str,
    fhir_user: &str,
    patient: Option<&str>,
) -> Result<(), ApiError> {
    put_account(conn, username, password, fhir_user, patient, None)
}

/// Adds or replaces a care-team user (`fhir_user` Practitioner/…) of one IPU.
pub fn put_team_user(
    conn: &Connection,
    username: &str,
    password: &str,
    practitioner: &str,
    organization: &str,
) -> Result<(), ApiError> {
    put_account(
        conn,
        username,
        password,
        &format!("Practitioner/{practitioner}"),
        None,
        Some(organization),
    )
}

fn put_account(
    conn: &Connection,
    username: &str,
    password: &str,
    fhir_user: &str,
    patient: Option<&str>,
    organization: Option<&str>,
) -> Result<(), ApiError> {
    let hash = hash_password(password)?;
    conn.execute(
        "INSERT INTO user_account (username, password_hash, fhir_user, patient, organization) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
           fhir_user = excluded.fhir_user, patient = excluded.patient, organization = excluded.organization",
        params![username, hash, fhir_user, patient, organization],
    )
    .map_err(ApiError::from_sql)?;
    Ok(())
}

/// Issues an access token for a user without the browser flow: for the
/// server's own tools (benchmarks, load tests), never reachable over HTTP.
pub fn mint_access_token(
    conn: &Connection,
    username: &str,
    scope: &str,
    now: Timestamp,
) -> Result<String, ApiError> {
    let token = random_secret();
    let expires = now.saturating_add(ACCESS_LIFETIME).unwrap_or(now);
    conn.execute(
        "INSERT INTO token (token_hash, kind, family, client_id, username, scope, expires_at, state)
         VALUES (?1, 'access', ?2, ?3, ?4, ?5, ?6, 'active')",
        params![hash_secret(&token), random_secret(), APP_CLIENT_ID, username, scope, format_instant(expires)],
    )
    .map_err(ApiError::from_sql)?;
    Ok(token)
}

/// Is this a redirect URI the native app may use? Loopback IP literals on any
/// port with path `/callback` (RFC 8252 §7.3), or the app's custom scheme.
pub fn redirect_allowed(client_id: &str, redirect_uri: &str) -> bool {
    if client_id != APP_CLIENT_ID {
        return false;
    }
    let Ok(url) = url::Url::parse(redirect_uri) else {
        return false;
    };
    if url.scheme() == APP_CUSTOM_SCHEME {
        return url.path() == "/callback";
    }
    url.scheme() == "http"
        && matches!(url.host_str(), Some("127.0.0.1") | Some("[::1]"))
        && url.path() == "/callback"
        && url.fragment().is_none()
        && url.username().is_empty()
}

/// A SMART v2 scope, e.g. `patient/Observation.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResourceScope {
    resource: String,
    perms: String,
}

fn parse_resource_scope(scope: &str) -> Option<ResourceScope> {
    let rest = scope
        .strip_prefix("patient/")
        .or_else(|| scope.strip_prefix("user/"))?;
    let (resource, perms) = rest.split_once('.')?;
    let perms = match perms {
        "read" => "rs".to_owned(),
        "write" => "cud".to_owned(),
        "*" => "cruds".to_owned(),
        p if p.chars().all(|c| "cruds".contains(c)) => p.to_owned(),
        _ => return None,
    };
    Some(ResourceScope {
        resource: resource.to_owned(),
        perms,
    })
}

/// Does a granted scope string allow `perm` (`c`, `r`, `u`, `d`, `s`) on `resource_type`?
pub fn scope_allows(scopes: &str, resource_type: &str, perm: char) -> bool {
    scopes
        .split_whitespace()
        .filter_map(parse_resource_scope)
        .any(|s| (s.resource == "*" || s.resource == resource_type) && s.perms.contains(perm))
}

/// Grants only the requested scopes this server knows.
fn grant_scopes(requested: &str) -> String {
    requested
        .split_whitespace()
        .filter(|s| {
            matches!(
                *s,
                "launch/patient" | "offline_access" | "fhirUser" | "openid"
            ) || parse_resource_scope(s).is_some()
        })
        .filter(|s| *s != "openid") // no OpenID Connect id_token here; never claim one
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizeParams {
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub aud: String,
    #[serde(default)]
    pub code_challenge: String,
    #[serde(default)]
    pub code_challenge_method: String,
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(flatten)]
    pub params: AuthorizeParams,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
}

fn page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) }
                    style { (maud::PreEscaped(PAGE_CSS)) }
                }
                body { main { (body) } }
            }
        }
        .into_string(),
    )
}

const PAGE_CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f7f6;color:#1d2b2a;margin:0;font-size:1.05rem;line-height:1.5}
main{max-width:26rem;margin:2rem auto;background:#fff;padding:2rem;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.5rem;margin-top:0}label{display:block;font-weight:600;margin-top:1rem}
input{width:100%;box-sizing:border-box;font-size:1.05rem;padding:.6rem;border:2px solid #5b6b69;border-radius:8px}
input:focus,button:focus{outline:3px solid #0b6e63;outline-offset:2px}
button{margin-top:1.5rem;width:100%;padding:.75rem;font-size:1.1rem;font-weight:600;color:#fff;background:#0b6e63;border:0;border-radius:8px;cursor:pointer}
.error{background:#fdecea;color:#8a1c12;border-left:4px solid #b3261e;padding:.75rem;border-radius:6px}
.demo{background:#e8f3f1;border-left:4px solid #0b6e63;padding:.75rem;border-radius:6px;margin-top:1.5rem}
code{font-size:1rem}
"#;

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        page(
            "Sign-in problem — CareCycle",
            html! {
                h1 { "We could not start signing in" }
                p class="error" role="alert" { (message) }
                p { "Close this window and try again from the CareCycle app." }
            },
        ),
    )
        .into_response()
}

fn sign_in_page(state: &AppState, params: &AuthorizeParams, error: Option<&str>) -> Html<String> {
    page(
        "Sign in — CareCycle",
        html! {
            h1 { "Sign in to see your care" }
            p { "CareCycle is asking to see your care plan, messages and questionnaires from " strong { (state.org_name) } "." }
            @if let Some(error) = error {
                p class="error" role="alert" id="signin-error" { (error) }
            }
            form method="post" action="/auth/authorize" {
                @for (name, value) in [
                    ("response_type", &params.response_type), ("client_id", &params.client_id),
                    ("redirect_uri", &params.redirect_uri), ("scope", &params.scope),
                    ("state", &params.state), ("aud", &params.aud),
                    ("code_challenge", &params.code_challenge),
                    ("code_challenge_method", &params.code_challenge_method),
                ] {
                    input type="hidden" name=(name) value=(value);
                }
                label for="username" { "Username" }
                input id="username" name="username" autocomplete="username" required
                    aria-describedby=[error.map(|_| "signin-error")];
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            @if let Some((user, password)) = &state.demo_credentials {
                section class="demo" aria-label="Demo account" {
                    p { strong { "Demo server." } " Sign in with username " code { (user) } " and password " code { (password) } "." }
                }
            }
        },
    )
}

/// Checks what must hold before the sign-in page is shown. Errors about the
/// client or redirect are shown here, never sent to an unverified redirect.
fn check_authorize(state: &AppState, p: &AuthorizeParams) -> Result<(), Box<Response>> {
    if !redirect_allowed(&p.client_id, &p.redirect_uri) {
        return Err(Box::new(error_page(
            StatusCode::BAD_REQUEST,
            "This app or its return address is not registered with this server.",
        )));
    }
    let redirect_error = |error: &str, description: &str| {
        let mut url = url::Url::parse(&p.redirect_uri).ok();
        if let Some(url) = url.as_mut() {
            url.query_pairs_mut()
                .append_pair("error", error)
                .append_pair("error_description", description)
                .append_pair("state", &p.state);
        }
        url.map(|u| Redirect::to(u.as_str()).into_response())
            .unwrap_or_else(|| error_page(StatusCode::BAD_REQUEST, description))
    };
    if p.response_type != "code" {
        return Err(Box::new(redirect_error(
            "unsupported_response_type",
            "response_type must be code",
        )));
    }
    if p.code_challenge_method != "S256" || p.code_challenge.len() < 43 {
        return Err(Box::new(redirect_error(
            "invalid_request",
            "PKCE with S256 is required",
        )));
    }
    if p.state.is_empty() {
        return Err(Box::new(redirect_error(
            "invalid_request",
            "state is required",
        )));
    }
    if p.aud.trim_end_matches('/') != state.fhir_base.trim_end_matches('/') {
        return Err(Box::new(redirect_error(
            "invalid_request",
            "aud must be this server's FHIR base URL",
        )));
    }
    Ok(())
}

pub async fn authorize_page(
    State(state): State<AppState>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    match check_authorize(&state, &params) {
        Ok(()) => sign_in_page(&state, &params, None).into_response(),
        Err(response) => *response,
    }
}

pub async fn authorize_submit(
    State(state): State<AppState>,
    Form(form): Form<SignInForm>,
) -> Response {
    if let Err(response) = check_authorize(&state, &form.params) {
        return *response;
    }
    let username = form.username.trim().to_owned();
    let password = form.password.clone();
    let clock = state.stamper.clock().clone();
    let params = form.params.clone();
    let result = state
        .db
        .call(move |conn| -> Result<Option<String>, ApiError> {
            let hash: Option<String> = conn
                .query_row(
                    "SELECT password_hash FROM user_account WHERE username = ?1",
                    [&username],
                    |r| r.get(0),
                )
                .optional()
                .map_err(ApiError::from_sql)?;
            // Verify against a dummy hash when the user is unknown so timing does not tell.
            let ok = match hash {
                Some(h) => verify_password(&password, &h),
                None => {
                    let _ = verify_password(&password, DUMMY_HASH);
                    false
                }
            };
            if !ok {
                return Ok(None);
            }
            let code = random_secret();
            let expires = format_instant(clock.now().saturating_add(CODE_LIFETIME).unwrap_or(clock.now()));
            conn.execute(
                "INSERT INTO auth_code (code_hash, client_id, redirect_uri, code_challenge, scope, username, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![hash_secret(&code), params.client_id, params.redirect_uri,
                        params.code_challenge, grant_scopes(&params.scope), username, expires],
            )
            .map_err(ApiError::from_sql)?;
            Ok(Some(code))
        })
        .await;
    match result {
        Ok(Some(code)) => {
            let mut url = match url::Url::parse(&form.params.redirect_uri) {
                Ok(url) => url,
                Err(_) => return error_page(StatusCode::BAD_REQUEST, "Invalid return address."),
            };
            url.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &form.params.state);
            Redirect::to(url.as_str()).into_response()
        }
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            sign_in_page(
                &state,
                &form.params,
                Some("That username and password did not match. Please check them and try again."),
            ),
        )
            .into_response(),
        Err(_) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Please try again in a moment.",
        ),
    }
}

/// A hash of a random password, used to spend the same time on unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$H4rcNvp1bcB3mYVVOmSeFCZ8DGB3d1Hx9t7QkT/Zu0k";

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    code_verifier: String,
    #[serde(default)]
    refresh_token: String,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

struct Grant {
    username: String,
    scope: String,
    family: String,
    client_id: String,
}

fn issue_tokens(
    conn: &Connection,
    now: Timestamp,
    grant: &Grant,
) -> Result<serde_json::Value, ApiError> {
    let access = random_secret();
    let access_expires = now.saturating_add(ACCESS_LIFETIME).unwrap_or(now);
    conn.execute(
        "INSERT INTO token (token_hash, kind, family, client_id, username, scope, expires_at, state)
         VALUES (?1, 'access', ?2, ?3, ?4, ?5, ?6, 'active')",
        params![hash_secret(&access), grant.family, grant.client_id, grant.username, grant.scope, format_instant(access_expires)],
    )
    .map_err(ApiError::from_sql)?;
    let patient: Option<String> = conn
        .query_row(
            "SELECT patient FROM user_account WHERE username = ?1",
            [&grant.username],
            |r| r.get(0),
        )
        .optional()
        .map_err(ApiError::from_sql)?
        .flatten();
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_LIFETIME.as_secs(),
        "scope": grant.scope,
    });
    if let Some(patient) = patient {
        body["patient"] = json!(patient);
    }
    if grant
        .scope
        .split_whitespace()
        .any(|s| s == "offline_access")
    {
        let refresh = random_secret();
        let refresh_expires = now.saturating_add(REFRESH_LIFETIME).unwrap_or(now);
        conn.execute(
            "INSERT INTO token (token_hash, kind, family, client_id, username, scope, expires_at, state)
             VALUES (?1, 'refresh', ?2, ?3, ?4, ?5, ?6, 'active')",
            params![hash_secret(&refresh), grant.family, grant.client_id, grant.username, grant.scope, format_instant(refresh_expires)],
        )
        .map_err(ApiError::from_sql)?;
        body["refresh_token"] = json!(refresh);
    }
    Ok(body)
}

/// Outcome of a token request, decided inside one transaction.
enum TokenOutcome {
    Issued(serde_json::Value),
    Refused(&'static str, &'static str),
}

pub async fn token(State(state): State<AppState>, Form(form): Form<TokenForm>) -> Response {
    let clock = state.stamper.clock().clone();
    let result = state
        .db
        .call(move |conn| -> Result<TokenOutcome, ApiError> {
            let now = clock.now();
            let now_text = format_instant(now);
            let tx = conn.transaction().map_err(ApiError::from_sql)?;
            let outcome = match form.grant_type.as_str() {
                "authorization_code" => {
                    let row: Option<(String, String, String, String, String, i64, String)> = tx
                        .query_row(
                            "SELECT client_id, redirect_uri, code_challenge, scope, username, used, expires_at
                             FROM auth_code WHERE code_hash = ?1",
                            [hash_secret(&form.code)],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
                        )
                        .optional()
                        .map_err(ApiError::from_sql)?;
                    match row {
                        None => TokenOutcome::Refused("invalid_grant", "unknown authorization code"),
                        Some((client_id, redirect_uri, challenge, scope, username, used, expires)) => {
                            let verifier_ok = URL_SAFE_NO_PAD
                                .encode(Sha256::digest(form.code_verifier.as_bytes()))
                                == challenge;
                            if used != 0 {
                                TokenOutcome::Refused("invalid_grant", "authorization code already used")
                            } else if expires < now_text {
                                TokenOutcome::Refused("invalid_grant", "authorization code expired")
                            } else if client_id != form.client_id || redirect_uri != form.redirect_uri {
                                TokenOutcome::Refused("invalid_grant", "client or redirect_uri does not match")
                            } else if !verifier_ok {
                                TokenOutcome::Refused("invalid_grant", "PKCE code_verifier does not match")
                            } else {
                                tx.execute("UPDATE auth_code SET used = 1 WHERE code_hash = ?1", [hash_secret(&form.code)])
                                    .map_err(ApiError::from_sql)?;
                                let grant = Grant { username, scope, family: random_secret(), client_id };
                                TokenOutcome::Issued(issue_tokens(&tx, now, &grant)?)
                            }
                        }
                    }
                }
                "refresh_token" => {
                    let row: Option<(String, String, String, String, String, String)> = tx
                        .query_row(
                            "SELECT family, client_id, username, scope, expires_at, state FROM token
                             WHERE token_hash = ?1 AND kind = 'refresh'",
                            [hash_secret(&form.refresh_token)],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                        )
                        .optional()
                        .map_err(ApiError::from_sql)?;
                    match row {
                        None => TokenOutcome::Refused("invalid_grant", "unknown refresh token"),
                        Some((family, client_id, username, scope, expires, token_state)) => {
                            if token_state == "used" {
                                // A spent refresh token came back: someone holds a copy. End the whole family.
                                tx.execute("UPDATE token SET state = 'revoked' WHERE family = ?1", [&family])
                                    .map_err(ApiError::from_sql)?;
                                TokenOutcome::Refused("invalid_grant", "refresh token reuse detected; sign in again")
                            } else if token_state != "active" || expires < now_text {
                                TokenOutcome::Refused("invalid_grant", "refresh token expired or revoked")
                            } else if client_id != form.client_id {
                                TokenOutcome::Refused("invalid_grant", "client does not match")
                            } else {
                                tx.execute("UPDATE token SET state = 'used' WHERE token_hash = ?1", [hash_secret(&form.refresh_token)])
                                    .map_err(ApiError::from_sql)?;
                                let grant = Grant { username, scope, family, client_id };
                                TokenOutcome::Issued(issue_tokens(&tx, now, &grant)?)
                            }
                        }
                    }
                }
                _ => TokenOutcome::Refused("unsupported_grant_type", "grant_type must be authorization_code or refresh_token"),
            };
            tx.commit().map_err(ApiError::from_sql)?;
            Ok(outcome)
        })
        .await;
    match result {
        Ok(TokenOutcome::Issued(body)) => (
            StatusCode::OK,
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(body),
        )
            .into_response(),
        Ok(TokenOutcome::Refused(error, description)) => {
            oauth_error(StatusCode::BAD_REQUEST, error, description)
        }
        Err(_) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "try again later",
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    token: String,
}

/// Token revocation (RFC 7009): the token's whole family — every access and
/// refresh token of that sign-in — stops working. Unknown tokens answer 200
/// too, as the RFC asks, so the endpoint reveals nothing.
pub async fn revoke(State(state): State<AppState>, Form(form): Form<RevokeForm>) -> Response {
    let hash = hash_secret(&form.token);
    let result = state
        .db
        .call(move |conn| -> Result<(), ApiError> {
            conn.execute(
                "UPDATE token SET state = 'revoked' WHERE family = (SELECT family FROM token WHERE token_hash = ?1)",
                [hash],
            )
            .map_err(ApiError::from_sql)?;
            Ok(())
        })
        .await;
    match result {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn smart_configuration(State(state): State<AppState>) -> Response {
    let origin = &state.origin;
    (
        [(header::CACHE_CONTROL, "max-age=300")],
        Json(json!({
            "issuer": origin,
            "authorization_endpoint": format!("{origin}/auth/authorize"),
            "token_endpoint": format!("{origin}/auth/token"),
            "revocation_endpoint": format!("{origin}/auth/revoke"),
            "token_endpoint_auth_methods_supported": ["none"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": SUPPORTED_SCOPES,
            "capabilities": [
                "launch-standalone", "client-public", "context-standalone-patient",
                "permission-offline", "permission-patient", "permission-v2", "permission-v1"
            ]
        })),
    )
        .into_response()
}

/// Who is calling, from a valid bearer token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub username: String,
    pub fhir_user: String,
    /// The patient whose record this user sees.
    pub patient: Option<String>,
    pub scope: String,
    /// What kind of user, and what they reach (a family member's grants as of
    /// this request).
    pub role: Role,
}

impl Principal {
    pub fn may(&self, resource_type: &str, perm: char) -> bool {
        scope_allows(&self.scope, resource_type, perm)
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token =
            bearer(&parts.headers).ok_or(ApiError::Unauthorized("a bearer token is required"))?;
        let now = format_instant(state.stamper.clock().now());
        let token_hash = hash_secret(&token);
        state
            .db
            .call(move |conn| -> Result<Principal, ApiError> {
                type Row = (String, String, String, Option<String>, String, String, Option<String>);
                let row: Option<Row> = conn
                    .query_row(
                        "SELECT t.username, t.scope, t.expires_at, u.patient, u.fhir_user, t.state, u.organization
                         FROM token t JOIN user_account u ON u.username = t.username
                         WHERE t.token_hash = ?1 AND t.kind = 'access'",
                        [token_hash],
                        |r| {
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                                r.get(6)?,
                            ))
                        },
                    )
                    .optional()
                    .map_err(ApiError::from_sql)?;
                match row {
                    Some((username, scope, expires, patient, fhir_user, state, organization))
                        if state == "active" && expires > now =>
                    {
                        let role = role_of(conn, &fhir_user, patient.as_deref(), organization)?;
                        Ok(Principal {
                            username,
                            fhir_user,
                            patient,
                            scope,
                            role,
                        })
                    }
                    Some(_) => Err(ApiError::Unauthorized(
                        "the access token has expired or was revoked",
                    )),
                    None => Err(ApiError::Unauthorized("the access token is not valid")),
                }
            })
            .await
    }
}

/// The role of a user account, with a family member's live grants.
fn role_of(
    conn: &Connection,
    fhir_user: &str,
    patient: Option<&str>,
    organization: Option<String>,
) -> Result<Role, ApiError> {
    let (kind, id) = fhir_user.split_once('/').unwrap_or(("", ""));
    Ok(match (kind, patient, organization) {
        ("Patient", Some(p), _) => Role::Patient {
            patient: p.to_owned(),
        },
        ("RelatedPerson", Some(p), _) => Role::Proxy {
            related_person: id.to_owned(),
            patient: p.to_owned(),
            areas: crate::access::granted_areas(conn, id).map_err(ApiError::from_sql)?,
        },
        ("Practitioner", _, Some(org)) => Role::Team {
            practitioner: id.to_owned(),
            organization: org,
        },
        _ => Role::Unlinked,
    })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_custom_scheme_redirects_only() {
        assert!(redirect_allowed(
            APP_CLIENT_ID,
            "http://127.0.0.1:49152/callback"
        ));
        assert!(redirect_allowed(
            APP_CLIENT_ID,
            "http://[::1]:8080/callback"
        ));
        assert!(redirect_allowed(
            APP_CLIENT_ID,
            "dev.carecycle.app:/callback"
        ));
        assert!(!redirect_allowed(
            APP_CLIENT_ID,
            "http://localhost:8080/callback"
        ));
        assert!(!redirect_allowed(
            APP_CLIENT_ID,
            "https://evil.example/callback"
        ));
        assert!(!redirect_allowed(APP_CLIENT_ID, "http://127.0.0.1:1/other"));
        assert!(!redirect_allowed(
            "someone-else",
            "http://127.0.0.1:1/callback"
        ));
    }

    #[test]
    fn scopes_v1_and_v2() {
        assert!(scope_allows("patient/*.rs", "CarePlan", 'r'));
        assert!(!scope_allows("patient/*.rs", "CarePlan", 'u'));
        assert!(scope_allows(
            "patient/Communication.cu patient/*.rs",
            "Communication",
            'c'
        ));
        assert!(scope_allows("patient/*.read", "Task", 's'));
        assert!(!scope_allows("launch/patient", "Task", 'r'));
        assert_eq!(
            grant_scopes("openid launch/patient bogus patient/*.rs"),
            "launch/patient patient/*.rs"
        );
    }

    #[test]
    fn dummy_hash_is_well_formed() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("anything", DUMMY_HASH));
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
    }
}
