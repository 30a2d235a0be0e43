//! The reference IPU back end: a SMART-on-FHIR R4 server small enough to run
//! embedded, used for the demo, for development and by every test.
//!
//! [`start`] runs it on a loopback port and hands back its address; the
//! `carecycle-backend` binary wraps the same function.

pub mod access;
pub mod api;
pub mod audit;
pub mod auth;
pub mod bundles;
pub mod conformance;
pub mod extract;
pub mod forms;
pub mod generate;
pub mod guard;
pub mod policy;
pub mod routing;
pub mod scopes;
pub mod search;
pub mod seed;
pub mod sign_in;
pub mod store;
pub mod team;
pub mod terminology;
pub mod throttle;
pub mod validate;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use carecycle_fhir::time::Clock;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use store::{Db, Stamper, StoreError};

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub stamper: Arc<Stamper>,
    /// Reads' AuditEvents, committed in batches before each read is answered.
    pub audit: audit::AuditLog,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    /// `http://127.0.0.1:PORT/fhir`
    pub fhir_base: String,
    /// The care organization named on the sign-in page.
    pub org_name: String,
    /// Shown on the sign-in page when the server runs with demo seed data.
    pub demo_credentials: Option<(String, String)>,
    /// Failed sign-ins per account and address.
    pub throttle: Arc<throttle::SignInThrottle>,
    /// Password checks running at once (each is ~20 MiB and tens of ms of CPU).
    pub hashing: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    Demo,
    /// The demo and a patient with a one-year record ([`seed::year`]).
    Year,
}

#[derive(Debug)]
pub struct ServerOptions {
    pub addr: SocketAddr,
    /// Where the database lives; `None` keeps everything in memory (tests).
    pub data_dir: Option<PathBuf>,
    pub seed: Option<Seed>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("address {0} is already in use; pick another port with --addr")]
    AddrInUse(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("the data directory {0} cannot be created or written: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("the database in {0} cannot be used: {1}")]
    Database(PathBuf, StoreError),
    #[error("seeding failed: {0}")]
    Seed(String),
}

/// A server running in the background of this process.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    /// Where the history stood when the server began to listen (after the seed).
    started: store::HistoryMark,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    pub fn fhir_base(&self) -> String {
        self.state.fhir_base.clone()
    }

    /// Every resource version written since the server began to listen (the
    /// seed excluded), as served: for tests to hand to an outside judge.
    pub fn written(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let since = self.started;
        self.state.db.with(|c| store::written_after(c, since))
    }

    /// Stops accepting, lets in-flight requests finish, and waits; then
    /// closes the audit log (every event handed to it is committed).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        let audit = self.state.audit.clone();
        let _ = tokio::task::spawn_blocking(move || audit.close()).await;
    }

    /// Waits until the server ends (it ends only when stopped).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Password checks that may run at once: fewer than the machine's cores, so
/// sign-ins never starve the FHIR API.
const PASSWORD_CHECKS_AT_ONCE: usize = 1;

pub const DATABASE_FILE: &str = "carecycle-backend.sqlite3";

fn open_database(options: &ServerOptions) -> Result<Db, StartError> {
    match &options.data_dir {
        None => {
            Db::open_in_memory().map_err(|e| StartError::Database(PathBuf::from(":memory:"), e))
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| StartError::DataDir(dir.clone(), e))?;
            let probe = dir.join(".write-test");
            std::fs::write(&probe, b"ok").map_err(|e| StartError::DataDir(dir.clone(), e))?;
            let _ = std::fs::remove_file(&probe);
            let path = dir.join(DATABASE_FILE);
            Db::open(&path).map_err(|e| StartError::Database(path, e))
        }
    }
}

fn db_path_for(options: &ServerOptions) -> PathBuf {
    options.data_dir.clone().unwrap_or_default()
}

pub async fn start(options: ServerOptions) -> Result<RunningServer, StartError> {
    let db = open_database(&options)?;
    let db_path = options.data_dir.clone().unwrap_or_default();
    let stamper = Arc::new(
        Stamper::new(options.clock.clone(), &db)
            .map_err(|e| StartError::Database(db_path.clone(), e))?,
    );
    // The server's own code systems and extensions, on every start.
    db.with(|c| conformance::publish(c, &stamper))
        .map_err(|e| StartError::Database(db_path.clone(), e))?;
    if let Some(which) = options.seed {
        let st = stamper.clone();
        db.with(|c| match which {
            Seed::Demo => seed::demo(c, &st),
            Seed::Year => seed::demo(c, &st).and_then(|()| seed::year(c, &st)),
        })
        .map_err(|e| StartError::Seed(e.to_string()))?;
    }
    let started = db
        .with(|c| store::history_mark(c))
        .map_err(|e| StartError::Database(db_path.clone(), e))?;
    let org_name = db
        .with(|c| store::meta_get(c, seed::META_ORG_NAME))
        .map_err(|e| StartError::Database(db_path, e))?
        .unwrap_or_else(|| "your care team".to_owned());
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => StartError::AddrInUse(options.addr),
            _ => StartError::Bind(options.addr, e),
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind(options.addr, e))?;
    let origin = format!("http://{addr}");
    let audit = audit::AuditLog::start(db.clone(), stamper.clone()).map_err(|e| {
        StartError::Database(db_path_for(&options), StoreError::Open(e.to_string()))
    })?;
    let state = AppState {
        db,
        stamper,
        audit,
        fhir_base: format!("{origin}/fhir"),
        origin,
        org_name,
        throttle: Arc::default(),
        hashing: Arc::new(tokio::sync::Semaphore::new(PASSWORD_CHECKS_AT_ONCE)),
        demo_credentials: options.seed.is_some().then(|| {
            (
                seed::DEMO_PATIENT_USERNAME.to_owned(),
                seed::DEMO_PATIENT_PASSWORD.to_owned(),
            )
        }),
    };
    let app = router(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "server stopped with an error");
        }
    });
    Ok(RunningServer {
        addr,
        state,
        started,
        shutdown: Some(tx),
        task,
    })
}

pub fn router(state: AppState) -> Router {
    let fhir = Router::new()
        .route("/fhir/metadata", get(api::metadata))
        .route(
            "/fhir/.well-known/smart-configuration",
            get(auth::smart_configuration),
        )
        .route("/fhir", post(bundles::transaction))
        .route("/fhir/ValueSet/$expand", get(terminology::expand_by_url))
        .route(
            "/fhir/ValueSet/{id}/$expand",
            get(terminology::expand_by_id),
        )
        .route("/fhir/{type}", get(api::search).post(api::create))
        .route("/fhir/{type}/_search", post(api::search_post))
        .route("/fhir/{type}/_history", get(bundles::history_type))
        .route("/fhir/{type}/{id}/_history", get(bundles::history_instance))
        .route(
            "/fhir/{type}/{id}",
            get(api::read).put(api::update).delete(api::delete),
        )
        .route("/fhir/{type}/{id}/_history/{version}", get(api::vread))
        .layer(axum::middleware::from_fn(guard::fhir_request))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::audit_refusals,
        ));
    Router::new()
        .route("/", get(home))
        .merge(fhir)
        .route(
            "/auth/authorize",
            get(sign_in::authorize_page).post(sign_in::authorize_submit),
        )
        .route("/auth/token", post(auth::token))
        .route("/auth/revoke", post(auth::revoke))
        .fallback(not_found)
        .method_not_allowed_fallback(guard::method_not_allowed)
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(guard::security_headers))
        .with_state(state)
}

async fn home(axum::extract::State(state): axum::extract::State<AppState>) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>CareCycle reference back end</title></head>\
         <body><main><h1>CareCycle reference back end</h1><p>FHIR R4 base: <code>{}</code></p></main></body></html>",
        state.fhir_base
    ))
}

async fn not_found() -> impl IntoResponse {
    api::ApiError::NotFound("no such endpoint".into())
}
