//! The UI's TypeScript types are generated from the Rust types that cross the
//! command boundary. This fails when the committed file is out of date.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

#[test]
fn typescript_contract_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/contract.ts");
    let expected = carecycle_core::contract::typescript_contract();
    if std::env::var_os("UPDATE_CONTRACT").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "ui/src/lib/contract.ts is out of date with the Rust types.\n\
         Regenerate it: UPDATE_CONTRACT=1 cargo test -p carecycle-app --test contract"
    );
}
