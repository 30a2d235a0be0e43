//! CareCycle's shell: wires the core into a Tauri window. Commands are thin
//! wrappers (see `commands`); the core's change events become Tauri events the
//! UI listens to and answers by re-reading what it shows.

pub mod commands;

use carecycle_core::contract::ServerChoice;
use carecycle_core::secrets::Vault;
use carecycle_core::smart::SystemBrowser;
use carecycle_core::{CareCycle, ChangeEvent, CoreConfig, SystemClock};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use tauri::{Emitter, Manager, Runtime};

/// Event sent to the UI when a profile's record changed.
pub const RECORD_CHANGED: &str = "record-changed";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordChanged {
    profile_id: Option<String>,
}

/// Care organizations to offer, from `CARECYCLE_SERVERS`:
/// `Label|https://fhir.example.org/r4` entries separated by `;`.
pub fn server_choices_from(spec: &str) -> Vec<ServerChoice> {
    spec.split(';')
        .filter_map(|entry| {
            let (label, url) = entry.split_once('|')?;
            let (label, url) = (label.trim(), url.trim());
            (!label.is_empty() && !url.is_empty()).then(|| ServerChoice {
                label: label.to_owned(),
                fhir_base_url: url.to_owned(),
            })
        })
        .collect()
}

/// The keyring, proven to work, or why not.
fn platform_vault() -> Result<Vault, String> {
    let vault = Vault::platform().map_err(|e| e.to_string())?;
    vault.check().map_err(|e| e.to_string())?;
    Ok(vault)
}

/// Adds CareCycle's commands to a builder (the real runtime in `run`, the mock
/// runtime in tests).
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::app_overview,
        commands::sign_in,
        commands::sync_now,
        commands::today,
        commands::messages,
        commands::send_message,
        commands::check_urgent,
        commands::sync_status,
        commands::retry_failed,
        commands::search,
        commands::set_checklist_done,
        commands::due_questionnaires,
        commands::questionnaire_form,
        commands::save_questionnaire_draft,
        commands::submit_questionnaire,
        commands::results,
        commands::care_team,
        commands::checklist,
        commands::education,
        commands::open_education,
        commands::timeline,
        commands::export_ics,
        commands::record_access,
        commands::message_kinds
    ])
}

/// Makes the core available to commands and forwards its change events to the UI.
pub fn attach_core<R: Runtime>(app: &tauri::AppHandle<R>, core: Arc<CareCycle>) {
    let mut events = core.subscribe();
    app.manage(core);
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let payload = match events.recv().await {
                Ok(ChangeEvent::RecordChanged { profile_id }) => RecordChanged {
                    profile_id: Some(profile_id),
                },
                Ok(ChangeEvent::ProfilesChanged)
                | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    RecordChanged { profile_id: None }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            let _ = handle.emit(RECORD_CHANGED, payload);
        }
    });
}

fn data_dir(app: &tauri::App) -> Result<PathBuf, String> {
    match std::env::var_os("CARECYCLE_DATA_DIR") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => app.path().app_data_dir().map_err(|e| e.to_string()),
    }
}

/// WebKitGTK ≥ 2.42 can paint a blank window with its DMA-BUF renderer on some
/// GPU/driver setups (Tauri issues 9304, 9394, 13885); turn it off unless the
/// person chose otherwise.
#[allow(unsafe_code)]
fn guard_webkit_renderer() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        // SAFETY: called first thing in `run`, before any other thread exists,
        // so nothing can read the environment concurrently.
        unsafe { std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1") };
    }
}

pub fn run() {
    guard_webkit_renderer();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let context = tauri::generate_context!();
    let result = with_commands(tauri::Builder::default())
        .setup(|app| {
            let vault = platform_vault();
            if let Err(why) = &vault {
                tracing::warn!(reason = %why, "system keyring unavailable; sign-in is disabled");
            }
            let core = CareCycle::new(CoreConfig {
                data_dir: data_dir(app)?,
                vault,
                clock: Arc::new(SystemClock),
                browser: Arc::new(SystemBrowser),
                server_choices: server_choices_from(
                    &std::env::var("CARECYCLE_SERVERS").unwrap_or_default(),
                ),
            })?;
            attach_core(app.handle(), Arc::new(core));
            Ok(())
        })
        .run(context);
    if let Err(e) = result {
        tracing::error!(error = %e, "CareCycle could not start");
        std::process::exit(1);
    }
}
