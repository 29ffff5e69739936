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
