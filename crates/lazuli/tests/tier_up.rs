//! Tier-up under `Tiering::Auto`: functions start at the fast tier, count their
//! calls and loop iterations, and once over budget are recompiled optimised; every
//! later call, however it reaches the function, runs the optimised code.
//!
//! Which code a call runs is observable through the function's budget
//! (`Module::tier_up_budget`): fast code decrements it at every call, optimised
//! code does not count, and tier-up sets it to `i32::MAX`. A budget still at
//! `i32::MAX` after a call means the call ran the optimised code.

use lazuli::{
    Compilation, Config, Engine, Instance, Linker, Module, Store, Tiering, Trap, TypedFunc,
    WasmBacktrace,
};
use std::time::{Duration, Instant};

const MODULE: &str = r#"(module $m
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $double)
  (func $double (export "double") (type $t) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "direct") (param i32) (result i32) (call $double (local.get 0)))
  (func (export "indirect") (param i32) (result i32)
    (call_indirect (type $t) (local.get 0) (i32.const 0)))
  ;; Sums 1..=n in a loop.
  (func (export "spin") (param $n i32) (result i32) (local $sum i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $sum (i32.add (local.get $sum) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $sum))
  (func $divide (export "divide") (param i32) (result i32)
    (i32.div_u (i32.const 100) (local.get 0)))
)"#;

/// Imports `double` and calls it.
const IMPORTER: &str = r#"(module
  (import "m" "double" (func $double (param i32) (result i32)))
  (func (export "call_import") (param i32) (result i32) (call $double (local.get 0))))"#;

const DOUBLE: u32 = 0;
const SPIN: u32 = 3;

fn engine(compilation: Compilation, budget: u32, background: bool) -> Engine {
    let mut config = Config::new();
    config
        .tiering(Tiering::Auto)
        .compilation(compilation)
        .tier_up_budget(budget)
        // The functions here are small: start them at the fast tier all the same.
        .tier_up_small_functions(0)
        .background_compilation(background);
    Engine::new(&config).unwrap()
}

struct Setup {
    module: Module,
    store: Store<()>,
    instance: Instance,
}

fn setup(engine: &Engine) -> Setup {
    setup_of(engine, MODULE)
}

/// `wat` compiled and instantiated in a new store of `engine`.
fn setup_of(engine: &Engine, wat: &str) -> Setup {
    let module = Module::new(engine, wat).unwrap();
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine)
        .instantiate(&mut store, &module)
        .unwrap();
    Setup {
        module,
        store,
        instance,
    }
}

impl Setup {
    fn func(&mut self, name: &str) -> TypedFunc<i32, i32> {
        self.instance.get_typed_func(&mut self.store, name).unwrap()
    }

    fn call(&mut self, name: &str, arg: i32) -> i32 {
        let f = self.func(name);
        f.call(&mut self.store, arg).unwrap()
    }
}

/// A function of `steps` arithmetic steps on its parameter (4 to 8 bytes each).
fn long_function(steps: usize) -> String {
    let mut body = String::from("(local.get 0)");
    for i in 0..steps {
        body = format!(
            "(i32.xor (i32.mul {body} (i32.const {})) (i32.const {i}))",
            2 * i + 3
        );
    }
    format!(r#"(module (func (export "long") (param i32) (result i32) {body}))"#)
}

#[test]
fn auto_is_the_default_tiering() {
    let engine = Engine::default();
    let mut s = setup_of(&engine, &long_function(200));
    assert_eq!(s.call("long", 4), s.call("long", 4));
    let budget = s.module.tier_up_budget(0).unwrap();
    assert_eq!(budget, lazuli::DEFAULT_TIER_UP_BUDGET as i32 - 2);
}

#[test]
fn small_functions_skip_the_fast_tier_when_asked() {
    let run = |config: &Config, wat: &str| {
        let mut s = setup_of(&Engine::new(config).unwrap(), wat);
        s.call(if wat == MODULE { "double" } else { "long" }, 3);
        (
            s.module.compile_stats(),
            s.module.tier_up_budget(0).unwrap(),
        )
    };
    let mut optimized = Config::new();
    optimized.tiering(Tiering::Optimized);
    let mut small_optimised = Config::new();
    small_optimised.tier_up_small_functions(500);
    // `double` is a few bytes: optimised at once, and it does not count.
    let (small, budget) = run(&small_optimised, MODULE);
    assert_eq!(small.code_bytes, run(&optimized, MODULE).0.code_bytes);
    assert_eq!((small.functions_optimized, budget), (0, i32::MAX));
    // A body of more than 500 bytes starts at the fast tier.
    let long = long_function(100);
    let (stats, budget) = run(&small_optimised, &long);
    assert_ne!(stats.code_bytes, run(&optimized, &long).0.code_bytes);
    assert!(budget < i32::MAX);
    // By default every function starts at the fast tier.
    assert_eq!(lazuli::DEFAULT_SMALL_FUNCTION_BYTES, 0);
    let (_, budget) = run(&Config::new(), MODULE);
    assert!(budget < i32::MAX);
}

#[test]
fn a_function_is_optimised_when_its_calls_use_up_the_budget() {
    for compilation in [Compilation::Lazy, Compilation::Eager] {
        let mut s = setup(&engine(compilation, 3, false));
        assert_eq!(s.call("double", 1), 2);
        assert_eq!(s.call("double", 2), 4);
        assert_eq!(s.module.tier_up_budget(DOUBLE), Some(1));
        assert_eq!(s.module.compile_stats().functions_optimized, 0);
        assert_eq!(s.call("double", 3), 6);
        let stats = s.module.compile_stats();
        assert_eq!(stats.functions_optimized, 1, "{compilation:?}");
        assert!(stats.optimized_code_bytes > 0);
        assert_eq!(s.module.tier_up_budget(DOUBLE), Some(i32::MAX));
    }
}

#[test]
fn loop_iterations_count_against_the_budget() {
    let mut s = setup(&engine(Compilation::Lazy, 100, false));
    // One call and 11 loop headers: within the budget.
    assert_eq!(s.call("spin", 10), 55);
    assert_eq!(s.module.tier_up_budget(SPIN), Some(100 - 12));
    assert_eq!(s.module.compile_stats().functions_optimized, 0);
    // One call running 1,001 iterations uses it up: the function tiers up, and
    // the running call continues in an OSR entry.
    assert_eq!(s.call("spin", 1000), 500_500);
    let stats = s.module.compile_stats();
    assert_eq!((stats.functions_optimized, stats.osr_entries), (2, 1));
    assert_eq!(s.call("spin", 1000), 500_500);
}

/// With a budget of 1 and no background compilation, the first call runs the
/// fast code and tiers up; checks that every later call runs the optimised code.
fn assert_every_path_reaches_the_optimised_code(compilation: Compilation) {
    let engine = engine(compilation, 1, false);
    let mut s = setup(&engine);
    assert_eq!(s.call("double", 4), 8);
    assert_eq!(s.module.tier_up_budget(DOUBLE), Some(i32::MAX));
    let still_optimised = |s: &Setup, path: &str| {
        assert_eq!(
            s.module.tier_up_budget(DOUBLE),
            Some(i32::MAX),
            "{path} ran the fast code ({compilation:?})"
        );
    };
    assert_eq!(s.call("double", 5), 10);
    still_optimised(&s, "the host's call");
    assert_eq!(s.call("direct", 6), 12);
    still_optimised(&s, "a direct call");
    assert_eq!(s.call("indirect", 7), 14);
    still_optimised(&s, "a call through the table");

    let importer = Module::new(&engine, IMPORTER).unwrap();
    let mut linker = Linker::new(&engine);
    linker.instance(&mut s.store, "m", s.instance).unwrap();
    let imported = linker.instantiate(&mut s.store, &importer).unwrap();
    let call_import: TypedFunc<i32, i32> = imported
        .get_typed_func(&mut s.store, "call_import")
        .unwrap();
    assert_eq!(call_import.call(&mut s.store, 8).unwrap(), 16);
    still_optimised(&s, "an importer's call");

    let other = Linker::new(&engine)
        .instantiate(&mut s.store, &s.module)
        .unwrap();
    let double: TypedFunc<i32, i32> = other.get_typed_func(&mut s.store, "double").unwrap();
    assert_eq!(double.call(&mut s.store, 9).unwrap(), 18);
    still_optimised(&s, "another instance's call");
    assert_eq!(s.module.compile_stats().optimize_failures, 0);
}

#[test]
fn every_later_call_reaches_the_optimised_code_lazy() {
    assert_every_path_reaches_the_optimised_code(Compilation::Lazy);
}

#[test]
fn every_later_call_reaches_the_optimised_code_eager() {
    assert_every_path_reaches_the_optimised_code(Compilation::Eager);
}

#[test]
fn optimised_code_traps_with_the_same_kind_and_backtrace() {
    let mut s = setup(&engine(Compilation::Lazy, 1, false));
    let mut traps = Vec::new();
    for _ in 0..2 {
        let f = s.func("divide");
        let err = f.call(&mut s.store, 0).unwrap_err();
        let kind = *err.downcast_ref::<Trap>().expect("a trap");
        let frames: Vec<_> = err
            .downcast_ref::<WasmBacktrace>()
            .expect("a backtrace")
            .frames()
            .iter()
            .map(|f| (f.func_name().map(str::to_string), f.module_offset()))
            .collect();
        traps.push((kind, frames));
    }
    assert_eq!(s.module.compile_stats().functions_optimized, 1);
    assert_eq!(traps[0].0, Trap::IntegerDivisionByZero);
    assert_eq!(traps[0].1[0].0.as_deref(), Some("divide"));
    assert_eq!(traps[0], traps[1], "fast, then optimised");
}

/// Waits until `module` has optimised `n` functions, for at most a minute.
fn wait_for_optimized(module: &Module, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while module.compile_stats().functions_optimized < n {
        assert!(Instant::now() < deadline, "no tier-up within a minute");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn tier_up_happens_in_the_background() {
    let mut s = setup(&engine(Compilation::Lazy, 10, true));
    for i in 0..20 {
        assert_eq!(s.call("double", i), 2 * i);
    }
    wait_for_optimized(&s.module, 1);
    let before = s.module.tier_up_budget(DOUBLE);
    assert_eq!(s.call("direct", 21), 42);
    assert_eq!(s.module.tier_up_budget(DOUBLE), before, "ran the fast code");
}

#[test]
fn a_module_dropped_before_its_tier_up_runs_is_skipped() {
    let engine = engine(Compilation::Lazy, 1, true);
    for _ in 0..20 {
        let mut s = setup(&engine);
        assert_eq!(s.call("spin", 100), 5050);
        // The module and its instance go while the job may still be queued.
    }
    let mut s = setup(&engine);
    assert_eq!(s.call("double", 2), 4);
    wait_for_optimized(&s.module, 1);
}

#[test]
fn only_auto_counts() {
    for tiering in [Tiering::Fast, Tiering::Optimized] {
        let mut config = Config::new();
        config.tiering(tiering).tier_up_budget(1);
        let engine = Engine::new(&config).unwrap();
        let mut s = setup(&engine);
        for i in 0..5 {
            assert_eq!(s.call("double", i), 2 * i);
        }
        assert_eq!(s.module.tier_up_budget(DOUBLE), Some(i32::MAX));
        assert_eq!(s.module.compile_stats().functions_optimized, 0);
    }
}

/// `main` calls `$a` and `$b` only when asked to.
const AHEAD: &str = r#"(module
  (func $a (result i32) (i32.const 1))
  (func $b (result i32) (i32.const 2))
  (func (export "main") (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (i32.add (call $a) (call $b)))
      (else (i32.const 0)))))"#;

#[test]
fn idle_cores_compile_the_callees_of_what_runs() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let engine = engine(Compilation::Lazy, 1000, true);
    let Setup {
        module,
        mut store,
        instance,
    } = setup_of(&engine, AHEAD);
    let main: TypedFunc<i32, i32> = instance.get_typed_func(&mut store, "main").unwrap();
    assert_eq!(main.call(&mut store, 0).unwrap(), 0);
    if cores == 1 {
        // Nothing is compiled off the critical path on one core.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(module.compile_stats().functions_compiled, 1);
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while module.compile_stats().functions_compiled_ahead < 2 {
        assert!(
            Instant::now() < deadline,
            "nothing compiled ahead in a minute"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(main.call(&mut store, 1).unwrap(), 3);
    let stats = module.compile_stats();
    assert_eq!(
        stats.functions_compiled, 3,
        "the callees were compiled once"
    );
    assert_eq!(stats.functions_compiled_ahead, 2);
}

#[test]
fn without_background_compilation_nothing_is_compiled_ahead() {
    let engine = engine(Compilation::Lazy, 1000, false);
    let Setup {
        module,
        mut store,
        instance,
    } = setup_of(&engine, AHEAD);
    let main: TypedFunc<i32, i32> = instance.get_typed_func(&mut store, "main").unwrap();
    assert_eq!(main.call(&mut store, 0).unwrap(), 0);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(module.compile_stats().functions_compiled, 1);
}

// ---------------------------------------------------------------------------
// On-stack replacement: a running activation leaves the fast code at a loop.
// ---------------------------------------------------------------------------

#[test]
fn a_long_loop_continues_in_optimised_code() {
    let mut s = setup(&engine(Compilation::Lazy, 50, false));
    assert_eq!(s.call("spin", 1000), 500_500);
    let stats = s.module.compile_stats();
    assert_eq!(stats.osr_entries, 1);
    // The function's tier-up was asked for too, and compiled.
    assert_eq!(stats.functions_optimized, 2);
    // Had the activation stayed in the fast code, its remaining 950 iterations
    // would have counted down from `i32::MAX`.
    assert_eq!(s.module.tier_up_budget(SPIN), Some(i32::MAX));
    // The next call runs the optimised function from its start.
    assert_eq!(s.call("spin", 1000), 500_500);
    assert_eq!(s.module.tier_up_budget(SPIN), Some(i32::MAX));
}

/// Loops over every kind of local, nested in blocks, `if`s and other loops, with
/// branches out of the loop to enclosing frames and several results: each entered
/// at every iteration count by varying the budget.
const OSR_PROGRAMS: &str = r#"(module
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $id)
  (func $id (param i32) (result i32) (local.get 0))
  ;; Every value type as a live local across the loop.
  (func (export "kinds") (param $n i32) (param $f f64) (result i64)
    (local $i i64) (local $g f32) (local $v v128) (local $r funcref) (local $e externref)
    (local.set $r (ref.func $id))
    (local.set $v (v128.const i32x4 1 2 3 4))
    (loop $l
      (local.set $i (i64.add (local.get $i) (i64.extend_i32_u (local.get $n))))
      (local.set $f (f64.add (local.get $f) (f64.const 0.5)))
      (local.set $g (f32.add (local.get $g) (f32.const 1.25)))
      (local.set $v (i32x4.add (local.get $v) (v128.const i32x4 1 1 1 1)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (i64.add
      (i64.add (local.get $i) (i64.trunc_f64_s (local.get $f)))
      (i64.add (i64.trunc_f32_s (local.get $g))
        (i64.add (i64.extend_i32_s (i32x4.extract_lane 3 (local.get $v)))
          (i64.extend_i32_u (ref.is_null (local.get $e)))))))
  ;; An outer and an inner loop, a branch out of both to an enclosing block, and
  ;; two results.
  (func (export "nested") (param $n i32) (result i32 i32)
    (local $i i32) (local $j i32) (local $acc i32)
    (block $out
      (if (i32.gt_s (local.get $n) (i32.const 0))
        (then
          (loop $outer
            (local.set $j (i32.const 0))
            (loop $inner
              (local.set $acc (i32.add (local.get $acc)
                (i32.mul (local.get $i) (local.get $j))))
              (br_if $out (i32.gt_u (local.get $acc) (i32.const 1000000)))
              (br_if $inner (i32.lt_s (local.tee $j (i32.add (local.get $j) (i32.const 1)))
                                      (local.get $n))))
            (br_if $outer (i32.lt_s (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                                    (local.get $n)))))))
    (local.get $acc) (local.get $i))
  ;; Memory and calls inside the loop.
  (func (export "memory") (param $n i32) (result i32) (local $i i32) (local $sum i32)
    (loop $fill
      (i32.store (i32.shl (local.get $i) (i32.const 2)) (local.get $i))
      (br_if $fill (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                             (local.get $n))))
    (local.set $i (i32.const 0))
    (loop $sum
      (local.set $sum (i32.add (local.get $sum)
        (call_indirect (param i32) (result i32)
          (i32.load (i32.shl (local.get $i) (i32.const 2))) (i32.const 0))))
      (br_if $sum (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                            (local.get $n))))
    (local.get $sum))
  ;; No locals at all (nothing to hand over): the state is in a global.
  (global $left (mut i32) (i32.const 0))
  (func (export "no_locals") (result i32)
    (global.set $left (i32.const 300))
    (loop $l
      (global.set $left (i32.sub (global.get $left) (i32.const 1)))
      (br_if $l (global.get $left)))
    (i32.add (global.get $left) (i32.const 5)))
  ;; A loop entered with a value on the stack: not enterable, still tiers up.
  (func (export "busy_stack") (param $n i32) (result i32)
    (i32.add (i32.const 7)
      (block (result i32)
        (loop $l (result i32)
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l (local.get $n))
          (local.get $n)))))
)"#;

fn osr_calls() -> Vec<(&'static str, Vec<lazuli::Val>)> {
    use lazuli::Val;
    vec![
        ("kinds", vec![Val::I32(40), Val::F64(1.5f64.to_bits())]),
        ("nested", vec![Val::I32(12)]),
        ("nested", vec![Val::I32(200)]),
        ("memory", vec![Val::I32(50)]),
        ("busy_stack", vec![Val::I32(60)]),
        ("no_locals", vec![]),
    ]
}

/// Runs `name`; its results and the number of OSR entries compiled.
fn run_osr_program(
    engine: &Engine,
    name: &str,
    params: &[lazuli::Val],
) -> (Vec<lazuli::Val>, usize) {
    let Setup {
        module,
        mut store,
        instance,
    } = setup_of(engine, OSR_PROGRAMS);
    let func = instance.get_func(&mut store, name).unwrap();
    let ty = func.ty(&store);
    let mut results: Vec<_> = ty.results().map(lazuli::Val::default_for).collect();
    func.call(&mut store, params, &mut results).unwrap();
    (results, module.compile_stats().osr_entries)
}

#[test]
fn osr_at_every_iteration_computes_what_optimised_code_computes() {
    let mut config = Config::new();
    config.tiering(Tiering::Optimized);
    let optimized = Engine::new(&config).unwrap();
    for (name, params) in osr_calls() {
        let (expected, _) = run_osr_program(&optimized, name, &params);
        let mut entered = 0;
        for budget in 1..=45 {
            for compilation in [Compilation::Lazy, Compilation::Eager] {
                let engine = engine(compilation, budget, false);
                let (got, osr_entries) = run_osr_program(&engine, name, &params);
                assert_eq!(
                    got, expected,
                    "{name}{params:?}, budget {budget}, {compilation:?}"
                );
                entered += osr_entries;
            }
        }
        // Budget 1 tiers up at the call, before any loop: no OSR there.
        if name == "busy_stack" {
            assert_eq!(entered, 0, "{name}");
        } else {
            assert!(entered >= 80, "{name}: {entered} OSR entries in 90 runs");
        }
    }
}

#[test]
fn a_loop_entered_with_values_on_the_stack_is_not_replaced() {
    let engine = engine(Compilation::Lazy, 10, false);
    let Setup {
        module,
        mut store,
        instance,
    } = setup_of(&engine, OSR_PROGRAMS);
    let f: TypedFunc<i32, i32> = instance.get_typed_func(&mut store, "busy_stack").unwrap();
    assert_eq!(f.call(&mut store, 100).unwrap(), 7);
    let stats = module.compile_stats();
    assert_eq!(stats.osr_entries, 0);
    assert_eq!(stats.functions_optimized, 1, "the function still tiers up");
}

#[test]
fn osr_happens_in_the_background_too() {
    let mut s = setup(&engine(Compilation::Lazy, 100, true));
    // Each call runs long enough for a background compile to finish during it,
    // on a loaded machine too; a few calls make that all but certain.
    for _ in 0..20 {
        // The sum of 1..=n, wrapped to 32 bits as `i32.add` wraps it.
        let n: i64 = 2_000_000;
        assert_eq!(s.call("spin", n as i32), (n * (n + 1) / 2) as i32);
        if s.module.compile_stats().osr_entries == 1 {
            break;
        }
    }
    let stats = s.module.compile_stats();
    assert_eq!(stats.osr_entries, 1);
    assert_eq!(stats.optimize_failures, 0);
}

/// Counts `$n` down and divides by it: traps once it reaches zero.
const TRAP_IN_LOOP: &str = r#"(module $t
  (func $inner (param i32) (result i32) (i32.div_u (i32.const 1000) (local.get 0)))
  (func $outer (export "outer") (param $n i32) (result i32) (local $sum i32)
    (loop $l
      (local.set $sum (i32.add (local.get $sum) (call $inner (local.get $n))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (i32.ge_s (local.get $n) (i32.const 0))))
    (local.get $sum)))"#;

#[test]
fn a_trap_in_an_osr_entry_has_the_kind_and_backtrace_of_the_function() {
    let trap = |engine: &Engine| {
        let Setup {
            module,
            mut store,
            instance,
        } = setup_of(engine, TRAP_IN_LOOP);
        let outer: TypedFunc<i32, i32> = instance.get_typed_func(&mut store, "outer").unwrap();
        let err = outer.call(&mut store, 200).unwrap_err();
        let kind = *err.downcast_ref::<Trap>().expect("a trap");
        let frames: Vec<_> = err
            .downcast_ref::<WasmBacktrace>()
            .expect("a backtrace")
            .frames()
            .iter()
            .map(|f| (f.func_name().map(str::to_string), f.module_offset()))
            .collect();
        ((kind, frames), module.compile_stats().osr_entries)
    };
    let mut config = Config::new();
    config.tiering(Tiering::Optimized);
    let (expected, _) = trap(&Engine::new(&config).unwrap());
    assert_eq!(expected.0, Trap::IntegerDivisionByZero);
    let names: Vec<_> = expected.1.iter().map(|(n, _)| n.as_deref()).collect();
    assert_eq!(names, [Some("inner"), Some("outer")]);
    let (got, osr_entries) = trap(&engine(Compilation::Lazy, 20, false));
    assert_eq!(osr_entries, 1);
    assert_eq!(got, expected);
}

/// Recursion through a function with 200 locals and a loop it can be entered at.
fn deep_wat() -> String {
    let locals = "(local i64) ".repeat(200);
    format!(
        r#"(module
  (func $down (export "down") (param $n i32) (result i32) {locals}
    (local.set 1 (i64.extend_i32_u (local.get $n)))
    (loop $l (br_if $l (i32.eqz (i32.const 1))))
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.wrap_i64 (local.get 1)))
      (else (call $down (i32.sub (local.get $n) (i32.const 1)))))))"#
    )
}

/// The deepest recursion of `down` that `engine` runs without a stack overflow.
fn max_depth(engine: &Engine) -> i32 {
    let Setup {
        mut store,
        instance,
        ..
    } = setup_of(engine, &deep_wat());
    let down: TypedFunc<i32, i32> = instance.get_typed_func(&mut store, "down").unwrap();
    let (mut lo, mut hi) = (0, 1 << 20);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match down.call(&mut store, mid) {
            Ok(_) => lo = mid,
            Err(e) => {
                assert_eq!(e.downcast_ref::<Trap>(), Some(&Trap::StackOverflow));
                hi = mid;
            }
        }
    }
    lo
}

/// Code that can leave for an OSR entry hands its locals over in memory, not as
/// tail-call arguments, which would grow every one of its frames by their size
/// (here 200 × 8 bytes on top of about 100: a tenth of the depth). The counters
/// themselves cost about a quarter of the depth here (10,918 frames at the fast
/// tier, 8,188 counting).
#[test]
fn counting_code_frames_do_not_carry_the_locals() {
    let mut config = Config::new();
    config.tiering(Tiering::Fast);
    let fast = max_depth(&Engine::new(&config).unwrap());
    // A budget that is never used up: every frame is counting fast-tier code.
    let auto = max_depth(&engine(Compilation::Lazy, u32::MAX, false));
    assert!(
        auto as f64 >= 0.6 * fast as f64,
        "fast tier {fast} frames, counting code {auto}"
    );
}

/// 20 loops one after the other, 2,000 iterations each, in one function.
fn many_loops() -> String {
    let one = "(local.set 1 (i32.const 0))
      (loop $l
        (local.set 0 (i32.add (local.get 0) (local.get 1)))
        (br_if $l (i32.lt_u (local.tee 1 (i32.add (local.get 1) (i32.const 1)))
                            (i32.const 2000))))";
    let loops = vec![one; 20].join("\n");
    format!(
        r#"(module (func (export "many") (param i32) (result i32) (local i32)
      {loops}
      (local.get 0)))"#
    )
}

/// While one OSR entry of a function is being compiled in the background, its
/// other loops wait for it instead of asking for entries of their own.
#[test]
fn a_function_compiles_one_osr_entry_at_a_time() {
    let engine = engine(Compilation::Lazy, 100, true);
    let mut s = setup_of(&engine, &many_loops());
    let expected = (0..2000).sum::<i32>().wrapping_mul(20);
    assert_eq!(s.call("many", 0), expected);
    std::thread::sleep(Duration::from_millis(500));
    let stats = s.module.compile_stats();
    // One loop after another asking for its own entry would have made up to 20.
    assert!(stats.osr_entries <= 3, "{} OSR entries", stats.osr_entries);
    assert_eq!(stats.optimize_failures, 0);
}
