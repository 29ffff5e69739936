//! The trap path end to end: every trap kind comes back through the signal
//! handler as the right `Trap`, stack limits hold, backtraces name the right
//! frames, faults outside trap sites are not swallowed, trapping is thread-safe,
//! and stores and modules give their memory back.
//!
//! Tests that must crash, or that measure the process's mapped memory, run in a
//! child process: this test binary re-executed with `CHILD_ENV` set to the test's
//! name and `--exact <name>`, so that nothing else runs beside them.

use lazuli::{
    Caller, Compilation, Config, Engine, Func, Linker, MemoryStyle, Module, Store, Trap, Val,
    WasmBacktrace,
};
use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Signal numbers on Linux (x86-64 and aarch64 agree).
const SIGILL: i32 = 4;
const SIGSEGV: i32 = 11;

/// Set in a child process to the name of the test it runs.
const CHILD_ENV: &str = "LAZULI_TRAPS_CHILD";

/// Whether this process is the child re-executed for test `name`.
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(name)
}

/// Runs test `name` of this binary alone in a child process (no core dumps).
fn run_child(name: &str) -> Output {
    let exe = std::env::current_exe().expect("the test binary's path");
    Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"ulimit -c 0; exec "$0" "$@""#)
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .output()
        .expect("the test binary can be re-executed")
}

fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn engine_with(style: MemoryStyle, compilation: Compilation) -> Engine {
    let mut config = Config::new();
    config.memory_style(style).compilation(compilation);
    Engine::new(&config).unwrap()
}

/// Every combination of bounds-checking style and compilation mode.
fn all_engines() -> Vec<(String, Engine)> {
    let mut engines = Vec::new();
    for style in [MemoryStyle::Guarded, MemoryStyle::BoundsChecked] {
        for compilation in [Compilation::Lazy, Compilation::Eager] {
            engines.push((
                format!("{style:?}/{compilation:?}"),
                engine_with(style, compilation),
            ));
        }
    }
    engines
}

fn instantiate<T: 'static>(
    engine: &Engine,
    linker: &Linker<T>,
    data: T,
    wat: &str,
) -> (Store<T>, lazuli::Instance) {
    let module = Module::new(engine, wat).unwrap();
    let mut store = Store::new(engine, data);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    (store, instance)
}

fn trap_kind(err: &lazuli::Error) -> Option<Trap> {
    err.downcast_ref::<Trap>().copied()
}

/// Calls export `name` with `args`; returns its results.
fn call<T>(
    store: &mut Store<T>,
    instance: &lazuli::Instance,
    name: &str,
    args: &[Val],
) -> lazuli::Result<Vec<Val>> {
    let func = instance
        .get_func(&mut *store, name)
        .unwrap_or_else(|| panic!("no export `{name}`"));
    let mut results: Vec<Val> = func
        .ty(&*store)
        .results()
        .map(|t| match t {
            lazuli::ValType::I64 => Val::I64(0),
            lazuli::ValType::F32 => Val::F32(0),
            lazuli::ValType::F64 => Val::F64(0),
            _ => Val::I32(0),
        })
        .collect();
    func.call(&mut *store, args, &mut results)?;
    Ok(results)
}

/// `/proc/self/status` fields in KiB.
fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[derive(Debug, PartialEq, Eq)]
struct MyError {
    code: u32,
}

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "my error {}", self.code)
    }
}

impl std::error::Error for MyError {}

#[derive(Debug, PartialEq, Eq)]
struct MyPanic(u32);

// ---------------------------------------------------------------------------
// 1. Every trap kind, through the signal path
// ---------------------------------------------------------------------------

const KINDS_WAT: &str = r#"(module
  (type $v_i (func (result i32)))
  (type $i_i (func (param i32) (result i32)))
  (memory 1)
  (table $t 4 funcref)
  (elem (i32.const 0) $seven $id)
  (func $seven (type $v_i) (i32.const 7))
  (func $id (type $i_i) (local.get 0))

  (func (export "i32.load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "i64.load") (param i32) (result i64) (i64.load (local.get 0)))
  (func (export "f64.load") (param i32) (result f64) (f64.load (local.get 0)))
  (func (export "i32.load8_u") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "i32.load16_s") (param i32) (result i32) (i32.load16_s (local.get 0)))
  (func (export "i32.load.offset") (param i32) (result i32)
    (i32.load offset=0xfffffff0 (local.get 0)))
  (func (export "i32.store") (param i32) (i32.store (local.get 0) (i32.const 1)))
  (func (export "i64.store") (param i32) (i64.store (local.get 0) (i64.const 1)))
  (func (export "f32.store") (param i32) (f32.store (local.get 0) (f32.const 1)))
  (func (export "i32.store8") (param i32) (i32.store8 (local.get 0) (i32.const 1)))
  (func (export "i32.store.offset") (param i32)
    (i32.store offset=0xfffffff0 (local.get 0) (i32.const 1)))

  (func (export "call_indirect") (param i32) (result i32)
    (call_indirect (type $v_i) (local.get 0)))
  (func (export "table.get") (param i32) (result i32)
    (ref.is_null (table.get $t (local.get 0))))
  (func (export "table.set") (param i32) (table.set $t (local.get 0) (ref.null func)))

  (func (export "unreachable") unreachable)

  (func (export "i32.div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "i32.div_u") (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
  (func (export "i32.rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "i32.rem_u") (param i32 i32) (result i32) (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "i64.div_s") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
  (func (export "i64.div_u") (param i64 i64) (result i64) (i64.div_u (local.get 0) (local.get 1)))
  (func (export "i64.rem_s") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1)))
  (func (export "i64.rem_u") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1)))

  (func (export "i32.trunc_f32_s") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
  (func (export "i32.trunc_f32_u") (param f32) (result i32) (i32.trunc_f32_u (local.get 0)))
  (func (export "i32.trunc_f64_s") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "i32.trunc_f64_u") (param f64) (result i32) (i32.trunc_f64_u (local.get 0)))
  (func (export "i64.trunc_f32_s") (param f32) (result i64) (i64.trunc_f32_s (local.get 0)))
  (func (export "i64.trunc_f32_u") (param f32) (result i64) (i64.trunc_f32_u (local.get 0)))
  (func (export "i64.trunc_f64_s") (param f64) (result i64) (i64.trunc_f64_s (local.get 0)))
  (func (export "i64.trunc_f64_u") (param f64) (result i64) (i64.trunc_f64_u (local.get 0)))

  (func $rec (export "rec") (param i32) (result i32)
    (i32.add (call $rec (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "ok") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))"#;

fn f32v(x: f32) -> Val {
    Val::F32(x.to_bits())
}

fn f64v(x: f64) -> Val {
    Val::F64(x.to_bits())
}

/// `(export, arguments, expected outcome)`: `Err(kind)` for a trap, `Ok(results)`
/// for a call just inside the limits.
fn trap_cases() -> Vec<(&'static str, Vec<Val>, Result<Vec<Val>, Trap>)> {
    use Trap::*;
    use Val::{I32, I64};
    let oob = || Err(MemoryOutOfBounds);
    let mut cases = vec![
        // Memory: one page of 65536 bytes.
        ("i32.load", vec![I32(65532)], Ok(vec![I32(0)])),
        ("i32.load", vec![I32(65533)], oob()),
        ("i32.load", vec![I32(65536)], oob()),
        ("i32.load", vec![I32(-1)], oob()),
        ("i32.load", vec![I32(i32::MIN)], oob()),
        ("i64.load", vec![I32(65528)], Ok(vec![I64(0)])),
        ("i64.load", vec![I32(65529)], oob()),
        ("f64.load", vec![I32(65535)], oob()),
        ("i32.load8_u", vec![I32(65535)], Ok(vec![I32(0)])),
        ("i32.load8_u", vec![I32(65536)], oob()),
        ("i32.load16_s", vec![I32(65535)], oob()),
        ("i32.load.offset", vec![I32(0)], oob()),
        ("i32.load.offset", vec![I32(-1)], oob()),
        ("i32.store", vec![I32(65532)], Ok(vec![])),
        ("i32.store", vec![I32(65533)], oob()),
        ("i32.store", vec![I32(-4)], oob()),
        ("i64.store", vec![I32(65530)], oob()),
        ("f32.store", vec![I32(0x7fff_fffc)], oob()),
        ("i32.store8", vec![I32(65535)], Ok(vec![])),
        ("i32.store8", vec![I32(65536)], oob()),
        ("i32.store.offset", vec![I32(0x10)], oob()),
        ("i32.store.offset", vec![I32(-1)], oob()),
        // Tables: 4 elements, [$seven, $id, null, null].
        ("call_indirect", vec![I32(0)], Ok(vec![I32(7)])),
        ("call_indirect", vec![I32(1)], Err(BadSignature)),
        ("call_indirect", vec![I32(2)], Err(IndirectCallToNull)),
        ("call_indirect", vec![I32(3)], Err(IndirectCallToNull)),
        ("call_indirect", vec![I32(4)], Err(TableOutOfBounds)),
        ("call_indirect", vec![I32(-1)], Err(TableOutOfBounds)),
        ("table.get", vec![I32(3)], Ok(vec![I32(1)])),
        ("table.get", vec![I32(0)], Ok(vec![I32(0)])),
        ("table.get", vec![I32(4)], Err(TableOutOfBounds)),
        ("table.get", vec![I32(-1)], Err(TableOutOfBounds)),
        ("table.set", vec![I32(4)], Err(TableOutOfBounds)),
        ("unreachable", vec![], Err(UnreachableCodeReached)),
        // Integer division.
        ("i32.div_s", vec![I32(7), I32(-2)], Ok(vec![I32(-3)])),
        (
            "i32.div_s",
            vec![I32(1), I32(0)],
            Err(IntegerDivisionByZero),
        ),
        (
            "i32.div_u",
            vec![I32(1), I32(0)],
            Err(IntegerDivisionByZero),
        ),
        (
            "i32.rem_s",
            vec![I32(1), I32(0)],
            Err(IntegerDivisionByZero),
        ),
        (
            "i32.rem_u",
            vec![I32(1), I32(0)],
            Err(IntegerDivisionByZero),
        ),
        (
            "i64.div_s",
            vec![I64(1), I64(0)],
            Err(IntegerDivisionByZero),
        ),
        (
            "i64.div_u",
            vec![I64(1), I64(0)],
            Err(IntegerDivisionByZero),
        ),
        (
            "i64.rem_s",
            vec![I64(1), I64(0)],
            Err(IntegerDivisionByZero),
        ),
        (
            "i64.rem_u",
            vec![I64(1), I64(0)],
            Err(IntegerDivisionByZero),
        ),
        (
            "i32.div_s",
            vec![I32(i32::MIN), I32(-1)],
            Err(IntegerOverflow),
        ),
        (
            "i64.div_s",
            vec![I64(i64::MIN), I64(-1)],
            Err(IntegerOverflow),
        ),
        // The remainder of MIN / -1 is 0, not a trap (x86 `idiv` would fault).
        ("i32.rem_s", vec![I32(i32::MIN), I32(-1)], Ok(vec![I32(0)])),
        ("i64.rem_s", vec![I64(i64::MIN), I64(-1)], Ok(vec![I64(0)])),
        ("i32.div_u", vec![I32(-1), I32(-1)], Ok(vec![I32(1)])),
        // Conversions: out of range is an overflow.
        (
            "i32.trunc_f32_s",
            vec![f32v(-2147483648.0)],
            Ok(vec![I32(i32::MIN)]),
        ),
        (
            "i32.trunc_f32_s",
            vec![f32v(2147483648.0)],
            Err(IntegerOverflow),
        ),
        (
            "i32.trunc_f32_s",
            vec![f32v(-2147483904.0)],
            Err(IntegerOverflow),
        ),
        ("i32.trunc_f32_u", vec![f32v(-0.9)], Ok(vec![I32(0)])),
        ("i32.trunc_f32_u", vec![f32v(-1.0)], Err(IntegerOverflow)),
        (
            "i32.trunc_f32_u",
            vec![f32v(4294967296.0)],
            Err(IntegerOverflow),
        ),
        (
            "i32.trunc_f64_s",
            vec![f64v(2147483647.9)],
            Ok(vec![I32(i32::MAX)]),
        ),
        (
            "i32.trunc_f64_s",
            vec![f64v(-2147483648.9)],
            Ok(vec![I32(i32::MIN)]),
        ),
        (
            "i32.trunc_f64_s",
            vec![f64v(2147483648.0)],
            Err(IntegerOverflow),
        ),
        (
            "i32.trunc_f64_s",
            vec![f64v(-2147483649.0)],
            Err(IntegerOverflow),
        ),
        (
            "i32.trunc_f64_u",
            vec![f64v(4294967295.9)],
            Ok(vec![I32(-1)]),
        ),
        (
            "i32.trunc_f64_u",
            vec![f64v(4294967296.0)],
            Err(IntegerOverflow),
        ),
        ("i32.trunc_f64_u", vec![f64v(-1.0)], Err(IntegerOverflow)),
        (
            "i64.trunc_f32_s",
            vec![f32v(9223372036854775808.0)],
            Err(IntegerOverflow),
        ),
        ("i64.trunc_f32_u", vec![f32v(-1.0)], Err(IntegerOverflow)),
        (
            "i64.trunc_f32_u",
            vec![f32v(18446744073709551616.0)],
            Err(IntegerOverflow),
        ),
        (
            "i64.trunc_f64_s",
            vec![f64v(-9223372036854775808.0)],
            Ok(vec![I64(i64::MIN)]),
        ),
        (
            "i64.trunc_f64_s",
            vec![f64v(9223372036854775808.0)],
            Err(IntegerOverflow),
        ),
        (
            "i64.trunc_f64_u",
            vec![f64v(18446744073709551616.0)],
            Err(IntegerOverflow),
        ),
        ("i64.trunc_f64_u", vec![f64v(-1.0)], Err(IntegerOverflow)),
    ];
    // Infinities overflow and NaNs (either sign) are invalid, for every truncation.
    for name in [
        "i32.trunc_f32_s",
        "i32.trunc_f32_u",
        "i64.trunc_f32_s",
        "i64.trunc_f32_u",
    ] {
        cases.push((name, vec![f32v(f32::INFINITY)], Err(IntegerOverflow)));
        cases.push((name, vec![f32v(f32::NEG_INFINITY)], Err(IntegerOverflow)));
        cases.push((name, vec![f32v(f32::NAN)], Err(BadConversionToInteger)));
        cases.push((name, vec![f32v(-f32::NAN)], Err(BadConversionToInteger)));
    }
    for name in [
        "i32.trunc_f64_s",
        "i32.trunc_f64_u",
        "i64.trunc_f64_s",
        "i64.trunc_f64_u",
    ] {
        cases.push((name, vec![f64v(f64::INFINITY)], Err(IntegerOverflow)));
        cases.push((name, vec![f64v(f64::NEG_INFINITY)], Err(IntegerOverflow)));
        cases.push((name, vec![f64v(f64::NAN)], Err(BadConversionToInteger)));
        cases.push((name, vec![f64v(-f64::NAN)], Err(BadConversionToInteger)));
    }
    cases.push(("rec", vec![I32(0)], Err(StackOverflow)));
    cases
}

#[test]
fn every_trap_kind_comes_back_with_its_variant() {
    let mut failures = String::new();
    for (label, engine) in all_engines() {
        let (mut store, instance) = instantiate(&engine, &Linker::new(&engine), (), KINDS_WAT);
        for (name, args, expected) in trap_cases() {
            let got = call(&mut store, &instance, name, &args).map_err(|e| {
                trap_kind(&e)
                    .unwrap_or_else(|| panic!("{label}: {name}{args:?}: not a trap: {e:#}"))
            });
            if got != expected {
                writeln!(
                    failures,
                    "{label}: {name}{args:?}: expected {expected:?}, got {got:?}"
                )
                .unwrap();
            }
        }
        // The store keeps working after all those traps.
        assert_eq!(
            call(&mut store, &instance, "ok", &[Val::I32(21)]).unwrap(),
            [Val::I32(42)],
            "{label}"
        );
    }
    assert!(failures.is_empty(), "wrong outcomes:\n{failures}");
}

#[test]
fn faulting_stores_write_nothing_and_loads_read_nothing() {
    for (label, engine) in all_engines() {
        let (mut store, instance) = instantiate(
            &engine,
            &Linker::new(&engine),
            (),
            r#"(module (memory (export "mem") 1)
                 (func (export "store") (param i32 i64) (i64.store (local.get 0) (local.get 1))))"#,
        );
        let st = instance
            .get_typed_func::<(i32, i64), ()>(&mut store, "store")
            .unwrap();
        let err = st.call(&mut store, (65532, -1)).unwrap_err();
        assert_eq!(trap_kind(&err), Some(Trap::MemoryOutOfBounds), "{label}");
        let mem = instance.get_memory(&mut store, "mem").unwrap();
        assert_eq!(mem.data(&store)[65532..], [0, 0, 0, 0], "{label}");
    }
}

/// wasm → host → wasm → host … until the stack limit: the overflow in the
/// innermost Wasm frame comes out of the outermost call as `StackOverflow`.
#[test]
fn stack_overflow_through_host_functions() {
    for compilation in [Compilation::Lazy, Compilation::Eager] {
        let engine = engine_with(MemoryStyle::Guarded, compilation);
        let mut linker = Linker::<u32>::new(&engine);
        linker
            .func_wrap(
                "host",
                "reenter",
                |mut caller: Caller<'_, u32>, n: i32| -> lazuli::Result<i32> {
                    let depth = caller.data_mut();
                    *depth = (*depth).max(n as u32);
                    let ping = caller.get_export("ping").unwrap().into_func().unwrap();
                    let ping = ping.typed::<i32, i32>(&caller)?;
                    ping.call(&mut caller, n)
                },
            )
            .unwrap();
        let (mut store, instance) = instantiate(
            &engine,
            &linker,
            0u32,
            r#"(module
              (import "host" "reenter" (func $reenter (param i32) (result i32)))
              (func (export "ping") (param i32) (result i32)
                (i32.add (call $reenter (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
              (func (export "ok") (result i32) (i32.const 5)))"#,
        );
        let ping = instance
            .get_typed_func::<i32, i32>(&mut store, "ping")
            .unwrap();
        let ok = instance
            .get_typed_func::<(), i32>(&mut store, "ok")
            .unwrap();
        for _ in 0..3 {
            *store.data_mut() = 0;
            let err = ping.call(&mut store, 0).unwrap_err();
            assert_eq!(
                trap_kind(&err),
                Some(Trap::StackOverflow),
                "{compilation:?}: {err:#}"
            );
            assert!(
                *store.data() >= 10,
                "{compilation:?}: only {} host frames deep",
                store.data()
            );
            assert_eq!(ok.call(&mut store, ()).unwrap(), 5);
        }
    }
}

#[test]
fn host_error_value_comes_back() {
    let engine = Engine::default();
    let mut linker = Linker::<()>::new(&engine);
    linker
        .func_wrap("host", "fail", |code: i32| -> lazuli::Result<i32> {
            Err(MyError { code: code as u32 }.into())
        })
        .unwrap();
    let (mut store, instance) = instantiate(
        &engine,
        &linker,
        (),
        r#"(module
          (import "host" "fail" (func $fail (param i32) (result i32)))
          (func (export "f") (param i32) (result i32)
            (i32.add (call $fail (local.get 0)) (i32.const 1))))"#,
    );
    let f = instance
        .get_typed_func::<i32, i32>(&mut store, "f")
        .unwrap();
    let err = f.call(&mut store, 17).unwrap_err();
    assert_eq!(err.downcast_ref::<MyError>(), Some(&MyError { code: 17 }));
    assert_eq!(
        trap_kind(&err),
        None,
        "the host's error is not a trap: {err:#}"
    );
    // Also through a dynamic call.
    let fail = instance.get_func(&mut store, "f").unwrap();
    let mut results = [Val::I32(0)];
    let err = fail
        .call(&mut store, &[Val::I32(3)], &mut results)
        .unwrap_err();
    assert_eq!(err.downcast_ref::<MyError>(), Some(&MyError { code: 3 }));
}

#[test]
fn host_panic_resumes_in_the_caller() {
    let engine = Engine::default();
    let mut linker = Linker::<()>::new(&engine);
    linker
        .func_wrap("host", "panic", |code: i32| -> i32 {
            std::panic::panic_any(MyPanic(code as u32))
        })
        .unwrap();
    let (mut store, instance) = instantiate(
        &engine,
        &linker,
        (),
        r#"(module
          (import "host" "panic" (func $panic (param i32) (result i32)))
          (func (export "f") (param i32) (result i32) (call $panic (local.get 0)))
          (func (export "ok") (result i32) (i32.const 9)))"#,
    );
    let f = instance
        .get_typed_func::<i32, i32>(&mut store, "f")
        .unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| f.call(&mut store, 23)))
        .expect_err("the host panic resumes in the caller");
    assert_eq!(payload.downcast_ref::<MyPanic>(), Some(&MyPanic(23)));
    // The store (and this thread's trap state) keep working.
    let ok = instance
        .get_typed_func::<(), i32>(&mut store, "ok")
        .unwrap();
    assert_eq!(ok.call(&mut store, ()).unwrap(), 9);
    let err = catch_unwind(AssertUnwindSafe(|| f.call(&mut store, 1))).unwrap_err();
    assert_eq!(err.downcast_ref::<MyPanic>(), Some(&MyPanic(1)));
}

// ---------------------------------------------------------------------------
// 2. `Config::max_wasm_stack`
// ---------------------------------------------------------------------------

const DOWN_WAT: &str = r#"(module
  (func $down (export "down") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1))))))))"#;

/// A store running `down` on an engine with `max_wasm_stack` = `limit`.
fn down_with_limit(limit: Option<usize>) -> impl FnMut(i32) -> Result<i32, Trap> {
    let mut config = Config::new();
    if let Some(limit) = limit {
        config.max_wasm_stack(limit);
    }
    let engine = Engine::new(&config).unwrap();
    let (mut store, instance) = instantiate(&engine, &Linker::new(&engine), (), DOWN_WAT);
    let down = instance
        .get_typed_func::<i32, i32>(&mut store, "down")
        .unwrap();
    move |n| {
        down.call(&mut store, n)
            .map_err(|e| trap_kind(&e).unwrap_or_else(|| panic!("not a trap: {e:#}")))
    }
}

/// The deepest recursion `down` survives.
fn max_depth(down: &mut impl FnMut(i32) -> Result<i32, Trap>) -> i32 {
    let (mut lo, mut hi) = (0, 1 << 24);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match down(mid) {
            Ok(r) => {
                assert_eq!(r, mid);
                lo = mid;
            }
            Err(kind) => {
                assert_eq!(kind, Trap::StackOverflow);
                hi = mid;
            }
        }
    }
    lo
}

#[test]
fn max_wasm_stack_is_respected() {
    let mut small = down_with_limit(Some(64 * 1024));
    let mut default = down_with_limit(None);
    let small_max = max_depth(&mut small);
    let default_max = max_depth(&mut default);
    assert!(small_max > 100, "64 KiB holds only {small_max} frames");
    // A depth that works with the default limit overflows the small one.
    let depth = small_max * 2;
    assert_eq!(default(depth), Ok(depth));
    assert_eq!(small(depth), Err(Trap::StackOverflow));
    // The store keeps working after the overflow.
    assert_eq!(small(100), Ok(100));
    // Depth scales with the limit (512 KiB is 8 × 64 KiB, minus a little host
    // stack used before the first Wasm frame).
    let ratio = default_max as f64 / small_max as f64;
    assert!(
        (7.0..=9.0).contains(&ratio),
        "64 KiB: {small_max} frames, 512 KiB: {default_max} frames"
    );

    // And the other way: a larger limit (on a thread with a stack to match) runs
    // a depth that overflows the default.
    let depth = default_max * 2;
    assert_eq!(default(depth), Err(Trap::StackOverflow));
    assert_eq!(default(10), Ok(10));
    let big = std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(move || {
            let mut big = down_with_limit(Some(8 << 20));
            let r = big(depth);
            (r, big(1 << 24))
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(big, (Ok(depth), Err(Trap::StackOverflow)));
}

// ---------------------------------------------------------------------------
// 3. Backtraces
// ---------------------------------------------------------------------------

/// Module offsets of the operators of each defined function, in order.
fn operator_offsets(wasm: &[u8]) -> Vec<Vec<(String, u32)>> {
    let mut functions = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
            let ops = body
                .get_operators_reader()
                .unwrap()
                .into_iter_with_offsets()
                .map(|r| {
                    let (op, offset) = r.unwrap();
                    (format!("{op:?}"), offset as u32)
                })
                .collect();
            functions.push(ops);
        }
    }
    functions
}

/// The offset of the first operator of defined function `defined` whose debug
/// form starts with `prefix`.
fn offset_of(ops: &[Vec<(String, u32)>], defined: usize, prefix: &str) -> u32 {
    ops[defined]
        .iter()
        .find(|(op, _)| op.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in function {defined}: {:?}", ops[defined]))
        .1
}

fn frames_of(err: &lazuli::Error) -> Vec<lazuli::FrameInfo> {
    err.downcast_ref::<WasmBacktrace>()
        .unwrap_or_else(|| panic!("no backtrace on {err:#}"))
        .frames()
        .to_vec()
}

#[test]
fn backtrace_names_frames_innermost_first() {
    let wat = r#"(module $chain
      (import "host" "nop" (func $nop))
      (func $a (export "a") (param i32) (result i32)
        (call $nop)
        (i32.add (call $b (local.get 0)) (i32.const 1)))
      (func $b (param i32) (result i32)
        (i32.add (i32.const 2) (call $c (local.get 0))))
      (func $c (param i32) (result i32)
        (i32.div_u (i32.const 100) (local.get 0))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let ops = operator_offsets(&wasm);
    let expected = |index: u32, name: &str, offset: u32| lazuli::FrameInfo {
        func_index: index,
        func_name: Some(name.to_string()),
        module_name: Some("chain".to_string()),
        module_offset: Some(offset),
    };
    let expected = vec![
        expected(3, "c", offset_of(&ops, 2, "I32DivU")),
        expected(2, "b", offset_of(&ops, 1, "Call")),
        // `a` calls `$nop` first: its frame is at the second call.
        expected(
            1,
            "a",
            ops[0]
                .iter()
                .filter(|(op, _)| op.starts_with("Call"))
                .nth(1)
                .unwrap()
                .1,
        ),
    ];
    for compilation in [Compilation::Lazy, Compilation::Eager] {
        let engine = engine_with(MemoryStyle::Guarded, compilation);
        let mut linker = Linker::new(&engine);
        linker.func_wrap("host", "nop", || {}).unwrap();
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let a = instance
            .get_typed_func::<i32, i32>(&mut store, "a")
            .unwrap();
        assert_eq!(a.call(&mut store, 50).unwrap(), 5);
        let err = a.call(&mut store, 0).unwrap_err();
        assert_eq!(trap_kind(&err), Some(Trap::IntegerDivisionByZero));
        assert_eq!(frames_of(&err), expected, "{compilation:?}");
        // The backtrace renders every frame.
        let text = format!("{err:?}");
        for name in ["chain!c", "chain!b", "chain!a"] {
            assert!(text.contains(name), "{compilation:?}: {text}");
        }
    }
}

#[test]
fn backtrace_of_unnamed_functions_has_no_names() {
    // No `$id`s and no module name: `wat` emits no name section at all.
    let wat = r#"(module
      (func (export "f") (call 1))
      (func unreachable))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let ops = operator_offsets(&wasm);
    let engine = Engine::default();
    let module = Module::new(&engine, &wasm).unwrap();
    assert_eq!(module.name(), None);
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let f = instance.get_typed_func::<(), ()>(&mut store, "f").unwrap();
    let err = f.call(&mut store, ()).unwrap_err();
    assert_eq!(trap_kind(&err), Some(Trap::UnreachableCodeReached));
    let frames = frames_of(&err);
    assert_eq!(
        frames,
        [
            lazuli::FrameInfo {
                func_index: 1,
                func_name: None,
                module_name: None,
                module_offset: Some(offset_of(&ops, 1, "Unreachable")),
            },
            lazuli::FrameInfo {
                func_index: 0,
                func_name: None,
                module_name: None,
                module_offset: Some(offset_of(&ops, 0, "Call")),
            },
        ]
    );
    assert!(format!("{err:?}").contains("<wasm function 1>"), "{err:?}");

    // A module naming only some functions: the others have no name.
    let engine = Engine::default();
    let (mut store, instance) = instantiate(
        &engine,
        &Linker::new(&engine),
        (),
        r#"(module (func $named (export "g") (call 1)) (func unreachable))"#,
    );
    let g = instance.get_typed_func::<(), ()>(&mut store, "g").unwrap();
    let err = g.call(&mut store, ()).unwrap_err();
    let names: Vec<_> = frames_of(&err).into_iter().map(|f| f.func_name).collect();
    assert_eq!(names, [None, Some("named".to_string())]);
}

#[test]
fn stack_overflow_backtrace_is_bounded_and_all_recursion() {
    let engine = Engine::default();
    let (mut store, instance) = instantiate(
        &engine,
        &Linker::new(&engine),
        (),
        r#"(module (func $r (export "r") (call $r)))"#,
    );
    let r = instance.get_typed_func::<(), ()>(&mut store, "r").unwrap();
    let err = r.call(&mut store, ()).unwrap_err();
    assert_eq!(trap_kind(&err), Some(Trap::StackOverflow));
    let frames = frames_of(&err);
    assert!(
        frames.len() > 1 && frames.len() <= 64,
        "{} frames",
        frames.len()
    );
    for frame in &frames {
        assert_eq!(frame.func_index, 0);
        assert_eq!(frame.func_name.as_deref(), Some("r"));
    }
}

// ---------------------------------------------------------------------------
// 4. Faults outside trap sites are not traps
// ---------------------------------------------------------------------------

/// Reads an address that is never mapped.
fn fault_in_host_code() -> u64 {
    let address = std::hint::black_box(16usize) as *const u64;
    // SAFETY: this deliberately faults: address 16 lies in the never-mapped first
    // page, so the read raises SIGSEGV, which must kill the process.
    unsafe { std::ptr::read_volatile(address) }
}

/// Executes an undefined instruction, the same one Cranelift uses for traps.
fn illegal_instruction_in_host_code() {
    // SAFETY: this deliberately raises SIGILL, which must kill the process; the
    // instruction neither reads nor writes memory.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        std::arch::asm!("ud2", options(nomem, nostack));
        #[cfg(target_arch = "aarch64")]
        std::arch::asm!("udf #0", options(nomem, nostack));
    }
}

/// A store in which Wasm already ran (so Lazuli's handlers are installed) and
/// whose export `call_host` calls host `fault`.
fn child_setup(fault: fn()) -> (Store<()>, lazuli::Instance) {
    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "fault", fault).unwrap();
    let (mut store, instance) = instantiate(
        &engine,
        &linker,
        (),
        r#"(module
          (import "host" "fault" (func $fault))
          (func (export "call_host") (call $fault))
          (func (export "trap") unreachable))"#,
    );
    let trap = instance
        .get_typed_func::<(), ()>(&mut store, "trap")
        .unwrap();
    let err = trap.call(&mut store, ()).unwrap_err();
    assert_eq!(trap_kind(&err), Some(Trap::UnreachableCodeReached));
    (store, instance)
}

fn assert_child_killed_by(name: &str, signal: i32) {
    let out = run_child(name);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("child: faulting now"),
        "the child did not get to the fault\n{}",
        describe(&out)
    );
    assert_eq!(
        out.status.signal(),
        Some(signal),
        "the child must die by signal {signal}\n{}",
        describe(&out)
    );
}

#[test]
fn host_fault_after_wasm_is_not_a_trap() {
    const NAME: &str = "host_fault_after_wasm_is_not_a_trap";
    if !is_child(NAME) {
        return assert_child_killed_by(NAME, SIGSEGV);
    }
    let _wasm = child_setup(|| {});
    println!("child: faulting now");
    let value = fault_in_host_code();
    println!("child: survived a host fault, read {value}");
    std::process::exit(3);
}

#[test]
fn host_fault_in_host_function_called_from_wasm_is_not_a_trap() {
    const NAME: &str = "host_fault_in_host_function_called_from_wasm_is_not_a_trap";
    if !is_child(NAME) {
        return assert_child_killed_by(NAME, SIGSEGV);
    }
    let (mut store, instance) = child_setup(|| {
        println!("child: faulting now");
        fault_in_host_code();
    });
    let call_host = instance
        .get_typed_func::<(), ()>(&mut store, "call_host")
        .unwrap();
    let result = call_host.call(&mut store, ());
    println!("child: survived a host fault, call returned {result:?}");
    std::process::exit(3);
}

#[test]
fn illegal_instruction_in_host_function_is_not_a_trap() {
    const NAME: &str = "illegal_instruction_in_host_function_is_not_a_trap";
    if !is_child(NAME) {
        return assert_child_killed_by(NAME, SIGILL);
    }
    let (mut store, instance) = child_setup(|| {
        println!("child: faulting now");
        illegal_instruction_in_host_code();
    });
    let call_host = instance
        .get_typed_func::<(), ()>(&mut store, "call_host")
        .unwrap();
    let result = call_host.call(&mut store, ());
    println!("child: survived an illegal instruction, call returned {result:?}");
    std::process::exit(3);
}

// ---------------------------------------------------------------------------
// 5. Concurrency
// ---------------------------------------------------------------------------

#[test]
fn concurrent_traps_stay_on_their_own_thread() {
    const THREADS: usize = 8;
    const TRAPS: usize = 1000;
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (memory 1)
          (func (export "unreachable") unreachable)
          (func (export "div") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
          (func (export "oob") (param i32) (result i32) (i32.load (local.get 0)))
          (func $rec (export "rec") (param i32) (result i32)
            (i32.add (call $rec (local.get 0)) (i32.const 1)))
          (func (export "ok") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))"#,
    )
    .unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (engine, module, barrier) = (engine.clone(), module.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut store = Store::new(&engine, ());
                let instance = Linker::new(&engine)
                    .instantiate(&mut store, &module)
                    .unwrap();
                let unreachable = instance
                    .get_typed_func::<(), ()>(&mut store, "unreachable")
                    .unwrap();
                let div = instance
                    .get_typed_func::<i32, i32>(&mut store, "div")
                    .unwrap();
                let oob = instance
                    .get_typed_func::<i32, i32>(&mut store, "oob")
                    .unwrap();
                let rec = instance
                    .get_typed_func::<i32, i32>(&mut store, "rec")
                    .unwrap();
                let ok = instance
                    .get_typed_func::<i32, i32>(&mut store, "ok")
                    .unwrap();
                // Everyone starts trapping (and lazily compiling) at once.
                barrier.wait();
                let mut counts = [0usize; 4];
                for i in 0..TRAPS {
                    let kind = (t + i) % 4;
                    let (result, expected) = match kind {
                        0 => (
                            unreachable.call(&mut store, ()).map(|()| 0),
                            Trap::UnreachableCodeReached,
                        ),
                        1 => (div.call(&mut store, 0), Trap::IntegerDivisionByZero),
                        2 => (
                            oob.call(&mut store, 65536 + i as i32),
                            Trap::MemoryOutOfBounds,
                        ),
                        _ => (rec.call(&mut store, 0), Trap::StackOverflow),
                    };
                    let err = result.expect_err("every call traps");
                    assert_eq!(
                        trap_kind(&err),
                        Some(expected),
                        "thread {t}, trap {i}: {err:#}"
                    );
                    counts[kind] += 1;
                    // Interleave successful calls between the traps.
                    if i % 100 == 0 {
                        assert_eq!(div.call(&mut store, 1).unwrap(), 1);
                    }
                }
                assert_eq!(ok.call(&mut store, t as i32).unwrap(), t as i32 + 1);
                counts
            })
        })
        .collect();
    for (t, thread) in threads.into_iter().enumerate() {
        let counts = thread
            .join()
            .unwrap_or_else(|_| panic!("thread {t} failed"));
        assert_eq!(counts.iter().sum::<usize>(), TRAPS);
    }
}

// ---------------------------------------------------------------------------
// 6. Resources
// ---------------------------------------------------------------------------

fn assert_child_succeeds(name: &str) {
    let out = run_child(name);
    assert!(out.status.success(), "{}", describe(&out));
    // Show the child's measurements with `--nocapture`.
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

struct Usage {
    vm_size: u64,
    vm_rss: u64,
}

fn usage() -> Usage {
    Usage {
        vm_size: proc_status_kib("VmSize"),
        vm_rss: proc_status_kib("VmRSS"),
    }
}

/// Asserts the growth from `before` to now, in KiB.
fn assert_growth(what: &str, before: &Usage, max_size_kib: u64, max_rss_kib: u64) {
    let after = usage();
    let size = after.vm_size as i64 - before.vm_size as i64;
    let rss = after.vm_rss as i64 - before.vm_rss as i64;
    println!("{what}: VmSize {size:+} KiB, VmRSS {rss:+} KiB");
    assert!(
        size < max_size_kib as i64,
        "{what}: VmSize grew by {size} KiB ({} → {})",
        before.vm_size,
        after.vm_size
    );
    assert!(
        rss < max_rss_kib as i64,
        "{what}: VmRSS grew by {rss} KiB ({} → {})",
        before.vm_rss,
        after.vm_rss
    );
}

#[test]
fn dropped_stores_release_their_memories() {
    const NAME: &str = "dropped_stores_release_their_memories";
    if !is_child(NAME) {
        return assert_child_succeeds(NAME);
    }
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (memory 1)
          (func (export "touch") (param i32) (result i32)
            (i32.store (local.get 0) (local.get 0))
            (i32.load (local.get 0))))"#,
    )
    .unwrap();
    let linker = Linker::new(&engine);
    let cycle = |n: usize| {
        for i in 0..n {
            let mut store = Store::new(&engine, ());
            let instance = linker.instantiate(&mut store, &module).unwrap();
            let touch = instance
                .get_typed_func::<i32, i32>(&mut store, "touch")
                .unwrap();
            let address = (i % 16 * 4096) as i32;
            assert_eq!(touch.call(&mut store, address).unwrap(), address);
            if i % 10 == 0 {
                let err = touch.call(&mut store, 65536).unwrap_err();
                assert_eq!(trap_kind(&err), Some(Trap::MemoryOutOfBounds));
            }
        }
    };
    cycle(100);
    let before = usage();
    cycle(10_000);
    // Each store reserved 8 GiB: a leak of even one in a hundred would show.
    assert_growth("10,000 stores", &before, 64 << 10, 32 << 10);
}

#[test]
fn dropped_modules_release_their_code() {
    const NAME: &str = "dropped_modules_release_their_code";
    if !is_child(NAME) {
        return assert_child_succeeds(NAME);
    }
    const FUNCS: usize = 10;
    let engine = Engine::default();
    let linker = Linker::new(&engine);
    let cycle = |range: std::ops::Range<usize>| {
        for m in range {
            // Distinct constants: no two modules share a function body.
            let mut wat = String::from("(module\n(func (export \"all\") (result i32)\n");
            for f in 0..FUNCS {
                write!(wat, "(call $f{f})").unwrap();
            }
            for _ in 1..FUNCS {
                wat.push_str("i32.add ");
            }
            wat.push_str(")\n");
            for f in 0..FUNCS {
                writeln!(
                    wat,
                    "(func $f{f} (result i32) (i32.const {}))",
                    m * FUNCS + f
                )
                .unwrap();
            }
            wat.push(')');
            let module = Module::new(&engine, &wat).unwrap();
            let mut store = Store::new(&engine, ());
            let instance = linker.instantiate(&mut store, &module).unwrap();
            let all = instance
                .get_typed_func::<(), i32>(&mut store, "all")
                .unwrap();
            let expected: usize = (0..FUNCS).map(|f| m * FUNCS + f).sum();
            assert_eq!(all.call(&mut store, ()).unwrap(), expected as i32);
            assert_eq!(module.compile_stats().functions_compiled, FUNCS + 1);
        }
    };
    cycle(0..100);
    let before = usage();
    cycle(100..1100);
    // 11,000 lazily compiled functions, each in its own pages: a leak would be
    // at least 4 KiB each, about 43 MiB.
    assert_growth("1,000 modules", &before, 8 << 10, 8 << 10);
}

#[test]
fn threads_entering_wasm_release_their_signal_stacks() {
    const NAME: &str = "threads_entering_wasm_release_their_signal_stacks";
    if !is_child(NAME) {
        return assert_child_succeeds(NAME);
    }
    let engine = Engine::default();
    let module = Module::new(&engine, r#"(module (func (export "f") unreachable))"#).unwrap();
    let cycle = |n: usize| {
        for _ in 0..n {
            let (engine, module) = (engine.clone(), module.clone());
            std::thread::spawn(move || {
                let mut store = Store::new(&engine, ());
                let instance = Linker::new(&engine)
                    .instantiate(&mut store, &module)
                    .unwrap();
                let f = instance.get_typed_func::<(), ()>(&mut store, "f").unwrap();
                let err = f.call(&mut store, ()).unwrap_err();
                assert_eq!(trap_kind(&err), Some(Trap::UnreachableCodeReached));
            })
            .join()
            .unwrap();
        }
    };
    cycle(20);
    let before = usage();
    cycle(500);
    // Each thread maps a 64 KiB alternate signal stack: 500 leaked would be 32 MiB.
    assert_growth("500 threads", &before, 8 << 10, 8 << 10);
}

// ---------------------------------------------------------------------------
// 7. Host errors through nested calls
// ---------------------------------------------------------------------------

/// Host `descend(n)` calls the instance's `enter(n - 1)`, which calls
/// `descend` again…; at 0 the host fails (`panic` = false) or panics.
fn nested_instance(engine: &Engine, panic: bool) -> (Store<Vec<i32>>, lazuli::Instance) {
    let mut linker = Linker::<Vec<i32>>::new(engine);
    linker
        .func_wrap(
            "host",
            "descend",
            move |mut caller: Caller<'_, Vec<i32>>, n: i32| -> lazuli::Result<i32> {
                use lazuli::Error;
                caller.data_mut().push(n);
                if n == 0 {
                    if panic {
                        std::panic::panic_any(MyPanic(99));
                    }
                    return Err(Error::new(MyError { code: 99 }));
                }
                let enter = caller.get_export("enter").unwrap().into_func().unwrap();
                let enter = enter.typed::<i32, i32>(&caller)?;
                let r = enter.call(&mut caller, n - 1);
                // Each level adds context; the innermost error stays downcastable.
                r.map_err(|e| e.context(format!("host level {n}")))
            },
        )
        .unwrap();
    instantiate(
        engine,
        &linker,
        Vec::new(),
        r#"(module
          (import "host" "descend" (func $descend (param i32) (result i32)))
          (func (export "enter") (param i32) (result i32)
            (i32.add (call $descend (local.get 0)) (i32.const 1)))
          (func (export "ok") (result i32) (i32.const 3)))"#,
    )
}

#[test]
fn host_error_propagates_through_nested_calls() {
    let engine = Engine::default();
    let (mut store, instance) = nested_instance(&engine, false);
    let enter = instance
        .get_typed_func::<i32, i32>(&mut store, "enter")
        .unwrap();
    let err = enter.call(&mut store, 4).unwrap_err();
    assert_eq!(store.data(), &[4, 3, 2, 1, 0], "every level ran");
    assert_eq!(err.downcast_ref::<MyError>(), Some(&MyError { code: 99 }));
    assert_eq!(trap_kind(&err), None, "{err:#}");
    let chain = format!("{err:#}");
    for n in 1..=4 {
        assert!(chain.contains(&format!("host level {n}")), "{chain}");
    }
    assert!(chain.ends_with("my error 99"), "{chain}");
    let ok = instance
        .get_typed_func::<(), i32>(&mut store, "ok")
        .unwrap();
    assert_eq!(ok.call(&mut store, ()).unwrap(), 3);
}

#[test]
fn host_panic_propagates_through_nested_calls() {
    let engine = Engine::default();
    let (mut store, instance) = nested_instance(&engine, true);
    let enter = instance
        .get_typed_func::<i32, i32>(&mut store, "enter")
        .unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| enter.call(&mut store, 3))).unwrap_err();
    assert_eq!(payload.downcast_ref::<MyPanic>(), Some(&MyPanic(99)));
    assert_eq!(store.data(), &[3, 2, 1, 0]);
    let ok = instance
        .get_typed_func::<(), i32>(&mut store, "ok")
        .unwrap();
    assert_eq!(ok.call(&mut store, ()).unwrap(), 3);
}

/// A host function called directly (not from Wasm) that fails also gives its
/// own error back.
#[test]
fn host_error_from_a_directly_called_host_function() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let f = Func::wrap(&mut store, |code: i32| -> lazuli::Result<()> {
        Err(MyError { code: code as u32 }.into())
    })
    .unwrap();
    let f = f.typed::<i32, ()>(&store).unwrap();
    let err = f.call(&mut store, 5).unwrap_err();
    assert_eq!(err.downcast_ref::<MyError>(), Some(&MyError { code: 5 }));
}
