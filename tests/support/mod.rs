//! What the CLI tests share: running the binary and temporary files.

#![allow(dead_code)] // Each test crate uses its own part of these.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const FIB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fib.wat");

/// The binary, with `XDG_CACHE_HOME` under the temp dir, so that its default code
/// cache is this test run's own.
pub fn lazuli_command() -> Command {
    let cache = std::env::temp_dir().join(format!("lazuli-cli-cache-{}", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_lazuli"));
    command.env("XDG_CACHE_HOME", cache);
    command
}

/// Runs the binary with `args`, checking that it never panics.
pub fn lazuli(args: &[&str]) -> Output {
    lazuli_with(&mut lazuli_command(), args)
}

/// Runs `command` with `args`, checking that it never panics.
pub fn lazuli_with(command: &mut Command, args: &[&str]) -> Output {
    let out = command
        .args(args)
        .output()
        .expect("cannot start the lazuli binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "lazuli {args:?} panicked:\n{stderr}"
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// Asserts success with exactly `expected` on stdout.
#[track_caller]
pub fn assert_prints(out: &Output, expected: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "expected success, stderr: {}",
        stderr(out)
    );
    assert_eq!(stdout(out), expected);
}

/// Asserts exit status 1 with one `error: …` line on stderr; returns that line.
#[track_caller]
pub fn assert_error(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.starts_with("error: "), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "more than one line: {err}");
    err
}

/// A file under a fresh, uniquely named directory of the temp dir; both are removed
/// when it is dropped.
pub struct TempFile {
    pub dir: PathBuf,
    pub path: PathBuf,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A file called `name` holding `contents`.
pub fn temp_file(name: &str, contents: impl AsRef<[u8]>) -> TempFile {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lazuli-cli-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    TempFile { dir, path }
}

pub fn path_str(file: &TempFile) -> &str {
    file.path.to_str().expect("temp paths are UTF-8")
}
