//! The `glance-emu` binary: start-up line, fixture errors naming file and field, exit codes,
//! and graceful exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_glance-emu");

fn run_expect_fail(args: &[&str], cwd: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("GLANCE_EMU_DATA")
        .env_remove("GLANCE_EMU_LISTEN")
        .output()
        .unwrap();
    assert!(!out.status.success(), "expected failure for {args:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
    err
}

/// Each kind of broken fixture stops start-up with a message naming file and field.
#[test]
fn bad_fixtures_name_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "json.json",
            "{\"id\": \"a\",\n \"name\": }",
            // Inside a record, the field is named as well as the position.
            "json.json: name: invalid JSON at line 2",
        ),
        (
            "unknown.json",
            r#"{"id": "a", "colour": "red"}"#,
            "unknown.json: colour: unknown field `colour`",
        ),
        (
            "type.json",
            r#"[{"id": "a", "min_ram": "lots"}]"#,
            "type.json: [0].min_ram: invalid type: string \"lots\"",
        ),
        (
            "ts.json",
            r#"{"images": [{"id": "a", "created_at": "tuesday"}]}"#,
            "ts.json: images[0].created_at: invalid timestamp 'tuesday'",
        ),
        (
            "file.json",
            r#"{"id": "a", "data": {"file": "missing.bin"}}"#,
            "file.json: data.file: cannot read data file",
        ),
    ];
    for (name, text, expect) in cases {
        let sub = dir.path().join(name.trim_end_matches(".json"));
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join(name), text).unwrap();
        let err = run_expect_fail(
            &["--listen", "127.0.0.1:0", "--data", sub.to_str().unwrap()],
            dir.path(),
        );
        assert!(err.contains(expect), "{name}: {err}");
    }
    // Duplicate ids across files.
    let dup = dir.path().join("dup");
    std::fs::create_dir(&dup).unwrap();
    std::fs::write(dup.join("a.json"), r#"{"id": "same"}"#).unwrap();
    std::fs::write(dup.join("b.json"), r#"{"id": "same"}"#).unwrap();
    let err = run_expect_fail(
        &["--listen", "127.0.0.1:0", "--data", dup.to_str().unwrap()],
        dir.path(),
    );
    assert!(
        err.contains("b.json")
            && err.contains("duplicate image id 'same'")
            && err.contains("a.json"),
        "{err}"
    );
}

/// An explicit --data that does not exist is an error.
#[test]
fn explicit_missing_data_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_expect_fail(
        &["--listen", "127.0.0.1:0", "--data", "nowhere"],
        dir.path(),
    );
    assert!(err.contains("nowhere: no such file or directory"), "{err}");
}

/// Without ./data it starts empty with a warning, prints one line, and exits 0 on SIGTERM.
#[test]
fn starts_prints_line_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("GLANCE_EMU_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("glance-emu listening on http://127.0.0.1:"),
        "{line}"
    );
    assert!(line.trim_end().ends_with("(0 images loaded)"), "{line}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}", out.status);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no ./data directory"), "{err}");
}

/// The bundled data/ loads cleanly (no warnings) and a mismatch fixture warns by name.
#[test]
fn bundled_data_loads() {
    let root = env!("CARGO_MANIFEST_DIR");
    let loaded = glance_emu::fixtures::load_paths(
        &[std::path::Path::new(root).join("data")],
        glance_emu::model::Timestamp::now(),
    )
    .unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(loaded.images.len() >= 6);
    let extra = glance_emu::fixtures::load_paths(
        &[std::path::Path::new(root).join("data/extra/size-mismatch.json")],
        glance_emu::model::Timestamp::now(),
    )
    .unwrap();
    assert!(
        extra.warnings[0].contains("size-mismatch.json"),
        "{:?}",
        extra.warnings
    );
}

/// An unsupported policy rule is a start-up error naming the file and the rule.
#[test]
fn bad_policy_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("policy.json");
    std::fs::write(&f, r#"{"get_image": "tenant:%(tenant)s"}"#).unwrap();
    let err = run_expect_fail(
        &["--listen", "127.0.0.1:0", "--policy", f.to_str().unwrap()],
        dir.path(),
    );
    assert!(
        err.contains("policy.json: get_image: unsupported rule syntax"),
        "{err}"
    );
}
