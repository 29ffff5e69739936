//! The embedding API end to end: compile, instantiate, call, link host functions,
//! and get traps back as errors.

use lazuli::{Engine, Func, Linker, Module, Store, Trap, Val, WasmBacktrace};

fn instantiate(wat: &str) -> (Store<()>, lazuli::Instance) {
    let engine = Engine::default();
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    (store, instance)
}

#[test]
fn typed_call_adds() {
    let (mut store, instance) = instantiate(
        r#"(module (func (export "add") (param i32 i32) (result i32)
            local.get 0 local.get 1 i32.add))"#,
    );
    let add = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "add")
        .unwrap();
    assert_eq!(add.call(&mut store, (2, 40)).unwrap(), 42);
    assert_eq!(add.call(&mut store, (i32::MAX, 1)).unwrap(), i32::MIN);
}

#[test]
fn dynamic_call_checks_arity_and_types() {
    let (mut store, instance) = instantiate(
        r#"(module (func (export "f") (param i64) (result i64 f64)
            local.get 0 f64.const 1.5))"#,
    );
    let f = instance.get_func(&mut store, "f").unwrap();
    let mut results = [Val::I32(0), Val::I32(0)];
    f.call(&mut store, &[Val::I64(7)], &mut results).unwrap();
    assert_eq!(results, [Val::I64(7), Val::F64(1.5f64.to_bits())]);
    assert!(f.call(&mut store, &[], &mut results).is_err());
    assert!(f.call(&mut store, &[Val::I32(1)], &mut results).is_err());
    assert!(
        instance
            .get_typed_func::<i32, i64>(&mut store, "f")
            .is_err()
    );
}

#[test]
fn recursion_and_loops_compute_factorial() {
    let (mut store, instance) = instantiate(
        r#"(module
          (func $fac (export "fac") (param i64) (result i64)
            (if (result i64) (i64.eqz (local.get 0))
              (then (i64.const 1))
              (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1)))))))
          (func (export "fac-iter") (param i64) (result i64) (local i64)
            (local.set 1 (i64.const 1))
            (block (loop
              (br_if 1 (i64.eqz (local.get 0)))
              (local.set 1 (i64.mul (local.get 0) (local.get 1)))
              (local.set 0 (i64.sub (local.get 0) (i64.const 1)))
              (br 0)))
            (local.get 1)))"#,
    );
    let fac = instance
        .get_typed_func::<i64, i64>(&mut store, "fac")
        .unwrap();
    let iter = instance
        .get_typed_func::<i64, i64>(&mut store, "fac-iter")
        .unwrap();
    assert_eq!(fac.call(&mut store, 20).unwrap(), 2432902008176640000);
    assert_eq!(iter.call(&mut store, 20).unwrap(), 2432902008176640000);
}

#[test]
fn traps_carry_kind_and_backtrace() {
    let (mut store, instance) = instantiate(
        r#"(module $m
          (func $inner (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
          (func $outer (export "div") (param i32) (result i32) (call $inner (local.get 0)))
          (func (export "boom") unreachable))"#,
    );
    let div = instance
        .get_typed_func::<i32, i32>(&mut store, "div")
        .unwrap();
    let err = div.call(&mut store, 0).unwrap_err();
    assert_eq!(
        err.downcast_ref::<Trap>(),
        Some(&Trap::IntegerDivisionByZero)
    );
    let bt = err.downcast_ref::<WasmBacktrace>().unwrap();
    let names: Vec<_> = bt.frames().iter().map(|f| f.func_name.clone()).collect();
    assert_eq!(
        names,
        [Some("inner".to_string()), Some("outer".to_string())]
    );
    assert!(bt.frames()[0].module_offset.is_some());
    assert_eq!(bt.frames()[0].module_name.as_deref(), Some("m"));
    // The store stays usable after a trap.
    assert_eq!(div.call(&mut store, 1).unwrap(), 1);
    let boom = instance
        .get_typed_func::<(), ()>(&mut store, "boom")
        .unwrap();
    let err = boom.call(&mut store, ()).unwrap_err();
    assert_eq!(
        err.downcast_ref::<Trap>(),
        Some(&Trap::UnreachableCodeReached)
    );
}

#[test]
fn infinite_recursion_is_a_stack_overflow_trap() {
    let (mut store, instance) = instantiate(r#"(module (func $f (export "f") (call $f)))"#);
    let f = instance.get_typed_func::<(), ()>(&mut store, "f").unwrap();
    for _ in 0..3 {
        let err = f.call(&mut store, ()).unwrap_err();
        assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::StackOverflow));
    }
}

#[test]
fn host_functions_see_store_data_and_propagate_errors() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "bump" (func $bump (param i32) (result i32)))
          (import "host" "fail" (func $fail))
          (func (export "twice") (param i32) (result i32)
            (call $bump (call $bump (local.get 0))))
          (func (export "fail") (call $fail)))"#,
    )
    .unwrap();
    let mut linker = Linker::<u32>::new(&engine);
    linker
        .func_wrap(
            "host",
            "bump",
            |mut caller: lazuli::Caller<'_, u32>, x: i32| {
                *caller.data_mut() += 1;
                x + 10
            },
        )
        .unwrap();
    linker
        .func_wrap("host", "fail", || -> lazuli::Result<()> {
            Err(lazuli::Error::msg("host says no"))
        })
        .unwrap();
    let mut store = Store::new(&engine, 0u32);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let twice = instance
        .get_typed_func::<i32, i32>(&mut store, "twice")
        .unwrap();
    assert_eq!(twice.call(&mut store, 1).unwrap(), 21);
    assert_eq!(*store.data(), 2);
    let fail = instance
        .get_typed_func::<(), ()>(&mut store, "fail")
        .unwrap();
    let err = fail.call(&mut store, ()).unwrap_err();
    assert_eq!(err.to_string(), "host says no");
}

#[test]
fn host_func_called_directly_from_the_host() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let f = Func::wrap(&mut store, |a: i64, b: i64| a - b).unwrap();
    let typed = f.typed::<(i64, i64), i64>(&store).unwrap();
    assert_eq!(typed.call(&mut store, (50, 8)).unwrap(), 42);
}

#[test]
fn globals_are_shared_across_instances() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let exporter = Module::new(
        &engine,
        r#"(module (global (export "g") (mut i32) (i32.const 5))
           (func (export "get") (result i32) global.get 0))"#,
    )
    .unwrap();
    let importer = Module::new(
        &engine,
        r#"(module (import "e" "g" (global (mut i32)))
           (func (export "inc") (global.set 0 (i32.add (global.get 0) (i32.const 1)))))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    let e = linker.instantiate(&mut store, &exporter).unwrap();
    linker.instance(&mut store, "e", e).unwrap();
    let i = linker.instantiate(&mut store, &importer).unwrap();
    let inc = i.get_typed_func::<(), ()>(&mut store, "inc").unwrap();
    inc.call(&mut store, ()).unwrap();
    inc.call(&mut store, ()).unwrap();
    let get = e.get_typed_func::<(), i32>(&mut store, "get").unwrap();
    assert_eq!(get.call(&mut store, ()).unwrap(), 7);
    let g = e.get_global(&mut store, "g").unwrap();
    assert_eq!(g.get(&mut store), Val::I32(7));
    g.set(&mut store, Val::I32(100)).unwrap();
    assert_eq!(get.call(&mut store, ()).unwrap(), 100);
}

#[test]
fn missing_import_is_named() {
    let engine = Engine::default();
    let module = Module::new(&engine, r#"(module (import "env" "f" (func)))"#).unwrap();
    let mut store = Store::new(&engine, ());
    let err = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap_err();
    assert!(err.to_string().contains("env::f"), "{err}");
}

#[test]
fn invalid_modules_are_errors() {
    let engine = Engine::default();
    assert!(Module::new(&engine, b"\0asm\x01\0\0\0\x01").is_err());
    assert!(Module::new(&engine, "(module (func (result i32)))").is_err());
    assert!(Module::new(&engine, "not wasm at all").is_err());
}

#[test]
fn stores_and_instances_move_between_threads() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (import "h" "add1" (func $add1 (param i32) (result i32)))
           (func (export "f") (param i32) (result i32) (call $add1 (local.get 0))))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("h", "add1", |x: i32| x + 1).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let f = instance
        .get_typed_func::<i32, i32>(&mut store, "f")
        .unwrap();
    assert_eq!(f.call(&mut store, 1).unwrap(), 2);
    let (store, result) = std::thread::spawn(move || {
        let r = f.call(&mut store, 41).unwrap();
        (store, r)
    })
    .join()
    .unwrap();
    assert_eq!(result, 42);
    drop(store);
}
