//! CareCycle's commands are declared once, in the isolation hook's `COMMANDS`
//! (src-tauri/isolation/index.js; build.rs turns it into one permission per
//! command). Everything else that names commands is checked against it here:
//! the handler list (each command is answered, none is missing), the
//! capability file (exactly these granted), the UI's bindings (each invoked
//! name is one of them, and each of them is invoked) and the commands open
//! while locked.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use carecycle_app_lib::OPEN_WHILE_LOCKED;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn read(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one list: `const COMMANDS = [ 'name', … ];`.
fn declared() -> BTreeSet<String> {
    let script = read("isolation/index.js");
    let (_, rest) = script.split_once("const COMMANDS = [").unwrap();
    let (list, _) = rest.split_once("];").unwrap();
    list.split(',')
        .map(|item| item.trim().trim_matches('\'').to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn the_capability_grants_exactly_the_declared_commands() {
    let capability: Value = serde_json::from_str(&read("capabilities/main.json")).unwrap();
    let granted: BTreeSet<String> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|p| p.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect();
    assert_eq!(granted, declared());
}

#[test]
fn the_ui_invokes_exactly_the_declared_commands() {
    let bindings = read("../ui/src/lib/backend.ts");
    let invoked: BTreeSet<String> = bindings
        .split("invoke")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split_once("('")?.1.split_once('\'')?.0;
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
                .then(|| name.to_owned())
        })
        .collect();
    assert_eq!(invoked, declared());
}

#[test]
fn every_declared_command_is_handled_and_the_open_ones_are_declared() {
    for open in OPEN_WHILE_LOCKED {
        assert!(
            declared().contains(*open),
            "{open} is open while locked but not a command"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (_app, webview) = support::window(support::core(dir.path(), vec![]));
    for command in declared().into_iter().chain(["no_such_command".to_owned()]) {
        let answer = support::invoke(&webview, &command, json!({}));
        // Without arguments most commands refuse, but as the command they
        // are; one nobody registered is "not found".
        let unknown = matches!(&answer, Err(Value::String(e)) if e.contains("not found"));
        assert_eq!(
            unknown,
            command == "no_such_command",
            "{command}: {answer:?}"
        );
    }
}
