//! The fast tier: it is really used (its code is not optimised), and it computes
//! what the optimising tier computes, traps included, with the same trap kinds and
//! the same backtraces.

use lazuli::{
    Compilation, Config, Engine, FrameInfo, Linker, Module, Store, Tiering, Trap, Val,
    WasmBacktrace,
};

/// Every tier, each with both compilation modes.
const ENGINES: [(Tiering, Compilation); 4] = [
    (Tiering::Optimized, Compilation::Lazy),
    (Tiering::Optimized, Compilation::Eager),
    (Tiering::Fast, Compilation::Lazy),
    (Tiering::Fast, Compilation::Eager),
];

fn engine(tiering: Tiering, compilation: Compilation) -> Engine {
    let mut config = Config::new();
    config.tiering(tiering).compilation(compilation);
    Engine::new(&config).unwrap()
}

/// Functions that exercise calls, loops, memory, tables, floats and multi-value.
const PROGRAMS: &str = r#"(module $programs
  (type $binop (func (param i32 i32) (result i32)))
  (memory 1)
  (table funcref (elem $add $sub $mul))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func $add (type $binop) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $binop) (i32.sub (local.get 0) (local.get 1)))
  (func $mul (type $binop) (i32.mul (local.get 0) (local.get 1)))
  ;; Applies table entry $op to 7 and $x.
  (func (export "apply") (param $op i32) (param $x i32) (result i32)
    (call_indirect (type $binop) (i32.const 7) (local.get $x) (local.get $op)))
  ;; Writes i*i for i < $n into memory, then sums the bytes back with a checksum.
  (func (export "squares") (param $n i32) (result i64)
    (local $i i32) (local $sum i64)
    (loop $fill
      (i32.store (i32.shl (local.get $i) (i32.const 2))
                 (i32.mul (local.get $i) (local.get $i)))
      (br_if $fill (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                             (local.get $n))))
    (local.set $i (i32.const 0))
    (loop $sum
      (local.set $sum
        (i64.add (i64.rotl (local.get $sum) (i64.const 5))
                 (i64.load32_u (i32.shl (local.get $i) (i32.const 2)))))
      (br_if $sum (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                            (local.get $n))))
    (local.get $sum))
  ;; Float arithmetic, saturating conversion and min, as bits.
  (func (export "floats") (param $x f64) (result i64 i32 i64)
    (i64.reinterpret_f64 (f64.sqrt (f64.mul (local.get $x) (f64.const 3.5))))
    (i32.trunc_sat_f64_s (f64.mul (local.get $x) (f64.const 1e10)))
    (i64.reinterpret_f64 (f64.min (local.get $x) (f64.neg (local.get $x)))))
  ;; Multi-value, br_table and select: (1, k + 1), (2, 20) or (3, 10 + clz(k)).
  (func (export "pick") (param $k i32) (result i32 i32)
    (local $v i32)
    (local.set $v
      (block $c (result i32)
        (block $b (result i32)
          (block $a (result i32)
            (br_table $a $b $c (i32.const 10) (local.get $k)))
          (return (i32.const 1) (i32.add (local.get $k) (i32.const 1))))
        (return (i32.const 2) (select (i32.const 20) (i32.const 30) (local.get $k)))))
    (i32.const 3) (i32.add (local.get $v) (i32.clz (local.get $k)))))
"#;

/// Calls `name` with `params` and returns its results.
fn call(engine: &Engine, wat: &str, name: &str, params: &[Val]) -> lazuli::Result<Vec<Val>> {
    let module = Module::new(engine, wat)?;
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine).instantiate(&mut store, &module)?;
    let func = instance.get_func(&mut store, name).expect("exported");
    let ty = func.ty(&store);
    let mut results: Vec<Val> = ty.results().map(Val::default_for).collect();
    func.call(&mut store, params, &mut results)?;
    Ok(results)
}

#[test]
fn the_fast_tier_computes_what_the_optimized_tier_computes() {
    let calls: [(&str, Vec<Val>); 10] = [
        ("fib", vec![Val::I32(0)]),
        ("fib", vec![Val::I32(20)]),
        ("apply", vec![Val::I32(0), Val::I32(5)]),
        ("apply", vec![Val::I32(1), Val::I32(9)]),
        ("apply", vec![Val::I32(2), Val::I32(-3)]),
        ("squares", vec![Val::I32(1000)]),
        ("floats", vec![Val::F64(2.0f64.to_bits())]),
        ("floats", vec![Val::F64((-1e300f64).to_bits())]),
        ("pick", vec![Val::I32(0)]),
        ("pick", vec![Val::I32(7)]),
    ];
    for (name, params) in &calls {
        let [reference, others @ ..] =
            ENGINES.map(|(t, c)| call(&engine(t, c), PROGRAMS, name, params).unwrap());
        for ((tiering, compilation), results) in ENGINES[1..].iter().zip(others) {
            assert_eq!(
                results, reference,
                "{name}{params:?} with {tiering:?}, {compilation:?}"
            );
        }
    }
    // Spot checks that the reference itself is right.
    let optimized = engine(Tiering::Optimized, Compilation::Lazy);
    let fast = engine(Tiering::Fast, Compilation::Lazy);
    for engine in [&optimized, &fast] {
        let fib = call(engine, PROGRAMS, "fib", &[Val::I32(20)]).unwrap();
        assert_eq!(fib, [Val::I32(6765)]);
        let pick = call(engine, PROGRAMS, "pick", &[Val::I32(1)]).unwrap();
        assert_eq!(pick, [Val::I32(2), Val::I32(20)]);
        let pick = call(engine, PROGRAMS, "pick", &[Val::I32(7)]).unwrap();
        assert_eq!(pick, [Val::I32(3), Val::I32(39)]);
    }
}

/// Functions that trap in different ways, each a few calls deep.
const TRAPS: &str = r#"(module $traps
  (type $v (func))
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $div)
  (func $div (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func $load (param i32) (result i32) (i32.load (local.get 0)))
  (func $convert (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func $nested (param i32) (result i32)
    (i32.add (i32.const 1) (call $load (local.get 0))))
  (func $div_by_zero (export "div_by_zero") (result i32)
    (call $div (i32.const 1) (i32.const 0)))
  (func $overflow (export "overflow") (result i32)
    (call $div (i32.const 0x80000000) (i32.const -1)))
  (func $out_of_bounds (export "out_of_bounds") (result i32)
    (call $nested (i32.const 65534)))
  (func $bad_conversion (export "bad_conversion") (result i32)
    (call $convert (f64.const nan)))
  (func $unreachable (export "unreachable") (unreachable))
  (func $wrong_type (export "wrong_type") (call_indirect (type $v) (i32.const 0)))
  (func $null_entry (export "null_entry") (call_indirect (type $v) (i32.const 1)))
  (func $out_of_table (export "out_of_table") (call_indirect (type $v) (i32.const 2)))
)"#;

/// What the tiers must agree on of a frame: index, name, module offset.
type Frame = (u32, Option<String>, Option<usize>);

fn trap_of(err: &lazuli::Error) -> (Trap, Vec<Frame>) {
    let kind = *err.downcast_ref::<Trap>().expect("a trap");
    let frames = err
        .downcast_ref::<WasmBacktrace>()
        .expect("a backtrace")
        .frames()
        .iter()
        .map(|f: &FrameInfo| {
            (
                f.func_index(),
                f.func_name().map(str::to_string),
                f.module_offset(),
            )
        })
        .collect();
    (kind, frames)
}

#[test]
fn the_fast_tier_traps_with_the_same_kinds_and_backtraces() {
    let cases: [(&str, Trap, &[&str]); 8] = [
        (
            "div_by_zero",
            Trap::IntegerDivisionByZero,
            &["div", "div_by_zero"],
        ),
        ("overflow", Trap::IntegerOverflow, &["div", "overflow"]),
        (
            "out_of_bounds",
            Trap::MemoryOutOfBounds,
            &["load", "nested", "out_of_bounds"],
        ),
        (
            "bad_conversion",
            Trap::BadConversionToInteger,
            &["convert", "bad_conversion"],
        ),
        (
            "unreachable",
            Trap::UnreachableCodeReached,
            &["unreachable"],
        ),
        ("wrong_type", Trap::BadSignature, &["wrong_type"]),
        ("null_entry", Trap::IndirectCallToNull, &["null_entry"]),
        ("out_of_table", Trap::TableOutOfBounds, &["out_of_table"]),
    ];
    for (export, kind, names) in cases {
        let [reference, others @ ..] = ENGINES.map(|(t, c)| {
            let err = call(&engine(t, c), TRAPS, export, &[]).unwrap_err();
            trap_of(&err)
        });
        assert_eq!(reference.0, kind, "{export}");
        let frame_names: Vec<_> = reference.1.iter().map(|f| f.1.as_deref()).collect();
        let expected: Vec<_> = names.iter().copied().map(Some).collect();
        assert_eq!(frame_names, expected, "{export}");
        assert!(
            reference.1.iter().all(|f| f.2.is_some()),
            "{export}: {:?}",
            reference.1
        );
        for ((tiering, compilation), trap) in ENGINES[1..].iter().zip(others) {
            assert_eq!(
                trap, reference,
                "{export} with {tiering:?}, {compilation:?}"
            );
        }
    }
}

#[test]
fn the_fast_tier_reports_stack_overflow() {
    let wat = r#"(module (func $down (export "down") (param i32) (result i32)
        (i32.add (i32.const 1) (call $down (local.get 0)))))"#;
    for (tiering, compilation) in ENGINES {
        let err = call(&engine(tiering, compilation), wat, "down", &[Val::I32(0)]).unwrap_err();
        let (kind, frames) = trap_of(&err);
        assert_eq!(kind, Trap::StackOverflow, "{tiering:?}, {compilation:?}");
        assert_eq!(frames[0].1.as_deref(), Some("down"));
    }
}

/// A function whose result is a chain of constant arithmetic: the optimiser folds
/// it to one constant, code without optimisation computes every step.
fn constant_chain(steps: usize) -> String {
    let mut body = String::from("(i32.const 1)");
    for i in 0..steps {
        body = format!(
            "(i32.xor (i32.mul {body} (i32.const {})) (i32.const {i}))",
            2 * i + 3
        );
    }
    format!(r#"(module (func (export "chain") (result i32) {body}))"#)
}

#[test]
fn the_fast_tier_is_used_and_does_not_optimise() {
    let wat = constant_chain(40);
    let code_bytes = |tiering| {
        let engine = engine(tiering, Compilation::Eager);
        Module::new(&engine, &wat)
            .unwrap()
            .compile_stats()
            .code_bytes
    };
    let (fast, optimized) = (code_bytes(Tiering::Fast), code_bytes(Tiering::Optimized));
    // 40 multiplications and xors take at least 3 bytes each; the folded constant
    // is one move.
    assert!(
        fast > optimized + 40 * 2 * 3,
        "fast {fast} B, optimized {optimized} B"
    );
    let results = [Tiering::Fast, Tiering::Optimized]
        .map(|t| call(&engine(t, Compilation::Lazy), &wat, "chain", &[]).unwrap());
    assert_eq!(results[0], results[1]);
}

/// `Tiering::Auto`, the default, compiles first at the fast tier (with counters
/// for tier-up, so its code is larger still).
#[test]
fn the_default_tier_compiles_fast_first() {
    // Large enough (over 500 bytes) to start at the fast tier even with
    // `Config::tier_up_small_functions(500)`.
    let wat = constant_chain(100);
    let code_bytes = |engine: &Engine| {
        Module::new(engine, &wat)
            .unwrap()
            .compile_stats()
            .code_bytes
    };
    let mut config = Config::new();
    config.compilation(Compilation::Eager);
    let default = code_bytes(&Engine::new(&config).unwrap());
    let fast = code_bytes(&engine(Tiering::Fast, Compilation::Eager));
    let optimized = code_bytes(&engine(Tiering::Optimized, Compilation::Eager));
    assert!(default > fast, "default {default} B, fast {fast} B");
    assert!(fast > optimized, "fast {fast} B, optimized {optimized} B");
}
