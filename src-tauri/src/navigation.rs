//! The window shows CareCycle's own pages and nothing else. A link, a form, a
//! script or anything in content that tries to take the window elsewhere —
//! another site, a `file:` or `javascript:` URL — is refused here, in Rust,
//! whatever the page does. Telephone numbers and web pages the app offers
//! open outside the window through the opener plugin, whose capability allows
//! only `tel:` and `https:` (capabilities/main.json).

use tauri::Runtime;
use tauri::Url;
use tauri::plugin::{Builder, TauriPlugin};

/// Whether `url` is one of the app's own pages: the bundled UI as Tauri
/// serves it on each platform, or the Vite dev server in a debug build that
/// does not embed the UI.
pub fn is_app_page(url: &Url) -> bool {
    match (url.scheme(), url.host_str()) {
        // Linux and macOS serve the bundled UI on the custom protocol …
        ("tauri", Some("localhost")) => true,
        // … Windows and Android on this host.
        ("http" | "https", Some("tauri.localhost")) => true,
        ("http", Some("localhost")) => {
            cfg!(all(debug_assertions, not(feature = "custom-protocol")))
                && url.port() == Some(5173)
        }
        _ => false,
    }
}

/// The plugin that holds every navigation of every window to [`is_app_page`].
pub fn guard<R: Runtime>() -> TauriPlugin<R> {
    Builder::new("navigation-guard")
        .on_navigation(|_, url| {
            let allowed = is_app_page(url);
            if !allowed {
                // The scheme only: a URL could carry anything.
                tracing::warn!(
                    scheme = url.scheme(),
                    "refused a navigation away from the app"
                );
            }
            allowed
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apps_own_pages_are_allowed() {
        let ok = |s: &str| is_app_page(&Url::parse(s).unwrap());
        assert!(ok("tauri://localhost/"));
        assert!(ok("tauri://localhost/index.html#messages"));
        assert!(ok("http://tauri.localhost/"));
        for refused in [
            "https://evil.example/",
            "http://localhost.evil.example/",
            "http://tauri.localhost.evil.example/",
            "tauri://evil.example/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "tel:988",
            "about:blank",
            "http://127.0.0.1:8710/fhir",
        ] {
            assert!(!ok(refused), "{refused}");
        }
    }
}
