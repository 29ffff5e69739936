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
