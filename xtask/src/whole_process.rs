//! `compare --whole-process [--runs N] [--quick] [--lazuli PATH]`: the `lazuli` CLI
//! against the Wasmtime CLI (Cranelift and Winch), the wasmi CLI and node (V8), whole
//! process and cold (no code cache), on real programs, reported as ratios.
//!
//! The programs: python3.11.wasm (`print(6*7)`), the C programs of `benches/programs/`
//! (built here with clang for wasm32-wasi, into `target/bench-inputs/programs/`),
//! `examples/hashset.c`, bzip2, SQLite and Lua from Debian's sources (built by
//! `scripts/build-debian-programs.sh`), and the generated module of
//! `benches/common/generator.rs` (called through `--invoke`). The peers, Python and the
//! Debian programs come from `scripts/fetch-bench-inputs.sh`; whatever is missing is
//! reported as skipped.
//!
//! Every program runs once under every runtime first (untimed: it warms the page cache
//! and its output is checked, every runtime must print the same); then `N` runs, the
//! runtimes taking turns run by run so that a change in the machine's load hits all of
//! them alike. A figure is the median wall time; CPU time (user + system) is the median
//! of the children's `cutime + cstime` deltas read from `/proc/self/stat`.
//!
//! `--quick` is a smoke run: one timed run (unless `--runs` says otherwise) and a
//! generated module of 2,000 functions. `--lazuli PATH` runs that binary instead of
//! building `target/release/lazuli`. `--second-start` compares the starts after the
//! first instead: Lazuli (`--tier auto`) and Wasmtime cold, with the code cache the
//! untimed first run filled (Lazuli's in `target/bench-inputs/second-start/`,
//! Wasmtime's own), and running a module precompiled once (`compile -o`).
//! `--whole-process` must come first after `compare`.

mod report;
mod runtimes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use report::{Cell, Kind, Row};
use runtimes::{Launch, Runtime};

/// How long one run may take before it counts as failed.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// The C programs of `benches/programs/` that run long in one activation.
const KERNELS: [&str; 4] = ["matmul", "nbody", "sieve", "mandelbrot"];
/// The short C programs of `benches/programs/`.
const SHORT: [&str; 3] = ["regex", "lz77", "chacha_sha"];

struct Options {
    runs: usize,
    quick: bool,
    lazuli: Option<PathBuf>,
    /// Lazuli and Wasmtime cold, with a warm code cache, and precompiled.
    second_start: bool,
}

fn parse(args: &[&str]) -> Result<Options> {
    const USAGE: &str = "usage: cargo xtask compare --whole-process [--runs N] [--quick] [--lazuli PATH] [--second-start]";
    let mut options = Options {
        runs: 5,
        quick: false,
        lazuli: None,
        second_start: false,
    };
    let mut rest = args;
    while let Some((first, tail)) = rest.split_first() {
        rest = tail;
        match *first {
            "--quick" => options.quick = true,
            "--second-start" => options.second_start = true,
            "--runs" | "--lazuli" => {
                let Some((value, tail)) = rest.split_first() else {
                    bail!("{first} needs a value; {USAGE}")
                };
                rest = tail;
                if *first == "--runs" {
                    options.runs = value
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .with_context(|| format!("--runs {value}: not a positive number"))?;
                } else {
                    options.lazuli = Some(PathBuf::from(value));
                }
            }
            other => bail!("unknown argument `{other}`; {USAGE}"),
        }
    }
    Ok(options)
}

pub fn run(args: &[&str]) -> Result<()> {
    let mut options = parse(args)?;
    if options.quick && !args.contains(&"--runs") {
        options.runs = 1;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?;
    let inputs = root.join("target/bench-inputs");
    let lazuli = match options.lazuli.take() {
        Some(path) => path,
        None => build_lazuli(root)?,
    };
    let programs = programs(root, &inputs, options.quick)?;
    let runtimes = match options.second_start {
        true => runtimes::second_start(&inputs, &lazuli, &inputs.join("second-start")),
        false => runtimes::all(root, &inputs, &lazuli, &programs[0]),
    };
    let start = Instant::now();
    let load_before = loadavg();
    println!(
        "{} threads, CPU: {}, load average {load_before}; {} runs each",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        options.runs
    );
    let mut rows = Vec::new();
    let mut wrong = Vec::new();
    for program in &programs {
        eprintln!("running {} ...", program.name);
        let cells = measure(program, &runtimes, options.runs);
        for (rt, cell) in runtimes.iter().zip(cells) {
            if let Cell::Skipped(why) = &cell
                && why.starts_with(report::WRONG_OUTPUT)
            {
                wrong.push(format!("{} under {}", program.name, rt.label));
            }
            rows.push(Row {
                program: program.name.clone(),
                kind: program.kind,
                runtime: rt.label.clone(),
                role: rt.role,
                cell,
            });
        }
    }
    println!();
    print!("{}", report::table(&rows));
    println!();
    let summary = match options.second_start {
        true => report::second_start_summary(&rows),
        false => report::summary(&rows),
    };
    for line in summary {
        println!("{line}");
    }
    println!(
        "\nload average {load_before} before, {} after; {:.0?} in all",
        loadavg(),
        start.elapsed()
    );
    if !wrong.is_empty() {
        bail!("outputs disagree: {}", wrong.join(", "));
    }
    Ok(())
}

/// `cargo build --release -p lazuli-cli --bin lazuli`; returns the binary's path.
fn build_lazuli(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "lazuli-cli", "--bin", "lazuli"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building the lazuli CLI failed: {status}");
    }
    Ok(root.join("target/release/lazuli"))
}

/// One row group of the table.
pub(crate) struct Program {
    pub name: String,
    pub kind: Kind,
    pub wasm: PathBuf,
    pub launch: Launch,
}

/// Every program, Python first if it was fetched (the runtimes are probed on the
/// first), the generated module last.
fn programs(root: &Path, inputs: &Path, quick: bool) -> Result<Vec<Program>> {
    let mut programs = Vec::new();
    let python = inputs.join("python");
    let python_wasm = python.join("bin/python3.11.wasm");
    if python_wasm.is_file() {
        programs.push(Program {
            name: "python3.11.wasm `-c 'print(6*7)'`".to_string(),
            kind: Kind::Python,
            wasm: python_wasm,
            launch: Launch::Command {
                args: vec!["-c".to_string(), "print(6*7)".to_string()],
                home: Some(python),
                dir: None,
            },
        });
    } else {
        eprintln!(
            "python3.11.wasm skipped: {} not found (run scripts/fetch-bench-inputs.sh)",
            python_wasm.display()
        );
    }
    let built = inputs.join("programs");
    let c = |dir: &str, name: &str, kind| -> Result<Program> {
        let wasm = build_c(&root.join(dir).join(format!("{name}.c")), &built)?;
        Ok(Program {
            name: format!("{name}.c"),
            kind,
            wasm,
            launch: Launch::plain(),
        })
    };
    for name in SHORT {
        programs.push(c("benches/programs", name, Kind::Short)?);
    }
    programs.push(c("examples", "hashset", Kind::Short)?);
    programs.extend(debian(root, &built));
    for name in KERNELS {
        programs.push(c("benches/programs", name, Kind::Kernel)?);
    }
    programs.push(generated(&built, if quick { 2_000 } else { 20_000 })?);
    Ok(programs)
}

/// The programs `scripts/build-debian-programs.sh` builds from Debian's source packages
/// into `built` (one that is missing is reported and left out): bzip2 and SQLite with
/// drivers of ours, and Lua's interpreter running `benches/programs/drivers/bench.lua`.
fn debian(root: &Path, built: &Path) -> Vec<Program> {
    let drivers = root.join("benches/programs/drivers");
    let rows = [
        ("bz2_roundtrip", "bzip2 1.0.8 + bz2_roundtrip.c", None),
        ("sqlite_bench", "SQLite 3.40.1 + sqlite_bench.c", None),
        ("lua", "Lua 5.4.4, bench.lua", Some("bench.lua")),
    ];
    let mut programs = Vec::new();
    for (stem, name, script) in rows {
        let wasm = built.join(format!("{stem}.wasm"));
        if !wasm.is_file() {
            eprintln!(
                "{name} skipped: {} not found (run scripts/fetch-bench-inputs.sh)",
                wasm.display()
            );
            continue;
        }
        let args = script.iter().map(|s| drivers.join(s).display().to_string());
        programs.push(Program {
            name: name.to_string(),
            kind: Kind::Short,
            wasm,
            launch: Launch::Command {
                args: args.collect(),
                home: None,
                dir: script.map(|_| drivers.clone()),
            },
        });
    }
    programs
}

/// Compiles `source` to `out_dir/NAME.wasm` unless that is newer than the source.
fn build_c(source: &Path, out_dir: &Path) -> Result<PathBuf> {
    let name = source
        .file_stem()
        .and_then(|s| s.to_str())
        .context("source name")?;
    let out = out_dir.join(format!("{name}.wasm"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&out).is_some() && modified(&out) >= modified(source) {
        return Ok(out);
    }
    std::fs::create_dir_all(out_dir)?;
    let cc = crate::wasi_cc();
    let status = Command::new(&cc)
        .args([
            "--target=wasm32-wasi",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Wl,--strip-debug",
        ])
        .arg("-o")
        .arg(&out)
        .arg(source)
        .status()
        .with_context(|| format!("cannot run `{cc}`"))?;
    if !status.success() {
        bail!("`{cc}` failed on {}: {status}", source.display());
    }
    Ok(out)
}

/// The generated module of `n` functions, written to `dir`, called as `run(ARG)`.
fn generated(dir: &Path, n: u32) -> Result<Program> {
    use crate::compare::generator::{ARG, generate};
    let path = dir.join(format!("generated-{n}.wasm"));
    let module = generate(n);
    std::fs::create_dir_all(dir)?;
    std::fs::write(&path, &module.bytes)?;
    Ok(Program {
        name: format!(
            "generated module, {n} functions ({:.1} MB, {:.1} MiB of code), first result",
            module.bytes.len() as f64 / 1e6,
            module.code_bytes as f64 / f64::from(1 << 20)
        ),
        kind: Kind::Generated,
        wasm: path,
        launch: Launch::Invoke {
            name: "run".to_string(),
            args: vec![ARG.to_string()],
        },
    })
}

/// Warms up and checks every runtime on `program`, then times `runs` interleaved runs.
fn measure(program: &Program, runtimes: &[Runtime], runs: usize) -> Vec<Cell> {
    // (index of the cell, what it printed) of every runtime that ran.
    let mut outputs: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut cells: Vec<Cell> = Vec::new();
    for (i, rt) in runtimes.iter().enumerate() {
        let warm_up = rt
            .command(program)
            .and_then(|c| run_once(c).map_err(|e| format!("{e:#}")));
        cells.push(match warm_up {
            Err(why) => Cell::Skipped(why),
            Ok(outcome) => {
                outputs.push((i, outcome.stdout));
                Cell::Timed(Vec::new())
            }
        });
    }
    let printed: Vec<Vec<u8>> = outputs.iter().map(|(_, o)| o.clone()).collect();
    for (k, why) in report::disagreements(&printed) {
        cells[outputs[k].0] = Cell::Skipped(why);
    }
    for run in 0..runs {
        // Rotate who goes first, so no runtime always follows the same one.
        for i in (0..runtimes.len()).map(|i| (i + run) % runtimes.len()) {
            let Cell::Timed(samples) = &mut cells[i] else {
                continue;
            };
            let result = runtimes[i]
                .command(program)
                .and_then(|c| run_once(c).map_err(|e| format!("{e:#}")));
            match result {
                Ok(outcome) => samples.push((outcome.wall, outcome.cpu)),
                Err(why) => cells[i] = Cell::Skipped(format!("failed in a timed run: {why}")),
            }
        }
    }
    cells
}

/// What one run printed and how long it took.
struct Outcome {
    wall: Duration,
    /// User + system time of the child, if `/proc/self/stat` could be read.
    cpu: Option<Duration>,
    stdout: Vec<u8>,
}

/// Runs `cmd` to completion (killed after [`RUN_TIMEOUT`]); fails unless it exits 0.
fn run_once(mut cmd: Command) -> Result<Outcome> {
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let cpu_before = children_cpu();
    let start = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let pid = child.id();
    let (done, watch) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if watch.recv_timeout(RUN_TIMEOUT) == Err(mpsc::RecvTimeoutError::Timeout) {
            // Only the child this call started, by its id.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            return true;
        }
        false
    });
    let output = child.wait_with_output();
    let wall = start.elapsed();
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let output = output?;
    let cpu = match (cpu_before, children_cpu()) {
        (Some(before), Some(after)) => after.checked_sub(before),
        _ => None,
    };
    if timed_out {
        bail!("timed out after {RUN_TIMEOUT:?}");
    }
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        bail!("{}: {}", output.status, last.unwrap_or("no message"));
    }
    Ok(Outcome {
        wall,
        cpu,
        stdout: output.stdout,
    })
}

/// This process's waited-for children's user + system time (`cutime + cstime`).
fn children_cpu() -> Option<Duration> {
    // Linux's USER_HZ, which /proc reports in, is 100 on every architecture it runs on.
    const TICKS_PER_SECOND: u64 = 100;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses, start with field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".to_string())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let o = parse(&["--runs", "7", "--lazuli", "/x/lazuli"]).unwrap();
        assert_eq!(o.runs, 7);
        assert_eq!(o.lazuli.as_deref(), Some(Path::new("/x/lazuli")));
        assert!(!o.quick);
        assert!(parse(&["--runs", "0"]).is_err());
        assert!(parse(&["--runs"]).is_err());
        assert!(parse(&["--fast"]).is_err());
        assert!(parse(&["--quick"]).unwrap().quick);
    }

    #[test]
    fn run_once_reports_failure_and_output() {
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo hi"]);
        assert_eq!(run_once(ok).unwrap().stdout, b"hi\n");
        let mut bad = Command::new("sh");
        bad.args(["-c", "echo oops >&2; exit 3"]);
        let e = format!("{:#}", run_once(bad).err().unwrap());
        assert!(e.contains("oops") && e.contains('3'), "{e}");
    }
}
