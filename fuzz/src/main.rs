//! The seeded driver: `lazuli-fuzz TARGET --seed X (--cases N | --seconds S)`.
//!
//! Case `i` is the input generated from seed `X + i` (`X + i * K` with
//! `--stride K`); before running it the
//! driver prints `case SEED`, so that a parent seeing the process die knows which
//! seed killed it (`cargo xtask fuzz` restarts after it). Each divergence or
//! panic is printed as `divergence SEED: MESSAGE`; the last two lines are
//! `executions: E` (module × configuration runs) and `cases: N, divergences: M`.

#![forbid(unsafe_code)]

use lazuli_fuzz::{Outcome, TARGETS, panic_message, rng};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long a run lasts.
enum Budget {
    Cases(u64),
    Time(Duration),
}

struct Args {
    target: lazuli_fuzz::Target,
    seed: u64,
    /// Case `i` has the seed `seed + i * stride` (so that parallel drivers can
    /// share a seed space).
    stride: u64,
    budget: Budget,
}

const USAGE: &str = "usage: lazuli-fuzz TARGET [--seed X] [--stride K] [--cases N | --seconds S]\n       lazuli-fuzz emit SEED FILE   (writes the differential module of SEED)\n       lazuli-fuzz check FILE       (the differential check of a .wasm or .wat file)";

fn parse_args(args: &[String]) -> Result<Args, String> {
    let (name, rest) = args.split_first().ok_or(USAGE)?;
    let target = lazuli_fuzz::target(name).ok_or_else(|| {
        let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
        format!("unknown target `{name}` (targets: {})", names.join(", "))
    })?;
    let mut parsed = Args {
        target,
        seed: 0,
        stride: 1,
        budget: Budget::Cases(1000),
    };
    let mut rest = rest.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or(USAGE)?;
        let number =
            || parse_number(value).ok_or(format!("`{flag}` needs a number, not `{value}`"));
        match flag.as_str() {
            "--seed" => parsed.seed = number()?,
            "--stride" => parsed.stride = number()?,
            "--cases" => parsed.budget = Budget::Cases(number()?),
            "--seconds" => parsed.budget = Budget::Time(Duration::from_secs(number()?)),
            _ => return Err(USAGE.to_string()),
        }
    }
    Ok(parsed)
}

/// A decimal or `0x` hexadecimal number.
fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match &args[..] {
        [emit, seed, file] if emit == "emit" => return emit_module(seed, file),
        [check, file] if check == "check" => return check_file(file),
        _ => {}
    }
    let args = match parse_args(&args) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    // Panics are reported as divergences, with their message; the default hook
    // would also print them for the panics Lazuli catches itself.
    std::panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    let (mut cases, mut divergences, mut disputed, mut executions) = (0u64, 0u64, 0u64, 0u64);
    let mut stdout = std::io::stdout().lock();
    loop {
        let done = match args.budget {
            Budget::Cases(n) => cases >= n,
            Budget::Time(t) => start.elapsed() >= t,
        };
        if done {
            break;
        }
        let seed = args.seed.wrapping_add(cases.wrapping_mul(args.stride));
        // Flushed before the case runs: if it kills the process, the seed is out.
        let _ = writeln!(stdout, "case {seed:#x}");
        let _ = stdout.flush();
        let input = rng::case_input(seed);
        let outcome =
            catch_unwind(AssertUnwindSafe(|| (args.target)(&input))).unwrap_or_else(|panic| {
                Outcome::diverged(0, format!("panic: {}", panic_message(&*panic)))
            });
        cases += 1;
        executions += outcome.executions;
        if let Some(message) = outcome.divergence {
            divergences += 1;
            let _ = writeln!(stdout, "divergence {seed:#x}: {message}");
        }
        if let Some(message) = outcome.disputed {
            disputed += 1;
            let _ = writeln!(
                stdout,
                "disputed {seed:#x}: {message} (Wasmtime agrees with Lazuli)"
            );
        }
    }
    let _ = writeln!(stdout, "disputed: {disputed}");
    let _ = writeln!(stdout, "executions: {executions}");
    let _ = writeln!(stdout, "cases: {cases}, divergences: {divergences}");
    if divergences > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `emit SEED FILE`: writes the module the `differential` target runs for `SEED`.
fn emit_module(seed: &str, file: &str) -> ExitCode {
    let Some(seed) = parse_number(seed) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Some(bytes) = lazuli_fuzz::differential_module(&rng::case_input(seed)) else {
        eprintln!("seed {seed:#x} generates no module");
        return ExitCode::FAILURE;
    };
    match std::fs::write(file, bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write {file}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `check FILE`: the differential check of one module, binary or text.
fn check_file(file: &str) -> ExitCode {
    let bytes = match wat::parse_file(file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("cannot read {file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = lazuli_fuzz::check_module(&bytes);
    println!("executions: {}", outcome.executions);
    match outcome.divergence {
        Some(message) => {
            println!("divergence: {message}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}
