//! WASI programs under `lazuli run`: the C programs in `tests/wasi/programs/`, built
//! to `.wasm` by `cargo xtask build-wasi-programs` and committed, so that this test
//! needs no C toolchain.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn program(name: &str) -> String {
    format!("{ROOT}/tests/wasi/programs/{name}.wasm")
}

fn expected(name: &str) -> Vec<u8> {
    std::fs::read(format!("{ROOT}/tests/wasi/expected/{name}")).expect("expected output")
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lazuli"));
    cmd.args(args);
    cmd
}

/// Runs `lazuli` with `args` and `stdin`, checking that it never panics.
fn run_with(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("cannot start lazuli");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.to_vec();
    // A separate thread, so a program that does not read cannot block the test.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("lazuli did not finish");
    writer.join().expect("stdin writer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "lazuli panicked:\n{stderr}");
    out
}

fn run(args: &[&str]) -> Output {
    run_with(command(args), b"")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_success(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

#[track_caller]
fn assert_prints(out: &Output, expected: &str) {
    assert_success(out);
    assert_eq!(stdout(out), expected);
}

/// A fresh directory under the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lazuli-wasi-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn str(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything under `dir`, without following symlinks: relative path → `dir`,
/// `file: CONTENTS` or `link -> TARGET`.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, format!("link -> {}", target.display()));
            } else if meta.is_dir() {
                out.insert(rel, "dir".to_string());
                walk(base, &path, out);
            } else {
                let contents = std::fs::read(&path).unwrap();
                out.insert(rel, format!("file: {}", String::from_utf8_lossy(&contents)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn entry(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn hello() {
    assert_prints(&run(&["run", &program("hello")]), "Hello, world!\n");
}

#[test]
fn arguments_and_environment() {
    let hello = program("echo");
    let out = run(&[
        "run",
        "--env",
        "FIRST=1",
        "--env=SECOND=a=b",
        "--env",
        "EMPTY=",
        &hello,
        "one",
        "two words",
        "",
        "--not-an-option",
    ]);
    assert_prints(
        &out,
        &format!(
            "arg 0: {hello}\narg 1: one\narg 2: two words\narg 3: \narg 4: --not-an-option\n\
             env: FIRST=1\nenv: SECOND=a=b\nenv: EMPTY=\n"
        ),
    );
}

#[test]
fn environment_is_only_inherited_on_request() {
    let mut cmd = command(&["run", &program("echo")]);
    cmd.env("LAZULI_WASI_TEST_VAR", "from the host");
    let out = run_with(cmd, b"");
    assert_success(&out);
    assert!(!stdout(&out).contains("env: "), "{}", stdout(&out));

    let mut cmd = command(&[
        "run",
        "--inherit-env",
        "--env",
        "LAZULI_WASI_TEST_OTHER=set",
        &program("echo"),
    ]);
    cmd.env("LAZULI_WASI_TEST_VAR", "from the host");
    cmd.env("LAZULI_WASI_TEST_OTHER", "overridden");
    let out = run_with(cmd, b"");
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("env: LAZULI_WASI_TEST_VAR=from the host\n"),
        "{text}"
    );
    assert!(text.contains("env: LAZULI_WASI_TEST_OTHER=set\n"), "{text}");
    assert!(!text.contains("overridden"), "{text}");
}

#[test]
fn files_in_a_preopened_directory() {
    let dir = TempDir::new();
    let out = run(&[
        "run",
        "--dir",
        &format!("{}::/sandbox", dir.str()),
        &program("files"),
        "/sandbox",
    ]);
    assert_prints(
        &out,
        "created data.txt
exclusive create of an existing file: EEXIST
read: hello, world
write to a read-only descriptor: EBADF
after seek: world
seek before the start: EINVAL
pread: hello
fstat: size 13, regular file 1
close twice: EBADF
pwrite, truncate, extend, sync: ok
after append: size 7
contents: HELLO!
times: atime 1000000000 mtime 1234567890.000000500
open a missing file: ENOENT
stat a missing file: ENOENT
O_DIRECTORY on a file: ENOTDIR
a file as a directory: ENOTDIR
a directory for writing: EISDIR
done
",
    );
    assert_eq!(
        snapshot(dir.path()),
        entry(&[
            ("data.txt", "file: HELLO!\n"),
            ("written-by-guest.txt", "file: guest was here\n"),
        ])
    );
    let mtime = std::fs::metadata(dir.join("data.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime,
        std::time::UNIX_EPOCH + Duration::new(1_234_567_890, 500)
    );
}

#[test]
fn preopened_directory_with_a_guest_name_of_dot() {
    let dir = TempDir::new();
    std::fs::write(dir.join("input.txt"), "from the host\n").unwrap();
    let out = run(&[
        "run",
        "--dir",
        &format!("{}::.", dir.str()),
        &program("files"),
        ".",
    ]);
    assert_success(&out);
    assert!(dir.join("written-by-guest.txt").exists());
}

#[test]
fn directories() {
    let dir = TempDir::new();
    let out = run(&[
        "run",
        &format!("--dir={}::/work", dir.str()),
        &program("dirs"),
        "/work",
    ]);
    assert_prints(
        &out,
        "mkdir an existing directory: EEXIST
sub: a.txt b.txt inner/
sub: b.txt
moved: c.txt
rename a missing file: ENOENT
rmdir a non-empty directory: ENOTEMPTY
unlink a directory: EISDIR
rmdir a file: ENOTDIR
unlink twice: ENOENT
many: 300 entries
.: moved/
",
    );
    assert_eq!(
        snapshot(dir.path()),
        entry(&[("moved", "dir"), ("moved/c.txt", "file: sub/a.txt")])
    );
}

#[test]
fn symlinks_inside_the_sandbox() {
    let dir = TempDir::new();
    let out = run(&[
        "run",
        "--dir",
        &format!("{}::/sandbox", dir.str()),
        &program("symlinks"),
        "/sandbox",
    ]);
    assert_prints(
        &out,
        "readlink link: target.txt
readlink into 3 bytes: tar
read link: target contents
lstat link: symlink 1
stat link: regular file 1, size 16
read d/through.txt: made through a link
read dotdot-link: target contents
read d/up-link: target contents
read dangling: ENOENT
lstat dangling: symlink 1
O_NOFOLLOW on a link: ELOOP
symlink over an existing name: EEXIST
readlink a regular file: EINVAL
hard link: 2 links
unlink link: target remains, size 16
",
    );
    assert_eq!(
        snapshot(dir.path()),
        entry(&[
            ("d", "dir"),
            ("d/through.txt", "file: made through a link\n"),
            ("d/up-link", "link -> ../target.txt"),
            ("dangling", "link -> missing"),
            ("dlink", "link -> d"),
            ("dotdot-link", "link -> d/../target.txt"),
            ("hard.txt", "file: target contents\n"),
            ("target.txt", "file: target contents\n"),
        ])
    );
}

#[test]
fn clocks_and_randomness() {
    assert_prints(
        &run(&["run", &program("clocks")]),
        "realtime: plausible
resolution: at most 1 ms
monotonic: nanosleep of 30 ms took at least 30 ms
cpu time clocks: readable
random: two draws differ and look random
",
    );
}

#[test]
fn exit_status_is_the_guests() {
    for code in [0, 1, 3, 42, 255] {
        let out = run(&["run", &program("exit"), &code.to_string()]);
        assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("exiting with {code}\n"));
        assert_eq!(stderr(&out), "");
    }
    // Returning from main is exit status 0.
    assert_prints(&run(&["run", &program("exit")]), "");
}

#[test]
fn a_trap_exits_non_zero_with_the_trap_message() {
    for how in ["trap", "abort"] {
        let out = run(&["run", &program("exit"), how]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "stderr: {err}");
        assert!(err.starts_with("error: wasm trap: unreachable\n"), "{err}");
        assert!(err.contains("main"), "{err}");
    }
}

/// 64-bit FNV-1a, as `stdin.c` computes it.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

#[test]
fn reads_stdin() {
    let mut input = b"first line of input\n".to_vec();
    for i in 0..20_000 {
        input.extend_from_slice(format!("line {i} of many, to cross buffer sizes\n").as_bytes());
    }
    let out = run_with(command(&["run", &program("stdin")]), &input);
    assert_prints(
        &out,
        &format!(
            "bytes {} lines 20001 fnv {:016x}\nfirst: FIRST LINE OF INPUT\n",
            input.len(),
            fnv(&input)
        ),
    );
    // Empty stdin is an immediate end of file.
    assert_prints(
        &run(&["run", &program("stdin")]),
        &format!("bytes 0 lines 0 fnv {:016x}\nfirst: \n", fnv(b"")),
    );
}

#[test]
fn large_output_through_stdout() {
    let mib = 16;
    let out = run(&["run", &program("bigout"), &mib.to_string()]);
    assert_success(&out);
    assert_eq!(out.stdout.len(), mib * 1024 * 1024);
    let mut expected = Vec::with_capacity(out.stdout.len());
    for i in 0..(mib * 1024 * 1024 / 64) {
        let mut line = format!("line {i:08} ").into_bytes();
        for j in line.len()..63 {
            line.push(b'a' + ((i + j) % 26) as u8);
        }
        line.push(b'\n');
        expected.extend_from_slice(&line);
    }
    assert!(out.stdout == expected, "stdout differs from the pattern");
}

#[test]
fn poll_with_a_timeout() {
    assert_prints(
        &run(&["run", &program("poll"), "timeout"]),
        "poll timed out after at least 50 ms\n",
    );
}

#[test]
fn poll_waits_for_stdin() {
    let mut cmd = command(&["run", &program("poll"), "stdin"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    pipe.write_all(b"late input\n").unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    assert_prints(&out, "stdin ready: late input\n");
}

#[test]
fn poll_on_a_regular_file() {
    let dir = TempDir::new();
    let out = run(&[
        "run",
        "--dir",
        &format!("{}::/d", dir.str()),
        &program("poll"),
        "file",
        "/d",
    ]);
    assert_prints(&out, "file ready for reading and writing\n");
}

#[test]
fn wordcount_matches_the_native_build() {
    // `tests/wasi/expected/` holds the output of `wordcount.c` built natively with
    // `-O2` (recorded by `cargo xtask build-wasi-programs`, which CI reruns).
    let dir = TempDir::new();
    std::fs::copy(
        format!("{ROOT}/examples/wordcount/input.txt"),
        dir.join("input.txt"),
    )
    .unwrap();
    let out = run(&[
        "run",
        "--dir",
        &format!("{}::/data", dir.str()),
        &program("wordcount"),
        "/data/input.txt",
        "/data/result.txt",
    ]);
    assert_success(&out);
    assert!(
        out.stdout == expected("wordcount.stdout"),
        "stdout: {}",
        stdout(&out)
    );
    let result = std::fs::read(dir.join("result.txt")).unwrap();
    assert!(
        result == expected("wordcount.out"),
        "result file differs:\n{}",
        String::from_utf8_lossy(&result)
    );
}

#[test]
fn cli_errors_for_wasi_options() {
    for args in [
        vec!["run", "--dir"],
        vec!["run", "--env", "NOEQUALS", "x.wasm"],
        vec!["run", "--env", "=value", "x.wasm"],
        vec!["run", "--dir", "::guest", "x.wasm"],
    ] {
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let missing = std::env::temp_dir().join("lazuli-wasi-test-no-such-dir");
    let out = run(&["run", "--dir", missing.to_str().unwrap(), &program("hello")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("lazuli-wasi-test-no-such-dir"), "{err}");
}

// ---------------------------------------------------------------------------
// The sandbox: each way out of a preopened directory, refused, with the host tree
// unchanged afterwards.

/// `root/sandbox` (preopened as `/sandbox`, holding `inside.txt` and `sub/`) next
/// to `root/outside` (holding `secret.txt`), which the guest must never reach.
struct Sandbox {
    root: TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let root = TempDir::new();
        std::fs::create_dir_all(root.join("sandbox/sub")).unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        std::fs::write(root.join("outside/secret.txt"), "secret\n").unwrap();
        std::fs::write(root.join("sandbox/inside.txt"), "inside\n").unwrap();
        Sandbox { root }
    }

    fn outside(&self) -> String {
        self.root.join("outside").display().to_string()
    }

    fn symlink(&self, target: &str, link: &str) {
        std::os::unix::fs::symlink(target, self.root.join("sandbox").join(link)).unwrap();
    }

    /// Runs `sandbox.wasm MODE`; returns its stdout after checking it exited
    /// cleanly and never got at the secret.
    fn run(&self, mode: &str) -> String {
        let out = run(&[
            "run",
            "--dir",
            &format!("{}::/sandbox", self.root.join("sandbox").display()),
            &program("sandbox"),
            mode,
            "/sandbox",
            &self.outside(),
        ]);
        assert_success(&out);
        let text = stdout(&out);
        assert!(!text.contains("!!"), "read outside the sandbox:\n{text}");
        assert!(!text.contains("secret\n"), "{text}");
        text
    }

    /// Checks that `outside` is exactly as created, nothing else appeared next to
    /// the sandbox, and the sandbox holds exactly `sandbox` (besides what `new`
    /// made).
    fn assert_unchanged(&self, sandbox: &[(&str, &str)]) {
        let mut expected = entry(&[
            ("outside", "dir"),
            ("outside/secret.txt", "file: secret\n"),
            ("sandbox", "dir"),
            ("sandbox/inside.txt", "file: inside\n"),
            ("sandbox/sub", "dir"),
        ]);
        for (k, v) in sandbox {
            expected.insert(format!("sandbox/{k}"), v.to_string());
        }
        assert_eq!(snapshot(self.root.path()), expected);
    }
}

/// Asserts every line of `text` ends in `: VERDICT`, where VERDICT is `default`
/// unless the line starts with one of the `exceptions`' prefixes.
#[track_caller]
fn assert_verdicts(text: &str, default: &str, exceptions: &[(&str, &str)]) {
    assert!(text.lines().count() > 3, "{text}");
    for line in text.lines() {
        let (what, verdict) = line.rsplit_once(": ").expect(line);
        let expected = exceptions
            .iter()
            .find(|(prefix, _)| what.starts_with(prefix))
            .map_or(default, |(_, v)| v);
        assert_eq!(verdict, expected, "{line}\nin:\n{text}");
    }
}

#[test]
fn sandbox_refuses_dot_dot() {
    let sandbox = Sandbox::new();
    let text = sandbox.run("dotdot");
    assert!(
        text.contains("read ../outside/secret.txt: EPERM\n"),
        "{text}"
    );
    assert!(
        text.contains("create ../outside/created.txt: EPERM\n"),
        "{text}"
    );
    assert!(text.contains("wasi open ..: EPERM\n"), "{text}");
    assert_verdicts(
        &text,
        "EPERM",
        &[("wasi open sub/../inside.txt (stays inside)", "succeeded")],
    );
    sandbox.assert_unchanged(&[]);
}

#[test]
fn sandbox_refuses_absolute_paths() {
    let sandbox = Sandbox::new();
    let text = sandbox.run("absolute");
    assert!(text.contains("wasi open /etc/passwd: EPERM\n"), "{text}");
    assert!(
        text.contains("wasi create OUTSIDE/created.txt: EPERM\n"),
        "{text}"
    );
    // wasi-libc itself refuses a path outside every preopen, never asking the host.
    assert_verdicts(
        &text,
        "EPERM",
        &[("libc open OUTSIDE/secret.txt", "ENOTCAPABLE")],
    );
    sandbox.assert_unchanged(&[]);
}

#[test]
fn sandbox_refuses_absolute_symlinks_out() {
    let sandbox = Sandbox::new();
    let outside = sandbox.outside();
    sandbox.symlink(&format!("{outside}/secret.txt"), "abs-file");
    sandbox.symlink(&outside, "abs-dir");
    let text = sandbox.run("symlink-absolute");
    assert!(text.contains("read abs-file: EPERM\n"), "{text}");
    assert!(text.contains("write abs-file: EPERM\n"), "{text}");
    assert!(
        text.contains("create abs-dir/created.txt: EPERM\n"),
        "{text}"
    );
    assert_verdicts(
        &text,
        "EPERM",
        &[
            ("lstat abs-file", "succeeded"),
            ("wasi open abs-file without following", "ELOOP"),
        ],
    );
    sandbox.assert_unchanged(&[
        ("abs-file", &format!("link -> {outside}/secret.txt")),
        ("abs-dir", &format!("link -> {outside}")),
    ]);
}

#[test]
fn sandbox_refuses_relative_symlinks_out() {
    let sandbox = Sandbox::new();
    sandbox.symlink("../outside/secret.txt", "rel-file");
    sandbox.symlink("../outside", "rel-dir");
    let text = sandbox.run("symlink-relative");
    assert!(text.contains("read rel-file: EPERM\n"), "{text}");
    // Following the host's links out is refused, and so is making such a link:
    // the guest's links do not exist, so using them is ENOENT.
    assert_verdicts(
        &text,
        "EPERM",
        &[
            ("read guest-", "ENOENT"),
            ("write guest-", "ENOENT"),
            ("append guest-", "ENOENT"),
            ("stat guest-", "ENOENT"),
            ("create guest-", "ENOENT"),
            ("mkdir guest-", "ENOENT"),
            ("opendir guest-", "ENOENT"),
            ("rename inside.txt to guest-", "ENOENT"),
            ("link inside.txt to guest-", "ENOENT"),
            ("symlink inside.txt as guest-", "ENOENT"),
            ("rename guest-", "ENOENT"),
            ("link guest-", "ENOENT"),
            ("unlink guest-", "ENOENT"),
            ("readlink guest-file", ""),
        ],
    );
    sandbox.assert_unchanged(&[
        ("rel-file", "link -> ../outside/secret.txt"),
        ("rel-dir", "link -> ../outside"),
    ]);
}

#[test]
fn sandbox_reports_symlink_loops() {
    let sandbox = Sandbox::new();
    sandbox.symlink("loop-b", "loop-a");
    sandbox.symlink("loop-a", "loop-b");
    sandbox.symlink("self", "self");
    let text = sandbox.run("loop");
    assert_verdicts(
        &text,
        "ELOOP",
        &[
            ("lstat loop-b", "succeeded"),
            ("symlink guest-a -> guest-b", "succeeded"),
            ("symlink guest-b -> guest-a", "succeeded"),
        ],
    );
    sandbox.assert_unchanged(&[
        ("loop-a", "link -> loop-b"),
        ("loop-b", "link -> loop-a"),
        ("self", "link -> self"),
        ("guest-a", "link -> guest-b"),
        ("guest-b", "link -> guest-a"),
    ]);
}

#[test]
fn sandbox_refuses_paths_with_nul() {
    let sandbox = Sandbox::new();
    let text = sandbox.run("nul");
    assert_eq!(text.lines().count(), 21, "{text}");
    assert_verdicts(&text, "EINVAL", &[("invalid UTF-8", "EILSEQ")]);
    sandbox.assert_unchanged(&[]);
}

// ---------------------------------------------------------------------------
// Preview-1 rights, one program per family: each call succeeds while the
// descriptor holds its right and fails with ENOTCAPABLE once
// `fd_fdstat_set_rights` has dropped it.

/// Runs `NAME.wasm` with a fresh directory preopened (fd 3); returns the
/// directory and the program's stdout, after checking it exited cleanly.
fn run_in_fresh_dir(name: &str) -> (TempDir, String) {
    let dir = TempDir::new();
    let out = run(&[
        "run",
        "--dir",
        &format!("{}::/d", dir.str()),
        &program(name),
        "/d",
    ]);
    assert_success(&out);
    let text = stdout(&out);
    (dir, text)
}

/// The line `rights.h` prints for a call that succeeded with `right` and failed
/// with ENOTCAPABLE without it.
fn refused_without(call: &str, right: &str) -> String {
    format!("{call}: OK, without __WASI_RIGHTS_{right}: ENOTCAPABLE\n")
}

#[test]
fn rights_of_calls_on_files() {
    let (dir, text) = run_in_fresh_dir("rights_fd");
    let mut expected = String::new();
    for (call, right) in [
        ("fd_write", "FD_WRITE"),
        ("fd_read", "FD_READ"),
        ("fd_pread", "FD_READ"),
        ("fd_pread", "FD_SEEK"),
        ("fd_pwrite", "FD_WRITE"),
        ("fd_pwrite", "FD_SEEK"),
        ("fd_seek", "FD_SEEK"),
        ("fd_seek to where it is", "FD_TELL"),
        ("fd_tell", "FD_TELL | __WASI_RIGHTS_FD_SEEK"),
    ] {
        expected += &refused_without(call, right);
    }
    expected += "fd_tell with fd_seek only: OK\n";
    for (call, right) in [
        ("fd_advise", "FD_ADVISE"),
        ("fd_allocate", "FD_ALLOCATE"),
        ("fd_datasync", "FD_DATASYNC"),
        ("fd_sync", "FD_SYNC"),
        ("fd_fdstat_set_flags", "FD_FDSTAT_SET_FLAGS"),
        ("fd_filestat_get", "FD_FILESTAT_GET"),
        ("fd_filestat_set_size", "FD_FILESTAT_SET_SIZE"),
        ("fd_filestat_set_times", "FD_FILESTAT_SET_TIMES"),
    ] {
        expected += &refused_without(call, right);
    }
    expected += "giving a dropped right back: ENOTCAPABLE\n\
                 with no rights: fdstat OK, rights 0, close OK\n";
    assert_eq!(text, expected);
    // The last size set was 2 (the refused set-size to 2 came after it).
    assert_eq!(std::fs::read(dir.join("f.txt")).unwrap(), b"da");
}

#[test]
fn rights_of_calls_on_paths() {
    let (dir, text) = run_in_fresh_dir("rights_path");
    let mut expected = String::new();
    for (call, right) in [
        ("path_create_directory", "PATH_CREATE_DIRECTORY"),
        ("path_open", "PATH_OPEN"),
        ("path_open with creat", "PATH_CREATE_FILE"),
        ("path_open with trunc", "PATH_FILESTAT_SET_SIZE"),
    ] {
        expected += &refused_without(call, right);
    }
    expected += "size after the refused truncation: 4\n";
    for (call, right) in [
        ("path_link from", "PATH_LINK_SOURCE"),
        ("path_link to", "PATH_LINK_TARGET"),
        ("path_rename from", "PATH_RENAME_SOURCE"),
        ("path_rename to", "PATH_RENAME_TARGET"),
        ("path_readlink", "PATH_READLINK"),
        ("path_symlink", "PATH_SYMLINK"),
        ("path_unlink_file", "PATH_UNLINK_FILE"),
        ("path_remove_directory", "PATH_REMOVE_DIRECTORY"),
        ("path_filestat_get", "PATH_FILESTAT_GET"),
        ("path_filestat_set_times", "PATH_FILESTAT_SET_TIMES"),
        ("fd_filestat_get on a directory", "FD_FILESTAT_GET"),
        (
            "fd_filestat_set_times on a directory",
            "FD_FILESTAT_SET_TIMES",
        ),
        ("fd_sync on a directory", "FD_SYNC"),
        ("fd_datasync on a directory", "FD_DATASYNC"),
    ] {
        expected += &refused_without(call, right);
    }
    expected += "open for writing, fd_write not passed on: ENOTCAPABLE
open for appending, fd_write not passed on: ENOTCAPABLE
open with dsync, no sync right passed on: ENOTCAPABLE
asking for every other right: fd_read 1, no fd_allocate 1, within what the directory passes on 1
a directory beneath: open for writing ENOTCAPABLE
";
    assert_eq!(text, expected);
    // What the calls that had their rights did, and nothing the others tried.
    assert_eq!(
        snapshot(dir.path()),
        entry(&[
            ("f.txt", "file: data"),
            ("link2", "file: data"),
            ("made", "dir"),
            ("new.txt", "file: "),
            ("r3", "file: data"),
            ("sym", "link -> f.txt"),
            ("sym2", "link -> f.txt"),
        ])
    );
}

#[test]
fn rights_of_listing_a_directory() {
    let (_dir, text) = run_in_fresh_dir("rights_readdir");
    assert_eq!(
        text,
        refused_without("fd_readdir", "FD_READDIR")
            + "fd_readdir on a directory opened without it: ENOTCAPABLE\n"
    );
}

#[test]
fn rights_of_polling() {
    let (_dir, text) = run_in_fresh_dir("rights_poll");
    assert_eq!(
        text,
        [
            refused_without("poll for reading", "POLL_FD_READWRITE"),
            refused_without("poll for reading", "FD_READ"),
            refused_without("poll for writing", "POLL_FD_READWRITE"),
            refused_without("poll for writing", "FD_WRITE"),
        ]
        .concat()
    );
}

/// What `append.c` prints for one of its two descriptors, found by doing the
/// same on the host: "abc" written in append mode, the offset set to 1, "XY"
/// written at offset 0 with `pwrite`.
fn host_pwrite_in_append_mode(dir: &TempDir, how: &str) -> String {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::FileExt;
    let path = dir.join("host-append.txt");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .unwrap();
    file.set_len(0).unwrap();
    std::io::Write::write_all(&mut file, b"abc").unwrap();
    file.seek(SeekFrom::Start(1)).unwrap();
    file.write_all_at(b"XY", 0).unwrap();
    let offset = file.stream_position().unwrap();
    let mut contents = String::new();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.read_to_string(&mut contents).unwrap();
    std::fs::remove_file(&path).unwrap();
    format!("{how}: offset {offset}, contents {contents}\n")
}

#[test]
fn pwrite_in_append_mode_writes_as_the_host_does_and_keeps_the_offset() {
    let dir = TempDir::new();
    let expected = host_pwrite_in_append_mode(&dir, "opened with O_APPEND")
        + &host_pwrite_in_append_mode(&dir, "O_APPEND set later");
    // The host keeps the offset: what the guest must see too.
    assert!(expected.contains("offset 1,"), "{expected}");
    let out = run(&[
        "run",
        "--dir",
        &format!("{}::/d", dir.str()),
        &program("append"),
        "/d",
    ]);
    assert_prints(&out, &expected);
}
