//! The shell on Tauri's mock runtime, with the app's real configuration and
//! capability file, for the tests that call commands as the window does.

use carecycle_app_lib::{attach_core, with_commands};
use carecycle_core::contract::ServerChoice;
use carecycle_core::secrets::Vault;
use carecycle_core::smart::{ReturnPath, SystemBrowser};
use carecycle_core::{CareCycle, CoreConfig, SystemClock};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;

/// A core in `dir` with an in-memory keyring.
pub fn core(dir: &Path, server_choices: Vec<ServerChoice>) -> CareCycle {
    CareCycle::new(CoreConfig {
        data_dir: dir.to_owned(),
        vault: Ok(Vault::with_store(keyring_core::mock::Store::new().unwrap())),
        clock: Arc::new(SystemClock),
        browser: Arc::new(SystemBrowser),
        return_path: ReturnPath::Loopback,
        server_choices,
    })
    .unwrap()
}

/// The app around `core`, and its main window.
pub fn window(core: CareCycle) -> (tauri::App<MockRuntime>, tauri::WebviewWindow<MockRuntime>) {
    let app = with_commands(mock_builder())
        .build(tauri::generate_context!())
        .unwrap();
    attach_core(app.handle(), Arc::new(core));
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    (app, webview)
}

/// Calls `cmd` as the window's page does.
pub fn invoke(
    webview: &tauri::WebviewWindow<MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    let url = if cfg!(dev) {
        "http://localhost:5173"
    } else {
        "tauri://localhost"
    };
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: url.parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}
