//! Lazy per-function compilation: nothing is compiled at load, each function is
//! compiled on its first call however it is reached, exactly once, and compile
//! errors surface as errors.

use lazuli::{Compilation, Config, Engine, Linker, Module, Store, Validation};
use std::fmt::Write;
use std::sync::{Arc, Barrier};

fn engine(compilation: Compilation) -> Engine {
    let mut config = Config::new();
    config.compilation(compilation);
    Engine::new(&config).unwrap()
}

/// A module of `n` functions; `f0` calls `f1` and `f2`, all others are leaves.
fn many_functions(n: usize) -> String {
    let mut wat = String::from("(module\n");
    wat.push_str("(func $f0 (export \"f0\") (result i32) (i32.add (call $f1) (call $f2)))\n");
    for i in 1..n {
        writeln!(
            wat,
            "(func $f{i} (export \"f{i}\") (result i32) (i32.const {i}))"
        )
        .unwrap();
    }
    wat.push(')');
    wat
}

#[test]
fn loading_compiles_nothing_and_a_call_compiles_the_callee_graph() {
    let engine = engine(Compilation::Lazy);
    let module = Module::new(&engine, many_functions(10_000)).unwrap();
    assert_eq!(module.defined_functions(), 10_000);
    assert_eq!(module.compile_stats().functions_compiled, 0);
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    assert_eq!(module.compile_stats().functions_compiled, 0);
    let f0 = instance
        .get_typed_func::<(), i32>(&mut store, "f0")
        .unwrap();
    assert_eq!(f0.call(&mut store, ()).unwrap(), 3);
    let stats = module.compile_stats();
    assert_eq!(stats.functions_compiled, 3, "f0 and its callees f1, f2");
    assert!(stats.code_bytes > 0 && stats.wasm_bytes > 0);
    // Calling again compiles nothing more.
    assert_eq!(f0.call(&mut store, ()).unwrap(), 3);
    assert_eq!(module.compile_stats().functions_compiled, 3);
}

#[test]
fn eager_compiles_everything_at_load() {
    let engine = engine(Compilation::Eager);
    let module = Module::new(&engine, many_functions(200)).unwrap();
    assert_eq!(module.compile_stats().functions_compiled, 200);
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let f0 = instance
        .get_typed_func::<(), i32>(&mut store, "f0")
        .unwrap();
    assert_eq!(f0.call(&mut store, ()).unwrap(), 3);
    assert_eq!(module.compile_stats().functions_compiled, 200);
}

#[test]
fn every_way_of_reaching_a_function_compiles_it() {
    let engine = engine(Compilation::Lazy);
    let module = Module::new(
        &engine,
        r#"(module
          (type $t (func (result i32)))
          (table 2 funcref)
          (elem (i32.const 0) $via_table $via_ref)
          (global $g (mut i32) (i32.const 0))
          (func $via_table (result i32) (i32.const 10))
          (func $via_ref (result i32) (i32.const 20))
          (func $started (global.set $g (i32.const 5)))
          (start $started)
          (func (export "indirect") (param i32) (result i32)
            (call_indirect (type $t) (local.get 0)))
          (func (export "get") (result i32) (global.get $g))
          (func (export "ref") (result funcref) (ref.func $via_ref))
          (export "exported" (func $via_table)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let get = instance
        .get_typed_func::<(), i32>(&mut store, "get")
        .unwrap();
    assert_eq!(get.call(&mut store, ()).unwrap(), 5, "start function ran");
    let indirect = instance
        .get_typed_func::<i32, i32>(&mut store, "indirect")
        .unwrap();
    assert_eq!(indirect.call(&mut store, 0).unwrap(), 10);
    assert_eq!(indirect.call(&mut store, 1).unwrap(), 20);
    let exported = instance
        .get_typed_func::<(), i32>(&mut store, "exported")
        .unwrap();
    assert_eq!(exported.call(&mut store, ()).unwrap(), 10);
    let mut result = [lazuli::Val::I32(0)];
    instance
        .get_func(&mut store, "ref")
        .unwrap()
        .call(&mut store, &[], &mut result)
        .unwrap();
    let lazuli::Val::FuncRef(Some(f)) = result[0] else {
        panic!("expected a funcref, got {:?}", result[0]);
    };
    assert_eq!(
        f.typed::<(), i32>(&store)
            .unwrap()
            .call(&mut store, ())
            .unwrap(),
        20
    );
}

#[test]
fn an_export_imported_by_another_instance_compiles_on_first_call() {
    let engine = engine(Compilation::Lazy);
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let a = Module::new(
        &engine,
        r#"(module (func (export "seven") (result i32) (i32.const 7)))"#,
    )
    .unwrap();
    let b = Module::new(
        &engine,
        r#"(module (import "a" "seven" (func $seven (result i32)))
           (func (export "call") (result i32) (call $seven)))"#,
    )
    .unwrap();
    let ia = linker.instantiate(&mut store, &a).unwrap();
    linker.instance(&mut store, "a", ia).unwrap();
    let ib = linker.instantiate(&mut store, &b).unwrap();
    let call = ib.get_typed_func::<(), i32>(&mut store, "call").unwrap();
    assert_eq!(call.call(&mut store, ()).unwrap(), 7);
    assert_eq!(a.compile_stats().functions_compiled, 1);
}

#[test]
fn many_threads_calling_a_fresh_function_compile_it_once() {
    let engine = engine(Compilation::Lazy);
    let module = Module::new(&engine, many_functions(50)).unwrap();
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (engine, module, barrier) = (engine.clone(), module.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut store = Store::new(&engine, ());
                let instance = Linker::new(&engine)
                    .instantiate(&mut store, &module)
                    .unwrap();
                let f = instance
                    .get_typed_func::<(), i32>(&mut store, "f0")
                    .unwrap();
                barrier.wait();
                f.call(&mut store, ()).unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 3);
    }
    assert_eq!(module.compile_stats().functions_compiled, 3);
}

#[test]
fn lazy_validation_reports_an_invalid_body_at_its_first_call() {
    let mut config = Config::new();
    config.validation(Validation::Lazy);
    let engine = Engine::new(&config).unwrap();
    let wat = r#"(module
      (func (export "good") (result i32) (i32.const 1))
      (func (export "bad") (result i32) (i64.const 1)))"#;
    assert!(
        Module::new(&Engine::default(), wat).is_err(),
        "eager validation rejects it"
    );
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let good = instance
        .get_typed_func::<(), i32>(&mut store, "good")
        .unwrap();
    assert_eq!(good.call(&mut store, ()).unwrap(), 1);
    let bad = instance
        .get_typed_func::<(), i32>(&mut store, "bad")
        .unwrap();
    let err = bad.call(&mut store, ()).unwrap_err();
    assert!(format!("{err:#}").contains("type mismatch"), "{err:#}");
    // The failure is remembered, never half-published.
    assert!(bad.call(&mut store, ()).is_err());
}

#[test]
fn a_compile_error_reached_from_wasm_is_an_error_not_a_crash() {
    let mut config = Config::new();
    config.validation(Validation::Lazy);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(
        &engine,
        r#"(module
          (func $bad (result i32) (i64.const 1))
          (func (export "caller") (result i32) (call $bad)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let caller = instance
        .get_typed_func::<(), i32>(&mut store, "caller")
        .unwrap();
    let err = caller.call(&mut store, ()).unwrap_err();
    assert!(
        format!("{err:#}").contains("compiling function 0"),
        "{err:#}"
    );
}

/// The number of memory mappings of this process.
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|maps| maps.lines().count())
        .unwrap_or(0)
}

#[test]
fn compiling_thousands_of_functions_one_by_one_needs_few_mappings() {
    let n = 3_000;
    let mut wat = String::from("(module\n");
    for i in 0..n {
        writeln!(wat, "(func (export \"f{i}\") (result i32) (i32.const {i}))").unwrap();
    }
    wat.push(')');
    let engine = engine(Compilation::Lazy);
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let before = mappings();
    for i in 0..n {
        let f = instance
            .get_typed_func::<(), i32>(&mut store, &format!("f{i}"))
            .unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), i as i32);
    }
    assert_eq!(module.compile_stats().functions_compiled, n);
    let grown = mappings().saturating_sub(before);
    // One mapping per function would exhaust the kernel's limit (65,530 by
    // default) on big modules; code shares reservations instead.
    assert!(grown < n / 10, "{grown} new mappings for {n} functions");
}

/// The parameters of `$mix` in [`MIX`]: every value type and more than fit in
/// registers, so a stub must pass some on the stack.
const MIX_PARAMS: &str = "i32 i64 f32 f64 v128 i32 i64 f32 f64 v128 i32 i64 f32 f64 v128 i32 i64";

/// `$mix` folds its arguments in order (`acc * 31 + x`, floats truncated, vectors
/// by their low lane); `direct`, `indirect` call it with the arguments `1..=17`.
fn mix_module() -> String {
    let mut body = String::from("(i64.const 0)");
    for (i, ty) in MIX_PARAMS.split(' ').enumerate() {
        let x = match ty {
            "i32" => format!("(i64.extend_i32_s (local.get {i}))"),
            "i64" => format!("(local.get {i})"),
            "f32" => format!("(i64.trunc_f32_s (local.get {i}))"),
            "f64" => format!("(i64.trunc_f64_s (local.get {i}))"),
            _ => format!("(i64x2.extract_lane 0 (local.get {i}))"),
        };
        body = format!("(i64.add (i64.mul {body} (i64.const 31)) {x})");
    }
    let args: String = MIX_PARAMS
        .split(' ')
        .enumerate()
        .map(|(i, ty)| match ty {
            "v128" => format!(" (v128.const i64x2 {} 0)", i + 1),
            _ => format!(" ({ty}.const {})", i + 1),
        })
        .collect();
    format!(
        r#"(module
          (type $t (func (param {MIX_PARAMS}) (result i64)))
          (table 1 funcref)
          (elem (i32.const 0) $mix)
          (func $mix (export "mix") (type $t) {body})
          (func (export "direct") (result i64) (call $mix{args}))
          (func (export "indirect") (result i64)
            (call_indirect (type $t){args} (i32.const 0))))"#
    )
}

/// What `$mix` returns for the arguments `1..=17`.
fn mix_of_one_to_seventeen() -> i64 {
    (1..=17).fold(0i64, |acc, x| acc.wrapping_mul(31).wrapping_add(x))
}

/// The first call of a function runs its lazy-compile stub, which compiles it and
/// tail-calls it with the arguments it was given: every argument arrives, in
/// order, however the function is first reached (from the host, a direct call,
/// `call_indirect`, an importer).
#[test]
fn the_first_call_through_a_stub_passes_every_argument_on() {
    let engine = engine(Compilation::Lazy);
    let expected = mix_of_one_to_seventeen();
    for export in ["direct", "indirect"] {
        let module = Module::new(&engine, mix_module()).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine)
            .instantiate(&mut store, &module)
            .unwrap();
        let f = instance
            .get_typed_func::<(), i64>(&mut store, export)
            .unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), expected, "{export}");
        assert_eq!(module.compile_stats().functions_compiled, 2, "{export}");
    }

    let module = Module::new(&engine, mix_module()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let mix = instance.get_func(&mut store, "mix").unwrap();
    let params: Vec<lazuli::Val> = MIX_PARAMS
        .split(' ')
        .zip(1..)
        .map(|(ty, x)| match ty {
            "i32" => lazuli::Val::I32(x),
            "i64" => lazuli::Val::I64(x.into()),
            "f32" => lazuli::Val::F32((x as f32).to_bits()),
            "f64" => lazuli::Val::F64((x as f64).to_bits()),
            _ => lazuli::Val::V128(x as u128),
        })
        .collect();
    let mut result = [lazuli::Val::I64(0)];
    mix.call(&mut store, &params, &mut result).unwrap();
    assert_eq!(result[0].i64(), Some(expected), "from the host");

    let exporter = Module::new(&engine, mix_module()).unwrap();
    let importer = Module::new(
        &engine,
        format!(
            r#"(module (import "a" "mix" (func $mix (param {MIX_PARAMS}) (result i64)))
               (func (export "call") (result i64)
                 (call $mix (i32.const 1) (i64.const 2) (f32.const 3) (f64.const 4)
                   (v128.const i64x2 5 0) (i32.const 6) (i64.const 7) (f32.const 8)
                   (f64.const 9) (v128.const i64x2 10 0) (i32.const 11) (i64.const 12)
                   (f32.const 13) (f64.const 14) (v128.const i64x2 15 0) (i32.const 16)
                   (i64.const 17))))"#
        ),
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let a = linker.instantiate(&mut store, &exporter).unwrap();
    linker.instance(&mut store, "a", a).unwrap();
    let b = linker.instantiate(&mut store, &importer).unwrap();
    let call = b.get_typed_func::<(), i64>(&mut store, "call").unwrap();
    assert_eq!(
        call.call(&mut store, ()).unwrap(),
        expected,
        "from an importer"
    );
    assert_eq!(exporter.compile_stats().functions_compiled, 1);
}

/// A function is compiled once per module, and every instance of the module and
/// every importer reaches that code through the module's slot: after one instance
/// compiled it, calls through another instance, a table of another instance and an
/// importer in another store compile nothing.
#[test]
fn a_compiled_function_is_reached_by_every_instance_and_importer() {
    let engine = engine(Compilation::Lazy);
    let module = Module::new(&engine, mix_module()).unwrap();
    let expected = mix_of_one_to_seventeen();
    let mut first = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut first, &module)
        .unwrap();
    let direct = instance
        .get_typed_func::<(), i64>(&mut first, "direct")
        .unwrap();
    assert_eq!(direct.call(&mut first, ()).unwrap(), expected);
    assert_eq!(module.compile_stats().functions_compiled, 2);

    let mut second = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let other = linker.instantiate(&mut second, &module).unwrap();
    let indirect = other
        .get_typed_func::<(), i64>(&mut second, "indirect")
        .unwrap();
    assert_eq!(indirect.call(&mut second, ()).unwrap(), expected);
    assert_eq!(
        module.compile_stats().functions_compiled,
        3,
        "only `indirect`"
    );
    linker.instance(&mut second, "a", other).unwrap();
    let importer = Module::new(
        &engine,
        r#"(module (import "a" "direct" (func $d (result i64)))
           (func (export "call") (result i64) (call $d)))"#,
    )
    .unwrap();
    let b = linker.instantiate(&mut second, &importer).unwrap();
    let call = b.get_typed_func::<(), i64>(&mut second, "call").unwrap();
    assert_eq!(call.call(&mut second, ()).unwrap(), expected);
    assert_eq!(module.compile_stats().functions_compiled, 3);
}

/// In lazy mode each defined function has a stub from load on; eager mode has none.
#[test]
fn lazy_modules_publish_one_small_stub_per_function_at_load() {
    let lazy = Module::new(&engine(Compilation::Lazy), many_functions(1_000)).unwrap();
    let stats = lazy.compile_stats();
    assert_eq!(stats.functions_compiled, 0);
    assert!(
        (1_000 * 16..=1_000 * 128).contains(&stats.stub_bytes),
        "{} bytes of stubs",
        stats.stub_bytes
    );
    let eager = Module::new(&engine(Compilation::Eager), many_functions(1_000)).unwrap();
    assert_eq!(eager.compile_stats().stub_bytes, 0);
}

/// Small functions compiled one by one share pages: appending to a page that holds
/// running code re-publishes it without disturbing that code. One thread keeps
/// calling `f0` (and its callees) while another compiles a thousand more
/// functions of the same module into the pages around them; afterwards every
/// function still returns its value, and the code takes far less than a page per
/// function.
#[test]
fn code_keeps_running_while_functions_are_packed_around_it() {
    let n = 1_000;
    let engine = engine(Compilation::Lazy);
    let module = Module::new(&engine, many_functions(n)).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let caller = {
        let (engine, module, stop) = (engine.clone(), module.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut store = Store::new(&engine, ());
            let instance = Linker::new(&engine)
                .instantiate(&mut store, &module)
                .unwrap();
            let f0 = instance
                .get_typed_func::<(), i32>(&mut store, "f0")
                .unwrap();
            let mut calls = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || calls == 0 {
                assert_eq!(f0.call(&mut store, ()).unwrap(), 3);
                calls += 1;
            }
            calls
        })
    };
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let call = |store: &mut Store<()>, i: usize| {
        instance
            .get_typed_func::<(), i32>(&mut *store, &format!("f{i}"))
            .unwrap()
            .call(&mut *store, ())
            .unwrap()
    };
    for i in 3..n {
        assert_eq!(call(&mut store, i), i as i32);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(caller.join().unwrap() > 0);
    for i in 1..n {
        assert_eq!(call(&mut store, i), i as i32, "f{i} after all were packed");
    }
    let stats = module.compile_stats();
    assert_eq!(stats.functions_compiled, n);
    let page = 4096;
    assert!(
        stats.code_memory_bytes < n * page / 8,
        "{} bytes of code memory for {n} functions",
        stats.code_memory_bytes
    );
}
