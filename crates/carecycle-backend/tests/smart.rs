//! SMART App Launch against the real endpoints: discovery, PKCE S256 required,
//! state echoed, redirect URIs checked, refresh tokens that rotate, and reuse
//! of a spent refresh token revoking the whole family.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_backend::seed::*;
use serde_json::Value;
use support::*;

async fn token_request(s: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let r = s
        .http
        .post(format!("{}/auth/token", s.origin()))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn discovery_and_the_authorization_request_checks() {
    let s = TestServer::demo().await;
    let config: Value = s
        .http
        .get(format!("{}/.well-known/smart-configuration", s.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(
        config["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "launch-standalone")
    );

    let authorize = |params: Vec<(&'static str, String)>| {
        let http = s.http.clone();
        let url = format!("{}/auth/authorize", s.origin());
        async move { http.get(url).query(&params).send().await.unwrap() }
    };
    let good = |redirect: &str, method: &str| {
        vec![
            ("response_type", "code".to_owned()),
            ("client_id", "carecycle-app".to_owned()),
            ("redirect_uri", redirect.to_owned()),
            ("scope", "launch/patient patient/*.rs".to_owned()),
            ("state", "xyz".to_owned()),
            ("aud", s.base()),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
            ),
            ("code_challenge_method", method.to_owned()),
        ]
    };
    assert_eq!(
        authorize(good("http://127.0.0.1:49152/callback", "S256"))
            .await
            .status(),
        200
    );
    assert_eq!(
        authorize(good("dev.carecycle.app:/callback", "S256"))
            .await
            .status(),
        200,
        "mobile custom scheme"
    );
    // A redirect elsewhere is never followed: the error is shown, not redirected.
    let evil = authorize(good("https://evil.example/callback", "S256")).await;
    assert_eq!(evil.status(), 400);
    assert!(evil.headers().get("location").is_none());
    // PKCE is required, with S256.
    let plain = authorize(good("http://127.0.0.1:49152/callback", "plain")).await;
    let location = plain.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:49152/callback?error=invalid_request"),
        "{location}"
    );
    assert!(
        location.contains("state=xyz"),
        "state is echoed on errors too"
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let s = TestServer::demo().await;
    let first = s
        .sign_in_with_scope(
            DEMO_PATIENT_USERNAME,
            DEMO_PATIENT_PASSWORD,
            "launch/patient offline_access patient/*.rs",
        )
        .await;
    assert!(first["patient"].is_string());
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let s = &s;
        async move {
            token_request(
                s,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", "carecycle-app"),
                ],
            )
            .await
        }
    };
    let (status, second) = refresh(r1.clone()).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "the refresh token rotates");
    let access2 = s.client(second.clone());
    assert_eq!(access2.get("Appointment").await.0, 200);

    // The spent token comes back (a stolen copy): refused, and the family ends.
    let (status, err) = refresh(r1).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_grant");
    let (status, _) = refresh(r2).await;
    assert_eq!(
        status, 400,
        "the newer refresh token of the family is revoked too"
    );
    assert_eq!(
        access2.get("Appointment").await.0,
        401,
        "and so are its access tokens"
    );
}

#[tokio::test]
async fn a_code_needs_the_right_verifier_and_is_used_once() {
    let s = TestServer::demo().await;
    // Sign in once through the helper to learn the flow works, then replay its code.
    let verifier = "a-test-verifier-that-is-long-enough-for-pkce-0123456789";
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let redirect = "http://127.0.0.1:9/callback";
    let submit = |password: &'static str| {
        let s = &s;
        let challenge = challenge.clone();
        async move {
            s.http
                .post(format!("{}/auth/authorize", s.origin()))
                .form(&[
                    ("response_type", "code"),
                    ("client_id", "carecycle-app"),
                    ("redirect_uri", redirect),
                    ("scope", "launch/patient patient/*.rs"),
                    ("state", "st-1"),
                    ("aud", &s.base()),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                    ("username", DEMO_PATIENT_USERNAME),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let code = || async {
        let r = submit(DEMO_PATIENT_PASSWORD).await;
        let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        let param = |name: &str| {
            location
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(param("state").as_deref(), Some("st-1"), "state echoed");
        param("code").unwrap()
    };
    let exchange = |code: String, verifier: &'static str| {
        let s = &s;
        async move {
            token_request(
                s,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("client_id", "carecycle-app"),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let c = code().await;
    assert_eq!(
        exchange(
            c.clone(),
            "the-wrong-verifier-the-wrong-verifier-the-wrong-verifier"
        )
        .await
        .0,
        400
    );
    let c = code().await;
    assert_eq!(exchange(c.clone(), verifier).await.0, 200);
    assert_eq!(exchange(c, verifier).await.0, 400, "a code works once");

    // A wrong password shows the form again with an error, and no code.
    let r = submit("nope").await;
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("role=\"alert\""));
}

#[tokio::test]
async fn data_survives_a_restart() {
    use carecycle_backend::{Seed, ServerOptions, start};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(carecycle_fhir::time::FixedClock::new(NOW.parse().unwrap()));
    let options = || ServerOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: Some(dir.path().to_owned()),
        seed: Some(Seed::Demo),
        clock: clock.clone(),
    };
    let first = start(options()).await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let s = TestServer {
        server: first,
        clock: clock.clone(),
        http: http.clone(),
    };
    let c = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    let p = c.patient.clone().unwrap();
    let (_, m) = c.post("Communication", &serde_json::json!({"resourceType": "Communication", "status": "completed", "subject": {"reference": format!("Patient/{p}")}, "payload": [{"contentString": "still here?"}]})).await;
    let count = c.search("Communication?_count=100").await.len();
    s.server.stop().await;

    let second = start(options()).await.unwrap();
    let s = TestServer {
        server: second,
        clock,
        http,
    };
    let c = s
        .sign_in(DEMO_PATIENT_USERNAME, DEMO_PATIENT_PASSWORD)
        .await;
    assert_eq!(
        c.patient.as_deref(),
        Some(p.as_str()),
        "seeded once, not again"
    );
    assert_eq!(c.search("Communication?_count=100").await.len(), count);
    assert_eq!(
        c.get(&format!("Communication/{}", m["id"].as_str().unwrap()))
            .await
            .1["payload"][0]["contentString"],
        "still here?"
    );
}
