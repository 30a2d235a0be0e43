//! SMART App Launch, standalone patient launch, for a native app: discovery from
//! `.well-known/smart-configuration`, authorization code + PKCE S256 through the
//! system browser, and the answer back through a one-shot loopback listener on
//! desktops (RFC 8252 §7.3) or the app's private-use scheme on phones (§7.1).
//! The OAuth mechanics (PKCE, state, token requests) come from the `oauth2` crate.

use crate::error::{CoreError, Invalid, Result};
use carecycle_fhir::time::Clock;
use jiff::{SignedDuration, Timestamp};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The app's registered client id (a public client: no secret).
pub const CLIENT_ID: &str = carecycle_fhir::APP_CLIENT_ID;

/// What the app asks for: the patient's own record, kept signed in with a
/// refresh token (see [`carecycle_fhir::APP_SCOPES`]).
pub const SCOPES: &[&str] = carecycle_fhir::APP_SCOPES;

/// How long the app waits for the person to finish signing in in the browser.
pub const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Deserialize)]
pub struct SmartConfiguration {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
}

/// SMART's additions to the token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmartTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
}

impl ExtraTokenFields for SmartTokenFields {}

type SmartTokenResponse = StandardTokenResponse<SmartTokenFields, BasicTokenType>;
type SmartClient = oauth2::Client<
    BasicErrorResponse,
    SmartTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The tokens of one profile, as kept (JSON) in the keyring.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token stops working (RFC 3339).
    pub expires_at: Option<String>,
    pub patient: Option<String>,
    pub scope: Option<String>,
    pub token_endpoint: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_at", &self.expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

impl TokenSet {
    /// Would the access token expire within `margin` of `now`?
    pub fn expires_within(&self, now: Timestamp, margin: SignedDuration) -> bool {
        self.expires_at
            .as_deref()
            .and_then(|e| e.parse::<Timestamp>().ok())
            .is_some_and(|e| e <= now.saturating_add(margin).unwrap_or(now))
    }

    fn from_response(r: &SmartTokenResponse, now: Timestamp, token_endpoint: &str) -> TokenSet {
        TokenSet {
            access_token: r.access_token().secret().clone(),
            refresh_token: r.refresh_token().map(|t| t.secret().clone()),
            expires_at: r.expires_in().and_then(|d| {
                let d = SignedDuration::try_from(d).ok()?;
                now.checked_add(d).ok().map(|t| t.to_string())
            }),
            patient: r.extra_fields().patient.clone(),
            scope: r
                .scopes()
                .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
            token_endpoint: Some(token_endpoint.to_owned()),
        }
    }
}

/// Opens a URL where the person can sign in.
pub trait Browser: Send + Sync + std::fmt::Debug {
    fn open(&self, url: &str) -> std::result::Result<(), String>;
}

/// The system's default browser (honours `$BROWSER` on Linux and the BSDs).
#[derive(Debug, Default)]
pub struct SystemBrowser;

impl Browser for SystemBrowser {
    fn open(&self, url: &str) -> std::result::Result<(), String> {
        webbrowser::open(url).map_err(|e| e.to_string())
    }
}

/// An HTTP client for talking to FHIR and OAuth endpoints: no redirects
/// followed (OAuth token endpoints must not redirect), bounded timeouts.
pub fn http_client() -> Result<reqwest::Client> {
    http_client_with_timeout(Duration::from_secs(30))
}

/// The same client with another overall request timeout.
pub fn http_client_with_timeout(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("CareCycle/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(CoreError::network)
}

/// Refuses plain http to anything but loopback.
pub fn check_transport(url: &url::Url) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http"
            if matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || url.host_str() == Some("localhost") =>
        {
            Ok(())
        }
        _ => Err(CoreError::InvalidInput(Invalid::NotHttps)),
    }
}

/// Parses and checks a FHIR base URL the person typed.
pub fn parse_fhir_base(input: &str) -> Result<url::Url> {
    let trimmed = input.trim().trim_end_matches('/');
    let url =
        url::Url::parse(trimmed).map_err(|_| CoreError::InvalidInput(Invalid::NotAnAddress))?;
    check_transport(&url)?;
    Ok(url)
}

pub async fn discover(http: &reqwest::Client, fhir_base: &url::Url) -> Result<SmartConfiguration> {
    let url = format!(
        "{}/.well-known/smart-configuration",
        fhir_base.as_str().trim_end_matches('/')
    );
    let response = http
        .get(&url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(CoreError::network)?;
    if !response.status().is_success() {
        return Err(CoreError::NotAFhirServer(format!(
            "this server does not offer SMART sign-in (it answered {})",
            response.status().as_u16()
        )));
    }
    let config: SmartConfiguration = response.json().await.map_err(|_| {
        CoreError::NotAFhirServer("this server's sign-in description could not be read".into())
    })?;
    if !config.code_challenge_methods_supported.is_empty()
        && !config
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
    {
        return Err(CoreError::NotAFhirServer(
            "this server does not support secure sign-in for apps (PKCE S256)".into(),
        ));
    }
    let endpoints = [
        Some(&config.authorization_endpoint),
        Some(&config.token_endpoint),
        config.revocation_endpoint.as_ref(),
    ];
    for endpoint in endpoints.into_iter().flatten() {
        let url = url::Url::parse(endpoint).map_err(|_| {
            CoreError::NotAFhirServer("the server's sign-in address is invalid".into())
        })?;
        check_transport(&url)?;
    }
    Ok(config)
}

fn client(config: &SmartConfiguration, redirect: Option<&str>) -> Result<SmartClient> {
    let bad = |_| CoreError::NotAFhirServer("the server's sign-in address is invalid".into());
    let mut client = oauth2::Client::new(ClientId::new(CLIENT_ID.to_owned()))
        .set_auth_uri(AuthUrl::new(config.authorization_endpoint.clone()).map_err(bad)?)
        .set_token_uri(TokenUrl::new(config.token_endpoint.clone()).map_err(bad)?);
    if let Some(redirect) = redirect {
        client = client.set_redirect_uri(
            RedirectUrl::new(redirect.to_owned())
                .map_err(|_| CoreError::Data("bad redirect address".into()))?,
        );
    }
    Ok(client)
}

fn token_error<E: std::error::Error + 'static>(
    e: RequestTokenError<E, BasicErrorResponse>,
) -> CoreError {
    match e {
        RequestTokenError::ServerResponse(r) => CoreError::SessionExpired(
            r.error_description()
                .cloned()
                .unwrap_or_else(|| r.error().to_string()),
        ),
        RequestTokenError::Request(e) => CoreError::Network(e.to_string()),
        RequestTokenError::Parse(_, _) => {
            CoreError::SignIn("the server's token answer could not be read".into())
        }
        RequestTokenError::Other(m) => CoreError::SignIn(m),
    }
}

/// What a redirect back to the app said, read the same way whichever road it
/// came by (a loopback request or a link the operating system opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// Not a sign-in answer for this window (another path, another `state`):
    /// ignored, the wait goes on.
    NotOurs,
    /// The authorization code.
    Code(String),
    /// The server refused or the person cancelled (`error`, with its description).
    Refused(String),
    /// Right state but no code and no error.
    Incomplete,
}

/// Reads a redirect `url` (`…/callback?code=…&state=…`), checking `state`
/// (RFC 6749 §10.12) before anything else.
pub fn read_callback(url: &url::Url, expected_state: &str) -> Callback {
    if !url.path().ends_with("/callback") {
        return Callback::NotOurs;
    }
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if param("state").as_deref() != Some(expected_state) {
        return Callback::NotOurs;
    }
    if let Some(error) = param("error") {
        return Callback::Refused(param("error_description").unwrap_or(error));
    }
    param("code").map_or(Callback::Incomplete, Callback::Code)
}

impl Callback {
    /// The code, the error, or None to keep waiting.
    fn outcome(self) -> Option<Result<String>> {
        match self {
            Callback::NotOurs => None,
            Callback::Code(code) => Some(Ok(code)),
            Callback::Refused(why) => Some(Err(CoreError::SignIn(why))),
            Callback::Incomplete => Some(Err(CoreError::SignIn(
                "the redirect carried no authorization code".into(),
            ))),
        }
    }
}

/// How the sign-in page's answer comes back to the app (RFC 8252 §7): chosen
/// once per platform by [`ReturnPath::for_this_platform`].
#[derive(Debug, Clone)]
pub enum ReturnPath {
    /// A one-shot listener on 127.0.0.1 (§7.3): desktops, where any app may listen.
    Loopback,
    /// The app's private-use scheme [`carecycle_fhir::APP_REDIRECT_URI`] (§7.1),
    /// which the operating system hands to the app as an opened link: phones,
    /// where an app cannot keep a listener while the browser is in front.
    AppScheme(AppLinks),
}

impl ReturnPath {
    /// Loopback on desktops, the app's scheme on Android and iOS. `links` is
    /// where the shell delivers the links the app is opened with.
    pub fn for_this_platform(links: AppLinks) -> ReturnPath {
        if cfg!(any(target_os = "android", target_os = "ios")) {
            ReturnPath::AppScheme(links)
        } else {
            ReturnPath::Loopback
        }
    }
}

/// The links the operating system opened the app with (a deep link), as they
/// arrive. The shell delivers each; a sign-in in progress takes its answer.
#[derive(Debug, Clone)]
pub struct AppLinks {
    sender: tokio::sync::broadcast::Sender<String>,
}

impl Default for AppLinks {
    fn default() -> Self {
        AppLinks {
            sender: tokio::sync::broadcast::channel(8).0,
        }
    }
}

impl AppLinks {
    /// Hands a link the app was opened with to whoever is waiting for one.
    pub fn deliver(&self, link: &str) {
        // Nobody waiting: a stale or stray link, dropped.
        let _ = self.sender.send(link.to_owned());
    }

    /// Waits for the sign-in answer with `expected_state`; other links are ignored.
    async fn wait_for_code(
        mut links: tokio::sync::broadcast::Receiver<String>,
        expected_state: String,
    ) -> Result<String> {
        loop {
            let link = match links.recv().await {
                Ok(link) => link,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return Err(CoreError::SignIn("the sign-in listener stopped".into()));
                }
            };
            let Ok(url) = url::Url::parse(&link) else {
                continue;
            };
            if url.scheme() != carecycle_fhir::APP_IDENTIFIER {
                continue;
            }
            if let Some(outcome) = read_callback(&url, &expected_state).outcome() {
                return outcome;
            }
        }
    }
}

/// One-shot listener for the browser's redirect back to the app.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    pub redirect_uri: String,
}

impl LoopbackListener {
    pub async fn bind() -> Result<LoopbackListener> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        Ok(LoopbackListener {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
        })
    }

    /// Waits for `GET /callback?code=…&state=…` with the expected state, answers
    /// the browser with a page saying where to go next, and closes.
    pub async fn wait_for_code(self, expected_state: &str) -> Result<String> {
        loop {
            let (mut socket, _) = self.listener.accept().await?;
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            // Read the request head only; a callback carries no body.
            let target = loop {
                let n = match tokio::time::timeout(
                    Duration::from_secs(10),
                    socket.read(&mut buf[len..]),
                )
                .await
                {
                    Ok(Ok(n)) => n,
                    _ => break None,
                };
                if n == 0 {
                    break None;
                }
                len += n;
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut request = httparse::Request::new(&mut headers);
                match request.parse(&buf[..len]) {
                    Ok(httparse::Status::Complete(_)) => break request.path.map(str::to_owned),
                    Ok(httparse::Status::Partial) if len < buf.len() => continue,
                    _ => break None,
                }
            };
            let Some(target) = target else { continue };
            let Ok(url) = url::Url::parse(&format!("http://127.0.0.1{target}")) else {
                continue;
            };
            if url.path() != "/callback" {
                let _ = respond(
                    &mut socket,
                    404,
                    "Not found",
                    "This address is only used to finish signing in to CareCycle.",
                )
                .await;
                continue;
            }
            let callback = read_callback(&url, expected_state);
            let (status, title, message) = match &callback {
                Callback::NotOurs => (
                    400,
                    "Sign-in not recognised",
                    "This sign-in did not come from the CareCycle window that is waiting. Please start again from the app.",
                ),
                Callback::Code(_) => (
                    200,
                    "You are signed in",
                    "You are signed in to CareCycle. You can close this window and go back to the app.",
                ),
                Callback::Refused(_) => (
                    200,
                    "Sign-in not completed",
                    "Signing in did not finish. You can close this window and try again in CareCycle.",
                ),
                Callback::Incomplete => (
                    400,
                    "Sign-in not completed",
                    "The answer from the sign-in page was incomplete. Please try again.",
                ),
            };
            let _ = respond(&mut socket, status, title, message).await;
            if let Some(outcome) = callback.outcome() {
                return outcome;
            }
        }
    }
}

async fn respond(
    socket: &mut tokio::net::TcpStream,
    status: u16,
    title: &str,
    message: &str,
) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} — CareCycle</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;font-size:1.1rem;line-height:1.5\">\
         <main><h1>{title}</h1><p>{message}</p></main></body></html>"
    );
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Not Found",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await?;
    socket.shutdown().await
}

/// The whole standalone launch: discover, open the browser, wait for the
/// answer on `return_path`, exchange the code with the PKCE verifier.
pub async fn sign_in(
    http: &reqwest::Client,
    fhir_base: &url::Url,
    browser: &dyn Browser,
    return_path: &ReturnPath,
    clock: &dyn Clock,
    timeout: Duration,
) -> Result<TokenSet> {
    let config = discover(http, fhir_base).await?;
    // Listen before the browser opens, so a browser that runs in the
    // foreground cannot find nobody listening.
    let (redirect_uri, answer) = match return_path {
        ReturnPath::Loopback => {
            let listener = LoopbackListener::bind().await?;
            (listener.redirect_uri.clone(), Answer::Loopback(listener))
        }
        ReturnPath::AppScheme(links) => (
            carecycle_fhir::APP_REDIRECT_URI.to_owned(),
            Answer::AppScheme(links.sender.subscribe()),
        ),
    };
    let oauth = client(&config, Some(&redirect_uri))?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scopes(SCOPES.iter().map(|s| Scope::new((*s).to_owned())))
        .add_extra_param("aud", fhir_base.as_str().trim_end_matches('/'))
        .set_pkce_challenge(challenge)
        .url();
    let expected_state = state.secret().clone();
    let waiting = tokio::spawn(async move {
        match answer {
            Answer::Loopback(listener) => listener.wait_for_code(&expected_state).await,
            Answer::AppScheme(links) => AppLinks::wait_for_code(links, expected_state).await,
        }
    });
    if let Err(e) = browser.open(authorize_url.as_str()) {
        waiting.abort();
        return Err(CoreError::SignIn(format!(
            "the web browser could not be opened: {e}"
        )));
    }
    let code = match tokio::time::timeout(timeout, waiting).await {
        Ok(Ok(result)) => result?,
        Ok(Err(_)) => return Err(CoreError::SignIn("the sign-in listener stopped".into())),
        Err(_) => return Err(CoreError::SignInTimedOut(timeout.as_secs())),
    };
    let response = oauth
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .map_err(|e| match token_error(e) {
            CoreError::SessionExpired(m) => CoreError::SignIn(m),
            other => other,
        })?;
    Ok(TokenSet::from_response(
        &response,
        clock.now(),
        &config.token_endpoint,
    ))
}

/// Where a sign-in's answer is awaited, set up before the browser opens.
enum Answer {
    Loopback(LoopbackListener),
    AppScheme(tokio::sync::broadcast::Receiver<String>),
}

/// Ends the sign-in at the server (RFC 7009): the refresh token when there is
/// one (which ends the access tokens made from it), else the access token.
/// A plain form POST rather than the `oauth2` crate's revocation request,
/// which refuses any http endpoint — also the loopback one the app allows for
/// a server on this computer ([`check_transport`] already vetted it).
pub async fn revoke(
    http: &reqwest::Client,
    revocation_endpoint: &str,
    tokens: &TokenSet,
) -> Result<()> {
    let (token, hint) = match &tokens.refresh_token {
        Some(refresh) => (refresh.as_str(), "refresh_token"),
        None => (tokens.access_token.as_str(), "access_token"),
    };
    let answer = http
        .post(revocation_endpoint)
        .form(&[
            ("token", token),
            ("token_type_hint", hint),
            ("client_id", CLIENT_ID),
        ])
        .send()
        .await
        .map_err(CoreError::network)?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(CoreError::Server {
            status: answer.status().as_u16(),
            message: "the server did not end the sign-in".into(),
        })
    }
}

/// Trades a refresh token for new tokens. The server rotates refresh tokens:
/// the old one is spent, and the new set must replace it at once.
pub async fn refresh(
    http: &reqwest::Client,
    tokens: &TokenSet,
    clock: &dyn Clock,
) -> Result<TokenSet> {
    let (Some(refresh_token), Some(token_endpoint)) =
        (&tokens.refresh_token, &tokens.token_endpoint)
    else {
        return Err(CoreError::SessionExpired("no refresh token".into()));
    };
    let config = SmartConfiguration {
        // Only the token endpoint is used for a refresh.
        authorization_endpoint: token_endpoint.clone(),
        token_endpoint: token_endpoint.clone(),
        code_challenge_methods_supported: vec![],
        capabilities: vec![],
        revocation_endpoint: None,
    };
    let response = client(&config, None)?
        .exchange_refresh_token(&RefreshToken::new(refresh_token.clone()))
        .request_async(http)
        .await
        .map_err(token_error)?;
    let mut next = TokenSet::from_response(&response, clock.now(), token_endpoint);
    // A server may keep the refresh token unchanged and omit it; SMART allows both.
    if next.refresh_token.is_none() {
        next.refresh_token = tokens.refresh_token.clone();
    }
    if next.patient.is_none() {
        next.patient = tokens.patient.clone();
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_rules() {
        assert!(parse_fhir_base("https://fhir.example.org/r4/").is_ok());
        assert!(parse_fhir_base("http://127.0.0.1:8080/fhir").is_ok());
        assert!(parse_fhir_base("http://fhir.example.org/r4").is_err());
        assert!(parse_fhir_base("not a url").is_err());
    }

    #[test]
    fn a_callback_is_read_state_first() {
        let read = |u: &str| read_callback(&url::Url::parse(u).unwrap(), "s1");
        assert_eq!(
            read("dev.carecycle.app:/callback?code=c&state=s1"),
            Callback::Code("c".into())
        );
        // Another window's answer, or a forged one, is not ours even when it says "error".
        assert_eq!(
            read("dev.carecycle.app:/callback?code=c&state=s2"),
            Callback::NotOurs
        );
        assert_eq!(
            read("dev.carecycle.app:/callback?error=access_denied"),
            Callback::NotOurs
        );
        assert_eq!(
            read("dev.carecycle.app:/elsewhere?code=c&state=s1"),
            Callback::NotOurs
        );
        assert_eq!(
            read(
                "dev.carecycle.app:/callback?state=s1&error=access_denied&error_description=Cancelled"
            ),
            Callback::Refused("Cancelled".into())
        );
        assert_eq!(
            read("dev.carecycle.app:/callback?state=s1"),
            Callback::Incomplete
        );
    }

    #[tokio::test]
    async fn app_links_wait_for_this_sign_in_only() {
        let links = AppLinks::default();
        let waiting = tokio::spawn(AppLinks::wait_for_code(
            links.sender.subscribe(),
            "s1".into(),
        ));
        links.deliver("not a link");
        links.deliver("https://evil.example/callback?code=stolen&state=s1");
        links.deliver("dev.carecycle.app:/callback?code=forged&state=other");
        links.deliver("dev.carecycle.app:/callback?code=c42&state=s1");
        assert_eq!(waiting.await.unwrap().unwrap(), "c42");

        let waiting = tokio::spawn(AppLinks::wait_for_code(
            links.sender.subscribe(),
            "s2".into(),
        ));
        links.deliver("dev.carecycle.app:/callback?state=s2&error=access_denied");
        assert_eq!(
            waiting.await.unwrap().unwrap_err().code(),
            crate::ErrorCode::SignInFailed
        );
    }

    #[tokio::test]
    async fn listener_checks_state_and_returns_code() {
        let listener = LoopbackListener::bind().await.unwrap();
        let base = listener.redirect_uri.clone();
        let task = tokio::spawn(async move { listener.wait_for_code("s1").await });
        let http = reqwest::Client::new();
        let wrong = http
            .get(format!("{base}?code=c&state=other"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 400);
        let ok = http
            .get(format!("{base}?code=c42&state=s1"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert!(ok.text().await.unwrap().contains("You are signed in"));
        assert_eq!(task.await.unwrap().unwrap(), "c42");
    }
}
