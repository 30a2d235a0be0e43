//! SMART App Launch v2 authorization server for native apps: authorization code
//! with PKCE S256 (required), loopback and custom-scheme redirects (RFC 8252),
//! short-lived access tokens, rotating refresh tokens whose reuse revokes the
//! whole family. Passwords are argon2 hashes; codes and tokens are stored as
//! SHA-256 hashes, so a copy of the database grants nothing.

use crate::AppState;
use crate::access::Role;
use crate::api::ApiError;
use crate::audit::{self, Actor, SecurityEvent};
use crate::scopes::{self, scope_allows};
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use axum::Form;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carecycle_fhir::time::format_instant;
use jiff::{SignedDuration, Timestamp};
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

pub(crate) const CODE_LIFETIME: SignedDuration = SignedDuration::from_secs(60);
const ACCESS_LIFETIME: SignedDuration = SignedDuration::from_secs(15 * 60);
const REFRESH_LIFETIME: SignedDuration = SignedDuration::from_secs(30 * 24 * 3600);

pub(crate) fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

pub(crate) fn random_secret() -> String {
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

pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
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
        params![hash_secret(&token), random_secret(), scopes::APP.id, username, scope, format_instant(expires)],
    )
    .map_err(ApiError::from_sql)?;
    Ok(token)
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
    /// OpenID Connect's preferred languages for the sign-in page (`es`, `en`).
    #[serde(default)]
    pub ui_locales: String,
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

/// The user behind a username, for the audit log.
fn actor_of(conn: &Connection, username: &str) -> Result<Actor, ApiError> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT fhir_user, patient FROM user_account WHERE username = ?1",
            [username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(ApiError::from_sql)?;
    Ok(Actor {
        username: Some(username.to_owned()),
        fhir_user: row.as_ref().map(|r| r.0.clone()),
        patient: row.and_then(|r| r.1),
    })
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
    let stamper = state.stamper.clone();
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
                                let issued = issue_tokens(&tx, now, &grant)?;
                                audit::security(&tx, &stamper, SecurityEvent::TokenIssued, &actor_of(&tx, &grant.username)?, &grant.scope)?;
                                TokenOutcome::Issued(issued)
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
                                audit::security(&tx, &stamper, SecurityEvent::RefreshReused, &actor_of(&tx, &username)?, "a spent refresh token was presented again; the sign-in was ended")?;
                                TokenOutcome::Refused("invalid_grant", "refresh token reuse detected; sign in again")
                            } else if token_state != "active" || expires < now_text {
                                TokenOutcome::Refused("invalid_grant", "refresh token expired or revoked")
                            } else if client_id != form.client_id {
                                TokenOutcome::Refused("invalid_grant", "client does not match")
                            } else {
                                tx.execute("UPDATE token SET state = 'used' WHERE token_hash = ?1", [hash_secret(&form.refresh_token)])
                                    .map_err(ApiError::from_sql)?;
                                let grant = Grant { username, scope, family, client_id };
                                let issued = issue_tokens(&tx, now, &grant)?;
                                audit::security(&tx, &stamper, SecurityEvent::TokenRefreshed, &actor_of(&tx, &grant.username)?, &grant.scope)?;
                                TokenOutcome::Issued(issued)
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
    let stamper = state.stamper.clone();
    let result = state
        .db
        .call(move |conn| -> Result<(), ApiError> {
            let tx = conn.transaction().map_err(ApiError::from_sql)?;
            let username: Option<String> = tx
                .query_row(
                    "SELECT username FROM token WHERE token_hash = ?1",
                    [&hash],
                    |r| r.get(0),
                )
                .optional()
                .map_err(ApiError::from_sql)?;
            let ended = tx
                .execute(
                    "UPDATE token SET state = 'revoked' WHERE state != 'revoked'
                       AND family = (SELECT family FROM token WHERE token_hash = ?1)",
                    [&hash],
                )
                .map_err(ApiError::from_sql)?;
            if let Some(username) = username
                && ended > 0
            {
                audit::security(
                    &tx,
                    &stamper,
                    SecurityEvent::TokenRevoked,
                    &actor_of(&tx, &username)?,
                    "signed out (token revoked)",
                )?;
            }
            tx.commit().map_err(ApiError::from_sql)?;
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
            "authorization_endpoint": format!("{origin}/auth/authorize"),
            "token_endpoint": format!("{origin}/auth/token"),
            "revocation_endpoint": format!("{origin}/auth/revoke"),
            "token_endpoint_auth_methods_supported": ["none"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": scopes::supported(),
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
        let slot = parts.extensions.get::<crate::guard::CallerSlot>().cloned();
        // One indexed lookup (and a family member's grants): run here on
        // the async worker, without a hand-off to the blocking pool.
        state
            .db
            .read_now(move |conn| -> Result<Principal, ApiError> {
                type Row = (String, String, String, Option<String>, String, String, Option<String>);
                let row: Option<Row> = conn
                    .prepare_cached(
                        "SELECT t.username, t.scope, t.expires_at, u.patient, u.fhir_user, t.state, u.organization
                         FROM token t JOIN user_account u ON u.username = t.username
                         WHERE t.token_hash = ?1 AND t.kind = 'access'",
                    )
                    .map_err(ApiError::from_sql)?
                    .query_row(
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
                        let role =
                            role_of(conn, &fhir_user, patient.as_deref(), organization, &now)?;
                        if let Some(slot) = &slot {
                            slot.note(Actor {
                                fhir_user: Some(fhir_user.clone()),
                                username: Some(username.clone()),
                                patient: patient.clone(),
                            });
                        }
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
    }
}

/// The role of a user account, with a family member's live grants.
fn role_of(
    conn: &Connection,
    fhir_user: &str,
    patient: Option<&str>,
    organization: Option<String>,
    now: &str,
) -> Result<Role, ApiError> {
    let (kind, id) = fhir_user.split_once('/').unwrap_or(("", ""));
    Ok(match (kind, patient, organization) {
        ("Patient", Some(p), _) => Role::Patient {
            patient: p.to_owned(),
        },
        ("RelatedPerson", Some(p), _) => Role::Proxy {
            related_person: id.to_owned(),
            patient: p.to_owned(),
            areas: crate::access::granted_areas(conn, id, now).map_err(ApiError::from_sql)?,
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
    fn passwords_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
    }
}
