// A build script fails the build by panicking; that is its job here.
#![allow(clippy::panic)]

/// CareCycle's commands, from the one list in the isolation hook
/// (isolation/index.js: `const COMMANDS = [ 'name', … ];`).
fn commands() -> Vec<String> {
    let path = "isolation/index.js";
    println!("cargo:rerun-if-changed={path}");
    let script =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let list = script
        .split_once("const COMMANDS = [")
        .and_then(|(_, rest)| rest.split_once("];"))
        .map(|(list, _)| list)
        .unwrap_or_else(|| panic!("{path} has no `const COMMANDS = [ … ];`"));
    let names: Vec<String> = list
        .split(',')
        .map(|item| item.trim().trim_matches('\'').to_owned())
        .filter(|name| !name.is_empty())
        .collect();
    for name in &names {
        if !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            panic!("{path}: {name:?} is not a command name");
        }
    }
    names
}

fn main() {
    // Tauri keeps the list for the whole build: a build script may leak it.
    let commands: &'static [&'static str] = Vec::leak(
        commands()
            .into_iter()
            .map(|name| &*String::leak(name))
            .collect(),
    );
    // Declaring the app's commands generates one permission per command, so the
    // capability file can grant exactly these to the main window and nothing else.
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .unwrap_or_else(|e| panic!("tauri build step failed: {e:#}"));
}
