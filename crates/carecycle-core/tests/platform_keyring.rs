//! The real OS keyring (Secret Service on Linux), not the mock: secrets written
//! through one vault handle are read through another and can be deleted.
//! Under CI this must run (scripts/e2e-session.sh provides an unlocked GNOME
//! keyring); elsewhere, without a session bus, it says so and passes.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use carecycle_core::secrets::{SecretKind, Vault};

#[test]
fn the_platform_keyring_keeps_and_forgets_secrets() {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() && std::env::var_os("CI").is_none() {
        eprintln!("no session bus: run under scripts/e2e-session.sh to test the real keyring");
        return;
    }
    let vault = Vault::platform().expect("the Secret Service keyring must be available here");
    vault.check().expect("keyring round trip");
    let profile = format!("test-{}", uuid::Uuid::new_v4());
    vault
        .set(&profile, SecretKind::DatabaseKey, "k-123")
        .unwrap();
    let other_handle = Vault::platform().unwrap();
    assert_eq!(
        other_handle
            .get(&profile, SecretKind::DatabaseKey)
            .unwrap()
            .unwrap()
            .expose(),
        "k-123"
    );
    assert!(
        other_handle
            .get(&profile, SecretKind::Tokens)
            .unwrap()
            .is_none()
    );
    other_handle
        .delete(&profile, SecretKind::DatabaseKey)
        .unwrap();
    assert!(
        vault
            .get(&profile, SecretKind::DatabaseKey)
            .unwrap()
            .is_none()
    );
}
