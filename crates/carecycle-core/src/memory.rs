//! Handing back to the system the memory that reading the record freed.
//!
//! Every screen reads the whole record on a thread of the blocking pool, and
//! drops it. glibc's allocator keeps what those threads freed in their arenas,
//! in pieces it cannot return from the end of a heap: with the one-year record,
//! 12 MiB of the app's idle memory was freed memory glibc still held (measured
//! by calling `malloc_trim(0)` in the running app from a debugger, #16 item
//! 2b; tuning `M_MMAP_THRESHOLD`/`M_TRIM_THRESHOLD` returned none of it).
//! `malloc_trim(0)` gives those pages back (`madvise(MADV_DONTNEED)`) and keeps
//! the address space, so the next read costs page faults, not system calls.
//!
//! So once store work goes quiet for [`QUIET`], the freed pages go back, once
//! per burst of work however many calls it had. Elsewhere than glibc (phones:
//! Android's bionic, iOS) the allocator returns memory itself; nothing is done.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long after store work the freed memory is handed back: longer than the
/// gap between the reads of one screen, short next to a person's pause.
const QUIET: Duration = Duration::from_secs(1);

/// At most one hand-back waits at a time.
static WAITING: AtomicBool = AtomicBool::new(false);

/// Called after store work: hands the freed memory back [`QUIET`] later, unless
/// a hand-back is already waiting (it will take this work's too). Must run in a
/// Tokio runtime.
pub(crate) fn after_store_work() {
    if !claim(&WAITING) {
        return;
    }
    tokio::spawn(async {
        tokio::time::sleep(QUIET).await;
        // Released before the trim, so work after this point schedules another.
        WAITING.store(false, Ordering::Release);
        let _ = tokio::task::spawn_blocking(hand_back).await;
    });
}

/// True when the caller is the one to schedule the hand-back.
fn claim(waiting: &AtomicBool) -> bool {
    !waiting.swap(true, Ordering::AcqRel)
}

/// True when some memory went back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn hand_back() -> bool {
    // SAFETY: malloc_trim takes each arena's own lock; it is safe to call from
    // any thread at any time, and 0 keeps no padding at the heap's top.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn hand_back() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hand_back_waits_for_a_burst_of_work() {
        let waiting = AtomicBool::new(false);
        assert!(claim(&waiting), "the first work schedules it");
        assert!(
            !claim(&waiting),
            "work while it waits does not schedule another"
        );
        waiting.store(false, Ordering::Release);
        assert!(claim(&waiting), "work after it ran schedules the next");
    }

    /// What a screen's read does: a pool thread allocates a lot in small
    /// pieces, keeps the last, and frees the rest. glibc cannot shrink that
    /// heap past the kept piece, so only the hand-back returns the rest.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn what_a_thread_freed_under_what_it_kept_goes_back() {
        let kept = std::thread::spawn(|| {
            let mut pieces: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 1024]).collect();
            let last = pieces.pop();
            drop(pieces);
            last
        })
        .join()
        .ok()
        .flatten();
        assert!(hand_back(), "20 MB freed below a kept piece is handed back");
        assert_eq!(kept.map(|k| k.len()), Some(1024));
    }
}
