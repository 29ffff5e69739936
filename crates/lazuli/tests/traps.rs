//! The trap path end to end: every trap kind comes back through the signal
//! handler as the right `Trap`, stack limits hold, backtraces name the right
//! frames, faults outside trap sites are not swallowed, trapping is thread-safe,
//! and stores and modules give their memory back.
//!
//! Tests that must crash, or that measure the process's mapped memory, run in a
//! child process: this test binary re-executed with `CHILD_ENV` set to the test's
//! name and `--exact <name>`, so that nothing else runs beside them.

use lazuli::{
    Caller, Compilation, Config, Engine, Func, Linker, MemoryStyle, Module, Store, Tiering, Trap,
    Val, WasmBacktrace,
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
  (import "host" "double" (func $double (type $i_i)))
  (memory 1)
  (table $t 4 funcref)
  (elem (i32.const 0) $seven $id $double)
  (elem $e func $seven)
  (data $d "abcd")
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
  (func (export "call_indirect_i") (param i32 i32) (result i32)
    (call_indirect (type $i_i) (local.get 1) (local.get 0)))
  (func (export "table.set") (param i32) (table.set $t (local.get 0) (ref.null func)))
  (func (export "table.fill") (param i32 i32)
    (table.fill $t (local.get 0) (ref.null func) (local.get 1)))
  (func (export "table.copy") (param i32 i32 i32)
    (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "table.init") (param i32 i32 i32)
    (table.init $t $e (local.get 0) (local.get 1) (local.get 2)))
  (func (export "memory.fill") (param i32 i32)
    (memory.fill (local.get 0) (i32.const 0) (local.get 1)))
  (func (export "memory.copy") (param i32 i32 i32)
    (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "memory.init") (param i32 i32 i32)
    (memory.init $d (local.get 0) (local.get 1) (local.get 2)))
  (func (export "data.drop") (data.drop $d))

  (func (export "unreachable") unreachable)
  (func (export "div_by_const_zero") (result i32) (i32.div_u (i32.const 1) (i32.const 0)))

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

/// A table of calls, one per line: `"export"(args…) => expected outcome;`.
macro_rules! cases {
    ($($name:literal ($($arg:expr),*) => $outcome:expr;)*) => {
        vec![$(($name, vec![$($arg),*], $outcome)),*]
    };
}

/// What a call should do: return these results, or trap.
type Outcome = Result<Vec<Val>, Trap>;

const OOB: Outcome = Err(Trap::MemoryOutOfBounds);

/// `(export, arguments, expected outcome)`: `Err(kind)` for a trap, `Ok(results)`
/// for a call just inside the limits.
fn trap_cases() -> Vec<(&'static str, Vec<Val>, Outcome)> {
    use Trap::*;
    use Val::{I32, I64};
    let mut cases = cases! {
        // Memory: one page of 65536 bytes.
        "i32.load"(I32(65532)) => Ok(vec![I32(0)]);
        "i32.load"(I32(65533)) => OOB;
        "i32.load"(I32(65536)) => OOB;
        "i32.load"(I32(-1)) => OOB;
        "i32.load"(I32(i32::MIN)) => OOB;
        "i64.load"(I32(65528)) => Ok(vec![I64(0)]);
        "i64.load"(I32(65529)) => OOB;
        "f64.load"(I32(65535)) => OOB;
        "i32.load8_u"(I32(65535)) => Ok(vec![I32(0)]);
        "i32.load8_u"(I32(65536)) => OOB;
        "i32.load16_s"(I32(65535)) => OOB;
        "i32.load.offset"(I32(0)) => OOB;
        // 0x20 + 0xfffffff0 wraps to 0x10 in 32 bits: still out of bounds.
        "i32.load.offset"(I32(0x20)) => OOB;
        "i32.load.offset"(I32(-1)) => OOB;
        "i32.store"(I32(65532)) => Ok(vec![]);
        "i32.store"(I32(65533)) => OOB;
        "i32.store"(I32(-4)) => OOB;
        "i64.store"(I32(65530)) => OOB;
        "f32.store"(I32(0x7fff_fffc)) => OOB;
        "i32.store8"(I32(65535)) => Ok(vec![]);
        "i32.store8"(I32(65536)) => OOB;
        "i32.store.offset"(I32(0x10)) => OOB;
        "i32.store.offset"(I32(0x20)) => OOB;
        "i32.store.offset"(I32(-1)) => OOB;
        // Bulk memory operations (through builtins).
        "memory.fill"(I32(65535), I32(1)) => Ok(vec![]);
        "memory.fill"(I32(65536), I32(0)) => Ok(vec![]);
        "memory.fill"(I32(65535), I32(2)) => OOB;
        "memory.fill"(I32(65537), I32(0)) => OOB;
        "memory.fill"(I32(0), I32(-1)) => OOB;
        "memory.copy"(I32(0), I32(65520), I32(16)) => Ok(vec![]);
        "memory.copy"(I32(65521), I32(0), I32(16)) => OOB;
        "memory.copy"(I32(0), I32(65521), I32(16)) => OOB;
        "memory.copy"(I32(0), I32(0), I32(-1)) => OOB;
        "memory.init"(I32(0), I32(0), I32(4)) => Ok(vec![]);
        "memory.init"(I32(65533), I32(0), I32(4)) => OOB;
        "memory.init"(I32(0), I32(1), I32(4)) => OOB;
        "data.drop"() => Ok(vec![]);
        "memory.init"(I32(0), I32(0), I32(0)) => Ok(vec![]);
        "memory.init"(I32(0), I32(0), I32(1)) => OOB;
        // Tables: 4 elements, [$seven, $id, $double (a host function), null].
        "call_indirect"(I32(0)) => Ok(vec![I32(7)]);
        "call_indirect"(I32(1)) => Err(BadSignature);
        "call_indirect"(I32(2)) => Err(BadSignature);
        "call_indirect"(I32(3)) => Err(IndirectCallToNull);
        "call_indirect"(I32(4)) => Err(TableOutOfBounds);
        "call_indirect"(I32(-1)) => Err(TableOutOfBounds);
        "call_indirect_i"(I32(1), I32(21)) => Ok(vec![I32(21)]);
        "call_indirect_i"(I32(2), I32(21)) => Ok(vec![I32(42)]);
        "call_indirect_i"(I32(0), I32(21)) => Err(BadSignature);
        "call_indirect_i"(I32(3), I32(21)) => Err(IndirectCallToNull);
        "call_indirect_i"(I32(4), I32(21)) => Err(TableOutOfBounds);
        "table.get"(I32(3)) => Ok(vec![I32(1)]);
        "table.get"(I32(2)) => Ok(vec![I32(0)]);
        "table.get"(I32(4)) => Err(TableOutOfBounds);
        "table.get"(I32(-1)) => Err(TableOutOfBounds);
        "table.set"(I32(4)) => Err(TableOutOfBounds);
        "table.set"(I32(-1)) => Err(TableOutOfBounds);
        "table.fill"(I32(3), I32(1)) => Ok(vec![]);
        "table.fill"(I32(4), I32(0)) => Ok(vec![]);
        "table.fill"(I32(3), I32(2)) => Err(TableOutOfBounds);
        "table.fill"(I32(5), I32(0)) => Err(TableOutOfBounds);
        "table.copy"(I32(2), I32(3), I32(1)) => Ok(vec![]);
        "table.copy"(I32(3), I32(0), I32(2)) => Err(TableOutOfBounds);
        "table.copy"(I32(0), I32(3), I32(2)) => Err(TableOutOfBounds);
        "table.init"(I32(4), I32(0), I32(0)) => Ok(vec![]);
        "table.init"(I32(4), I32(0), I32(1)) => Err(TableOutOfBounds);
        "table.init"(I32(0), I32(1), I32(1)) => Err(TableOutOfBounds);
        // `table.copy` above nulled element 2.
        "call_indirect_i"(I32(2), I32(21)) => Err(IndirectCallToNull);
        "unreachable"() => Err(UnreachableCodeReached);
        "div_by_const_zero"() => Err(IntegerDivisionByZero);
        // Integer division.
        "i32.div_s"(I32(7), I32(-2)) => Ok(vec![I32(-3)]);
        "i32.div_s"(I32(1), I32(0)) => Err(IntegerDivisionByZero);
        "i32.div_u"(I32(1), I32(0)) => Err(IntegerDivisionByZero);
        "i32.rem_s"(I32(1), I32(0)) => Err(IntegerDivisionByZero);
        "i32.rem_u"(I32(1), I32(0)) => Err(IntegerDivisionByZero);
        "i64.div_s"(I64(1), I64(0)) => Err(IntegerDivisionByZero);
        "i64.div_u"(I64(1), I64(0)) => Err(IntegerDivisionByZero);
        "i64.rem_s"(I64(1), I64(0)) => Err(IntegerDivisionByZero);
        "i64.rem_u"(I64(1), I64(0)) => Err(IntegerDivisionByZero);
        "i32.div_s"(I32(i32::MIN), I32(-1)) => Err(IntegerOverflow);
        "i64.div_s"(I64(i64::MIN), I64(-1)) => Err(IntegerOverflow);
        // The remainder of MIN / -1 is 0, not a trap (x86 `idiv` would fault).
        "i32.rem_s"(I32(i32::MIN), I32(-1)) => Ok(vec![I32(0)]);
        "i64.rem_s"(I64(i64::MIN), I64(-1)) => Ok(vec![I64(0)]);
        "i32.div_u"(I32(-1), I32(-1)) => Ok(vec![I32(1)]);
        // Conversions: out of range is an overflow.
        "i32.trunc_f32_s"(f32v(-2147483648.0)) => Ok(vec![I32(i32::MIN)]);
        "i32.trunc_f32_s"(f32v(2147483648.0)) => Err(IntegerOverflow);
        "i32.trunc_f32_s"(f32v(-2147483904.0)) => Err(IntegerOverflow);
        "i32.trunc_f32_u"(f32v(-0.9)) => Ok(vec![I32(0)]);
        "i32.trunc_f32_u"(f32v(-1.0)) => Err(IntegerOverflow);
        "i32.trunc_f32_u"(f32v(4294967296.0)) => Err(IntegerOverflow);
        "i32.trunc_f64_s"(f64v(2147483647.9)) => Ok(vec![I32(i32::MAX)]);
        "i32.trunc_f64_s"(f64v(-2147483648.9)) => Ok(vec![I32(i32::MIN)]);
        "i32.trunc_f64_s"(f64v(2147483648.0)) => Err(IntegerOverflow);
        "i32.trunc_f64_s"(f64v(-2147483649.0)) => Err(IntegerOverflow);
        "i32.trunc_f64_u"(f64v(4294967295.9)) => Ok(vec![I32(-1)]);
        "i32.trunc_f64_u"(f64v(4294967296.0)) => Err(IntegerOverflow);
        "i32.trunc_f64_u"(f64v(-1.0)) => Err(IntegerOverflow);
        "i64.trunc_f32_s"(f32v(9223372036854775808.0)) => Err(IntegerOverflow);
        "i64.trunc_f32_u"(f32v(-1.0)) => Err(IntegerOverflow);
        "i64.trunc_f32_u"(f32v(18446744073709551616.0)) => Err(IntegerOverflow);
        "i64.trunc_f64_s"(f64v(-9223372036854775808.0)) => Ok(vec![I64(i64::MIN)]);
        "i64.trunc_f64_s"(f64v(9223372036854775808.0)) => Err(IntegerOverflow);
        "i64.trunc_f64_u"(f64v(18446744073709551616.0)) => Err(IntegerOverflow);
        "i64.trunc_f64_u"(f64v(-1.0)) => Err(IntegerOverflow);
    };
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
        let mut linker = Linker::new(&engine);
        linker.func_wrap("host", "double", |x: i32| x * 2).unwrap();
        let (mut store, instance) = instantiate(&engine, &linker, (), KINDS_WAT);
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

/// Frames with hundreds of spilled values still hit the limit check rather than
/// running off the thread's stack.
#[test]
fn stack_overflow_with_large_frames() {
    const LIVE: usize = 600;
    let mut wat = String::from("(module (func $big (export \"big\") (param i32) (result i64)");
    for _ in 0..LIVE {
        wat.push_str(" (local i64)");
    }
    for l in 1..=LIVE {
        write!(
            wat,
            " (local.set {l} (i64.extend_i32_u (i32.add (local.get 0) (i32.const {l}))))"
        )
        .unwrap();
    }
    // Recurse while the argument is non-zero, then use every local after the call.
    wat.push_str(
        " (if (result i64) (i32.eqz (local.get 0)) (then (i64.const 0))
            (else (call $big (i32.sub (local.get 0) (i32.const 1)))))",
    );
    for l in 1..=LIVE {
        write!(wat, " (local.get {l}) i64.add").unwrap();
    }
    wat.push_str("))");
    for compilation in [Compilation::Lazy, Compilation::Eager] {
        let engine = engine_with(MemoryStyle::Guarded, compilation);
        let (mut store, instance) = instantiate(&engine, &Linker::new(&engine), (), &wat);
        let big = instance
            .get_typed_func::<i32, i64>(&mut store, "big")
            .unwrap();
        // Every level n = 3, 2, 1, 0 adds up its locals n + l.
        let expected: i64 = (0..=3)
            .map(|n| (1..=LIVE as i64).map(|l| n + l).sum::<i64>())
            .sum();
        assert_eq!(big.call(&mut store, 3).unwrap(), expected);
        for _ in 0..3 {
            let err = big.call(&mut store, 1_000_000).unwrap_err();
            assert_eq!(trap_kind(&err), Some(Trap::StackOverflow), "{err:#}");
        }
        assert_eq!(big.call(&mut store, 3).unwrap(), expected);
    }
}

#[test]
fn trap_in_start_function_fails_instantiation() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (memory 1) (func $s (drop (i32.load (i32.const 65536)))) (start $s))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let err = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap_err();
    assert_eq!(trap_kind(&err), Some(Trap::MemoryOutOfBounds), "{err:#}");
    // The store can still instantiate and run other modules.
    let ok = Module::new(
        &engine,
        r#"(module (func (export "f") (result i32) i32.const 1))"#,
    );
    let ok = ok.unwrap();
    let instance = Linker::new(&engine).instantiate(&mut store, &ok).unwrap();
    let f = instance.get_typed_func::<(), i32>(&mut store, "f").unwrap();
    assert_eq!(f.call(&mut store, ()).unwrap(), 1);
}

#[test]
fn host_failure_in_start_function_fails_instantiation() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "f" (func $f (param i32)))
          (func $s (call $f (i32.const 8)))
          (start $s))"#,
    )
    .unwrap();
    let mut failing = Linker::<()>::new(&engine);
    failing
        .func_wrap("host", "f", |code: i32| -> lazuli::Result<()> {
            Err(MyError { code: code as u32 }.into())
        })
        .unwrap();
    let mut store = Store::new(&engine, ());
    let err = failing.instantiate(&mut store, &module).unwrap_err();
    assert_eq!(
        err.downcast_ref::<MyError>(),
        Some(&MyError { code: 8 }),
        "{err:#}"
    );

    let mut panicking = Linker::<()>::new(&engine);
    panicking
        .func_wrap("host", "f", |code: i32| -> () {
            std::panic::panic_any(MyPanic(code as u32))
        })
        .unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        panicking.instantiate(&mut store, &module)
    }))
    .unwrap_err();
    assert_eq!(payload.downcast_ref::<MyPanic>(), Some(&MyPanic(8)));
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
    // The depth searches below need one frame size: under tier-up the frames of
    // the first calls (fast tier) and the later ones (optimised) differ.
    config.tiering(Tiering::Optimized);
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
    // Depth scales with the limit (the default 1 MiB is 16 × 64 KiB, minus a
    // little host stack used before the first Wasm frame).
    assert_eq!(lazuli::DEFAULT_MAX_WASM_STACK, 16 * 64 * 1024);
    let ratio = default_max as f64 / small_max as f64;
    assert!(
        (15.0..=17.0).contains(&ratio),
        "64 KiB: {small_max} frames, 1 MiB: {default_max} frames"
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

#[test]
fn zero_max_wasm_stack_traps_instead_of_crashing() {
    let mut none = down_with_limit(Some(0));
    assert_eq!(none(1000), Err(Trap::StackOverflow));
    assert_eq!(none(1000), Err(Trap::StackOverflow));
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

/// What a test compares of a `lazuli::FrameInfo`.
#[derive(Debug, PartialEq)]
struct Frame {
    func_index: u32,
    func_name: Option<String>,
    module_name: Option<String>,
    module_offset: Option<u32>,
}

fn frames_of(err: &lazuli::Error) -> Vec<Frame> {
    err.downcast_ref::<WasmBacktrace>()
        .unwrap_or_else(|| panic!("no backtrace on {err:#}"))
        .frames()
        .iter()
        .map(|f| Frame {
            func_index: f.func_index(),
            func_name: f.func_name().map(str::to_string),
            module_name: f.module().name().map(str::to_string),
            module_offset: f.module_offset().map(|o| o as u32),
        })
        .collect()
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
    let expected = |index: u32, name: &str, offset: u32| Frame {
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
fn backtrace_crosses_modules() {
    let engine = Engine::default();
    let lib_wat = r#"(module $lib
      (func $helper (param i32) (result i32) (i32.load (local.get 0)))
      (memory 1)
      (func $boom (export "boom") (param i32) (result i32)
        (call $helper (local.get 0))))"#;
    let app_wat = r#"(module $app
      (import "lib" "boom" (func $boom (param i32) (result i32)))
      (func $main (export "main") (param i32) (result i32)
        (call $boom (local.get 0))))"#;
    let (lib_wasm, app_wasm) = (
        wat::parse_str(lib_wat).unwrap(),
        wat::parse_str(app_wat).unwrap(),
    );
    let (lib_ops, app_ops) = (operator_offsets(&lib_wasm), operator_offsets(&app_wasm));
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let lib = linker
        .instantiate(&mut store, &Module::new(&engine, &lib_wasm).unwrap())
        .unwrap();
    linker.instance(&mut store, "lib", lib).unwrap();
    let app = linker
        .instantiate(&mut store, &Module::new(&engine, &app_wasm).unwrap())
        .unwrap();
    let main = app.get_typed_func::<i32, i32>(&mut store, "main").unwrap();
    let err = main.call(&mut store, 65536).unwrap_err();
    assert_eq!(trap_kind(&err), Some(Trap::MemoryOutOfBounds));
    let frame = |module: &str, index: u32, name: &str, offset: u32| Frame {
        func_index: index,
        func_name: Some(name.to_string()),
        module_name: Some(module.to_string()),
        module_offset: Some(offset),
    };
    assert_eq!(
        frames_of(&err),
        [
            frame("lib", 0, "helper", offset_of(&lib_ops, 0, "I32Load")),
            frame("lib", 1, "boom", offset_of(&lib_ops, 1, "Call")),
            frame("app", 1, "main", offset_of(&app_ops, 0, "Call")),
        ]
    );
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
            Frame {
                func_index: 1,
                func_name: None,
                module_name: None,
                module_offset: Some(offset_of(&ops, 1, "Unreachable")),
            },
            Frame {
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
    // Tier-up after the first call, so that the background compiler's thread (and
    // its allocator arena) exists before the measurement starts.
    let mut config = Config::new();
    config.tier_up_budget(1).tier_up_small_functions(0);
    let engine = Engine::new(&config).unwrap();
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
    for _ in 0..60_000 {
        if module.compile_stats().functions_optimized == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(module.compile_stats().functions_optimized, 1, "no tier-up");
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
    assert_growth("1,000 modules", &before, 4 << 10, 8 << 10);
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

/// A host function that catches the trap of a nested call and carries on: only
/// the inner Wasm frames are unwound, and the outer call completes normally.
#[test]
fn host_can_recover_from_a_nested_trap() {
    let engine = Engine::default();
    let mut linker = Linker::<Vec<Trap>>::new(&engine);
    linker
        .func_wrap(
            "host",
            "try",
            |mut caller: Caller<'_, Vec<Trap>>, which: i32| -> lazuli::Result<i32> {
                let name = if which == 0 { "boom" } else { "rec" };
                let f = caller.get_export(name).unwrap().into_func().unwrap();
                let f = f.typed::<(), ()>(&caller)?;
                match f.call(&mut caller, ()) {
                    Ok(()) => Ok(0),
                    Err(e) => {
                        let kind = trap_kind(&e).expect("a trap");
                        caller.data_mut().push(kind);
                        Ok(100)
                    }
                }
            },
        )
        .unwrap();
    let (mut store, instance) = instantiate(
        &engine,
        &linker,
        Vec::new(),
        r#"(module
          (import "host" "try" (func $try (param i32) (result i32)))
          (func (export "boom") unreachable)
          (func $rec (export "rec") (call $rec))
          (func $deep (export "deep") (param i32 i32) (result i32)
            ;; Recurse $1 levels in Wasm first, then ask the host to trap.
            (if (result i32) (i32.eqz (local.get 1))
              (then (i32.add (call $try (local.get 0)) (i32.const 1)))
              (else (i32.add (call $deep (local.get 0) (i32.sub (local.get 1) (i32.const 1)))
                             (i32.const 1))))))"#,
    );
    let deep = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "deep")
        .unwrap();
    for (which, depth) in [(0, 0), (1, 0), (0, 50), (1, 50), (1, 1000), (0, 3)] {
        assert_eq!(
            deep.call(&mut store, (which, depth)).unwrap(),
            101 + depth,
            "which {which}, depth {depth}"
        );
    }
    use Trap::{StackOverflow as S, UnreachableCodeReached as U};
    assert_eq!(store.data(), &[U, S, U, S, S, U]);
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
    });
    let f = f.typed::<i32, ()>(&store).unwrap();
    let err = f.call(&mut store, 5).unwrap_err();
    assert_eq!(err.downcast_ref::<MyError>(), Some(&MyError { code: 5 }));
}
