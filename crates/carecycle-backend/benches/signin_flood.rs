//! Benchmark (prints figures; not a timed test) of whether a wrong-password
//! flood against the sign-in endpoint starves the FHIR API: the p95 latency
//! of ordinary FHIR reads, first on a quiet server, then while 16 threads
//! post wrong passwords to `/auth/authorize` as fast as they can. Issue #12
//! asks that the flood not raise read p95 above 3× its quiet value; the
//! figures are printed, not asserted (timing on a shared machine is not a
//! test). Any read that does not answer 200 is a failure, though, and makes
//! the run exit non-zero.
//!
//! The back end runs on its own Tokio runtime (as `carecycle-backend` would),
//! the reader on another and every flooding thread on its own, so the
//! figures measure the server and not a client scheduler shared with it.
//! Everything is on 127.0.0.1.
//!
//! Run with `cargo bench -p carecycle-backend --bench signin_flood`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carecycle_backend::{Seed, ServerOptions, scopes, seed, start};
use carecycle_fhir::time::SystemClock;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Reads per phase, one after another on one connection.
const READS: usize = 400;
/// Reads before the quiet phase, not counted (connection, caches).
const WARM_UP: usize = 20;
/// Threads posting wrong passwords.
const FLOOD_THREADS: usize = 16;
/// The flood stops when the reads are done, or after this long at most...
const FLOOD_MAX_TIME: Duration = Duration::from_secs(20);
/// ...or after this many attempts in all.
const FLOOD_MAX_ATTEMPTS: u64 = 500_000;
/// What each read asks for.
const READ_PATH: &str = "Appointment?_count=20";
/// The app's scope, as the real sign-in asks for it.
const SCOPE: &str = "launch/patient patient/*.rs";
const VERIFIER: &str = "a-bench-verifier-that-is-long-enough-for-pkce-0123456789";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
/// Names the flood cycles over: real accounts and unknown ones.
const FLOOD_USERNAMES: [&str; 6] = [
    seed::DEMO_PATIENT_USERNAME,
    seed::SECOND_PATIENT_USERNAME,
    seed::PROXY_USERNAME,
    "nobody",
    "admin",
    "mallory",
];

/// The form fields of a real sign-in (PKCE S256) with these credentials.
fn sign_in_form(aud: &str, username: &str, password: &str) -> Vec<(&'static str, String)> {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    vec![
        ("response_type", "code".to_owned()),
        ("client_id", scopes::APP.id.to_owned()),
        ("redirect_uri", REDIRECT.to_owned()),
        ("scope", SCOPE.to_owned()),
        ("state", "bench".to_owned()),
        ("aud", aud.to_owned()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".to_owned()),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
    ]
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// The patient's SMART sign-in through /auth/authorize and /auth/token; the
/// access token.
async fn patient_token(http: &reqwest::Client, origin: &str, aud: &str) -> String {
    let answer = http
        .post(format!("{origin}/auth/authorize"))
        .form(&sign_in_form(
            aud,
            seed::DEMO_PATIENT_USERNAME,
            seed::DEMO_PATIENT_PASSWORD,
        ))
        .send()
        .await
        .expect("sign-in form");
    let location = answer
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("sign-in refused: {}", answer.status()))
        .to_str()
        .expect("location header")
        .to_owned();
    let code = url::Url::parse(&location)
        .expect("redirect URL")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code in the redirect");
    let token: serde_json::Value = http
        .post(format!("{origin}/auth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", scopes::APP.id),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token response");
    token["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {token}"))
        .to_owned()
}

/// Latencies of `n` reads, one after another, and how many did not answer 200.
async fn reads(http: &reqwest::Client, url: &str, token: &str, n: usize) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::with_capacity(n);
    let mut failed = 0;
    for _ in 0..n {
        let t = Instant::now();
        let ok = match http.get(url).bearer_auth(token).send().await {
            Ok(r) => {
                let status = r.status();
                // The whole body, as a client would read it.
                let body = r.bytes().await;
                status == reqwest::StatusCode::OK && body.is_ok()
            }
            Err(_) => false,
        };
        latencies.push(t.elapsed());
        if !ok {
            failed += 1;
        }
    }
    (latencies, failed)
}

/// p50, p95 and max (nearest rank), in milliseconds.
fn summary(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let rank = |p: f64| {
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1e3
    };
    (rank(0.50), rank(0.95), rank(1.0))
}

/// Answers to the flood, by status.
#[derive(Debug, Default)]
struct FloodCounts {
    unauthorized: AtomicU64,
    too_many: AtomicU64,
    other: AtomicU64,
    errors: AtomicU64,
}

impl FloodCounts {
    fn total(&self) -> u64 {
        self.unauthorized.load(Ordering::Relaxed)
            + self.too_many.load(Ordering::Relaxed)
            + self.other.load(Ordering::Relaxed)
            + self.errors.load(Ordering::Relaxed)
    }
}

/// One flooding thread: wrong passwords, as fast as answers come, until told
/// to stop, out of time or out of attempts.
fn flood_thread(
    index: usize,
    origin: String,
    aud: String,
    stop: Arc<AtomicBool>,
    counts: Arc<FloodCounts>,
    deadline: Instant,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("flood runtime");
    rt.block_on(async move {
        let http = no_redirects();
        let url = format!("{origin}/auth/authorize");
        let mut attempt = 0usize;
        while !stop.load(Ordering::Relaxed)
            && Instant::now() < deadline
            && counts.total() < FLOOD_MAX_ATTEMPTS
        {
            let username = FLOOD_USERNAMES[(index + attempt) % FLOOD_USERNAMES.len()];
            let password = format!("wrong-password-{index}-{attempt}");
            attempt += 1;
            let counter = match http
                .post(&url)
                .form(&sign_in_form(&aud, username, &password))
                .send()
                .await
            {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    match status {
                        401 => &counts.unauthorized,
                        429 => &counts.too_many,
                        _ => &counts.other,
                    }
                }
                Err(_) => &counts.errors,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
}

fn main() {
    let started = Instant::now();
    // The back end on its own runtime, with as many workers as cores.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("server runtime");
    let server = server_rt
        .block_on(start(ServerOptions {
            addr: "127.0.0.1:0".parse().expect("loopback address"),
            data_dir: None,
            seed: Some(Seed::Demo),
            clock: Arc::new(SystemClock),
        }))
        .expect("back end starts");
    let origin = server.state.origin.clone();
    let base = server.fhir_base();
    let read_url = format!("{base}/{READ_PATH}");

    // The reader: its own runtime on this thread, one client, one connection.
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let http = no_redirects();
    let token = client_rt.block_on(patient_token(&http, &origin, &base));

    let (quiet, quiet_failed, flood, flood_failed, counts, flood_time) =
        client_rt.block_on(async {
            let (_, warm_failed) = reads(&http, &read_url, &token, WARM_UP).await;
            let (quiet, quiet_failed) = reads(&http, &read_url, &token, READS).await;

            let stop = Arc::new(AtomicBool::new(false));
            let counts = Arc::new(FloodCounts::default());
            let flood_started = Instant::now();
            let deadline = flood_started + FLOOD_MAX_TIME;
            let threads: Vec<_> = (0..FLOOD_THREADS)
                .map(|i| {
                    let (origin, aud, stop, counts) =
                        (origin.clone(), base.clone(), stop.clone(), counts.clone());
                    std::thread::spawn(move || {
                        flood_thread(i, origin, aud, stop, counts, deadline);
                    })
                })
                .collect();
            let (flood, flood_failed) = reads(&http, &read_url, &token, READS).await;
            stop.store(true, Ordering::Relaxed);
            let flood_time = flood_started.elapsed();
            for t in threads {
                t.join().expect("flood thread");
            }
            (
                quiet,
                quiet_failed + warm_failed,
                flood,
                flood_failed,
                counts,
                flood_time,
            )
        });
    drop(http);
    drop(client_rt);
    server_rt.block_on(server.stop());
    drop(server_rt);

    let (q50, q95, qmax) = summary(quiet);
    let (f50, f95, fmax) = summary(flood);
    println!("read: GET {READ_PATH} as the demo patient, {READS} sequential reads per phase");
    println!("quiet: p50 {q50:.2} ms, p95 {q95:.2} ms, max {qmax:.2} ms ({quiet_failed} failed)");
    println!(
        "flood ({FLOOD_THREADS} threads of wrong passwords): p50 {f50:.2} ms, p95 {f95:.2} ms, max {fmax:.2} ms ({flood_failed} failed)"
    );
    let total = counts.total();
    println!(
        "flood answers: {total} in {:.1} s ({:.0}/s): {} × 401, {} × 429, {} other, {} transport errors",
        flood_time.as_secs_f64(),
        total as f64 / flood_time.as_secs_f64(),
        counts.unauthorized.load(Ordering::Relaxed),
        counts.too_many.load(Ordering::Relaxed),
        counts.other.load(Ordering::Relaxed),
        counts.errors.load(Ordering::Relaxed),
    );
    println!(
        "flood p95 / quiet p95 = {:.2}× (target ≤ 3×)",
        f95 / q95.max(f64::MIN_POSITIVE)
    );
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    if quiet_failed + flood_failed > 0 {
        eprintln!(
            "error: {} FHIR reads did not answer 200",
            quiet_failed + flood_failed
        );
        std::process::exit(1);
    }
}
