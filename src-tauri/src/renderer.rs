//! How WebKitGTK paints on this machine, chosen once before it starts: WebKit
//! reads these variables when it starts its processes, never after. A person
//! who set one of them keeps their choice.

/// A variable and the value CareCycle gives it when the person has not.
type Choice = (&'static str, &'static str);

/// WebKitGTK ≥ 2.42 can paint a blank window with its DMA-BUF renderer on some
/// GPU/driver setups (Tauri issues 9304, 9394, 13885).
const NO_DMABUF_RENDERER: Choice = ("WEBKIT_DISABLE_DMABUF_RENDERER", "1");

/// With no GPU, Mesa emulates one on the CPU (llvmpipe), and WebKit's layer
/// compositing and Skia's GPU painting run through that emulation: it cost
/// CareCycle's web process about 80 MiB (debug, the sign-in screen: 194 →
/// 107 MiB) and made no screen faster (#16). Painting straight on the CPU is
/// what there is to do without a GPU.
const NO_COMPOSITING: Choice = ("WEBKIT_DISABLE_COMPOSITING_MODE", "1");

/// Mesa's own switch to its software renderer, even where a GPU is present.
const SOFTWARE_GL: &str = "LIBGL_ALWAYS_SOFTWARE";

/// What to set, given the environment as it is and whether the machine has a
/// GPU a renderer can use.
fn choices(env: impl Fn(&str) -> Option<String>, has_gpu: bool) -> Vec<Choice> {
    let forced_software = env(SOFTWARE_GL).is_some_and(|v| !v.is_empty() && v != "0");
    let mut wanted = vec![NO_DMABUF_RENDERER];
    if !has_gpu || forced_software {
        wanted.push(NO_COMPOSITING);
    }
    wanted.retain(|(name, _)| env(name).is_none());
    wanted
}

/// Sets what [`choices`] gives for this process's environment and machine.
/// Call it first thing, before any other thread exists and before WebKit starts.
#[allow(unsafe_code)]
pub fn apply() {
    for (name, value) in choices(|name| std::env::var(name).ok(), has_gpu()) {
        // SAFETY: called first thing in `run`, before any other thread exists,
        // so nothing can read the environment concurrently.
        unsafe { std::env::set_var(name, value) };
    }
}

/// Whether the kernel offers a GPU render node (`/dev/dri/renderD*`), which
/// every hardware GL driver on Linux opens; without one Mesa falls back to
/// llvmpipe.
fn has_gpu() -> bool {
    std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn without_a_gpu_webkit_paints_on_the_cpu() {
        assert_eq!(
            choices(env(&[]), false),
            vec![NO_DMABUF_RENDERER, NO_COMPOSITING]
        );
    }

    #[test]
    fn with_a_gpu_compositing_stays_on() {
        assert_eq!(choices(env(&[]), true), vec![NO_DMABUF_RENDERER]);
    }

    #[test]
    fn mesas_software_switch_counts_as_no_gpu() {
        assert_eq!(
            choices(env(&[(SOFTWARE_GL, "1")]), true),
            vec![NO_DMABUF_RENDERER, NO_COMPOSITING]
        );
        assert_eq!(
            choices(env(&[(SOFTWARE_GL, "0")]), true),
            vec![NO_DMABUF_RENDERER]
        );
    }

    #[test]
    fn what_the_person_set_is_kept() {
        let set = env(&[
            ("WEBKIT_DISABLE_DMABUF_RENDERER", "0"),
            ("WEBKIT_DISABLE_COMPOSITING_MODE", "0"),
        ]);
        assert!(choices(set, false).is_empty());
    }
}
