//! The SMART authorization endpoint: the sign-in page (which says, in English
//! or Spanish, what the app will be able to see and do before the person signs
//! in), the password check (throttled per account and per address; hashing
//! runs off the database lock and is bounded), and the authorization code.

use crate::AppState;
use crate::api::ApiError;
use crate::audit::{self, Actor, SecurityEvent};
use crate::auth::{
    AuthorizeParams, CODE_LIFETIME, SignInForm, hash_secret, random_secret, verify_password,
};
use crate::policy::RoleKind;
use crate::scopes::{self, ScopeRefusal, scope_allows};
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use carecycle_fhir::ResourceType;
use carecycle_fhir::time::format_instant;
use maud::{DOCTYPE, Markup, html};
use rusqlite::{OptionalExtension, params};
use std::net::{IpAddr, SocketAddr};

/// The address a request came from, when the server knows it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The two languages of the sign-in page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Es,
}

impl Lang {
    /// `ui_locales` (OpenID Connect) first, then the browser's Accept-Language.
    fn choose(params: &AuthorizeParams, headers: &HeaderMap) -> Lang {
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let first = params
            .ui_locales
            .split_whitespace()
            .next()
            .or_else(|| accept.split(',').next())
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if first.starts_with("es") {
            Lang::Es
        } else {
            Lang::En
        }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    fn pick(self, en: &'static str, es: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Es => es,
        }
    }
}

fn page(lang: Lang, title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang=(lang.code()) {
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
.consent{background:#f6f8f8;border:1px solid #d5dedc;border-radius:8px;padding:.5rem 1rem}
.consent ul{padding-left:1.2rem;margin:.5rem 0}
code{font-size:1rem}
"#;

fn error_page(lang: Lang, status: StatusCode, message: &str) -> Response {
    (
        status,
        page(
            lang,
            lang.pick("Sign-in problem — CareCycle", "Problema al iniciar sesión — CareCycle"),
            html! {
                h1 { (lang.pick("We could not start signing in", "No pudimos iniciar la sesión")) }
                p class="error" role="alert" { (message) }
                p { (lang.pick("Close this window and try again from the CareCycle app.",
                               "Cierre esta ventana y vuelva a intentarlo desde la aplicación CareCycle.")) }
            },
        ),
    )
        .into_response()
}

/// One line of what a sign-in lets the app do: shown when the grant has any
/// of `letters` on `on` (any type when `None`).
struct ConsentLine {
    role: RoleKind,
    on: Option<ResourceType>,
    letters: &'static str,
    en: &'static str,
    es: &'static str,
}

const CONSENT: &[ConsentLine] = &[
    ConsentLine {
        role: RoleKind::Team,
        on: None,
        letters: "r",
        en: "See the records of your unit's current patients",
        es: "Ver las historias de los pacientes actuales de su unidad",
    },
    ConsentLine {
        role: RoleKind::Team,
        on: None,
        letters: "cu",
        en: "Write to those records and to your unit's directory",
        es: "Escribir en esas historias y en el directorio de su unidad",
    },
    ConsentLine {
        role: RoleKind::Patient,
        on: None,
        letters: "r",
        en: "See your care plan, appointments, care team, messages, questionnaires and reading",
        es: "Ver su plan de cuidados, citas, equipo de atención, mensajes, cuestionarios y lecturas",
    },
    ConsentLine {
        role: RoleKind::Patient,
        on: Some(ResourceType::Communication),
        letters: "c",
        en: "Send messages to your care team",
        es: "Enviar mensajes a su equipo de atención",
    },
    ConsentLine {
        role: RoleKind::Patient,
        on: Some(ResourceType::Communication),
        letters: "u",
        en: "Mark your care team's messages as read",
        es: "Marcar como leídos los mensajes de su equipo",
    },
    ConsentLine {
        role: RoleKind::Patient,
        on: Some(ResourceType::QuestionnaireResponse),
        letters: "cu",
        en: "Send your answers to questionnaires",
        es: "Enviar sus respuestas a los cuestionarios",
    },
    ConsentLine {
        role: RoleKind::Patient,
        on: Some(ResourceType::Task),
        letters: "u",
        en: "Mark checklist items and questionnaires as done",
        es: "Marcar como hechas las tareas y los cuestionarios",
    },
];

/// What the app will be able to see and do, in plain words, from the scopes
/// it asked for as far as its registration allows (a family member is then
/// granted less: only what the patient shares).
fn consent_lines(lang: Lang, params: &AuthorizeParams) -> Vec<&'static str> {
    let Some(client) = scopes::client(&params.client_id) else {
        return Vec::new();
    };
    let team = client.scopes.iter().any(|s| s.starts_with("user/"));
    let role = if team {
        RoleKind::Team
    } else {
        RoleKind::Patient
    };
    let granted = scopes::grant(&params.scope, client, role).unwrap_or_default();
    let mut lines: Vec<&'static str> = CONSENT
        .iter()
        .filter(|c| c.role == role)
        .filter(|c| {
            ResourceType::ALL
                .iter()
                .filter(|t| c.on.is_none_or(|on| on == **t))
                .any(|t| {
                    c.letters
                        .chars()
                        .any(|l| scope_allows(&granted, t.as_str(), l))
                })
        })
        .map(|c| lang.pick(c.en, c.es))
        .collect();
    if granted.split_whitespace().any(|s| s == "offline_access") {
        lines.push(lang.pick(
            "Stay signed in on this device until you sign out",
            "Mantener la sesión abierta en este dispositivo hasta que la cierre",
        ));
    }
    lines
}

fn sign_in_page(
    state: &AppState,
    lang: Lang,
    params: &AuthorizeParams,
    error: Option<&str>,
) -> Html<String> {
    let lines = consent_lines(lang, params);
    page(
        lang,
        lang.pick("Sign in — CareCycle", "Iniciar sesión — CareCycle"),
        html! {
            h1 { (lang.pick("Sign in to see your care", "Inicie sesión para ver su atención")) }
            section class="consent" aria-labelledby="consent-title" {
                p id="consent-title" {
                    (lang.pick("When you sign in, CareCycle will be able to do this with your record at ",
                               "Al iniciar sesión, CareCycle podrá hacer esto con su historia en "))
                    strong { (state.org_name) } ":"
                }
                ul { @for line in &lines { li { (line) } } }
                p { (lang.pick("It cannot change your care plan, your appointments or what your care team wrote. If you help a family member, you see only what they share with you.",
                               "No puede cambiar su plan de cuidados, sus citas ni lo que escribió su equipo. Si ayuda a un familiar, solo verá lo que esa persona comparte con usted.")) }
            }
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
                    ("ui_locales", &params.ui_locales),
                ] {
                    input type="hidden" name=(name) value=(value);
                }
                label for="username" { (lang.pick("Username", "Usuario")) }
                input id="username" name="username" autocomplete="username" required
                    aria-describedby=[error.map(|_| "signin-error")];
                label for="password" { (lang.pick("Password", "Contraseña")) }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { (lang.pick("Sign in", "Iniciar sesión")) }
            }
            @if let Some((user, password)) = &state.demo_credentials {
                section class="demo" aria-label=(lang.pick("Demo account", "Cuenta de demostración")) {
                    p { strong { (lang.pick("Demo server.", "Servidor de demostración.")) }
                        (lang.pick(" Sign in with username ", " Inicie sesión con el usuario ")) code { (user) }
                        (lang.pick(" and password ", " y la contraseña ")) code { (password) } "." }
                }
            }
        },
    )
}

/// Checks what must hold before the sign-in page is shown. Errors about the
/// client or redirect are shown here, never sent to an unverified redirect.
fn check_authorize(state: &AppState, lang: Lang, p: &AuthorizeParams) -> Result<(), Box<Response>> {
    if !scopes::client(&p.client_id).is_some_and(|c| c.redirect_allowed(&p.redirect_uri)) {
        return Err(Box::new(error_page(
            lang,
            StatusCode::BAD_REQUEST,
            lang.pick(
                "This app or its return address is not registered with this server.",
                "Esta aplicación o su dirección de retorno no están registradas en este servidor.",
            ),
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
            .unwrap_or_else(|| error_page(lang, StatusCode::BAD_REQUEST, description))
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
    if let Some(q) = p.scope.split_whitespace().find(|s| s.contains('?')) {
        return Err(Box::new(redirect_error(
            "invalid_scope",
            &ScopeRefusal::QueryRestricted(q.to_owned()).to_string(),
        )));
    }
    Ok(())
}

pub async fn authorize_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    let lang = Lang::choose(&params, &headers);
    match check_authorize(&state, lang, &params) {
        Ok(()) => sign_in_page(&state, lang, &params, None).into_response(),
        Err(response) => *response,
    }
}

/// A hash of a random password, used to spend the same time on unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$H4rcNvp1bcB3mYVVOmSeFCZ8DGB3d1Hx9t7QkT/Zu0k";

/// Who a username names, as the sign-in needs it.
struct Account {
    password_hash: String,
    fhir_user: String,
    patient: Option<String>,
}

/// The password check itself: on the blocking pool, off the database lock,
/// at most as many at once as the server has permits for.
async fn password_matches(state: &AppState, password: String, hash: Option<String>) -> bool {
    let Ok(_permit) = state.hashing.clone().acquire_owned().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => {
            // Spend the same time on unknown users, so timing does not tell.
            let _ = verify_password(&password, DUMMY_HASH);
            false
        }
    })
    .await
    .unwrap_or(false)
}

pub async fn authorize_submit(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let lang = Lang::choose(&form.params, &headers);
    if let Err(response) = check_authorize(&state, lang, &form.params) {
        return *response;
    }
    let clock = state.stamper.clock().clone();
    let username = form.username.trim().to_owned();
    if let Err(seconds) = state.throttle.check(&username, addr, clock.now()) {
        // A held-up attempt is also answered slowly, so one client's flood
        // cannot spend the server's time on refusals (the wait costs no CPU).
        tokio::time::sleep(crate::throttle::HELD_UP_ANSWER_DELAY).await;
        let mut response = error_page(
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            &match lang {
                Lang::En => format!(
                    "Too many sign-in attempts. Please wait {seconds} seconds and try again."
                ),
                Lang::Es => {
                    format!("Demasiados intentos. Espere {seconds} segundos y vuelva a intentarlo.")
                }
            },
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    let lookup = username.clone();
    let account = state
        .db
        .call(move |conn| -> Result<Option<Account>, ApiError> {
            conn.query_row(
                "SELECT password_hash, fhir_user, patient FROM user_account WHERE username = ?1",
                [&lookup],
                |r| {
                    Ok(Account {
                        password_hash: r.get(0)?,
                        fhir_user: r.get(1)?,
                        patient: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(ApiError::from_sql)
        })
        .await;
    let Ok(account) = account else {
        return error_page(
            lang,
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.pick(
                "Something went wrong on our side. Please try again in a moment.",
                "Algo falló de nuestro lado. Vuelva a intentarlo en un momento.",
            ),
        );
    };
    let ok = password_matches(
        &state,
        form.password.clone(),
        account.as_ref().map(|a| a.password_hash.clone()),
    )
    .await;
    let actor = Actor {
        fhir_user: account.as_ref().map(|a| a.fhir_user.clone()),
        username: Some(username.clone()),
        patient: account.as_ref().and_then(|a| a.patient.clone()),
    };
    let granted = match (&account, ok) {
        (Some(a), true) => {
            let role = RoleKind::of_fhir_user(&a.fhir_user);
            let client = scopes::client(&form.params.client_id);
            match (role, client) {
                (Some(role), Some(client)) => scopes::grant(&form.params.scope, client, role).ok(),
                _ => None,
            }
        }
        _ => None,
    };
    if ok {
        state.throttle.succeeded(&username);
    } else {
        state.throttle.failed(&username, addr, clock.now());
    }
    let params = form.params.clone();
    let stamper = state.stamper.clone();
    let result = state
        .db
        .call(move |conn| -> Result<Option<String>, ApiError> {
            let tx = conn.transaction().map_err(ApiError::from_sql)?;
            let code = match granted {
                Some(scope) => {
                    let code = random_secret();
                    let now = clock.now();
                    let expires = format_instant(now.saturating_add(CODE_LIFETIME).unwrap_or(now));
                    tx.execute(
                        "INSERT INTO auth_code (code_hash, client_id, redirect_uri, code_challenge, scope, username, expires_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![hash_secret(&code), params.client_id, params.redirect_uri,
                                params.code_challenge, scope, username, expires],
                    )
                    .map_err(ApiError::from_sql)?;
                    audit::security(&tx, &stamper, SecurityEvent::SignIn, &actor, &format!("signed in to {}", params.client_id))?;
                    Some(code)
                }
                None => {
                    audit::security(&tx, &stamper, SecurityEvent::SignInFailed, &actor, "wrong username or password")?;
                    None
                }
            };
            tx.commit().map_err(ApiError::from_sql)?;
            Ok(code)
        })
        .await;
    match result {
        Ok(Some(code)) => {
            let mut url = match url::Url::parse(&form.params.redirect_uri) {
                Ok(url) => url,
                Err(_) => {
                    return error_page(lang, StatusCode::BAD_REQUEST, "Invalid return address.");
                }
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
                lang,
                &form.params,
                Some(lang.pick(
                    "That username and password did not match. Please check them and try again.",
                    "El usuario y la contraseña no coinciden. Revíselos y vuelva a intentarlo.",
                )),
            ),
        )
            .into_response(),
        Err(_) => error_page(
            lang,
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.pick(
                "Something went wrong on our side. Please try again in a moment.",
                "Algo falló de nuestro lado. Vuelva a intentarlo en un momento.",
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHash;

    #[test]
    fn dummy_hash_is_well_formed() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("anything", DUMMY_HASH));
    }
}
