//! A command's result set, written all at once or not at all: `run`'s
//! report and CSVs, `sweep`'s and `merge`'s `sweep.csv` and `map.html`,
//! a plan's JSON and CSV.
//!
//! The files are written into a hidden folder beside the output folder
//! (same file system), synced, and the folder is then put in place in one
//! step: on Linux the two folders are exchanged atomically
//! (`renameat2(RENAME_EXCHANGE)`), elsewhere the old one is renamed away
//! first. The output folder therefore always holds one complete result —
//! the previous one or the new one — whenever the process is interrupted:
//! never a new `sweep.csv` beside an old `map.html`.
//!
//! A folder that also holds files of another kind — a sweep's journal,
//! the parts a merge reads — keeps them: each is hard-linked into the new
//! folder before the exchange (the same file, not a copy), and anything
//! created in the old folder while the set was being put in place is
//! moved across after it. Before anything is simulated, [`prepare`]
//! checks that the folder can be written and that it holds nothing the
//! set cannot keep: no subfolder, no FIFO or other special file, and for
//! `run`, nothing but an earlier result.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The files of `run`'s result set.
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

/// What else an output folder may hold besides the set's own files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Others {
    /// Nothing: the folder holds one result and nothing else (`run`).
    Refuse,
    /// Regular files of any name, kept as they are (a sweep's journal).
    Keep,
}

/// A result set being prepared for `dir`.
pub struct Staging {
    dir: PathBuf,
    tmp: PathBuf,
    others: Others,
}

/// Checks that `dir` can take a result set of the files `set` and
/// reserves the hidden folder the set is written into.
pub fn prepare(dir: &Path, set: &[&str], others: Others) -> Result<Staging, String> {
    let fail = |what: &Path, e: std::io::Error| {
        format!(
            "--out {}: cannot write the results there ({}: {e})",
            dir.display(),
            what.display()
        )
    };
    // `.`, `..` or a path ending in them: the folder they name.
    let named;
    let dir = if dir.file_name().is_none() || dir.ends_with(".") {
        named = fs::canonicalize(dir).map_err(|e| fail(dir, e))?;
        named.as_path()
    } else {
        dir
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
    if let (Ok(here), Ok(there)) = (std::env::current_dir(), fs::canonicalize(dir))
        && here.starts_with(&there)
    {
        return Err(format!(
            "{}: is the current folder (or holds it): drainstorm puts its results in place by swapping the whole folder, which would pull it from under your shell; write them to a folder below it (for example -o results)",
            dir.display()
        ));
    }
    if let Ok(meta) = fs::symlink_metadata(dir) {
        if !meta.is_dir() {
            return Err(format!("{}: exists and is not a folder", dir.display()));
        }
        for entry in fs::read_dir(dir).map_err(|e| fail(dir, e))? {
            let entry = entry.map_err(|e| fail(dir, e))?;
            let file = entry.file_name();
            let ours = set.iter().any(|f| file.as_os_str() == *f);
            let kind = entry.file_type().map_err(|e| fail(&entry.path(), e))?;
            if !kind.is_file() {
                return Err(format!(
                    "{}: holds `{}`, which is not a regular file (a folder, a link, a FIFO or a device): drainstorm replaces its results as one set and cannot keep it; give another folder",
                    dir.display(),
                    file.to_string_lossy()
                ));
            }
            if !ours && others == Others::Refuse {
                return Err(format!(
                    "{}: holds `{}`, which drainstorm did not write; give an empty folder or an earlier result's",
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
        others,
    };
    // A probe file: some folders can be created but not written.
    let probe = staging.tmp.join(".probe");
    fs::write(&probe, b"drainstorm").map_err(|e| fail(&probe, e))?;
    fs::remove_file(&probe).map_err(|e| fail(&probe, e))?;
    Ok(staging)
}

/// Writes `files` into `dir` as one set, keeping the folder's other
/// files: [`prepare`] and [`Staging::commit`] in one call.
pub fn write_set(dir: &Path, files: &[(&str, String)]) -> Result<(), String> {
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    prepare(dir, &names, Others::Keep)?.commit(files)
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
        if self.dir.exists() && self.others == Others::Keep {
            self.keep_others().map_err(|e| fail(&self.dir, e))?;
        }
        if let Ok(d) = fs::File::open(&self.tmp) {
            let _ = d.sync_all();
        }
        if self.dir.exists() {
            exchange(&self.tmp, &self.dir).map_err(|e| fail(&self.dir, e))?;
            // The hidden folder now holds the previous result, and what
            // was created in it since the links were made.
            if self.others == Others::Keep {
                self.move_late_arrivals().map_err(|e| fail(&self.dir, e))?;
            }
            fs::remove_dir_all(&self.tmp).map_err(|e| fail(&self.tmp, e))?;
        } else {
            fs::rename(&self.tmp, &self.dir).map_err(|e| fail(&self.dir, e))?;
        }
        std::mem::forget(self);
        Ok(())
    }

    /// Links every file of the output folder that the new set does not
    /// replace into the hidden folder (copies it where links fail).
    fn keep_others(&self) -> std::io::Result<()> {
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let target = self.tmp.join(entry.file_name());
            if target.exists() || !entry.file_type()?.is_file() {
                continue;
            }
            if fs::hard_link(entry.path(), &target).is_err() {
                fs::copy(entry.path(), &target)?;
            }
        }
        Ok(())
    }

    /// After the exchange: moves what appeared in the old folder (now the
    /// hidden one) after [`keep_others`](Self::keep_others) into the
    /// output folder.
    fn move_late_arrivals(&self) -> std::io::Result<()> {
        for entry in fs::read_dir(&self.tmp)? {
            let entry = entry?;
            let target = self.dir.join(entry.file_name());
            if !target.exists() {
                fs::rename(entry.path(), target)?;
            }
        }
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
