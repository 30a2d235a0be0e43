//! What the core's integration tests share: tokens from the real back end's
//! SMART endpoints, a seeded back end, and the fault-injecting proxy.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod fault_proxy;

use base64::Engine;
use carecycle_backend::{RunningServer, Seed, ServerOptions};
use carecycle_fhir::time::Clock;
use serde_json::Value;
use sha2::Digest;
use std::sync::Arc;

/// The reference back end with the demo seed, on a free local port.
pub async fn demo_server(clock: Arc<dyn Clock>) -> RunningServer {
    carecycle_backend::start(ServerOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: None,
        seed: Some(Seed::Demo),
        clock,
    })
    .await
    .unwrap()
}

/// Signs in at the server itself (the SMART flow), for tokens to hand the app.
pub async fn tokens(server: &RunningServer, username: &str, password: &str, scope: &str) -> Value {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = &server.state.origin;
    let verifier = "verifier-verifier-verifier-verifier-verifier-0123";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:9/callback";
    // Care-team tools sign in as their own registered client.
    let client_id = if scope.split_whitespace().any(|s| s.starts_with("user/")) {
        carecycle_backend::scopes::TEAM_TOOL.id
    } else {
        carecycle_backend::scopes::APP.id
    };
    let answer = http
        .post(format!("{origin}/auth/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("scope", scope),
            ("state", "s"),
            ("aud", &server.fhir_base()),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    http.post(format!("{origin}/auth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The outside judge of issue #13 item 1: every resource version the test
/// wrote at `server` (the seed excluded) must be valid R4 to the stock
/// validators ([`judge`]). Skipped while the test is already failing. Their
/// counts go to the test's output (shown with `--nocapture`).
#[allow(clippy::print_stderr)]
pub fn judge_written(server: &RunningServer) {
    if std::thread::panicking() {
        return;
    }
    let written = server.written().expect("read what the test wrote");
    match judge(&written) {
        Ok(said) => eprint!("{said}"),
        Err(said) => panic!("what the test wrote is not valid R4: {said}"),
    }
}

/// Pipes `resources` to the stock R4 validators (`ui/scripts/judge-fhir.mjs`:
/// @medplum/core and the `fhir` package, from npm; the README's test command
/// installs them). `Ok` with their counts, or `Err` with every problem.
pub fn judge(resources: &[Value]) -> Result<String, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/scripts/judge-fhir.mjs");
    let mut judge = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs the stock validators (scripts/setup.sh installs ui/node_modules)");
    let input = serde_json::to_vec(resources).unwrap();
    let mut stdin = judge.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = judge.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(said)
    } else {
        Err(said)
    }
}
