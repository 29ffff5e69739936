//! The embedding API's shapes that follow Wasmtime's, so that an embedding ports
//! by renaming `wasmtime` to `lazuli`: constructors that return what they make,
//! value and reference accessors, reference types, wide typed calls, export
//! iteration, module names, and tidy `Debug` output.

use lazuli::{
    Caller, Config, Engine, Extern, ExternRef, ExternType, Func, FuncType, GlobalType, HeapType,
    Instance, Linker, Module, Mutability, Ref, RefType, Store, TableType, Val, ValType,
};

fn instantiate(wat: &str) -> (Store<()>, Instance) {
    let engine = Engine::default();
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (store, instance)
}

#[test]
fn func_wrap_returns_the_func() {
    let mut store = Store::new(&Engine::default(), ());
    let add: Func = Func::wrap(&mut store, |a: i32, b: i32| a + b);
    let add = add.typed::<(i32, i32), i32>(&store).unwrap();
    assert_eq!(add.call(&mut store, (40, 2)).unwrap(), 42);
}

#[test]
fn func_new_returns_the_func() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let ty = FuncType::new(&engine, [ValType::I64], [ValType::I64]);
    let double: Func = Func::new(&mut store, ty, |_, params, results| {
        results[0] = Val::I64(params[0].unwrap_i64() * 2);
        Ok(())
    });
    let mut results = [Val::I64(0)];
    double
        .call(&mut store, &[Val::I64(21)], &mut results)
        .unwrap();
    assert_eq!(results[0].unwrap_i64(), 42);
}

#[test]
#[should_panic(expected = "cannot create a host function")]
fn func_wrap_in_a_store_of_an_engine_for_another_target_panics() {
    let triple = if cfg!(target_arch = "aarch64") {
        "x86_64-unknown-linux-gnu"
    } else {
        "aarch64-unknown-linux-gnu"
    };
    let engine = Engine::new(Config::new().target(triple).unwrap()).unwrap();
    let mut store = Store::new(&engine, ());
    Func::wrap(&mut store, || 1i32);
}

#[test]
fn store_default_has_default_data_and_a_default_engine() {
    let mut store: Store<Vec<i32>> = Store::default();
    assert!(store.data().is_empty());
    let module = Module::new(
        store.engine(),
        r#"(module (func (export "f") (result i32) i32.const 7))"#,
    )
    .unwrap();
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let f = instance.get_typed_func::<(), i32>(&mut store, "f").unwrap();
    assert_eq!(f.call(&mut store, ()).unwrap(), 7);
}

#[test]
fn val_accessors_return_the_value_of_their_own_type_only() {
    assert_eq!(Val::I32(-3).i32(), Some(-3));
    assert_eq!(Val::I32(-3).i64(), None);
    assert_eq!(Val::I64(1 << 40).i64(), Some(1 << 40));
    assert_eq!(Val::I64(1).f64(), None);
    assert_eq!(Val::from(1.5f32).f32(), Some(1.5));
    assert_eq!(Val::from(-2.25f64).unwrap_f64(), -2.25);
    assert_eq!(Val::from(7u128 << 100).v128(), Some(7u128 << 100));
    assert_eq!(Val::V128(9).unwrap_v128(), 9);
    assert_eq!(Val::I32(5).unwrap_i32(), 5);
    assert_eq!(Val::F32(0x7fc0_0001).unwrap_f32().to_bits(), 0x7fc0_0001);
    assert_eq!(Val::null_func_ref().funcref(), Some(None));
    assert_eq!(Val::null_extern_ref().unwrap_externref(), None);
    assert_eq!(Val::I32(0).funcref(), None);
    assert_eq!(Val::I32(0).externref(), None);
    assert_eq!(Val::I32(0).ref_(), None);
    assert_eq!(Val::null_func_ref().ref_(), Some(Ref::Func(None)));
    assert_eq!(
        Val::default_for_ty(&ValType::EXTERNREF),
        Some(Val::ExternRef(None))
    );
    assert_eq!(Val::default_for_ty(&ValType::F64), Some(Val::F64(0)));
}

#[test]
#[should_panic(expected = "expected I32, found i64")]
fn val_unwrap_of_another_type_panics() {
    Val::I64(1).unwrap_i32();
}

#[test]
fn funcs_and_externrefs_convert_into_refs_and_vals() {
    let mut store = Store::new(&Engine::default(), ());
    let func = Func::wrap(&mut store, || {});
    let data = ExternRef::new(&mut store, "data");

    let r = Ref::from(func);
    assert!(r.is_func() && r.is_non_null() && !r.is_extern());
    assert_eq!(r.unwrap_func(), Some(&func));
    assert_eq!(r.as_extern(), None);
    assert_eq!(Ref::from(None::<Func>).as_func(), Some(None));
    assert!(Ref::from(None::<Func>).is_null());
    assert_eq!(Ref::from(data).unwrap_extern(), Some(&data));
    assert_eq!(Ref::from(Some(data)), Ref::Extern(Some(data)));
    assert_eq!(Ref::from(None::<ExternRef>).ty(), RefType::EXTERNREF);

    assert_eq!(Val::from(func).unwrap_funcref(), Some(&func));
    assert_eq!(Val::from(Some(func)), Val::FuncRef(Some(func)));
    assert_eq!(Val::from(None::<Func>), Val::FuncRef(None));
    assert_eq!(Val::from(data).externref(), Some(Some(&data)));
    assert_eq!(Val::from(None::<ExternRef>), Val::ExternRef(None));
    assert_eq!(Val::from(Ref::from(func)), Val::FuncRef(Some(func)));
}

#[test]
#[should_panic(expected = "expected a funcref, found externref")]
fn ref_unwrap_func_of_an_externref_panics() {
    Ref::Extern(None).unwrap_func();
}

fn checked_half(n: i32) -> lazuli::Result<i32> {
    lazuli::ensure!(n >= 0, "{n} is negative");
    if n % 2 != 0 {
        lazuli::bail!("{n} is odd");
    }
    Ok(n / 2)
}

#[test]
fn bail_ensure_and_format_err_are_reexported() {
    assert_eq!(checked_half(8).unwrap(), 4);
    assert_eq!(checked_half(-2).unwrap_err().to_string(), "-2 is negative");
    assert_eq!(checked_half(3).unwrap_err().to_string(), "3 is odd");
    let e: lazuli::Error = lazuli::format_err!("code {}", 7);
    assert_eq!(e.to_string(), "code 7");
}

#[test]
fn reference_types_have_a_heap_type_and_are_nullable() {
    assert_eq!(ValType::FUNCREF, ValType::Ref(RefType::FUNCREF));
    assert_eq!(ValType::EXTERNREF, ValType::Ref(RefType::EXTERNREF));
    assert!(RefType::FUNCREF.heap_type().is_func());
    assert_eq!(*RefType::EXTERNREF.heap_type(), HeapType::Extern);
    assert!(RefType::FUNCREF.is_nullable() && RefType::EXTERNREF.is_nullable());
    assert!(ValType::FUNCREF.is_funcref() && !ValType::FUNCREF.is_externref());
    assert!(ValType::EXTERNREF.is_ref() && !ValType::I32.is_ref());
    assert!(ValType::I64.is_num() && !ValType::V128.is_num() && ValType::V128.is_v128());
    assert_eq!(ValType::FUNCREF.as_ref(), Some(&RefType::FUNCREF));
    assert_eq!(ValType::F32.as_ref(), None);
    assert_eq!(ValType::EXTERNREF.unwrap_ref(), &RefType::EXTERNREF);
    assert!(ValType::FUNCREF.matches(&ValType::FUNCREF));
    assert!(!ValType::FUNCREF.matches(&ValType::EXTERNREF));
    assert_eq!(ValType::FUNCREF.to_string(), "funcref");
    assert_eq!(RefType::EXTERNREF.to_string(), "externref");
    assert_eq!(HeapType::Func.to_string(), "func");
}

#[test]
fn module_types_use_ref_types() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (func (export "pick") (param funcref externref) (result externref) local.get 1)
          (table (export "t") 2 funcref)
          (global (export "g") (mut externref) (ref.null extern)))"#,
    )
    .unwrap();
    let Some(ExternType::Func(pick)) = module.get_export("pick") else {
        panic!("pick is a function");
    };
    assert_eq!(
        pick,
        FuncType::new(
            &engine,
            [ValType::FUNCREF, ValType::EXTERNREF],
            [ValType::EXTERNREF]
        )
    );
    assert!(matches!(pick.param(0), Some(ValType::Ref(r)) if r.heap_type().is_func()));
    assert_eq!(pick.result(0), Some(ValType::EXTERNREF));
    assert_eq!(pick.result(1), None);
    let Some(ExternType::Table(t)) = module.get_export("t") else {
        panic!("t is a table");
    };
    assert_eq!(t, TableType::new(RefType::FUNCREF, 2, None));
    assert_eq!(t.element(), &RefType::FUNCREF);
    let Some(ExternType::Global(g)) = module.get_export("g") else {
        panic!("g is a global");
    };
    assert_eq!(g, GlobalType::new(ValType::EXTERNREF, Mutability::Var));
    assert_eq!(g.content(), &ValType::EXTERNREF);
}

#[test]
fn a_host_func_of_ref_types_made_with_func_type_new_links_to_a_module() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let ty = FuncType::new(&engine, [ValType::EXTERNREF], [ValType::EXTERNREF]);
    let echo = Func::new(&mut store, ty, |_, params, results| {
        results[0] = params[0];
        Ok(())
    });
    let module = Module::new(
        &engine,
        r#"(module
          (import "" "echo" (func $echo (param externref) (result externref)))
          (func (export "f") (param externref) (result externref)
            (call $echo (local.get 0))))"#,
    )
    .unwrap();
    let instance = Instance::new(&mut store, &module, &[echo.into()]).unwrap();
    let f = instance
        .get_typed_func::<Option<ExternRef>, Option<ExternRef>>(&mut store, "f")
        .unwrap();
    let data = ExternRef::new(&mut store, 5u8);
    assert_eq!(f.call(&mut store, Some(data)).unwrap(), Some(data));
}

/// Sixteen parameters of mixed types, and the same values returned in reverse.
const SIXTEEN_WAY: &str = r#"(module
  (type $rev (func
    (param i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64)
    (result f64 f32 i64 i32 f64 f32 i64 i32 f64 f32 i64 i32 f64 f32 i64 i32)))
  (func (export "reverse") (type $rev)
    local.get 15 local.get 14 local.get 13 local.get 12
    local.get 11 local.get 10 local.get 9 local.get 8
    local.get 7 local.get 6 local.get 5 local.get 4
    local.get 3 local.get 2 local.get 1 local.get 0))"#;

type Sixteen = (
    i32,
    i64,
    f32,
    f64,
    i32,
    i64,
    f32,
    f64,
    i32,
    i64,
    f32,
    f64,
    i32,
    i64,
    f32,
    f64,
);
type SixteenReversed = (
    f64,
    f32,
    i64,
    i32,
    f64,
    f32,
    i64,
    i32,
    f64,
    f32,
    i64,
    i32,
    f64,
    f32,
    i64,
    i32,
);

#[test]
fn typed_call_passes_sixteen_params_and_returns_sixteen_results() {
    let (mut store, instance) = instantiate(SIXTEEN_WAY);
    let reverse = instance
        .get_typed_func::<Sixteen, SixteenReversed>(&mut store, "reverse")
        .unwrap();
    let params = (
        1, 2, 3.0, 4.0, 5, 6, 7.0, 8.0, 9, 10, 11.0, 12.0, 13, 14, 15.0, 16.0,
    );
    let r = reverse.call(&mut store, params).unwrap();
    // Tuples this long have no `PartialEq`: compare as numbers.
    let got = [
        r.0,
        r.1 as f64,
        r.2 as f64,
        r.3 as f64,
        r.4,
        r.5 as f64,
        r.6 as f64,
        r.7 as f64,
        r.8,
        r.9 as f64,
        r.10 as f64,
        r.11 as f64,
        r.12,
        r.13 as f64,
        r.14 as f64,
        r.15 as f64,
    ];
    let want: Vec<f64> = (1..=16).rev().map(f64::from).collect();
    assert_eq!(got.to_vec(), want);
}

/// Passes sixteen values to the host's `reverse` (plain) or `reverse_caller`
/// (taking a `Caller`) and returns what it returns.
const CALLS_HOST_SIXTEEN: &str = r#"(module
  (type $rev (func
    (param i32 i64 i32 i64 i32 i64 i32 i64 i32 i64 i32 i64 i32 i64 i32 i64)
    (result i64 i32 i64 i32 i64 i32 i64 i32 i64 i32 i64 i32 i64 i32 i64 i32)))
  (import "host" "reverse" (func $reverse (type $rev)))
  (import "host" "reverse_caller" (func $reverse_caller (type $rev)))
  (func (export "plain") (type $rev)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 local.get 5 local.get 6 local.get 7
    local.get 8 local.get 9 local.get 10 local.get 11
    local.get 12 local.get 13 local.get 14 local.get 15
    call $reverse)
  (func (export "with_caller") (type $rev)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 local.get 5 local.get 6 local.get 7
    local.get 8 local.get 9 local.get 10 local.get 11
    local.get 12 local.get 13 local.get 14 local.get 15
    call $reverse_caller))"#;

type Alternating = (
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
);
type AlternatingReversed = (
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
);

/// The values of a reversed tuple, as numbers (tuples this long have no
/// `PartialEq`).
fn numbers(r: AlternatingReversed) -> [i64; 16] {
    [
        r.0,
        r.1.into(),
        r.2,
        r.3.into(),
        r.4,
        r.5.into(),
        r.6,
        r.7.into(),
        r.8,
        r.9.into(),
        r.10,
        r.11.into(),
        r.12,
        r.13.into(),
        r.14,
        r.15.into(),
    ]
}

fn reverse(p: Alternating) -> AlternatingReversed {
    (
        p.15, p.14, p.13, p.12, p.11, p.10, p.9, p.8, p.7, p.6, p.5, p.4, p.3, p.2, p.1, p.0,
    )
}

#[test]
fn func_wrap_closures_take_sixteen_params_and_return_sixteen_results() {
    let engine = Engine::default();
    let module = Module::new(&engine, CALLS_HOST_SIXTEEN).unwrap();
    let mut linker = Linker::<u32>::new(&engine);
    linker
        .func_wrap(
            "host",
            "reverse",
            |a: i32,
             b: i64,
             c: i32,
             d: i64,
             e: i32,
             f: i64,
             g: i32,
             h: i64,
             i: i32,
             j: i64,
             k: i32,
             l: i64,
             m: i32,
             n: i64,
             o: i32,
             p: i64| { reverse((a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p)) },
        )
        .unwrap();
    linker
        .func_wrap(
            "host",
            "reverse_caller",
            |mut caller: Caller<'_, u32>,
             a: i32,
             b: i64,
             c: i32,
             d: i64,
             e: i32,
             f: i64,
             g: i32,
             h: i64,
             i: i32,
             j: i64,
             k: i32,
             l: i64,
             m: i32,
             n: i64,
             o: i32,
             p: i64| {
                *caller.data_mut() += 1;
                reverse((a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p))
            },
        )
        .unwrap();
    let mut store = Store::new(&engine, 0u32);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let params = (
        -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13, -14, -15, -16,
    );
    let expected: Vec<i64> = (-16..=-1).collect();
    let plain = instance
        .get_typed_func::<Alternating, AlternatingReversed>(&mut store, "plain")
        .unwrap();
    assert_eq!(numbers(plain.call(&mut store, params).unwrap()), *expected);
    let with_caller = instance
        .get_typed_func::<Alternating, AlternatingReversed>(&mut store, "with_caller")
        .unwrap();
    assert_eq!(
        numbers(with_caller.call(&mut store, params).unwrap()),
        *expected
    );
    assert_eq!(*store.data(), 1);
}

#[test]
fn instance_exports_yield_names_and_items_in_module_order() {
    let (mut store, instance) = instantiate(
        r#"(module
          (func (export "f"))
          (memory (export "mem") 1)
          (global (export "g") i32 (i32.const 3))
          (table (export "t") 1 funcref))"#,
    );
    let exports: Vec<(String, Extern)> = instance
        .exports(&mut store)
        .map(|e| (e.name().to_string(), e.into_extern()))
        .collect();
    let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["f", "mem", "g", "t"]);
    assert!(matches!(exports[0].1, Extern::Func(_)));
    assert!(matches!(exports[1].1, Extern::Memory(_)));
    assert_eq!(
        exports[2].1.clone().into_global().unwrap().get(&mut store),
        Val::I32(3)
    );
    assert!(matches!(exports[3].1, Extern::Table(_)));
    let mut it = instance.exports(&mut store);
    assert_eq!(it.len(), 4);
    assert!(it.next().unwrap().into_func().is_some());
    assert!(it.next().unwrap().into_memory().is_some());
    assert!(it.next().unwrap().into_global().is_some());
    assert!(it.next().unwrap().into_table().is_some());
    assert!(it.next().is_none());
}

#[test]
fn module_new_with_name_names_the_module_and_its_backtraces() {
    let engine = Engine::default();
    let wat = r#"(module $inner (func (export "boom") unreachable))"#;
    assert_eq!(Module::new(&engine, wat).unwrap().name(), Some("inner"));
    let unnamed = Module::new(&engine, "(module)").unwrap();
    assert_eq!(unnamed.name(), None);

    let module = Module::new_with_name(&engine, wat, "given").unwrap();
    assert_eq!(module.name(), Some("given"));
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let boom = instance
        .get_typed_func::<(), ()>(&mut store, "boom")
        .unwrap();
    let err = boom.call(&mut store, ()).unwrap_err();
    let printed = format!("{err:?}");
    assert!(printed.contains("given!"), "{printed}");
}

#[test]
fn debug_of_a_trap_has_one_blank_line_before_caused_by() {
    let (mut store, instance) = instantiate(r#"(module (func (export "f") unreachable))"#);
    let f = instance.get_typed_func::<(), ()>(&mut store, "f").unwrap();
    let printed = format!("{:?}", f.call(&mut store, ()).unwrap_err());
    assert!(printed.contains("\n\nCaused by:\n"), "{printed}");
    assert!(!printed.contains("\n\n\n"), "{printed}");
}

#[test]
fn debug_of_types_and_handles_names_no_internal_types() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let ty = FuncType::new(&engine, [ValType::I32], [ValType::FUNCREF]);
    assert_eq!(
        format!("{ty:?}"),
        "FuncType { params: [I32], results: [Ref(RefType { nullable: true, heap_type: Func })] }"
    );
    let func = Func::wrap(&mut store, || {});
    let data = ExternRef::new(&mut store, ());
    let (mut other, instance) = instantiate(
        r#"(module (memory (export "m") 1) (table (export "t") 1 funcref)
             (global (export "g") i32 (i32.const 0)))"#,
    );
    let printed = [
        format!("{func:?}"),
        format!("{data:?}"),
        format!("{instance:?}"),
        format!("{:?}", instance.get_memory(&mut other, "m").unwrap()),
        format!("{:?}", instance.get_table(&mut other, "t").unwrap()),
        format!("{:?}", instance.get_global(&mut other, "g").unwrap()),
        format!("{:?}", Val::FuncRef(Some(func))),
    ];
    for p in printed {
        assert!(!p.contains("Stored"), "{p}");
        assert!(p.contains("index: "), "{p}");
    }
}
