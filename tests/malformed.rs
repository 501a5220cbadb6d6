//! The corpus of malformed profiles in `tests/malformed/`: one file per
//! case, whose first two lines say where the error must point and what it
//! must say:
//!
//! ```text
//! # expect: LINE:COLUMN KEY        (KEY is `-` when no key applies)
//! # message: a fragment of the message
//! ```
//!
//! Each file is checked through the library (`Profile::from_slice`) and
//! through the command (`drainstorm validate`): no panic, exit code 2, one
//! line naming the file, the position and the key.

use std::path::{Path, PathBuf};
use std::process::Command;

use drainstorm::profile::Profile;

struct Case {
    path: PathBuf,
    bytes: Vec<u8>,
    line: usize,
    column: usize,
    key: Option<String>,
    message: String,
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut cases: Vec<Case> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).into_owned();
            let mut lines = head.lines();
            let expect = lines
                .next()
                .and_then(|l| l.strip_prefix("# expect: "))
                .unwrap_or_else(|| panic!("{}: no `# expect:` line", path.display()));
            let message = lines
                .next()
                .and_then(|l| l.strip_prefix("# message: "))
                .unwrap_or_else(|| panic!("{}: no `# message:` line", path.display()))
                .to_owned();
            let (at, key) = expect.split_once(' ').unwrap();
            let (line, column) = at.split_once(':').unwrap();
            Case {
                bytes,
                line: line.parse().unwrap(),
                column: column.parse().unwrap(),
                key: (key != "-").then(|| key.to_owned()),
                message,
                path,
            }
        })
        .collect();
    cases.sort_by(|a, b| a.path.cmp(&b.path));
    cases
}

#[test]
fn the_corpus_covers_every_kind_of_mistake() {
    let cases = cases();
    assert!(cases.len() >= 90, "{} cases", cases.len());
    for kind in [
        "syntax-",
        "type-",
        "unknown-",
        "num-",
        "dur-",
        "ref-",
        "timeline-",
        "nonascii-",
        "missing-",
    ] {
        let n = cases
            .iter()
            .filter(|c| {
                c.path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(kind)
            })
            .count();
        assert!(n >= 3, "only {n} cases of {kind}");
    }
    for name in ["invalid-utf8.toml", "binary-garbage.toml", "empty.toml"] {
        assert!(cases.iter().any(|c| c.path.ends_with(name)), "{name}");
    }
}

#[test]
fn the_library_locates_every_malformed_profile() {
    for c in cases() {
        let name = c.path.display().to_string();
        let err = Profile::from_slice(&c.bytes, &name).expect_err(&name);
        assert_eq!(err.position, Some((c.line, c.column)), "{err}");
        assert_eq!(err.key, c.key, "{err}");
        assert!(
            err.message.contains(&c.message),
            "{err}\nexpected: {}",
            c.message
        );
    }
}

#[test]
fn the_command_reports_every_malformed_profile_on_one_line_with_exit_2() {
    for c in cases() {
        let out = Command::new(env!("CARGO_BIN_EXE_drainstorm"))
            .arg("validate")
            .arg(&c.path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let name = c.path.display();
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
        let at = format!("error: {name}:{}:{}: ", c.line, c.column);
        assert!(err.starts_with(&at), "{err}\nexpected: {at}");
        if let Some(key) = &c.key {
            assert!(err.contains(&format!("`{key}`: ")), "{err}");
        }
        assert!(err.contains(&c.message), "{err}");
    }
}
