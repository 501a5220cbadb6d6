//! A merge or a resume never accepts a part that was changed: every way a
//! journal can be tampered with or corrupted — an edited field, a moved
//! row, rewritten headers, another sweep's rows — is refused with exit
//! code 2 and the part and line at fault, and `merge --verify` catches a
//! row forged with its digest recomputed by running it again.

mod common;

use common::{TINY, drainstorm, scratch, text};
use sha2::{Digest, Sha256};

/// 3 points × 4 combinations × 2 seeds, in 2 shards.
const VARY: &str = "clients[0].workload.rate=200..600:3";

fn sweep(dir: &std::path::Path, profile: &str, out: &str, shard: &str) {
    let o = drainstorm(
        &[
            "sweep", profile, "--vary", VARY, "-n", "2", "-o", out, "-q", "--shard", shard,
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
}

fn lines(dir: &std::path::Path, file: &str) -> Vec<String> {
    text(&std::fs::read(dir.join(file)).unwrap())
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write(dir: &std::path::Path, file: &str, lines: &[String]) {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join(file), body).unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Re-signs a row line the way a forger who read the source would: the
/// digest recomputed over the header's identity and the edited row.
fn resign(header: &str, row: &str) -> String {
    // The header as written with its shard set to [1, 1] (the file keeps
    // the fields in the order drainstorm writes them).
    let at = header.rfind("\"shard\":[").unwrap();
    let whole = format!("{}\"shard\":[1,1]}}", &header[..at]);
    let identity = hex(&Sha256::digest(whole.as_bytes()));
    let cut = row.rfind(",\"sha256\":\"").unwrap();
    let json = format!("{}}}", &row[..cut]);
    let mut d = Sha256::new();
    d.update(identity.as_bytes());
    d.update(b"\n");
    d.update(json.as_bytes());
    format!("{},\"sha256\":\"{}\"}}", &row[..cut], hex(&d.finalize()))
}

#[test]
fn a_changed_part_is_never_merged() {
    let dir = scratch("merge-integrity");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    std::fs::write(dir.join("other.toml"), TINY.replace("seed = 3", "seed = 4")).unwrap();
    sweep(&dir, "tiny.toml", "p", "1/2");
    sweep(&dir, "tiny.toml", "p", "2/2");
    sweep(&dir, "other.toml", "o", "2/2");
    let (p1, p2) = (
        lines(&dir, "p/part-1-of-2.jsonl"),
        lines(&dir, "p/part-2-of-2.jsonl"),
    );
    let foreign = lines(&dir, "o/part-2-of-2.jsonl");
    let honest = drainstorm(
        &[
            "merge",
            "p/part-1-of-2.jsonl",
            "p/part-2-of-2.jsonl",
            "-o",
            "m",
            "-q",
        ],
        &dir,
    );
    assert!(honest.status.success(), "{}", text(&honest.stderr));

    // Each case: the second part as changed, and what the refusal says.
    let edit = |i: usize, from: &str, to: &str| {
        let mut l = p2.clone();
        assert!(l[i].contains(from), "{from} in {}", l[i]);
        l[i] = l[i].replacen(from, to, 1);
        l
    };
    let row = &p2[1];
    let field = |name: &str| {
        let v: serde_json::Value = serde_json::from_str(row).unwrap();
        format!("\"{name}\":{}", v[name])
    };
    let mut cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "a seed",
            edit(1, &field("seed"), "\"seed\":7"),
            "p2:2: the row does not match its sha256 digest",
        ),
        (
            "lost",
            edit(1, &field("lost"), "\"lost\":0.5"),
            "p2:2: the row does not match",
        ),
        (
            "a verdict",
            edit(
                1,
                &field("verdict"),
                if field("verdict").contains("absorbed") {
                    "\"verdict\":\"metastable\""
                } else {
                    "\"verdict\":\"absorbed\""
                },
            ),
            "p2:2: the row does not match",
        ),
        (
            "a balancer",
            edit(1, &field("balancer"), "\"balancer\":\"ring\""),
            "p2:2: the row does not match",
        ),
        (
            "values",
            edit(1, &field("values"), "\"values\":[\"1\"]"),
            "p2:2: the row does not match",
        ),
        (
            "a digest",
            edit(1, "\"sha256\":\"", "\"sha256\":\"0"),
            "p2:2: a row without its sha256 digest",
        ),
    ];
    // Two rows' job numbers swapped.
    let mut swapped = p2.clone();
    let (j1, j2) = (field("job"), {
        let v: serde_json::Value = serde_json::from_str(&p2[2]).unwrap();
        format!("\"job\":{}", v["job"])
    });
    swapped[1] = swapped[1].replacen(&j1, &j2, 1);
    swapped[2] = swapped[2].replacen(&j2, &j1, 1);
    cases.push((
        "swapped job numbers",
        swapped,
        "p2:2: the row does not match",
    ));
    // Another sweep's rows under this sweep's header.
    let mut mixed = vec![p2[0].clone()];
    mixed.extend(foreign[1..].iter().cloned());
    cases.push((
        "another sweep's rows",
        mixed,
        "p2:2: the row does not match",
    ));
    // The header's profile edited, with its hash recomputed.
    let mut h: serde_json::Value = serde_json::from_str(&p2[0]).unwrap();
    let toml = h["profile_toml"]
        .as_str()
        .unwrap()
        .replace("rate = 400", "rate = 401");
    h["profile_sha256"] = hex(&Sha256::digest(toml.as_bytes())).into();
    h["profile_toml"] = toml.into();
    let mut rewritten = p2.clone();
    rewritten[0] = serde_json::to_string(&h).unwrap();
    cases.push((
        "a rewritten header",
        rewritten,
        "p2:2: the row does not match",
    ));
    // The header's profile edited without its hash.
    cases.push((
        "an edited profile",
        edit(0, "rate = 400", "rate = 401"),
        "p2:1: the header's profile does not match its profile_sha256",
    ));
    // A row re-signed after the seed was changed: its digest holds, but it
    // claims a run its job number is not.
    let forged_seed = resign(&p2[0], &edit(1, &field("seed"), "\"seed\":7")[1]);
    let mut l = p2.clone();
    l[1] = forged_seed;
    cases.push(("a re-signed seed", l, "p2:2: run"));
    for (what, part, says) in &cases {
        write(&dir, "p2", part);
        let out = drainstorm(
            &["merge", "p/part-1-of-2.jsonl", "p2", "-o", "x", "-q"],
            &dir,
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(says), "{what}: {err}");
        assert!(!dir.join("x").exists(), "{what}: nothing is written");
    }

    // Headers rewritten alike in every part (the --vary changed), each row
    // re-signed: the rows then belong to a sweep their header does not
    // describe.
    let redo = |part: &[String]| -> Vec<String> {
        let header = part[0].replace(VARY, "clients[0].workload.rate=300..700:3");
        let mut out = vec![header.clone()];
        out.extend(part[1..].iter().map(|r| resign(&header, r)));
        out
    };
    write(&dir, "r1", &redo(&p1));
    write(&dir, "r2", &redo(&p2));
    let out = drainstorm(&["merge", "r1", "r2", "-o", "x", "-q"], &dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        // Rows are journalled as they finish, so the first row's job
        // number depends on the threads' timing.
        err.contains("r1:2: run ") && err.contains("but the row says"),
        "{err}"
    );

    // A result forged with its digest recomputed: only running it again
    // tells. --verify with every row catches it, and names it.
    let v: serde_json::Value = serde_json::from_str(row).unwrap();
    let lost = v["lost"].as_f64().unwrap();
    let forged = resign(
        &p2[0],
        &edit(1, &field("lost"), &format!("\"lost\":{}", lost + 0.25))[1],
    );
    let mut l = p2.clone();
    l[1] = forged;
    write(&dir, "p2", &l);
    let out = drainstorm(
        &[
            "merge",
            "p/part-1-of-2.jsonl",
            "p2",
            "-o",
            "x",
            "-q",
            "--verify",
            "24",
        ],
        &dir,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("p2:2: run") && err.contains("does not give the results its row says"),
        "{err}"
    );
    assert!(err.contains("lost"), "{err}");
    // The honest parts pass the same check.
    let out = drainstorm(
        &[
            "merge",
            "p/part-1-of-2.jsonl",
            "p/part-2-of-2.jsonl",
            "-o",
            "m",
            "-q",
            "--verify",
            "24",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_merge_does_not_silently_replace_other_results() {
    let dir = scratch("merge-replace");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    sweep(&dir, "tiny.toml", "p", "1/1");
    // The sweep wrote its own sweep.csv beside the journal; merging the
    // same journal there gives the same bytes, and is allowed.
    let again = drainstorm(&["merge", "p/journal.jsonl", "-q"], &dir);
    assert!(again.status.success(), "{}", text(&again.stderr));
    std::fs::write(dir.join("p/sweep.csv"), "mine\n").unwrap();
    let out = drainstorm(&["merge", "p/journal.jsonl", "-q"], &dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("sweep.csv: already there, with other results: pass --force"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("p/sweep.csv")).unwrap(), b"mine\n");
    let out = drainstorm(&["merge", "p/journal.jsonl", "-q", "--force"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A part that is not a regular file is refused, not read.
    std::fs::create_dir(dir.join("folder.jsonl")).unwrap();
    let out = drainstorm(&["merge", "folder.jsonl"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a regular file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_resume_checks_the_journal_it_continues() {
    let dir = scratch("resume-integrity");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    sweep(&dir, "tiny.toml", "p", "1/1");
    let mut l = lines(&dir, "p/journal.jsonl");
    l.truncate(5);
    l[2] = l[2].replacen("\"lost\":", "\"lost\":1", 1);
    write(&dir, "p/journal.jsonl", &l);
    let out = drainstorm(
        &[
            "sweep",
            "tiny.toml",
            "--vary",
            VARY,
            "-n",
            "2",
            "-o",
            "p",
            "-q",
            "--resume",
        ],
        &dir,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("journal.jsonl:3: the row does not match its sha256 digest"),
        "{err}"
    );
}

#[test]
fn compare_keys_and_one_key_twice_are_refused() {
    let dir = scratch("sweep-compare");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    for (args, says) in [
        (
            vec!["--vary", "compare.balancers=[\"p2c\"],[\"ring\"]"],
            "`compare` cannot be varied",
        ),
        (
            vec!["--vary", "compare.seeds=1,2"],
            "`compare` cannot be varied",
        ),
        (
            vec!["--vary", VARY, "--set", "clients[0].workload.rate=300"],
            "one key, two values",
        ),
        (
            vec!["--vary", "scale=1,2", "--scale", "2"],
            "one key, two values",
        ),
    ] {
        let mut a = vec!["sweep", "tiny.toml", "-o", "bad", "-q"];
        a.extend(args.iter().copied());
        let out = drainstorm(&a, &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!dir.join("bad").exists());
    }
}
