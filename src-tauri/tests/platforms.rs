//! The app's one identity on every platform. The identifier in
//! `tauri.conf.json` is the phone bundle id, the keyring service and the
//! private-use scheme the sign-in answer comes back by on phones; the back
//! end registers that redirect exactly. These files cannot build here (no
//! Android SDK, no Xcode), so this checks they agree with each other and with
//! the constants the code uses.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use carecycle_fhir::{APP_IDENTIFIER, APP_REDIRECT_URI};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn shell_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn text(relative: &str) -> String {
    std::fs::read_to_string(shell_dir().join(relative))
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn one_identifier_for_bundle_keyring_and_sign_in_scheme() {
    let config = json(&shell_dir().join("tauri.conf.json"));
    assert_eq!(config["identifier"], APP_IDENTIFIER);
    assert_eq!(carecycle_core::secrets::SERVICE, APP_IDENTIFIER);
    let redirect = url::Url::parse(APP_REDIRECT_URI).unwrap();
    assert_eq!(redirect.scheme(), APP_IDENTIFIER);

    // The phones open links to that scheme in the app, and only that scheme:
    // a claimed https link would need a domain this project does not have.
    let domains = config["plugins"]["deep-link"]["mobile"].as_array().unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0]["scheme"], serde_json::json!([APP_IDENTIFIER]));
    assert_eq!(domains[0]["appLink"], false);
}

#[test]
fn the_android_project_is_this_app() {
    let gradle = text("gen/android/app/build.gradle.kts");
    assert!(gradle.contains(&format!("applicationId = \"{APP_IDENTIFIER}\"")));
    assert!(gradle.contains(&format!("namespace = \"{APP_IDENTIFIER}\"")));
    let activity = text(&format!(
        "gen/android/app/src/main/java/{}/MainActivity.kt",
        APP_IDENTIFIER.replace('.', "/")
    ));
    assert!(activity.contains(&format!("package {APP_IDENTIFIER}")));

    // The deep-link plugin's build step writes this block when building for
    // Android; the committed manifest already has it, so it matches the config.
    let manifest = text("gen/android/app/src/main/AndroidManifest.xml");
    let block = manifest
        .split("<!-- DEEP LINK PLUGIN. AUTO-GENERATED. DO NOT REMOVE. -->")
        .nth(1)
        .expect("the deep-link intent filter is in the manifest");
    assert!(block.contains(&format!("<data android:scheme=\"{APP_IDENTIFIER}\" />")));
    assert!(block.contains("android.intent.category.BROWSABLE"));
    assert!(!block.contains("autoVerify"));
    assert!(manifest.contains("android.permission.INTERNET"));
}

#[test]
fn the_window_capability_covers_every_platform() {
    let capability = json(&shell_dir().join("capabilities/main.json"));
    let platforms: Vec<&str> = capability["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for platform in ["linux", "macOS", "windows", "android", "iOS"] {
        assert!(platforms.contains(&platform), "{platform} missing");
    }
}
