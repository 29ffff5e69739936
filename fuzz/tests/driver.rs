//! The seeded driver's command line and output, and each target on a few cases.

use std::process::Command;

fn driver(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_lazuli-fuzz"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn the_seed_of_each_case_comes_before_it_and_the_summary_last() {
    let (ok, out) = driver(&["differential", "--seed", "0x10", "--cases", "3"]);
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["case 0x10", "case 0x11", "case 0x12"]);
    assert_eq!(lines[3], "disputed: 0", "{out}");
    assert!(lines[4].starts_with("executions: "), "{out}");
    assert_eq!(lines.last(), Some(&"cases: 3, divergences: 0"));
}

#[test]
fn a_stride_spaces_the_seeds_for_parallel_drivers() {
    let (ok, out) = driver(&[
        "validate", "--seed", "0x10", "--stride", "3", "--cases", "3",
    ]);
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["case 0x10", "case 0x13", "case 0x16"]);
}

#[test]
fn an_unknown_target_is_a_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_lazuli-fuzz"))
        .args(["nonsense", "--cases", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown target `nonsense`"));
}

#[test]
fn a_case_is_determined_by_its_seed() {
    let input = lazuli_fuzz::rng::case_input(42);
    assert_eq!(
        lazuli_fuzz::differential(&input),
        lazuli_fuzz::differential(&input)
    );
}

#[test]
fn every_target_runs_cases_in_every_configuration() {
    for (name, target) in lazuli_fuzz::TARGETS {
        let executions: u64 = (0..4)
            .map(|seed| target(&lazuli_fuzz::rng::case_input(seed)).executions)
            .sum();
        assert!(
            executions >= lazuli_fuzz::CONFIG_COUNT as u64,
            "{name} ran {executions} executions"
        );
    }
}

#[test]
fn validate_rejects_garbage_like_wasmparser() {
    // Mode byte 0: the rest is taken as it is.
    assert_eq!(
        lazuli_fuzz::validate(b"\0\0asm\x01\0\0\0\xff"),
        lazuli_fuzz::Outcome::ok(lazuli_fuzz::CONFIG_COUNT as u64)
    );
}
