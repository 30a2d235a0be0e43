//! Benchmark (prints figures; not a timed test) of whether a wrong-password
//! flood against the sign-in endpoint starves the FHIR API: the p95 latency
//! of ordinary FHIR reads, first on a quiet server, then while 16 threads
//! post wrong passwords to `/auth/authorize` as fast as they can. Issue #12
//! asks that the flood not raise read p95 above 3× its quiet value; the
//! figures are printed, not asserted (timing on a shared machine is not a
//! test). Any read that does not answer 200 is a failure, though, and makes
//! the run exit non-zero.
//!
//! Reads are paced (one every [`READ_INTERVAL`]) so each phase lasts a few
//! seconds: long enough for the flood to pass through the throttle's free
//! attempts into its steady state, not just its first second.
//!
//! A second flood phase is the worst case the throttle cannot stop: every
//! attempt names a new unknown user and each thread moves to a new loopback
//! source address (127.x.y.z) every few attempts, so every attempt costs a
//! password hash; it shows whether hashing itself starves the FHIR API.
//!
//! The back end runs on its own Tokio runtime (as `carecycle-backend` would),
//! the reader on another and every flooding thread on its own, so the
//! figures measure the server and not a client scheduler shared with it.
//! Everything is on loopback.
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
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Reads per phase, one after another on one connection.
const READS: usize = 400;
/// One read starts this often (or as soon as the previous one is answered).
const READ_INTERVAL: Duration = Duration::from_millis(12);
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
/// Attempts from one source address before a spread flood thread moves on
/// (fewer than the address throttle's free failures).
const ATTEMPTS_PER_ADDRESS: usize = 10;

/// How a flood chooses who it claims to be and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flood {
    /// One address (127.0.0.1), a few real and unknown names in turn.
    OneAddress,
    /// A new unknown name every attempt and a new loopback address every
    /// [`ATTEMPTS_PER_ADDRESS`]: nothing for the throttle to hold on to.
    Spread,
}

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

fn no_redirects(from: Option<IpAddr>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .local_address(from)
        .build()
        .expect("HTTP client")
}

/// The `n`th loopback source address of flood thread `thread` (never 127.0.0.1).
fn loopback(thread: usize, n: usize) -> IpAddr {
    let [_, a, b, c] = ((thread as u32 + 1) << 16 | (n as u32 & 0xffff)).to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(127, a.max(1), b, c))
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

/// Latencies of `n` paced reads, one after another, and how many did not
/// answer 200.
async fn reads(http: &reqwest::Client, url: &str, token: &str, n: usize) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::with_capacity(n);
    let mut failed = 0;
    let mut pace = tokio::time::interval(READ_INTERVAL);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..n {
        pace.tick().await;
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
    flood: Flood,
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
        let mut http = no_redirects(None);
        let url = format!("{origin}/auth/authorize");
        let mut attempt = 0usize;
        while !stop.load(Ordering::Relaxed)
            && Instant::now() < deadline
            && counts.total() < FLOOD_MAX_ATTEMPTS
        {
            let username = match flood {
                Flood::OneAddress => {
                    FLOOD_USERNAMES[(index + attempt) % FLOOD_USERNAMES.len()].to_owned()
                }
                Flood::Spread => {
                    if attempt.is_multiple_of(ATTEMPTS_PER_ADDRESS) {
                        http = no_redirects(Some(loopback(index, attempt / ATTEMPTS_PER_ADDRESS)));
                    }
                    format!("ghost-{index}-{attempt}")
                }
            };
            let password = format!("wrong-password-{index}-{attempt}");
            attempt += 1;
            let counter = match http
                .post(&url)
                .form(&sign_in_form(&aud, &username, &password))
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

/// The reads of one flood phase, and the flood's answers.
struct FloodPhase {
    latencies: Vec<Duration>,
    failed: usize,
    counts: Arc<FloodCounts>,
    elapsed: Duration,
}

/// Starts `FLOOD_THREADS` flooding threads, runs the reads meanwhile, then
/// stops the flood and waits for it.
async fn flood_phase(
    flood: Flood,
    http: &reqwest::Client,
    read_url: &str,
    token: &str,
    origin: &str,
    aud: &str,
) -> FloodPhase {
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(FloodCounts::default());
    let started = Instant::now();
    let deadline = started + FLOOD_MAX_TIME;
    let threads: Vec<_> = (0..FLOOD_THREADS)
        .map(|i| {
            let (origin, aud, stop, counts) = (
                origin.to_owned(),
                aud.to_owned(),
                stop.clone(),
                counts.clone(),
            );
            std::thread::spawn(move || flood_thread(flood, i, origin, aud, stop, counts, deadline))
        })
        .collect();
    let (latencies, failed) = reads(http, read_url, token, READS).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for t in threads {
        t.join().expect("flood thread");
    }
    FloodPhase {
        latencies,
        failed,
        counts,
        elapsed,
    }
}

fn load(counts: &AtomicU64) -> u64 {
    counts.load(Ordering::Relaxed)
}

/// Prints a flood phase's figures against the quiet p95; its p95.
fn report(label: &str, phase: FloodPhase, quiet_p95: f64) -> usize {
    let (p50, p95, max) = summary(phase.latencies);
    let c = &phase.counts;
    let total = c.total();
    let secs = phase.elapsed.as_secs_f64();
    println!(
        "{label}: p50 {p50:.2} ms, p95 {p95:.2} ms, max {max:.2} ms ({} failed)",
        phase.failed
    );
    println!(
        "  flood answers: {total} in {secs:.1} s ({:.0}/s): {} × 401, {} × 429, {} other, {} transport errors",
        total as f64 / secs,
        load(&c.unauthorized),
        load(&c.too_many),
        load(&c.other),
        load(&c.errors),
    );
    println!(
        "  flood p95 / quiet p95 = {:.2}× (target ≤ 3×)",
        p95 / quiet_p95.max(f64::MIN_POSITIVE)
    );
    phase.failed
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
    let http = no_redirects(None);
    let (quiet, quiet_failed, one, spread) = client_rt.block_on(async {
        // Signed in before any flood, so the throttle has nothing against it.
        let token = patient_token(&http, &origin, &base).await;
        let (_, warm_failed) = reads(&http, &read_url, &token, WARM_UP).await;
        let (quiet, quiet_failed) = reads(&http, &read_url, &token, READS).await;
        let one = flood_phase(Flood::OneAddress, &http, &read_url, &token, &origin, &base).await;
        let spread = flood_phase(Flood::Spread, &http, &read_url, &token, &origin, &base).await;
        (quiet, quiet_failed + warm_failed, one, spread)
    });
    drop(http);
    drop(client_rt);
    server_rt.block_on(server.stop());
    drop(server_rt);

    let (q50, q95, qmax) = summary(quiet);
    println!(
        "reads: GET {READ_PATH} as the demo patient (SMART sign-in), {READS} per phase, one every {} ms, sequential",
        READ_INTERVAL.as_millis()
    );
    println!("quiet: p50 {q50:.2} ms, p95 {q95:.2} ms, max {qmax:.2} ms ({quiet_failed} failed)");
    let mut failed = quiet_failed;
    failed += report(
        &format!("flood, {FLOOD_THREADS} threads, wrong passwords from 127.0.0.1"),
        one,
        q95,
    );
    failed += report(
        &format!(
            "spread flood, {FLOOD_THREADS} threads, new unknown name each attempt, new 127.x.y.z every {ATTEMPTS_PER_ADDRESS} (informational)"
        ),
        spread,
        q95,
    );
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    if failed > 0 {
        eprintln!("error: {failed} FHIR reads did not answer 200");
        std::process::exit(1);
    }
}
