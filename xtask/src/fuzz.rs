//! `fuzz TARGET [--seconds S | --cases N] [--seed X] [--jobs J]`: runs a target
//! of the `lazuli-fuzz` crate through its seeded driver in child processes
//! (`J` at a time, default 1; child `k` takes the seeds `X + k`, `X + k + J`, …),
//! built in the profile xtask itself was built in. The driver prints `case SEED` before
//! each case; if the child dies (a signal, an abort) or a case runs longer than
//! [`CASE_TIMEOUT`], the seed it was on is reported as a divergence and a new
//! child goes on after it. The last line is `cases: N, divergences: M`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

/// A case that takes longer than this is a hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

const USAGE: &str = "usage: cargo xtask fuzz TARGET [--seconds S | --cases N] [--seed X] [--jobs J] [--driver PATH]";

/// How long the whole run lasts.
#[derive(Clone, Copy)]
enum Budget {
    Cases(u64),
    Seconds(u64),
}

struct Options {
    target: String,
    seed: u64,
    budget: Budget,
    jobs: u64,
    /// A driver binary already built (CI passes the one `cargo test` built, whose
    /// dependencies' features are the whole workspace's), instead of building one.
    driver: Option<PathBuf>,
}

/// The totals over every child.
#[derive(Default)]
struct Totals {
    cases: u64,
    divergences: u64,
    disputed: u64,
    executions: u64,
}

/// How one child ended.
enum End {
    /// It ran its whole budget and printed its summary.
    Finished,
    /// It died or hung on the case with this seed.
    Died { seed: u64, why: String },
}

pub fn run(args: &[&str]) -> ExitCode {
    match parse(args).and_then(|options| fuzz(&options)) {
        Ok(totals) => {
            println!("disputed: {}", totals.disputed);
            println!("executions: {}", totals.executions);
            println!(
                "cases: {}, divergences: {}",
                totals.cases, totals.divergences
            );
            if totals.divergences > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn parse(args: &[&str]) -> Result<Options> {
    let Some((target, mut rest)) = args.split_first() else {
        bail!(USAGE)
    };
    let mut options = Options {
        target: target.to_string(),
        seed: clock_seed(),
        budget: Budget::Seconds(60),
        jobs: 1,
        driver: None,
    };
    while let [flag, value, tail @ ..] = rest {
        rest = tail;
        if *flag == "--driver" {
            options.driver = Some(PathBuf::from(value));
            continue;
        }
        let number = parse_number(value).with_context(|| format!("`{flag}` needs a number"))?;
        match *flag {
            "--seed" => options.seed = number,
            "--cases" => options.budget = Budget::Cases(number),
            "--seconds" => options.budget = Budget::Seconds(number),
            "--jobs" if number > 0 => options.jobs = number,
            _ => bail!(USAGE),
        }
    }
    if !rest.is_empty() {
        bail!(USAGE);
    }
    Ok(options)
}

/// A decimal or `0x` hexadecimal number.
fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A fresh seed when none is given (printed, so the run can be repeated).
fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() << 20)
}

/// Builds the driver, then runs `jobs` streams of children until the budget is spent.
fn fuzz(options: &Options) -> Result<Totals> {
    let driver = match &options.driver {
        Some(path) => path.clone(),
        None => build_driver()?,
    };
    println!("fuzz {}: seed {:#x}", options.target, options.seed);
    let jobs = options.jobs;
    let streams: Vec<Result<Totals>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs)
            .map(|k| {
                let budget = match options.budget {
                    Budget::Cases(n) => Budget::Cases(n / jobs + u64::from(k < n % jobs)),
                    seconds => seconds,
                };
                let seed = options.seed.wrapping_add(k);
                let driver = &driver;
                s.spawn(move || stream(driver, &options.target, seed, jobs, budget))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("a fuzz stream panicked")))
            .collect()
    });
    let mut totals = Totals::default();
    for t in streams {
        let t = t?;
        totals.cases += t.cases;
        totals.divergences += t.divergences;
        totals.disputed += t.disputed;
        totals.executions += t.executions;
    }
    Ok(totals)
}

/// Runs children over the seeds `seed`, `seed + stride`, … until `budget` is
/// spent, starting a new child after each one that dies.
fn stream(driver: &Path, target: &str, seed: u64, stride: u64, budget: Budget) -> Result<Totals> {
    let start = Instant::now();
    let mut totals = Totals::default();
    let mut seed = seed;
    loop {
        let left = match budget {
            Budget::Cases(n) if totals.cases >= n => break,
            Budget::Cases(n) => Budget::Cases(n - totals.cases),
            Budget::Seconds(s) => {
                let spent = start.elapsed().as_secs();
                if spent >= s {
                    break;
                }
                Budget::Seconds(s - spent)
            }
        };
        let child = Child {
            driver,
            target,
            seed,
            stride,
            budget: left,
        };
        match run_child(&child, &mut totals)? {
            End::Finished => break,
            End::Died { seed: died, why } => {
                println!("divergence {died:#x}: the driver {why}");
                totals.divergences += 1;
                seed = died.wrapping_add(stride);
            }
        }
    }
    Ok(totals)
}

/// Builds `lazuli-fuzz` in xtask's own profile; the path of its binary.
fn build_driver() -> Result<PathBuf> {
    let release = !cfg!(debug_assertions);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut build = Command::new(cargo);
    build.args([
        "build",
        "--quiet",
        "--package",
        "lazuli-fuzz",
        "--bin",
        "lazuli-fuzz",
    ]);
    if release {
        build.arg("--release");
    }
    let status = build.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("building the fuzz driver failed: {status}");
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("xtask has no directory")?;
    Ok(dir.join(format!("lazuli-fuzz{}", std::env::consts::EXE_SUFFIX)))
}

/// One run of the driver.
struct Child<'a> {
    driver: &'a Path,
    target: &'a str,
    seed: u64,
    stride: u64,
    budget: Budget,
}

/// Runs one child; adds what it reports to `totals`.
fn run_child(c: &Child<'_>, totals: &mut Totals) -> Result<End> {
    let (flag, amount) = match c.budget {
        Budget::Cases(n) => ("--cases", n),
        Budget::Seconds(s) => ("--seconds", s),
    };
    let mut child = Command::new(c.driver)
        .args([c.target, "--seed", &format!("{:#x}", c.seed), "--stride"])
        .args([c.stride.to_string(), flag.to_string(), amount.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", c.driver.display()))?;
    let lines = read_lines(&mut child)?;
    let mut current = None;
    let mut finished = false;
    let why = loop {
        match lines.recv_timeout(CASE_TIMEOUT) {
            Ok(line) => {
                if let Some(s) = line.strip_prefix("case ") {
                    current = parse_number(s);
                    totals.cases += 1;
                } else if let Some(d) = line.strip_prefix("disputed: ") {
                    totals.disputed += d.parse::<u64>().unwrap_or(0);
                } else if let Some(e) = line.strip_prefix("executions: ") {
                    totals.executions += e.parse::<u64>().unwrap_or(0);
                } else if let Some(summary) = line.strip_prefix("cases: ") {
                    totals.divergences += summary_divergences(summary);
                    finished = true;
                } else {
                    println!("{line}");
                }
            }
            Err(RecvTimeoutError::Disconnected) => break None,
            Err(RecvTimeoutError::Timeout) => {
                // The child may already be gone; only its status matters then.
                let _ = child.kill();
                break Some(format!("hung (no case finished in {CASE_TIMEOUT:?})"));
            }
        }
    };
    let status = child.wait()?;
    match (why, current) {
        (Some(why), Some(seed)) => Ok(End::Died { seed, why }),
        (None, _) if finished => Ok(End::Finished),
        (None, Some(seed)) => Ok(End::Died {
            seed,
            why: format!("died: {status}"),
        }),
        (_, None) => bail!("the fuzz driver ran no case: {status}"),
    }
}

/// The child's stdout, line by line, from a thread (so that a hang can be timed).
fn read_lines(child: &mut std::process::Child) -> Result<Receiver<String>> {
    let stdout = child.stdout.take().context("no stdout")?;
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    Ok(receive)
}

/// `M` in the driver's `N, divergences: M`.
fn summary_divergences(summary: &str) -> u64 {
    summary
        .split_once("divergences: ")
        .and_then(|(_, m)| m.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the driver: a shell script with `body`.
    /// Held while a test writes and runs its fake driver. Without it, one test's
    /// spawn can fork while another test still has its script open for writing,
    /// and the exec of that script then fails with ETXTBSY ("Text file busy").
    static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn fake_driver(name: &str, body: &str) -> (PathBuf, std::sync::MutexGuard<'static, ()>) {
        use std::os::unix::fs::PermissionsExt;
        let guard = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
        let path = std::env::temp_dir().join(format!("xtask-fuzz-{}-{name}", std::process::id()));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (path, guard)
    }

    fn child(driver: &Path, seed: u64, budget: Budget) -> Child<'_> {
        Child {
            driver,
            target: "t",
            seed,
            stride: 1,
            budget,
        }
    }

    #[test]
    fn a_child_that_dies_is_blamed_on_the_seed_it_was_on() {
        let (driver, _serial) =
            fake_driver("dies", "echo 'case 0x5'\necho 'case 0x6'\nkill -SEGV $$");
        let mut totals = Totals::default();
        let end = run_child(&child(&driver, 5, Budget::Cases(10)), &mut totals).unwrap();
        let End::Died { seed, why } = end else {
            panic!("the child's death went unnoticed")
        };
        assert_eq!(seed, 6);
        assert!(why.contains("SIGSEGV"), "{why}");
        assert_eq!(totals.cases, 2);
    }

    #[test]
    fn a_finished_child_adds_its_counts() {
        let (driver, _serial) = fake_driver(
            "finishes",
            "echo 'case 0x1'\necho 'divergence 0x1: x'\necho 'disputed: 2'\necho 'executions: 8'\necho 'cases: 1, divergences: 1'\nexit 1",
        );
        let mut totals = Totals::default();
        let end = run_child(&child(&driver, 1, Budget::Cases(1)), &mut totals).unwrap();
        assert!(matches!(end, End::Finished));
        assert_eq!(
            (
                totals.cases,
                totals.divergences,
                totals.disputed,
                totals.executions
            ),
            (1, 1, 2, 8)
        );
    }

    #[test]
    fn seeds_and_budgets_are_parsed() {
        let options = parse(&["differential", "--seed", "0x2a", "--cases", "7"]).unwrap();
        assert_eq!(options.seed, 42);
        assert!(matches!(options.budget, Budget::Cases(7)));
        assert!(parse(&["differential", "--seconds"]).is_err());
        assert!(parse(&["differential", "--bogus", "1"]).is_err());
        assert!(parse(&["differential", "--jobs", "0"]).is_err());
        assert_eq!(parse(&["differential", "--jobs", "2"]).unwrap().jobs, 2);
        let given = parse(&["validate", "--driver", "target/x", "--seed", "1"]).unwrap();
        assert_eq!(given.driver, Some(PathBuf::from("target/x")));
        assert_eq!(given.seed, 1);
        assert_eq!(parse(&["validate"]).unwrap().driver, None);
    }
}
