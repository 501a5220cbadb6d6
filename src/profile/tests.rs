use super::locate::key_at;
use super::*;

#[test]
fn every_bundled_profile_validates() {
    for (name, _) in BUNDLED {
        let p = Profile::bundled(name)
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.name, name);
        assert!(!p.description.is_empty(), "{name} has a description");
        assert!(!p.runs().is_empty());
    }
}

#[test]
fn clock_start_and_time_scale_are_checked_where_they_stand() {
    let base = Profile::bundled("mm1").unwrap().unwrap().to_toml();
    for (line, key) in [
        ("clock_start = \"7:00\"", "clock_start"),
        ("clock_start = \"24:00\"", "clock_start"),
        ("time_scale = 0.0", "time_scale"),
        ("time_scale = -60.0", "time_scale"),
    ] {
        let text = format!("{line}\n{base}");
        let err = Profile::from_toml(&text, "p.toml").unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{line}: {err}");
        assert_eq!(err.position.map(|p| p.0), Some(1), "{line}: {err}");
    }
    let text = format!("clock_start = \"07:30\"\ntime_scale = 60.0\n{base}");
    let p = Profile::from_toml(&text, "p.toml").unwrap();
    assert_eq!(p.clock_start_seconds(), Some(7 * 3600 + 30 * 60));
}

#[test]
fn positions_inside_multi_byte_characters_do_not_panic() {
    let base = Profile::bundled("mm1").unwrap().unwrap().to_toml();
    for (extra, line) in [
        ("ρ = 0.8\n", 1),
        ("name2 = \"δρ\" ρ\n", 1),
        ("# café ☕ 🚀\nρ = 1\n", 2),
        ("[sites.ünïcode]\nx = \"€\"\n", 1),
        ("a = \"🚀🚀\" = 3\n", 1),
    ] {
        let text = format!("{extra}{base}");
        for offset in 0..=text.len() + 2 {
            let (line, col) = line_col(&text, offset);
            assert!(line >= 1 && col >= 1);
            let _ = key_at(&text, offset);
        }
        let err = Profile::from_toml(&text, "p.toml").unwrap_err();
        assert_eq!(err.position.map(|p| p.0), Some(line), "{extra}: {err}");
    }
    // An error at every position of a line with non-ASCII text.
    let line = "name = \"ω\" # ünïcode ρ\n";
    for cut in 0..line.len() {
        if line.is_char_boundary(cut) {
            let text = format!("{}ρ{}", &line[..cut], &line[cut..]);
            let _ = Profile::from_toml(&text, "p.toml");
        }
    }
}

#[test]
fn locate_finds_nested_keys() {
    let text = "a = 1\n[[sites]]\nname = \"x\"\n[[sites]]\nname = \"y\"\nslots = 3\n";
    let span = locate(text, "sites[1].slots").unwrap();
    assert_eq!(line_col(text, span.start), (6, 9));
    let span = locate(text, "sites[1].missing").unwrap();
    assert_eq!(line_col(text, span.start).0, 4);
}
