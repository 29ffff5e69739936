//! The embedding API end to end: compile, instantiate, call, link host functions,
//! and get traps back as errors.

use lazuli::{Engine, Func, Instance, Linker, Module, Store, Trap, Val, WasmBacktrace};

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
    let names: Vec<_> = bt
        .frames()
        .iter()
        .map(|f| f.func_name().map(str::to_string))
        .collect();
    assert_eq!(
        names,
        [Some("inner".to_string()), Some("outer".to_string())]
    );
    assert!(bt.frames()[0].module_offset().is_some());
    assert_eq!(bt.frames()[0].module().name(), Some("m"));
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
    // The host's error, under the backtrace of the Wasm frames it crossed.
    assert_eq!(err.root_cause().to_string(), "host says no");
    assert!(err.downcast_ref::<WasmBacktrace>().is_some());
}

#[test]
fn host_func_called_directly_from_the_host() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let f = Func::wrap(&mut store, |a: i64, b: i64| a - b);
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

#[test]
fn references_cross_typed_calls_and_host_functions() {
    use lazuli::{ExternRef, Ref, RefType, Table, TableType};
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "pick" (func $pick (param externref externref i32) (result externref)))
          (table $t (export "t") 2 externref)
          (func (export "roundtrip") (param externref) (result externref) (local.get 0))
          (func (export "pick") (param externref externref i32) (result externref)
            (call $pick (local.get 0) (local.get 1) (local.get 2)))
          (func $seven (result i32) (i32.const 7))
          (func (export "seven-ref") (result funcref) (ref.func $seven))
          (func (export "call-ref") (param funcref) (result i32)
            (table.set $f (i32.const 0) (local.get 0))
            (call_indirect $f (result i32) (i32.const 0)))
          (table $f 1 funcref)
          (elem declare func $seven))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "pick",
            |a: Option<ExternRef>, b: Option<ExternRef>, which: i32| if which == 0 { a } else { b },
        )
        .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let hello = ExternRef::new(&mut store, "hello".to_string());
    let world = ExternRef::new(&mut store, 42u32);
    let roundtrip = instance
        .get_typed_func::<Option<ExternRef>, Option<ExternRef>>(&mut store, "roundtrip")
        .unwrap();
    assert_eq!(
        roundtrip.call(&mut store, Some(hello)).unwrap(),
        Some(hello)
    );
    assert_eq!(roundtrip.call(&mut store, None).unwrap(), None);
    let pick = instance
        .get_typed_func::<(Option<ExternRef>, Option<ExternRef>, i32), Option<ExternRef>>(
            &mut store, "pick",
        )
        .unwrap();
    let picked = pick
        .call(&mut store, (Some(hello), Some(world), 1))
        .unwrap()
        .unwrap();
    assert_eq!(picked.data(&store).downcast_ref::<u32>(), Some(&42));
    let picked = pick
        .call(&mut store, (Some(hello), Some(world), 0))
        .unwrap()
        .unwrap();
    assert_eq!(
        picked
            .data(&store)
            .downcast_ref::<String>()
            .map(String::as_str),
        Some("hello")
    );

    let seven_ref = instance
        .get_typed_func::<(), Option<Func>>(&mut store, "seven-ref")
        .unwrap();
    let seven = seven_ref.call(&mut store, ()).unwrap().unwrap();
    assert_eq!(
        seven
            .typed::<(), i32>(&store)
            .unwrap()
            .call(&mut store, ())
            .unwrap(),
        7
    );
    let call_ref = instance
        .get_typed_func::<Option<Func>, i32>(&mut store, "call-ref")
        .unwrap();
    assert_eq!(call_ref.call(&mut store, Some(seven)).unwrap(), 7);
    let err = call_ref.call(&mut store, None).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::IndirectCallToNull));

    // Tables of externrefs from the host side.
    let table = instance.get_table(&mut store, "t").unwrap();
    assert_eq!(
        table.ty(&store),
        TableType::new(RefType::EXTERNREF, 2, None)
    );
    table.set(&mut store, 1, Ref::Extern(Some(world))).unwrap();
    assert_eq!(table.get(&mut store, 1), Some(Ref::Extern(Some(world))));
    assert_eq!(table.get(&mut store, 0), Some(Ref::Extern(None)));
    assert_eq!(
        table.grow(&mut store, 3, Ref::Extern(Some(hello))).unwrap(),
        2
    );
    assert_eq!(table.get(&mut store, 4), Some(Ref::Extern(Some(hello))));
    assert!(
        table.set(&mut store, 0, Ref::Func(None)).is_err(),
        "wrong reference type"
    );
    let host_table = Table::new(
        &mut store,
        TableType::new(RefType::FUNCREF, 3, Some(3)),
        Ref::Func(Some(seven)),
    )
    .unwrap();
    assert_eq!(host_table.get(&mut store, 2), Some(Ref::Func(Some(seven))));
    assert!(
        host_table.grow(&mut store, 1, Ref::Func(None)).is_err(),
        "beyond maximum"
    );
}

#[test]
fn config_can_turn_off_wasm_2_proposals() {
    use lazuli::Config;
    let simd = r#"(module (func (export "f") (param v128) (result v128) (local.get 0)))"#;
    let multi = r#"(module (func (export "f") (result i32 i32) (i32.const 1) (i32.const 2)))"#;
    let bulk = r#"(module (memory 1) (func (export "f") (memory.fill (i32.const 0) (i32.const 0) (i32.const 1))))"#;
    let refs = r#"(module (func (export "f") (param externref) (result externref) (local.get 0)))"#;
    let default = Engine::default();
    for wat in [simd, multi, bulk, refs] {
        assert!(Module::new(&default, wat).is_ok(), "Wasm 2.0 accepts {wat}");
    }
    for (wat, proposal) in [
        (simd, "simd"),
        (multi, "multi-value"),
        (bulk, "bulk-memory"),
        (refs, "reference-types"),
    ] {
        let mut config = Config::new();
        match proposal {
            "simd" => config.wasm_simd(false),
            "multi-value" => config.wasm_multi_value(false),
            "bulk-memory" => config.wasm_bulk_memory(false),
            _ => config.wasm_reference_types(false),
        };
        let engine = Engine::new(&config).unwrap();
        let err = Module::new(&engine, wat).unwrap_err();
        assert!(err.to_string().contains("invalid module"), "{err}");
    }
}

#[test]
fn module_from_vec_takes_binary_or_text_as_module_new_does() {
    let engine = Engine::default();
    let text = r#"(module (func (export "seven") (result i32) (i32.const 7)))"#;
    let binary = wat::parse_str(text).unwrap();
    for bytes in [binary, text.as_bytes().to_vec()] {
        let module = Module::from_vec(&engine, bytes).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let seven = instance
            .get_typed_func::<(), i32>(&mut store, "seven")
            .unwrap();
        assert_eq!(seven.call(&mut store, ()).unwrap(), 7);
    }
    assert!(Module::from_vec(&engine, b"\0asm\x01\0\0\0\x05".to_vec()).is_err());
}
