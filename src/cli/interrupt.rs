//! Ctrl-C: while simulating, the command stops at once and says how far it
//! got (nothing is written; the output folder keeps its previous result);
//! while writing, it finishes the set first, then stops.

use super::*;
use std::sync::atomic::AtomicU8;

static OUT: OnceLock<(PathBuf, PathBuf, usize)> = OnceLock::new();
static DONE: AtomicUsize = AtomicUsize::new(0);
/// Simulating, until the handler or [`writing`] moves it on: one
/// compare-and-swap decides which came first, so an interrupt at the
/// moment the writing starts is either handled as during the
/// simulation (nothing written, exit 130) or as during the writing
/// (the set finished, then exit 130), never half of each.
static STATE: AtomicU8 = AtomicU8::new(SIMULATING);
const SIMULATING: u8 = 0;
const WRITING: u8 = 1;
const STOPPING: u8 = 2;
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler for a run writing to `out` through `tmp`.
pub fn arm(out: &Path, tmp: &Path, runs: usize) {
    let _ = OUT.set((out.to_path_buf(), tmp.to_path_buf(), runs));
    let _ = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        if STATE
            .compare_exchange(SIMULATING, STOPPING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // Writing (or already stopping): the set is finished first.
            return;
        }
        if let Some((out, tmp, runs)) = OUT.get() {
            let _ = std::fs::remove_dir_all(tmp);
            eprintln!(
                "\ninterrupted while simulating, after {} of {runs} runs: nothing was written; {} keeps {}",
                DONE.load(Ordering::SeqCst),
                out.display(),
                if out.exists() {
                    "its previous result"
                } else {
                    "nothing (it was not created)"
                }
            );
        }
        std::process::exit(130);
    });
}

/// One more run finished.
pub fn one_done() {
    DONE.fetch_add(1, Ordering::SeqCst);
}

/// The result set is about to be written: from now on an interrupt
/// waits for it. If an interrupt came first, its handler is ending the
/// process: this waits for that instead of returning.
pub fn writing() {
    if STATE
        .compare_exchange(SIMULATING, WRITING, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        stopping();
    }
}

/// Called before the command fails: if an interrupt came while
/// simulating, its handler is ending the process with 130 (it removed
/// the hidden folder, which is likely why this failed), so wait for it
/// rather than exit 1 with a missing-file message.
pub fn settle() {
    if STATE.load(Ordering::SeqCst) == STOPPING {
        stopping();
    }
}

/// Waits for the handler's `exit(130)`.
fn stopping() -> ! {
    loop {
        std::thread::park();
    }
}

/// The set is in place; an interrupt that came while writing ends the
/// command now.
pub fn written() -> Result<(), Failure> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        let out = OUT
            .get()
            .map(|o| o.0.display().to_string())
            .unwrap_or_default();
        return Err(Failure::Interrupted(format!(
            "interrupted while writing: the complete result was put in {out} first"
        )));
    }
    Ok(())
}
