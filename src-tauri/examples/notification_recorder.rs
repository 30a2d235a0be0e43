//! A stand-in desktop notification service for tests: owns
//! `org.freedesktop.Notifications` on the session bus and appends each
//! notification it is asked to show to a file, one JSON object a line
//! (`{"app": …, "summary": …, "body": …}`), so a test can prove what a person
//! would have seen. Creating `FILE.tap` taps the latest notification: the
//! service reports its default action (`ActionInvoked`), as a desktop does
//! when the person clicks it. Usage: notification_recorder FILE (runs until
//! killed).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use zbus::zvariant::OwnedValue;

struct Recorder {
    file: std::fs::File,
    /// The id of the latest notification (0: none yet).
    next: Arc<AtomicU32>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let line = serde_json::json!({"app": app_name, "summary": summary, "body": body});
        let _ = writeln!(self.file, "{line}");
        let _ = self.file.flush();
        self.next.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "notification-recorder".into(),
            "CareCycle tests".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: notification_recorder FILE")?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let latest = Arc::new(AtomicU32::new(0));
    let recorder = Recorder {
        file,
        next: latest.clone(),
    };
    let connection = zbus::blocking::connection::Builder::session()?
        .name("org.freedesktop.Notifications")?
        .serve_at("/org/freedesktop/Notifications", recorder)?
        .build()?;
    // Ready: the name is ours. The test waits for this line.
    let mut out = std::io::stdout();
    writeln!(out, "recording")?;
    out.flush()?;
    let tap = std::path::PathBuf::from(format!("{path}.tap"));
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if std::fs::remove_file(&tap).is_ok() {
            connection.emit_signal(
                None::<()>,
                "/org/freedesktop/Notifications",
                "org.freedesktop.Notifications",
                "ActionInvoked",
                &(latest.load(Ordering::SeqCst), "default"),
            )?;
        }
    }
}
