//! The `lazuli` binary end to end: output, exit status and error messages.

mod support;

use std::process::{Command, Output};

use support::*;

const NUMBERS: &str = r#"(module
  (func (export "f32") (param f32) (result f32) local.get 0)
  (func (export "f64") (param f64) (result f64) local.get 0)
  (func (export "i64") (param i64) (result i64) local.get 0)
  (func (export "consts") (result f32 f64 f32 f64 i32 i64)
    f32.const 0.1 f64.const -0 f32.const nan f64.const inf i32.const -1 i64.const 0x7fffffffffffffff)
  (func (export "swap") (param i32 f64) (result f64 i32) local.get 1 local.get 0)
  (func (export "nothing"))
  (global (export "g") i32 (i32.const 0)))"#;

fn numbers() -> TempFile {
    temp_file("numbers.wat", NUMBERS)
}

#[test]
fn fib_example() {
    let out = lazuli(&["run", "--invoke", "fib", FIB, "20"]);
    assert_prints(&out, "6765\n");
}

#[test]
fn invoke_equals_form() {
    let out = lazuli(&["run", "--invoke=fib", FIB, "10"]);
    assert_prints(&out, "55\n");
}

#[test]
fn float_results_print_shortest_form() {
    let numbers = numbers();
    let file = path_str(&numbers);
    assert_prints(&lazuli(&["run", "--invoke", "f32", file, "0.1"]), "0.1\n");
    assert_prints(&lazuli(&["run", "--invoke", "f64", file, "-0"]), "-0\n");
    assert_prints(&lazuli(&["run", "--invoke", "f64", file, "nan"]), "NaN\n");
    assert_prints(&lazuli(&["run", "--invoke", "f32", file, "inf"]), "inf\n");
    assert_prints(&lazuli(&["run", "--invoke", "f64", file, "-inf"]), "-inf\n");
    // `{}` of a float: shortest round-trip digits, never exponent notation.
    assert_prints(
        &lazuli(&["run", "--invoke", "f64", file, "2.5e-3"]),
        "0.0025\n",
    );
    assert_prints(
        &lazuli(&["run", "--invoke", "f32", file, "16777217"]),
        "16777216\n",
    );
}

#[test]
fn integer_arguments_may_be_negative() {
    let numbers = numbers();
    let file = path_str(&numbers);
    assert_prints(
        &lazuli(&["run", "--invoke", "i64", file, "-9223372036854775808"]),
        "-9223372036854775808\n",
    );
}

#[test]
fn multi_value_results_print_one_per_line() {
    let numbers = numbers();
    let file = path_str(&numbers);
    assert_prints(
        &lazuli(&["run", "--invoke", "consts", file]),
        "0.1\n-0\nNaN\ninf\n-1\n9223372036854775807\n",
    );
    assert_prints(
        &lazuli(&["run", "--invoke", "swap", file, "-7", "2.5"]),
        "2.5\n-7\n",
    );
    assert_prints(&lazuli(&["run", "--invoke", "nothing", file]), "");
}

#[test]
fn empty_file_is_an_error() {
    let file = temp_file("empty.wasm", b"");
    assert_error(&lazuli(&["run", path_str(&file)]));
    let file = temp_file("empty.wat", b"");
    assert_error(&lazuli(&["run", path_str(&file)]));
}

#[test]
fn random_bytes_are_an_error() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect();
    let file = temp_file("random.wasm", &bytes);
    assert_error(&lazuli(&["run", path_str(&file)]));
    // Without the magic number and without a `.wasm` name it is read as text.
    let file = temp_file("random.bin", &bytes);
    assert_error(&lazuli(&["run", path_str(&file)]));
    // Random bytes after a valid header.
    let mut with_header = b"\0asm\x01\0\0\0".to_vec();
    with_header.extend_from_slice(&bytes);
    let file = temp_file("random-header.wasm", &with_header);
    assert_error(&lazuli(&["run", path_str(&file)]));
}

#[test]
fn truncated_module_is_an_error() {
    let binary = wat::parse_file(FIB).unwrap();
    let file = temp_file("truncated.wasm", &binary[..binary.len() / 2]);
    let err = assert_error(&lazuli(&["run", "--invoke", "fib", path_str(&file), "1"]));
    assert!(err.contains("invalid module"), "{err}");
}

#[test]
fn type_error_is_an_error() {
    let binary =
        wat::parse_str(r#"(module (func (export "f") (result i32) i64.const 1))"#).unwrap();
    let file = temp_file("invalid.wasm", &binary);
    let err = assert_error(&lazuli(&["run", "--invoke", "f", path_str(&file)]));
    assert!(err.contains("type mismatch"), "{err}");
}

#[test]
fn text_syntax_error_is_one_line_with_position() {
    let file = temp_file("syntax.wat", "(module\n  (func (export \"f\") (bogus)))");
    let err = assert_error(&lazuli(&["run", path_str(&file)]));
    assert!(err.contains("syntax.wat:2:"), "{err}");
}

#[test]
fn missing_export_is_an_error() {
    let err = assert_error(&lazuli(&["run", "--invoke", "nope", FIB]));
    assert!(err.contains("nope"), "{err}");
    let file = numbers();
    let err = assert_error(&lazuli(&["run", "--invoke", "g", path_str(&file)]));
    assert!(err.contains("not a function"), "{err}");
}

#[test]
fn too_few_arguments_is_an_error() {
    assert_error(&lazuli(&["run", "--invoke", "fib", FIB]));
}

#[test]
fn too_many_arguments_is_an_error() {
    assert_error(&lazuli(&["run", "--invoke", "fib", FIB, "1", "2"]));
}

#[test]
fn unparsable_arguments_are_errors() {
    assert_error(&lazuli(&["run", "--invoke", "fib", FIB, "ten"]));
    assert_error(&lazuli(&["run", "--invoke", "fib", FIB, "1.5"]));
    assert_error(&lazuli(&["run", "--invoke", "fib", FIB, "4294967296"]));
    let file = numbers();
    assert_error(&lazuli(&["run", "--invoke", "f64", path_str(&file), "x"]));
}

#[test]
fn nonexistent_file_is_an_error() {
    let missing = std::env::temp_dir().join("lazuli-cli-test-does-not-exist.wasm");
    let err = assert_error(&lazuli(&["run", missing.to_str().unwrap()]));
    assert!(err.contains("does-not-exist"), "{err}");
}

#[test]
fn trap_reports_kind_and_backtrace() {
    let file = temp_file(
        "trap.wat",
        r#"(module $traps
          (func $explode unreachable)
          (func (export "boom") (call $explode)))"#,
    );
    let out = lazuli(&["run", "--invoke", "boom", path_str(&file)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.starts_with("error: wasm trap: unreachable\n"), "{err}");
    assert!(err.contains("explode"), "{err}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn trap_in_start_export() {
    let file = temp_file(
        "start-trap.wat",
        r#"(module (func $main (export "_start") (drop (i32.div_u (i32.const 1) (i32.const 0)))))"#,
    );
    let out = lazuli(&["run", path_str(&file)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.starts_with("error: wasm trap: integer divide by zero"),
        "{err}"
    );
    assert!(err.contains("main"), "{err}");
}

#[test]
fn start_export_runs() {
    let file = temp_file(
        "start.wat",
        r#"(module (func (export "_start") (drop (i32.add (i32.const 1) (i32.const 2)))))"#,
    );
    assert_prints(&lazuli(&["run", path_str(&file)]), "");
}

#[test]
fn module_without_start_is_an_error() {
    let err = assert_error(&lazuli(&["run", FIB]));
    assert!(err.contains("_start"), "{err}");
}

#[test]
fn unknown_import_is_named() {
    let file = temp_file(
        "import.wat",
        r#"(module
          (import "env" "missing" (func))
          (import "env" "other" (func))
          (func (export "_start")))"#,
    );
    let err = assert_error(&lazuli(&["run", path_str(&file)]));
    assert_eq!(
        err,
        "error: unknown import: `env::missing` has not been defined\n"
    );
}

const PASSING_WAST: &str = r#"
(module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s))
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
(assert_return (invoke "add" (i32.const -1) (i32.const 1)) (i32.const 0))
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
(assert_invalid (module (func (result i32) i64.const 0)) "type mismatch")
"#;

#[test]
fn wast_passing_script() {
    let file = temp_file("pass.wast", PASSING_WAST);
    let out = lazuli(&["wast", path_str(&file)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "stdout: {text}");
    assert_eq!(text.lines().last(), Some("5 passed, 0 failed"), "{text}");
}

#[test]
fn wast_failing_assertion() {
    let file = temp_file(
        "fail.wast",
        r#"(module (func (export "one") (result i32) i32.const 1))
(assert_return (invoke "one") (i32.const 1))
(assert_return (invoke "one") (i32.const 2))"#,
    );
    let pass = temp_file("pass.wast", PASSING_WAST);
    let out = lazuli(&["wast", path_str(&file), path_str(&pass)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "stdout: {text}");
    assert_eq!(text.lines().last(), Some("7 passed, 1 failed"), "{text}");
    let failure = format!("{}:3: ", path_str(&file));
    assert!(text.starts_with(&failure), "{text}");
}

#[test]
fn wast_without_files_is_an_error() {
    assert_error(&lazuli(&["wast"]));
}

#[test]
fn help_and_usage_errors() {
    for help in ["--help", "help", "-h"] {
        let out = lazuli(&[help]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("lazuli run [--invoke NAME] FILE [ARGS...]"));
    }
    assert_error(&lazuli(&[]));
    assert_error(&lazuli(&["frobnicate"]));
    assert_error(&lazuli(&["run"]));
    assert_error(&lazuli(&["run", "--invoke"]));
    assert_error(&lazuli(&["run", "--bogus", FIB]));
}

#[test]
fn compile_modes_give_the_same_results() {
    for mode in ["lazy", "eager"] {
        let out = lazuli(&["run", "--compile", mode, "--invoke", "fib", FIB, "20"]);
        assert_prints(&out, "6765\n");
        let flag = format!("--compile={mode}");
        let out = lazuli(&["run", &flag, "--invoke", "fib", FIB, "20"]);
        assert_prints(&out, "6765\n");
    }
}

#[test]
fn unknown_compile_mode_is_an_error() {
    let out = lazuli(&["run", "--compile", "sometimes", "--invoke", "fib", FIB, "1"]);
    assert!(assert_error(&out).contains("lazy"));
    assert_error(&lazuli(&["run", "--compile"]));
}

/// The `name: value` lines of `lazuli compile`, in order.
fn compile_report(out: &Output) -> Vec<(String, String)> {
    assert!(out.status.success(), "stderr: {}", stderr(out));
    stdout(out)
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("`name: value` line");
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn compile_prints_statistics() {
    let report = compile_report(&lazuli(&["compile", FIB]));
    let names: Vec<_> = report.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "functions",
            "wasm code bytes",
            "machine code bytes",
            "compile time"
        ]
    );
    assert_eq!(report[0].1, "1");
    assert!(report[1].1.parse::<usize>().unwrap() > 0);
    assert!(report[2].1.parse::<usize>().unwrap() > 0);
    assert!(report[3].1.ends_with(" ms"));
}

#[test]
fn compile_cross_compiles_for_aarch64() {
    let native = compile_report(&lazuli(&["compile", FIB]));
    let arm = compile_report(&lazuli(&[
        "compile",
        "--target",
        "aarch64-unknown-linux-gnu",
        FIB,
    ]));
    assert_eq!(arm[0].1, "1");
    assert!(arm[2].1.parse::<usize>().unwrap() > 0);
    // Different backends produce different code.
    assert_ne!(native[2].1, arm[2].1);
}

#[test]
fn compile_rejects_unknown_targets_and_bad_input() {
    assert!(assert_error(&lazuli(&["compile", "--target", "nonsense", FIB])).contains("nonsense"));
    assert_error(&lazuli(&["compile"]));
    assert_error(&lazuli(&["compile", "no/such/file.wasm"]));
    let garbage = temp_file("garbage.wasm", b"\0asm\x01\0\0\0\xff\xff");
    assert_error(&lazuli(&["compile", path_str(&garbage)]));
}

/// Runs the binary with `args`, killing it and failing the test if it has not
/// ended within ten seconds.
fn lazuli_within_10s(args: &[&str]) -> Output {
    let mut child = lazuli_command()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cannot start the lazuli binary");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("lazuli {args:?} did not end within 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_device_is_refused_without_reading_it() {
    for command in ["run", "compile", "wast"] {
        let err = assert_error(&lazuli_within_10s(&[command, "/dev/zero"]));
        assert!(
            err.contains("/dev/zero") && err.contains("not a regular file"),
            "{err}"
        );
    }
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let file = temp_file("placeholder", "");
    let fifo = file.dir.join("module.wat");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let fifo = fifo.to_str().unwrap();
    for command in ["run", "compile", "wast"] {
        let err = assert_error(&lazuli_within_10s(&[command, fifo]));
        assert!(err.contains("not a regular file"), "{err}");
    }
}

#[test]
fn a_directory_is_refused() {
    let file = temp_file("placeholder", "");
    let dir = file.dir.to_str().unwrap();
    for command in ["run", "compile", "wast"] {
        let err = assert_error(&lazuli(&[command, dir]));
        assert!(err.contains("not a regular file"), "{err}");
    }
}

/// Native stack smaller than `max_wasm_stack` (1 MiB): the deep recursion must
/// end in a trap, not in the process dying of a stack overflow.
#[test]
fn deep_recursion_on_a_small_main_stack_traps() {
    let file = temp_file(
        "deep.wat",
        r#"(module (func $r (export "r") (param i32) (result i32)
             (i32.add (i32.const 1) (call $r (local.get 0)))))"#,
    );
    let script = format!(
        "ulimit -s 400 && exec '{}' run --invoke r '{}' 0",
        env!("CARGO_BIN_EXE_lazuli"),
        path_str(&file)
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.starts_with("error: wasm trap: call stack exhausted\n"),
        "{err}"
    );
}

/// With less native stack than the runtime keeps for the host, no Wasm runs: the
/// call fails with one line, without an empty backtrace.
#[test]
fn a_main_stack_too_small_for_wasm_is_one_error_line() {
    let script = format!(
        "ulimit -s 100 && exec '{}' run --invoke fib '{FIB}' 3",
        env!("CARGO_BIN_EXE_lazuli")
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_eq!(stderr(&out), "error: wasm trap: call stack exhausted\n");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_file_over_1_gib_is_refused_without_reading_it() {
    let file = temp_file("huge.wasm", "");
    // Sparse: no disk space is used.
    std::fs::File::options()
        .write(true)
        .open(&file.path)
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    for command in ["run", "compile", "wast"] {
        let err = assert_error(&lazuli_within_10s(&[command, path_str(&file)]));
        assert!(err.contains("larger than 1073741824 bytes"), "{err}");
    }
}

/// Every `--tier` value, and `--tier auto` with a budget of 1 (tier-up as soon as
/// a function's first call begins, so calls switch tiers during the run).
const TIER_FLAGS: [&[&str]; 4] = [
    &["--tier", "auto"],
    &["--tier", "auto", "--tier-up-budget", "1"],
    &["--tier", "fast"],
    &["--tier", "optimized"],
];

/// `lazuli run` with `tier` before `rest`.
fn run_at(tier: &[&str], rest: &[&str]) -> Output {
    let args: Vec<&str> = ["run"].iter().chain(tier).chain(rest).copied().collect();
    lazuli(&args)
}

#[test]
fn every_tier_gives_the_same_results_and_traps() {
    for tier in TIER_FLAGS {
        assert_prints(&run_at(tier, &["--invoke", "fib", FIB, "20"]), "6765\n");
        let eager = ["--compile", "eager", "--invoke", "fib", FIB, "20"];
        assert_prints(&run_at(tier, &eager), "6765\n");
    }
    for flag in ["--tier=auto", "--tier=fast", "--tier=optimized"] {
        let out = lazuli(&[
            "run",
            flag,
            "--tier-up-budget=3",
            "--invoke",
            "fib",
            FIB,
            "20",
        ]);
        assert_prints(&out, "6765\n");
    }
    let file = temp_file(
        "trap.wat",
        r#"(module $traps
          (func $explode unreachable)
          (func (export "boom") (call $explode)))"#,
    );
    let backtraces = TIER_FLAGS.map(|tier| {
        let out = run_at(tier, &["--invoke", "boom", path_str(&file)]);
        assert_eq!(out.status.code(), Some(1));
        stderr(&out)
    });
    assert!(backtraces[0].contains("traps!explode"), "{}", backtraces[0]);
    for backtrace in &backtraces[1..] {
        assert_eq!(backtrace, &backtraces[0]);
    }
}

#[test]
fn unknown_tier_is_an_error_naming_the_tiers() {
    let out = lazuli(&["run", "--tier", "slow", "--invoke", "fib", FIB, "1"]);
    let err = assert_error(&out);
    let expected = "`--tier slow`: expected `auto`, `fast` or `optimized`";
    assert!(err.contains(expected), "{err}");
    let err = assert_error(&lazuli(&["compile", "--tier=Auto", FIB]));
    assert!(err.contains("`--tier Auto`: expected `auto`"), "{err}");
    let wast = temp_file("pass.wast", PASSING_WAST);
    let err = assert_error(&lazuli(&["wast", "--tier", "eager", path_str(&wast)]));
    assert!(err.contains("`--tier eager`: expected `auto`"), "{err}");
    for command in ["run", "compile", "wast"] {
        let err = assert_error(&lazuli(&[command, "--tier"]));
        assert!(
            err.contains("`--tier` needs `auto`, `fast` or `optimized`"),
            "{err}"
        );
    }
}

#[test]
fn bad_tier_up_budget_is_an_error() {
    for budget in ["0", "-1", "1.5", "many", "4294967296", ""] {
        let flag = format!("--tier-up-budget={budget}");
        let err = assert_error(&lazuli(&["run", &flag, "--invoke", "fib", FIB, "1"]));
        let expected = format!("`--tier-up-budget {budget}`: expected a whole number from 1");
        assert!(err.contains(&expected), "{err}");
    }
    let err = assert_error(&lazuli(&["wast", "--tier-up-budget"]));
    assert!(
        err.contains("`--tier-up-budget` needs a whole number"),
        "{err}"
    );
    // Nothing runs in `compile`, so there is no budget to spend.
    let err = assert_error(&lazuli(&["compile", "--tier-up-budget", "1", FIB]));
    assert!(err.contains("unknown option `--tier-up-budget`"), "{err}");
}

#[test]
fn wast_runs_at_every_tier() {
    let pass = temp_file("pass.wast", PASSING_WAST);
    let fail = temp_file(
        "fail.wast",
        r#"(module (func (export "one") (result i32) i32.const 1))
(assert_return (invoke "one") (i32.const 1))
(assert_return (invoke "one") (i32.const 2))"#,
    );
    for tier in TIER_FLAGS {
        let args: Vec<&str> = ["wast"].iter().chain(tier).copied().collect();
        let out = lazuli(&[&args[..], &[path_str(&pass)]].concat());
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{tier:?}: {text}");
        assert_eq!(text.lines().last(), Some("5 passed, 0 failed"), "{text}");
        let out = lazuli(&[&args[..], &["--", path_str(&fail)]].concat());
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{tier:?}: {text}");
        assert_eq!(text.lines().last(), Some("2 passed, 1 failed"), "{text}");
    }
    let out = lazuli(&["wast", "--tier=fast", path_str(&pass)]);
    assert_eq!(stdout(&out).lines().last(), Some("5 passed, 0 failed"));
    let err = assert_error(&lazuli(&["wast", "--compile", "eager", path_str(&pass)]));
    assert!(
        err.contains("unknown option `--compile` for `lazuli wast`"),
        "{err}"
    );
}

#[test]
fn help_names_the_tiers_and_the_default_budget() {
    let text = stdout(&lazuli(&["--help"]));
    assert!(text.contains("--tier auto|fast|optimized"), "{text}");
    let budget = format!("default {})", lazuli::DEFAULT_TIER_UP_BUDGET);
    assert!(text.contains(&budget), "{text}");
}

#[test]
fn compile_at_the_fast_tier_makes_unoptimised_code() {
    // The optimiser folds the chain of constant arithmetic into one constant.
    let mut body = String::from("(i32.const 1)");
    for i in 0..40 {
        body = format!(
            "(i32.xor (i32.mul {body} (i32.const {})) (i32.const {i}))",
            2 * i + 3
        );
    }
    let file = temp_file("chain.wat", format!("(module (func (result i32) {body}))"));
    let code_bytes = |tier| {
        let report = compile_report(&lazuli(&["compile", "--tier", tier, path_str(&file)]));
        report[2].1.parse::<usize>().unwrap()
    };
    let (fast, optimized) = (code_bytes("fast"), code_bytes("optimized"));
    assert!(
        fast > optimized + 40 * 2 * 3,
        "fast {fast} B, optimized {optimized} B"
    );
    // `auto` is the default.
    let default = compile_report(&lazuli(&["compile", path_str(&file)]));
    let auto = compile_report(&lazuli(&["compile", "--tier", "auto", path_str(&file)]));
    assert_eq!(default[..3], auto[..3]);
}

/// Files (entries, the key) under the cache directory `dir`.
fn files_under(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.path().is_dir() {
            true => files_under(&e.path()),
            false => 1,
        })
        .sum()
}

#[test]
fn run_keeps_compiled_code_in_the_users_cache_directory_by_default() {
    let home = temp_file("unused", "");
    let mut command = lazuli_command();
    command.env("XDG_CACHE_HOME", &home.dir);
    assert_prints(
        &lazuli_with(&mut command, &["run", "--invoke", "fib", FIB, "10"]),
        "55\n",
    );
    let cache = home.dir.join("lazuli");
    assert!(cache.join("key").is_file(), "the cache's secret");
    assert!(files_under(&cache) > 1, "entries besides the key");
}

#[test]
fn run_with_cache_off_writes_no_cache() {
    let home = temp_file("unused", "");
    let mut command = lazuli_command();
    command.env("XDG_CACHE_HOME", &home.dir);
    let args = ["run", "--cache", "off", "--invoke", "fib", FIB, "10"];
    assert_prints(&lazuli_with(&mut command, &args), "55\n");
    assert!(!home.dir.join("lazuli").exists());
}

#[test]
fn run_with_a_cache_directory_gives_the_same_results_warm_and_after_damage() {
    let cache = temp_file("unused", "");
    let dir = cache.dir.join("cache");
    // At the fast tier nothing tiers up in the background, so what a run stores
    // does not depend on how far a tier-up got before the process ended.
    let dir_arg = dir.to_str().unwrap();
    let args = [
        "run", "--tier", "fast", "--cache", dir_arg, "--invoke", "fib", FIB, "20",
    ];
    assert_prints(&lazuli(&args), "6765\n");
    let entries = files_under(&dir);
    assert_prints(&lazuli(&args), "6765\n");
    assert_eq!(
        files_under(&dir),
        entries,
        "the warm run compiled nothing new"
    );
    // Every file truncated, the key included: the run compiles again, correctly.
    for bucket in std::fs::read_dir(&dir).unwrap().flatten() {
        if bucket.path().is_dir() {
            for f in std::fs::read_dir(bucket.path()).unwrap().flatten() {
                std::fs::write(f.path(), b"x").unwrap();
            }
        }
    }
    assert_prints(&lazuli(&args), "6765\n");
}

#[test]
fn cache_needs_a_directory_or_off() {
    let err = assert_error(&lazuli(&["run", "--invoke", "fib", FIB, "--cache"]));
    assert!(
        err.contains("needs a FILE") || err.contains("`--cache`"),
        "{err}"
    );
    let err = assert_error(&lazuli(&["run", "--cache", "", FIB]));
    assert!(
        err.contains("`--cache` needs a directory or `off`"),
        "{err}"
    );
}

#[test]
fn compile_o_writes_a_precompiled_module_that_run_runs() {
    let out = temp_file("fib.lzm", "");
    assert_prints(&lazuli(&["compile", FIB, "-o", path_str(&out)]), "");
    let bytes = std::fs::read(&out.path).unwrap();
    assert!(bytes.starts_with(b"LZMODULE"));
    let args = [
        "run",
        "--cache",
        "off",
        "--invoke",
        "fib",
        path_str(&out),
        "20",
    ];
    assert_prints(&lazuli(&args), "6765\n");
}

#[test]
fn run_refuses_a_module_precompiled_with_other_settings() {
    let out = temp_file("fib.lzm", "");
    assert_prints(
        &lazuli(&["compile", "--tier", "fast", "-o", path_str(&out), FIB]),
        "",
    );
    let run = |tier| {
        lazuli(&[
            "run",
            "--tier",
            tier,
            "--invoke",
            "fib",
            path_str(&out),
            "10",
        ])
    };
    let err = assert_error(&run("auto"));
    assert!(err.contains("other settings"), "{err}");
    assert_prints(&run("fast"), "55\n");
}

#[test]
fn run_refuses_a_module_precompiled_for_another_target() {
    let out = temp_file("fib.lzm", "");
    let triple = match cfg!(target_arch = "x86_64") {
        true => "aarch64-unknown-linux-gnu",
        false => "x86_64-unknown-linux-gnu",
    };
    let args = ["compile", "--target", triple, FIB, "-o", path_str(&out)];
    assert_prints(&lazuli(&args), "");
    let err = assert_error(&lazuli(&["run", "--invoke", "fib", path_str(&out), "10"]));
    assert!(err.contains(&format!("compiled for {triple}")), "{err}");
}

#[test]
fn run_refuses_a_truncated_precompiled_module() {
    let out = temp_file("fib.lzm", "");
    assert_prints(&lazuli(&["compile", FIB, "-o", path_str(&out)]), "");
    let bytes = std::fs::read(&out.path).unwrap();
    for len in [9, 40, bytes.len() - 1] {
        std::fs::write(&out.path, &bytes[..len]).unwrap();
        let err = assert_error(&lazuli(&["run", "--invoke", "fib", path_str(&out), "10"]));
        assert!(err.contains("truncated or corrupt"), "{len}: {err}");
    }
}

#[test]
fn processes_filling_one_cache_at_once_all_succeed() {
    let cache = temp_file("unused", "");
    let dir = cache.dir.join("cache");
    // Four processes started together, each storing the same entries (at the fast
    // tier: no tier-up job may hold the engine, and so its cache writer, when the
    // process ends; a process that ends with writes pending leaves its temporary
    // files for the sweep).
    let spawned: Vec<_> = (0..4)
        .map(|_| {
            lazuli_command()
                .args([
                    "run",
                    "--tier",
                    "fast",
                    "--cache",
                    dir.to_str().unwrap(),
                    "--invoke",
                    "fib",
                    FIB,
                    "25",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in spawned {
        assert_prints(&child.wait_with_output().unwrap(), "75025\n");
    }
    assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
}
