//! CareCycle's shell: wires the core into a Tauri window. Commands are thin
//! wrappers (see `commands`); the core's change events become Tauri events the
//! UI listens to and answers by re-reading what it shows.

pub mod commands;
pub mod navigation;
pub mod notifier;
#[cfg(target_os = "linux")]
pub mod renderer;

use carecycle_core::contract::ServerChoice;
use carecycle_core::lock::LockOptions;
use carecycle_core::secrets::Vault;
use carecycle_core::smart::{AppLinks, ReturnPath, SystemBrowser};
use carecycle_core::{CareCycle, ChangeEvent, CommandError, CoreConfig, CoreError, SystemClock};
use notifier::Notifier;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tauri::{Emitter, Manager, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;
use tauri_plugin_notification::NotificationExt;

/// Event sent to the UI when a profile's record changed.
pub const RECORD_CHANGED: &str = "record-changed";

/// Event sent to the UI when the app locked: show the lock screen.
pub const APP_LOCKED: &str = "app-locked";

/// Commands that show nothing of a record, answered while the app is locked:
/// the lock screen's own, the first screen's, and fixed lists. Every other
/// command is refused with `locked` unless the record it names (or, for those
/// naming none, some record) is open.
pub const OPEN_WHILE_LOCKED: &[&str] = &[
    "app_overview",
    "sign_in",
    "set_language",
    "lock_state",
    "unlock",
    "still_here",
    "lock_now",
    "check_urgent",
    "message_kinds",
];

/// Why `command` (naming `profile_id`, if any) may not run now, or None when it may.
/// Past the wrong-passcode limit, signing out of the locked record is allowed:
/// that is what the lock screen offers.
pub fn lock_refusal(
    core: &CareCycle,
    command: &str,
    profile_id: Option<&str>,
) -> Option<CommandError> {
    if OPEN_WHILE_LOCKED.contains(&command) {
        return None;
    }
    let open = match profile_id {
        Some(profile) => {
            !core.is_locked(profile)
                || (command == "sign_out"
                    && core.lock_view(profile).is_ok_and(|v| v.offer_sign_out))
        }
        None => core.in_use(),
    };
    (!open).then(|| CoreError::Locked.into())
}

/// The one place every command passes through: refused while locked (see
/// [`lock_refusal`]), so a script in the page cannot read what the lock
/// screen covers.
fn refusal_of<R: Runtime>(invoke: &tauri::ipc::Invoke<R>) -> Option<CommandError> {
    let core = invoke.message.webview_ref().try_state::<Arc<CareCycle>>()?;
    let profile = match invoke.message.payload() {
        tauri::ipc::InvokeBody::Json(args) => args.get("profileId").and_then(|v| v.as_str()),
        _ => None,
    };
    lock_refusal(&core, invoke.message.command(), profile)
}

/// Tells the UI the app locked.
pub fn announce_lock<R: Runtime>(app: &tauri::AppHandle<R>) {
    let _ = app.emit(APP_LOCKED, ());
}

/// Locks the app once the timeout has passed (checked every second, by the
/// wall clock, so a sleeping computer locks as it wakes), and when the window
/// comes back after being away too long.
pub fn watch_lock<R: Runtime>(app: &tauri::AppHandle<R>, core: Arc<CareCycle>) {
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if core.lock_tick() {
                announce_lock(&handle);
            }
        }
    });
}

/// Window focus: away (hidden, minimised, another window in front) or back.
/// On phones the app going to the background is "away", and coming back
/// syncs (a phone allows no timer in the background; see the README).
fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &tauri::WindowEvent) {
    let Some(core) = window.try_state::<Arc<CareCycle>>() else {
        return;
    };
    let visible = match event {
        tauri::WindowEvent::Focused(front) => *front,
        #[cfg(mobile)]
        tauri::WindowEvent::Suspended => false,
        #[cfg(mobile)]
        tauri::WindowEvent::Resumed => {
            sync_everything_now(core.inner().clone());
            true
        }
        _ => return,
    };
    if core.window_visible(visible) {
        announce_lock(window.app_handle());
    }
}

/// The lock's settings: the patient's, except in debug builds (tests), where
/// `CARECYCLE_LOCK_SECONDS` sets the timeout and `CARECYCLE_UNLOCK_WAIT_MS`
/// the first wait after wrong passcodes. Release builds ignore both.
fn lock_options() -> LockOptions {
    let mut options = LockOptions::standard();
    if cfg!(debug_assertions) {
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|n| *n > 0)
        };
        if let Some(seconds) = number("CARECYCLE_LOCK_SECONDS") {
            options = options.with_timeout_secs(seconds);
        }
        if let Some(ms) = number("CARECYCLE_UNLOCK_WAIT_MS") {
            options = options.with_first_wait_ms(ms);
        }
    }
    options
}

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
/// The keyring, reached; whether it keeps secrets is checked before a
/// sign-in (`CareCycle::sign_in`), off the first screen's path.
fn platform_vault() -> Result<Vault, String> {
    Vault::platform().map_err(|e| e.to_string())
}

/// Adds CareCycle's commands to a builder (the real runtime in `run`, the mock
/// runtime in tests).
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    let commands: Box<tauri::ipc::InvokeHandler<R>> = Box::new(tauri::generate_handler![
        commands::app_overview,
        commands::sign_in,
        commands::sign_out,
        commands::sync_now,
        commands::today_screen,
        commands::threads,
        commands::thread,
        commands::send_message,
        commands::message_draft,
        commands::mark_thread_read,
        commands::save_message_draft,
        commands::check_urgent,
        commands::sync_status,
        commands::retry_failed,
        commands::search,
        commands::set_checklist_done,
        commands::settle_conflict,
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
        commands::message_kinds,
        commands::set_notification_detail,
        commands::set_language,
        commands::lock_state,
        commands::unlock,
        commands::set_passcode,
        commands::still_here,
        commands::lock_now,
        commands::set_lock_minutes
    ]);
    builder
        .invoke_handler(move |invoke| match refusal_of(&invoke) {
            Some(refusal) => {
                invoke.resolver.reject(refusal);
                true
            }
            None => commands(invoke),
        })
        .on_window_event(on_window_event)
}

/// Makes the core available to commands, forwards its change events to the
/// UI, and after each sync shows what is new as desktop notifications.
pub fn attach_core<R: Runtime>(app: &tauri::AppHandle<R>, core: Arc<CareCycle>) {
    let notifier = Arc::new(Notifier::default());
    app.manage(notifier.clone());
    let mut events = core.subscribe();
    app.manage(core.clone());
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let payload = match events.recv().await {
                Ok(ChangeEvent::RecordChanged { profile_id }) => RecordChanged {
                    profile_id: Some(profile_id),
                },
                Ok(ChangeEvent::Synced { profile_id }) => {
                    notify(handle.clone(), core.clone(), notifier.clone(), profile_id);
                    continue;
                }
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

fn notify<R: Runtime>(
    app: tauri::AppHandle<R>,
    core: Arc<CareCycle>,
    notifier: Arc<Notifier>,
    profile_id: String,
) {
    tauri::async_runtime::spawn(async move {
        match core.take_notices(&profile_id).await {
            Ok(notices) => {
                let _ = tauri::async_runtime::spawn_blocking(move || {
                    notifier.deliver(&app, &notices);
                })
                .await;
            }
            Err(e) => tracing::warn!(code = ?e.code(), "could not work out what to notify"),
        }
    });
}

/// Syncs every record on this device every `every`, so what the team sends
/// arrives (and notifies) without the patient asking. Desktops only keep
/// running; on phones this runs while the app is in front, and coming back to
/// it or tapping a notification syncs at once ([`sync_everything_now`]).
pub fn sync_in_background(core: Arc<CareCycle>, every: Duration) {
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            core.sync_all().await;
        }
    });
}

/// Syncs every record now, without waiting for the timer.
pub fn sync_everything_now(core: Arc<CareCycle>) {
    tauri::async_runtime::spawn(async move { core.sync_all().await });
}

/// A tap on a notification brings the window to the front and syncs, so what
/// the notification was about is there.
fn on_notification_tap<R: Runtime>(app: &tauri::AppHandle<R>, core: Arc<CareCycle>) {
    let handle = app.clone();
    let _ = app.notification().on_action(move |performed| {
        if performed.action_id() != "tap" {
            return;
        }
        if let Some(window) = handle.get_webview_window("main") {
            let _ = window.unminimize();
            let _ = window.show();
            let _ = window.set_focus();
        }
        sync_everything_now(core.clone());
    });
}

/// Hands every link the app is opened with (on phones, the sign-in answer
/// through the app's scheme) to the core.
fn forward_app_links<R: Runtime>(app: &tauri::AppHandle<R>, links: AppLinks) {
    app.deep_link().on_open_url(move |event| {
        for url in event.urls() {
            links.deliver(url.as_str());
        }
    });
}

/// How often to sync in the background: `CARECYCLE_SYNC_EVERY_SECS`, else 5 minutes.
fn background_sync_every() -> Duration {
    std::env::var("CARECYCLE_SYNC_EVERY_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(300))
}

fn data_dir(app: &tauri::App) -> Result<PathBuf, String> {
    match std::env::var_os("CARECYCLE_DATA_DIR") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => app.path().app_data_dir().map_err(|e| e.to_string()),
    }
}

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    // How WebKitGTK paints, chosen before it starts.
    #[cfg(target_os = "linux")]
    renderer::apply();
    carecycle_log::init();
    // The keyring (on Linux, a D-Bus connection to the Secret Service) is
    // reached on its own thread from the first moment and taken in setup.
    // Reached on the main thread, it held the first page back by about half a
    // second in a quarter of launches (#16's stall between setup() and the
    // page: 3 to 5 of 16 launches before, none of 16 since).
    let vault = std::thread::spawn(platform_vault);
    let context = tauri::generate_context!();
    let result = with_commands(tauri::Builder::default())
        .plugin(navigation::guard())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_deep_link::init())
        .setup(move |app| {
            let links = AppLinks::default();
            forward_app_links(app.handle(), links.clone());
            let vault = vault
                .join()
                .unwrap_or_else(|_| Err("the keyring could not be reached".into()));
            if let Err(why) = &vault {
                tracing::warn!(reason = %why, "system keyring unavailable; sign-in is disabled");
            }
            let core = CareCycle::new(CoreConfig {
                data_dir: data_dir(app)?,
                vault,
                clock: Arc::new(SystemClock),
                browser: Arc::new(SystemBrowser),
                return_path: ReturnPath::for_this_platform(links.clone()),
                server_choices: server_choices_from(
                    &std::env::var("CARECYCLE_SERVERS").unwrap_or_default(),
                ),
            })?;
            core.enforce_lock(lock_options());
            let core = Arc::new(core);
            attach_core(app.handle(), core.clone());
            watch_lock(app.handle(), core.clone());
            on_notification_tap(app.handle(), core.clone());
            sync_in_background(core, background_sync_every());
            Ok(())
        })
        .run(context);
    if let Err(e) = result {
        tracing::error!(error = %e, "CareCycle could not start");
        std::process::exit(1);
    }
}
