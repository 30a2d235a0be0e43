//! A real back end on a loopback port, and sign-ins through its real SMART
//! authorization endpoints (PKCE S256), for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carecycle_backend::{RunningServer, Seed, ServerOptions, start};
use carecycle_fhir::time::FixedClock;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub struct TestServer {
    pub server: RunningServer,
    pub clock: Arc<FixedClock>,
    pub http: reqwest::Client,
}

pub const NOW: &str = "2026-11-23T15:00:00Z";
const VERIFIER: &str = "a-test-verifier-that-is-long-enough-for-pkce-0123456789";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Care-team tools sign in as their own registered client; everyone else through the app.
pub fn client_for(scope: &str) -> &'static str {
    if scope.split_whitespace().any(|s| s.starts_with("user/")) {
        carecycle_backend::scopes::TEAM_TOOL.id
    } else {
        carecycle_backend::scopes::APP.id
    }
}

impl TestServer {
    pub async fn demo() -> TestServer {
        let clock = Arc::new(FixedClock::new(NOW.parse().unwrap()));
        let server = start(ServerOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir: None,
            seed: Some(Seed::Demo),
            clock: clock.clone(),
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestServer {
            server,
            clock,
            http,
        }
    }

    /// The demo on a data directory, on the real clock, so the team's command
    /// line (`team`) can work beside it as it does in production.
    pub async fn demo_in(dir: &std::path::Path) -> TestServer {
        let server = start(ServerOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir: Some(dir.to_owned()),
            seed: Some(Seed::Demo),
            clock: Arc::new(carecycle_fhir::time::SystemClock),
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestServer {
            server,
            clock: Arc::new(FixedClock::new(jiff::Timestamp::now())),
            http,
        }
    }

    pub fn base(&self) -> String {
        self.server.fhir_base()
    }

    pub fn origin(&self) -> String {
        self.server.state.origin.clone()
    }

    /// Posts the sign-in form as a browser would; the raw answer (a 303 to
    /// the app with a code, or the page again with an error).
    pub async fn submit_sign_in(
        &self,
        username: &str,
        password: &str,
        scope: &str,
    ) -> reqwest::Response {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
        self.http
            .post(format!("{}/auth/authorize", self.origin()))
            .form(&[
                ("response_type", "code"),
                ("client_id", client_for(scope)),
                ("redirect_uri", REDIRECT),
                ("scope", scope),
                ("state", "s1"),
                ("aud", &self.base()),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Signs in through /auth/authorize and /auth/token; the token response.
    pub async fn sign_in_with_scope(&self, username: &str, password: &str, scope: &str) -> Value {
        let answer = self.submit_sign_in(username, password, scope).await;
        let location = answer
            .headers()
            .get("location")
            .unwrap_or_else(|| panic!("sign-in refused for {username}: {}", answer.status()))
            .to_str()
            .unwrap()
            .to_owned();
        let url = url::Url::parse(&location).unwrap();
        let code = url
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        self.http
            .post(format!("{}/auth/token", self.origin()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", client_for(scope)),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A refresh-token grant: (status, body).
    pub async fn refresh(&self, refresh_token: &str, client_id: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/auth/token", self.origin()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id),
            ])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Client {
        let scope = if username == carecycle_backend::seed::KNEE_TEAM_USERNAME
            || username == carecycle_backend::seed::BREAST_TEAM_USERNAME
        {
            "user/*.cruds offline_access"
        } else {
            "launch/patient offline_access patient/*.cruds"
        };
        self.client(self.sign_in_with_scope(username, password, scope).await)
    }

    pub fn client(&self, token: Value) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base(),
            token: token["access_token"].as_str().unwrap().to_owned(),
            patient: token["patient"].as_str().map(str::to_owned),
        }
    }
}

/// A signed-in caller of the FHIR API.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub patient: Option<String>,
}

impl Client {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}/{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .http
            .request(
                method,
                if path.is_empty() {
                    self.base.clone()
                } else {
                    format!("{}/{path}", self.base)
                },
            )
            .bearer_auth(&self.token)
            .header("content-type", "application/fhir+json")
            .body(serde_json::to_vec(body).unwrap());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, r.json().await.unwrap_or(Value::Null), headers)
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::POST, path, body, &[]).await;
        (s, v)
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::PUT, path, body, &[]).await;
        (s, v)
    }

    /// The resources of a search (first page), asserting it succeeded.
    pub async fn search(&self, query: &str) -> Vec<Value> {
        let (status, bundle) = self.get(query).await;
        assert_eq!(status, 200, "{query}: {bundle}");
        entries(&bundle)
    }
}

pub fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|a| a.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

/// Runs the team's command line on a data directory: (succeeded, stdout, stderr).
pub fn team(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carecycle-backend"))
        .arg("team")
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`team`], asserting it succeeded; its output.
pub fn ok(data: &std::path::Path, args: &[&str]) -> String {
    let (success, out, err) = team(data, args);
    assert!(success, "team {args:?} failed: {err}");
    out
}
