//! A run's result set, written all at once or not at all.
//!
//! The files are written into a hidden folder beside the output folder
//! (same file system), synced, and the folder is then put in place in one
//! step: on Linux the two folders are exchanged atomically
//! (`renameat2(RENAME_EXCHANGE)`), elsewhere the old one is renamed away
//! first. The output folder therefore always holds one complete result —
//! the previous one or the new one — whenever the process is interrupted.
//! Before anything is simulated, [`prepare`] checks that the folder can be
//! written and that it holds nothing but an earlier result, so that an
//! unwritable `--out` fails at once and no file of the user's is replaced.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The files of a result set.
pub const FILES: [&str; 5] = [
    "summary.json",
    "series.csv",
    "sites.csv",
    "timeline.csv",
    "report.html",
];

/// Test hook: milliseconds to pause after each file, so that a test can
/// interrupt the command while it writes.
const PAUSE_VAR: &str = "DRAINSTORM_WRITE_PAUSE_MS";

/// A result set being prepared for `dir`.
pub struct Staging {
    dir: PathBuf,
    tmp: PathBuf,
}

/// Checks that `dir` can take a result set and reserves the hidden folder
/// the set is written into.
pub fn prepare(dir: &Path) -> Result<Staging, String> {
    let fail = |what: &Path, e: std::io::Error| {
        format!(
            "--out {}: cannot write the results there ({}: {e})",
            dir.display(),
            what.display()
        )
    };
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .ok_or_else(|| {
            format!(
                "{}: name a folder for the results (for example drainstorm-out/run)",
                dir.display()
            )
        })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| fail(&parent, e))?;
    if dir.exists() {
        if !dir.is_dir() {
            return Err(format!("{}: exists and is not a folder", dir.display()));
        }
        for entry in fs::read_dir(dir).map_err(|e| fail(dir, e))? {
            let entry = entry.map_err(|e| fail(dir, e))?;
            let file = entry.file_name();
            if !FILES.iter().any(|f| file.as_os_str() == *f) {
                return Err(format!(
                    "{}: holds `{}`, which drainstorm did not write; give --out an empty folder or an earlier result's",
                    dir.display(),
                    file.to_string_lossy()
                ));
            }
        }
    }
    remove_abandoned(&parent, name);
    let tmp = parent.join(format!(".{name}.drainstorm-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| fail(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| fail(&tmp, e))?;
    let staging = Staging {
        dir: dir.to_path_buf(),
        tmp,
    };
    // A probe file: some folders can be created but not written.
    let probe = staging.tmp.join(".probe");
    fs::write(&probe, b"drainstorm").map_err(|e| fail(&probe, e))?;
    fs::remove_file(&probe).map_err(|e| fail(&probe, e))?;
    Ok(staging)
}

impl Staging {
    /// The hidden folder the set is written into (removed by an interrupt
    /// handler that stops the command before [`commit`](Self::commit)).
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Writes the files and puts the set in place.
    pub fn commit(self, files: &[(&str, String)]) -> Result<(), String> {
        let fail = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
        let pause = std::env::var(PAUSE_VAR)
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis);
        for (name, text) in files {
            let path = self.tmp.join(name);
            let mut f = fs::File::create(&path).map_err(|e| fail(&path, e))?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| fail(&path, e))?;
            if let Some(p) = pause {
                std::thread::sleep(p);
            }
        }
        if let Ok(d) = fs::File::open(&self.tmp) {
            let _ = d.sync_all();
        }
        if self.dir.exists() {
            exchange(&self.tmp, &self.dir).map_err(|e| fail(&self.dir, e))?;
            // The hidden folder now holds the previous result.
            fs::remove_dir_all(&self.tmp).map_err(|e| fail(&self.tmp, e))?;
        } else {
            fs::rename(&self.tmp, &self.dir).map_err(|e| fail(&self.dir, e))?;
        }
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for Staging {
    /// A set that was never committed leaves nothing behind.
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

/// Removes the hidden folders that commands killed before they finished
/// (`kill -9`, a power cut) left beside `parent/name`: those whose process
/// is gone. Only where the process table can be read (Linux).
fn remove_abandoned(parent: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.drainstorm-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .map(|rest| rest.trim_end_matches(".old"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Exchanges two folders: atomically on Linux, else with two renames.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt as _;
        let ca = CString::new(a.as_os_str().as_bytes())?;
        let cb = CString::new(b.as_os_str().as_bytes())?;
        // SAFETY: both paths are valid NUL-terminated strings that live
        // across the call; AT_FDCWD makes them relative to the working
        // directory, as `std::fs::rename` does.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        // A file system without exchange support: fall back below.
        if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
            return Err(e);
        }
    }
    let mut old = a.as_os_str().to_owned();
    old.push(".old");
    let old = PathBuf::from(old);
    fs::rename(b, &old)?;
    fs::rename(a, b)?;
    fs::rename(&old, a)
}
