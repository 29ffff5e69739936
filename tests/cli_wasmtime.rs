//! The parts of `lazuli run` and `lazuli compile` a Wasmtime CLI user reaches for:
//! `-W`, `--preload`, references and v128 through `--invoke`, the `main` fallback,
//! `--coredump-on-trap`, the compile progress bar and `--profile=perfmap`.

mod support;

use std::process::Command;

use support::*;

const GROW: &str = r#"(module
  (memory 1)
  (func (export "grow") (result i32) (memory.grow (i32.const 1))))"#;

#[test]
fn w_max_memory_size_makes_growth_past_it_fail() {
    let file = temp_file("grow.wat", GROW);
    let file = path_str(&file);
    assert_prints(&lazuli(&["run", "--invoke", "grow", file]), "1\n");
    for limit in [
        &["-W", "max-memory-size=65536"][..],
        &["-Wmax-memory-size=0x1_0000"],
        &["--wasm", "simd=y,max-memory-size=100000"],
        &["--wasm=max-memory-size=65536"],
    ] {
        let mut args = vec!["run"];
        args.extend_from_slice(limit);
        args.extend_from_slice(&["--invoke", "grow", file]);
        assert_prints(&lazuli(&args), "-1\n");
    }
    let args = [
        "run",
        "-W",
        "max-memory-size=131072",
        "--invoke",
        "grow",
        file,
    ];
    assert_prints(&lazuli(&args), "1\n");
}

#[test]
fn w_max_memory_size_refuses_a_larger_initial_memory() {
    let file = temp_file("big.wat", r#"(module (memory 2) (func (export "_start")))"#);
    let file = path_str(&file);
    assert_prints(&lazuli(&["run", file]), "");
    assert_error(&lazuli(&["run", "-W", "max-memory-size=65536", file]));
}

#[test]
fn w_turns_implemented_proposals_off() {
    let simd = temp_file(
        "simd.wat",
        r#"(module (func (export "_start") (drop (v128.const i64x2 1 2))))"#,
    );
    let simd = path_str(&simd);
    assert_prints(&lazuli(&["run", "-W", "simd=y", simd]), "");
    let err = assert_error(&lazuli(&["run", "-W", "simd=n", simd]));
    assert!(err.contains("SIMD"), "{err}");
    let multi = temp_file(
        "multi.wat",
        r#"(module (func (export "two") (result i32 i32) i32.const 1 i32.const 2))"#,
    );
    let multi = path_str(&multi);
    assert_prints(&lazuli(&["run", "--invoke", "two", multi]), "1\n2\n");
    assert_error(&lazuli(&[
        "run",
        "-W",
        "multi-value=n",
        "--invoke",
        "two",
        multi,
    ]));
}

#[test]
fn w_switches_function_references() {
    let file = temp_file(
        "typed_refs.wat",
        r#"(module (type $t (func (result i32)))
             (func $seven (type $t) (i32.const 7)) (elem declare func $seven)
             (func (export "run") (result i32) (call_ref $t (ref.func $seven))))"#,
    );
    let file = path_str(&file);
    assert_prints(&lazuli(&["run", "--invoke", "run", file]), "7\n");
    let on = [
        "run",
        "-W",
        "function-references=y",
        "--invoke",
        "run",
        file,
    ];
    assert_prints(&lazuli(&on), "7\n");
    let off = [
        "run",
        "-W",
        "function-references=n",
        "--invoke",
        "run",
        file,
    ];
    let err = assert_error(&lazuli(&off));
    assert!(err.contains("function references"), "{err}");
}

#[test]
fn w_switches_relaxed_simd_and_its_deterministic_results() {
    // Swizzle index 17 is out of range: 0 deterministically, lane 1 with pshufb.
    let file = temp_file(
        "relaxed.wat",
        r#"(module (func (export "lane") (result i32)
             (i8x16.extract_lane_u 0 (i8x16.relaxed_swizzle
               (v128.const i8x16 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25)
               (i8x16.splat (i32.const 17))))))"#,
    );
    let file = path_str(&file);
    let run = |w: &str| lazuli(&["run", "-W", w, "--invoke", "lane", file]);
    assert_prints(&run("relaxed-simd-deterministic=y"), "0\n");
    if cfg!(target_arch = "x86_64") {
        assert_prints(&run("relaxed-simd-deterministic=n"), "11\n");
    }
    let err = assert_error(&run("relaxed-simd=n"));
    assert!(err.contains("relaxed SIMD"), "{err}");
}

#[test]
fn w_refuses_to_turn_on_an_unimplemented_proposal() {
    let file = temp_file("empty.wat", r#"(module (func (export "_start")))"#);
    let file = path_str(&file);
    assert_prints(&lazuli(&["run", "-W", "exceptions=n,gc=no", file]), "");
    let err = assert_error(&lazuli(&["run", "-W", "exceptions=y", file]));
    assert!(
        err.contains("does not implement the `exceptions` proposal"),
        "{err}"
    );
}

#[test]
fn w_threads_n_refuses_a_shared_memory() {
    let wat = r#"(module (memory 1 1 shared) (func (export "_start")))"#;
    let file = temp_file("shared.wat", wat);
    let file = path_str(&file);
    assert_prints(&lazuli(&["run", file]), "");
    let err = assert_error(&lazuli(&["run", "-W", "threads=n", file]));
    assert!(err.contains("threads"), "{err}");
}

#[test]
fn w_unknown_key_is_an_error_listing_the_known_keys() {
    let file = temp_file("empty.wat", r#"(module (func (export "_start")))"#);
    let err = assert_error(&lazuli(&["run", "-W", "no-such-key=1", path_str(&file)]));
    assert!(err.contains("unknown key `no-such-key`"), "{err}");
    assert!(err.contains("max-memory-size=BYTES"), "{err}");
    assert!(err.contains("simd=y|n"), "{err}");
    let err = assert_error(&lazuli(&["run", "-W", "simd=maybe", path_str(&file)]));
    assert!(err.contains("maybe"), "{err}");
}

#[test]
fn preload_links_a_modules_exports_under_its_name() {
    let lib = temp_file(
        "lib.wat",
        r#"(module
          (global (export "base") i32 (i32.const 40))
          (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#,
    );
    let main = temp_file(
        "main.wat",
        r#"(module
          (import "math" "add" (func $add (param i32 i32) (result i32)))
          (import "math" "base" (global $base i32))
          (func (export "run") (param i32) (result i32)
            (call $add (global.get $base) (local.get 0))))"#,
    );
    let preload = format!("math={}", path_str(&lib));
    let args = [
        "run",
        "--preload",
        &preload,
        "--invoke",
        "run",
        path_str(&main),
        "2",
    ];
    assert_prints(&lazuli(&args), "42\n");
    let preload_eq = format!("--preload={preload}");
    let args = ["run", &preload_eq, "--invoke", "run", path_str(&main), "2"];
    assert_prints(&lazuli(&args), "42\n");
    // Without it the import is unknown; a bad value names the expected form.
    let err = assert_error(&lazuli(&["run", "--invoke", "run", path_str(&main), "2"]));
    assert!(err.contains("math::add"), "{err}");
    let err = assert_error(&lazuli(&["run", "--preload", "math", path_str(&main)]));
    assert!(err.contains("NAME=PATH"), "{err}");
}

const REFS: &str = r#"(module
  (func $f)
  (elem declare func $f)
  (func (export "v128") (param v128) (result v128) local.get 0)
  (func (export "externref") (param externref) (result externref) local.get 0)
  (func (export "funcref") (param funcref) (result funcref) local.get 0)
  (func (export "some-func") (result funcref) ref.func $f)
  (func (export "hex") (param i32 i64) (result i32 i64) local.get 0 local.get 1))"#;

#[test]
fn invoke_takes_and_prints_references_and_v128_as_wasmtime_does() {
    let file = temp_file("refs.wat", REFS);
    let file = path_str(&file);
    let invoke = |args: &[&str]| {
        let mut all = vec!["run", "--invoke", args[0], file];
        all.extend_from_slice(&args[1..]);
        lazuli(&all)
    };
    let v128 = u128::MAX - 1;
    assert_prints(&invoke(&["v128", &v128.to_string()]), &format!("{v128}\n"));
    assert_prints(
        &invoke(&["v128", "0x0102030405060708090a0b0c0d0e0f10"]),
        &format!("{}\n", 0x0102030405060708090a0b0c0d0e0f10_u128),
    );
    assert_prints(&invoke(&["externref", "null"]), "<null externref>\n");
    assert_prints(&invoke(&["externref", "hello"]), "<externref>\n");
    assert_prints(&invoke(&["funcref", "null"]), "<null funcref>\n");
    assert_prints(&invoke(&["some-func"]), "<funcref>\n");
    assert_prints(&invoke(&["hex", "0xffffffff", "0x10"]), "-1\n16\n");
    let err = assert_error(&invoke(&["funcref", "f"]));
    assert!(err.contains("only be `null`"), "{err}");
    assert_error(&invoke(&["v128", "-1"]));
}

#[test]
fn without_start_an_exported_main_runs_with_the_arguments() {
    let file = temp_file(
        "main.wat",
        r#"(module (func (export "main") (param i32) (result i32)
          (i32.mul (local.get 0) (i32.const 2))))"#,
    );
    assert_prints(&lazuli(&["run", path_str(&file), "21"]), "42\n");
}

#[test]
fn without_start_or_main_the_error_lists_the_exports() {
    let err = assert_error(&lazuli(&["run", FIB]));
    assert!(err.contains("`_start`") && err.contains("`main`"), "{err}");
    assert!(err.contains("`fib` (func)"), "{err}");
    let file = temp_file("nothing.wat", "(module (memory (export \"mem\") 1))");
    let err = assert_error(&lazuli(&["run", path_str(&file)]));
    assert!(err.contains("`mem` (memory)"), "{err}");
}

const CRASH: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $counter (mut i32) (i32.const 0))
  (global $fixed i64 (i64.const -5))
  (func $inner (param i32)
    (i32.store8 (i32.const 1000) (local.get 0))
    (global.set $counter (i32.const 7))
    unreachable)
  (func $outer (export "_start")
    nop
    (call $inner (i32.const 42))))"#;

#[test]
fn coredump_on_trap_writes_the_frames_memory_and_globals() {
    let file = temp_file("crash.wat", CRASH);
    let dump = file.dir.join("crash.coredump");
    let dump_arg = format!("--coredump-on-trap={}", dump.display());
    let out = lazuli(&["run", &dump_arg, path_str(&file)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: wasm trap: unreachable"));
    let bytes = std::fs::read(&dump).expect("the core dump is written");
    wasmparser::Validator::new()
        .validate_all(&bytes)
        .expect("the core dump is a valid Wasm module");
    let dump = read_dump(&bytes);
    assert_eq!(
        dump.customs,
        ["core", "coremodules", "coreinstances", "corestack"]
    );
    // Innermost first: $inner (index 1, after the import), then $outer (2).
    let funcs: Vec<u32> = dump.frames.iter().map(|f| f.0).collect();
    assert_eq!(funcs, [1, 2]);
    assert!(dump.frames.iter().all(|f| f.1 > 0), "{:?}", dump.frames);
    assert_eq!(dump.memory[1000], 42);
    assert_eq!(dump.globals, [7, -5]);
    // Without the option nothing is written.
    let out = lazuli(&["run", path_str(&file)]);
    assert_eq!(out.status.code(), Some(1));
}

/// What the test reads back from a core dump.
struct Dump {
    customs: Vec<String>,
    /// (function index, code offset) of each frame.
    frames: Vec<(u32, u32)>,
    /// Memory 0's bytes, from its data segments (up to its last non-zero byte).
    memory: Vec<u8>,
    /// The integer globals' values.
    globals: Vec<i64>,
}

/// Reads a core dump with wasmparser, as a debugger would.
fn read_dump(bytes: &[u8]) -> Dump {
    use wasmparser::{BinaryReader, CoreDumpStackSection, Operator, Payload};
    let mut dump = Dump {
        customs: Vec::new(),
        frames: Vec::new(),
        memory: Vec::new(),
        globals: Vec::new(),
    };
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.expect("the core dump is a Wasm module") {
            Payload::CustomSection(custom) => {
                dump.customs.push(custom.name().to_string());
                if custom.name() == "corestack" {
                    let reader = BinaryReader::new(custom.data(), 0);
                    let stack = CoreDumpStackSection::new(reader).unwrap();
                    dump.frames = stack
                        .frames
                        .iter()
                        .map(|f| (f.funcidx, f.codeoffset))
                        .collect();
                }
            }
            Payload::DataSection(data) => {
                for segment in data {
                    write_segment(&mut dump.memory, segment.unwrap());
                }
            }
            Payload::GlobalSection(globals) => {
                for global in globals {
                    let global = global.unwrap();
                    let op = global.init_expr.get_operators_reader().read().unwrap();
                    dump.globals.push(match op {
                        Operator::I32Const { value } => value.into(),
                        Operator::I64Const { value } => value,
                        other => panic!("unexpected global {other:?}"),
                    });
                }
            }
            _ => {}
        }
    }
    dump
}

/// Writes a data segment of memory 0 into `memory` at its offset.
fn write_segment(memory: &mut Vec<u8>, segment: wasmparser::Data<'_>) {
    let wasmparser::DataKind::Active {
        memory_index: 0,
        offset_expr,
    } = segment.kind
    else {
        panic!("a core dump's segments are active");
    };
    let op = offset_expr.get_operators_reader().read().unwrap();
    let wasmparser::Operator::I32Const { value } = op else {
        panic!("unexpected offset {op:?}");
    };
    let (start, end) = (value as usize, value as usize + segment.data.len());
    memory.resize(memory.len().max(end), 0);
    memory[start..end].copy_from_slice(segment.data);
}

/// A module of `count` small functions, each exported.
fn many_functions(count: usize) -> String {
    let mut text = String::from("(module\n");
    for i in 0..count {
        text.push_str(&format!(
            "(func (export \"f{i}\") (param i32) (result i32) (i32.add (local.get 0) (i32.const {i})))\n"
        ));
    }
    text.push(')');
    text
}

#[test]
fn compile_shows_progress_on_a_terminal_only() {
    let file = temp_file("many.wat", many_functions(400));
    // Piped stderr: no progress bar.
    for args in [
        &["compile", path_str(&file)][..],
        &[
            "run",
            "--compile",
            "eager",
            "--invoke",
            "f3",
            path_str(&file),
            "1",
        ],
    ] {
        let out = lazuli(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
    // On a terminal (`script` gives the command one) the bar is drawn.
    let command = format!(
        "{} compile {}",
        env!("CARGO_BIN_EXE_lazuli"),
        path_str(&file)
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .expect("`script` (util-linux) runs the test on a terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("compiling"), "{text}");
    assert!(text.contains("/400 functions"), "{text}");
}

#[test]
fn profile_perfmap_names_every_compiled_function() {
    for mode in ["lazy", "eager"] {
        let child = lazuli_command()
            .args(["run", "--profile=perfmap", "--compile", mode])
            .args(["--invoke", "fib", FIB, "10"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "55\n");
        let text = std::fs::read_to_string(&map).expect("the perf map is written");
        let _ = std::fs::remove_file(&map);
        let line = text
            .lines()
            .find(|l| l.ends_with(" fib::fib"))
            .unwrap_or_else(|| panic!("no line for fib in {mode} mode:\n{text}"));
        let mut fields = line.split(' ');
        let start = u64::from_str_radix(fields.next().unwrap(), 16).unwrap();
        let size = u64::from_str_radix(fields.next().unwrap(), 16).unwrap();
        assert!(start > 0x10000, "{line}");
        assert!((16..0x10000).contains(&size), "{line}");
    }
    // Without the option no map is written.
    let child = lazuli_command()
        .args(["run", "--invoke", "fib", FIB, "10"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    child.wait_with_output().unwrap();
    assert!(!map.exists());
    let err = assert_error(&lazuli(&["run", "--profile=jitdump", FIB]));
    assert!(err.contains("perfmap"), "{err}");
}

const SPIN: &str = r#"(module
  (func (export "spin") (loop (br 0)))
  (func (export "count") (param i32) (result i32)
    (loop
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if 0 (local.get 0)))
    (local.get 0)))"#;

#[test]
fn w_fuel_stops_an_infinite_loop_and_lets_a_short_run_finish() {
    let file = temp_file("spin.wat", SPIN);
    let file = path_str(&file);
    let out = lazuli(&["run", "-W", "fuel=100000", "--invoke", "spin", file]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: wasm trap: all fuel consumed"),
        "{err}"
    );
    let out = lazuli(&["run", "-W", "fuel=100000", "--invoke", "count", file, "10"]);
    assert_prints(&out, "0\n");
}

#[test]
fn w_timeout_interrupts_an_infinite_loop() {
    let file = temp_file("spin.wat", SPIN);
    let file = path_str(&file);
    let out = lazuli(&["run", "-W", "timeout=200ms", "--invoke", "spin", file]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: wasm trap: interrupt"), "{err}");
    let out = lazuli(&["run", "-W", "timeout=60s", "--invoke", "count", file, "10"]);
    assert_prints(&out, "0\n");
}
