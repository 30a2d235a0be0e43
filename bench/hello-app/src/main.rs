//! The smallest Tauri 2 app: one window, one static page, no commands.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Err(e) = tauri::Builder::default().run(tauri::generate_context!()) {
        tracing_free_exit(&e.to_string());
    }
}

/// Exits non-zero; the benchmark reads the exit status, not a message.
fn tracing_free_exit(_reason: &str) {
    std::process::exit(1);
}
