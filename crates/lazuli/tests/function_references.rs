//! Typed function references: `call_ref` and `return_call_ref` through typed and
//! null references, `br_on_null` / `br_on_non_null`, `ref.as_non_null`, tables
//! with initialisers, and the embedding API's typed references: `RefType` /
//! `HeapType::ConcreteFunc` in reported types, typed funcrefs passed to and
//! returned from `Func::call` and `TypedFunc`, and subtyping at import.

mod support;
use support::{configs, instantiate};

use lazuli::{
    Config, Engine, Func, FuncType, HeapType, Instance, Linker, Module, Ref, RefType, Store, Trap,
    Val, ValType, Validation,
};

fn trap_of(err: &anyhow::Error) -> Option<Trap> {
    err.downcast_ref::<Trap>().copied()
}

const REFS: &str = r#"(module
  (type $binop (func (param i32 i32) (result i32)))
  (type $count (func (param i64 i64) (result i64)))
  (func $add (type $binop) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $binop) (i32.sub (local.get 0) (local.get 1)))
  (elem declare func $add $sub $sum)
  (global $null_op (ref null $binop) (ref.null $binop))

  (func (export "apply") (param $f (ref $binop)) (param i32 i32) (result i32)
    (call_ref $binop (local.get 1) (local.get 2) (local.get $f)))
  (func (export "pick") (param $which i32) (result (ref $binop))
    (if (result (ref $binop)) (local.get $which)
      (then (ref.func $sub)) (else (ref.func $add))))
  (func (export "call_null") (result i32)
    (call_ref $binop (i32.const 1) (i32.const 2) (global.get $null_op)))

  ;; Sums n + (n-1) + ... + 1 by tail calls through a typed reference.
  (func $sum (type $count)
    (if (i64.eqz (local.get 0)) (then (return (local.get 1))))
    (return_call_ref $count
      (i64.sub (local.get 0) (i64.const 1))
      (i64.add (local.get 1) (local.get 0))
      (ref.func $sum)))
  (func (export "sum") (param i64) (result i64)
    (return_call_ref $count (local.get 0) (i64.const 0) (ref.func $sum)))
  (func (export "tail_call_null") (result i32)
    (return_call_ref $binop (i32.const 1) (i32.const 2) (global.get $null_op)))

  ;; 1 + the operand's result if the reference is not null, else -1.
  (func (export "on_null") (param $f (ref null $binop)) (result i32)
    (block $is_null
      (return (i32.add (i32.const 1)
        (call_ref $binop (i32.const 5) (i32.const 3)
          (br_on_null $is_null (local.get $f))))))
    (i32.const -1))
  (func (export "on_non_null") (param $f (ref null $binop)) (result i32)
    (block $not_null (param) (result (ref $binop))
      (br_on_non_null $not_null (local.get $f))
      (return (i32.const -1)))
    (local.set 0)
    (call_ref $binop (i32.const 5) (i32.const 3) (local.get 0)))
  (func (export "as_non_null") (param $f (ref null $binop)) (result i32)
    (call_ref $binop (i32.const 7) (i32.const 2) (ref.as_non_null (local.get $f))))

  ;; A non-nullable local, set before it is read.
  (func (export "local") (result i32) (local $f (ref $binop))
    (local.set $f (ref.func $sub))
    (call_ref $binop (i32.const 10) (i32.const 4) (local.get $f)))

  (table $ops (export "ops") 3 (ref $binop) (ref.func $add))
  (func (export "table_call") (param i32) (result i32)
    (call_ref $binop (i32.const 20) (i32.const 2) (table.get $ops (local.get 0))))
  (func (export "table_set_sub") (param i32)
    (table.set $ops (local.get 0) (ref.func $sub)))
)"#;

#[test]
fn call_ref_of_a_typed_reference_calls_the_function_at_every_tier() {
    for (name, config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        let (mut store, instance) = instantiate(&config, REFS);
        let pick = instance.get_func(&mut store, "pick").unwrap();
        let apply = instance.get_func(&mut store, "apply").unwrap();
        for (which, expected) in [(0, 12), (1, 8)] {
            let mut f = [Val::I32(0)];
            pick.call(&mut store, &[Val::I32(which)], &mut f).unwrap();
            let mut out = [Val::I32(0)];
            let args = [f[0], Val::I32(10), Val::I32(2)];
            apply.call(&mut store, &args, &mut out).unwrap();
            assert_eq!(out[0].unwrap_i32(), expected, "{name}");
        }
        let local = instance
            .get_typed_func::<(), i32>(&mut store, "local")
            .unwrap();
        assert_eq!(local.call(&mut store, ()).unwrap(), 6, "{name}");
    }
}

#[test]
fn call_ref_of_null_traps_with_null_function_reference() {
    for (name, config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        let (mut store, instance) = instantiate(&config, REFS);
        for export in ["call_null", "tail_call_null"] {
            let f = instance
                .get_typed_func::<(), i32>(&mut store, export)
                .unwrap();
            let err = f.call(&mut store, ()).unwrap_err();
            assert_eq!(trap_of(&err), Some(Trap::NullFunctionReference), "{name}");
            assert!(
                err.root_cause().to_string() == "null function reference",
                "{err:#}"
            );
        }
    }
}

#[test]
fn return_call_ref_recursion_a_million_deep_runs_in_constant_stack() {
    for (name, config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        let (mut store, instance) = instantiate(&config, REFS);
        let sum = instance
            .get_typed_func::<i64, i64>(&mut store, "sum")
            .unwrap();
        let n = 1_000_000i64;
        assert_eq!(sum.call(&mut store, n).unwrap(), n * (n + 1) / 2, "{name}");
    }
}

#[test]
fn br_on_null_and_br_on_non_null_take_both_branches() {
    for (name, config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        let (mut store, instance) = instantiate(&config, REFS);
        let add = instance
            .get_typed_func::<i32, Func>(&mut store, "pick")
            .unwrap()
            .call(&mut store, 0)
            .unwrap();
        for export in ["on_null", "on_non_null"] {
            let f = instance
                .get_typed_func::<Option<Func>, i32>(&mut store, export)
                .unwrap();
            let plus = if export == "on_null" { 1 } else { 0 };
            assert_eq!(f.call(&mut store, Some(add)).unwrap(), 8 + plus, "{name}");
            assert_eq!(f.call(&mut store, None).unwrap(), -1, "{name} {export}");
        }
    }
}

#[test]
fn ref_as_non_null_of_null_traps_with_null_reference() {
    for (name, config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        let (mut store, instance) = instantiate(&config, REFS);
        let f = instance
            .get_typed_func::<Option<Func>, i32>(&mut store, "as_non_null")
            .unwrap();
        let err = f.call(&mut store, None).unwrap_err();
        assert_eq!(trap_of(&err), Some(Trap::NullReference), "{name}");
        let sub = instance
            .get_typed_func::<i32, Func>(&mut store, "pick")
            .unwrap()
            .call(&mut store, 1)
            .unwrap();
        assert_eq!(f.call(&mut store, Some(sub)).unwrap(), 5, "{name}");
    }
}

#[test]
fn a_typed_table_starts_filled_with_its_initialiser() {
    for (name, config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        let (mut store, instance) = instantiate(&config, REFS);
        let table_call = instance
            .get_typed_func::<i32, i32>(&mut store, "table_call")
            .unwrap();
        for i in 0..3 {
            assert_eq!(table_call.call(&mut store, i).unwrap(), 22, "{name}");
        }
        instance
            .get_typed_func::<i32, ()>(&mut store, "table_set_sub")
            .unwrap()
            .call(&mut store, 1)
            .unwrap();
        assert_eq!(table_call.call(&mut store, 1).unwrap(), 18, "{name}");

        // Through the API: the table's type names the function type, and its
        // elements are the functions the initialiser and `table.set` put there.
        let table = instance.get_table(&mut store, "ops").unwrap();
        let ty = table.ty(&store);
        let element = ty.element();
        assert!(!element.is_nullable(), "{name}");
        let binop = element.heap_type().unwrap_concrete_func();
        assert_eq!(
            binop.params().collect::<Vec<_>>(),
            [ValType::I32, ValType::I32]
        );
        assert_eq!(binop.results().collect::<Vec<_>>(), [ValType::I32]);
        let first = table.get(&mut store, 0).unwrap();
        let f = *first.unwrap_func().expect("the initialiser is not null");
        assert_eq!(f.ty(&store), *binop);
        let add = f.typed::<(i32, i32), i32>(&store).unwrap();
        assert_eq!(add.call(&mut store, (3, 4)).unwrap(), 7, "{name}");
        // A null does not fit a non-nullable table.
        assert!(table.set(&mut store, 0, Ref::Func(None)).is_err(), "{name}");
    }
}

#[test]
fn function_types_report_typed_references() {
    let (mut store, instance) = instantiate(&Config::new(), REFS);
    let apply = instance.get_func(&mut store, "apply").unwrap().ty(&store);
    let param = apply.param(0).unwrap();
    let r = param.unwrap_ref();
    assert!(!r.is_nullable());
    let binop = r.heap_type().unwrap_concrete_func();
    assert_eq!(binop.to_string(), "(i32, i32) -> (i32)");
    assert!(param.matches(&ValType::Ref(RefType::new(true, HeapType::Func))));
    assert!(!ValType::FUNCREF.matches(&param));
    let on_null = instance.get_func(&mut store, "on_null").unwrap().ty(&store);
    let nullable = on_null.param(0).unwrap();
    assert!(nullable.unwrap_ref().is_nullable());
    assert!(param.matches(&nullable), "(ref $t) <: (ref null $t)");
    assert!(!nullable.matches(&param));
    // A type made through the API with the same shape is the same type.
    let engine = store.engine().clone();
    let same = FuncType::new(&engine, [ValType::I32, ValType::I32], [ValType::I32]);
    assert_eq!(&same, binop);
    assert!(ValType::NULLFUNCREF.matches(&nullable));
}

#[test]
fn host_functions_take_and_return_typed_references() {
    let engine = Engine::new(&Config::new()).unwrap();
    let wat = r#"(module
      (type $binop (func (param i32 i32) (result i32)))
      (import "host" "choose" (func $choose (param i32) (result (ref $binop))))
      (import "host" "run" (func $run (param (ref $binop)) (result i32)))
      (func $mul (type $binop) (i32.mul (local.get 0) (local.get 1)))
      (elem declare func $mul)
      (func (export "via_host") (param i32) (result i32)
        (call_ref $binop (i32.const 6) (i32.const 7) (call $choose (local.get 0))))
      (func (export "give_mul") (result i32) (call $run (ref.func $mul)))
      (func (export "mul") (type $binop) (call $mul (local.get 0) (local.get 1))))"#;
    let module = Module::new(&engine, wat).unwrap();
    let binop = FuncType::new(&engine, [ValType::I32, ValType::I32], [ValType::I32]);
    let typed = ValType::Ref(RefType::new(false, HeapType::ConcreteFunc(binop.clone())));
    let mut store = Store::new(&engine, ());
    let plus = Func::wrap(&mut store, |a: i32, b: i32| a + b);
    let mut linker = Linker::new(&engine);
    let choose_ty = FuncType::new(&engine, [ValType::I32], [typed.clone()]);
    linker
        .func_new("host", "choose", choose_ty, move |_, args, results| {
            results[0] = Val::FuncRef(Some(plus));
            assert_eq!(args[0].unwrap_i32(), 0);
            Ok(())
        })
        .unwrap();
    let run_ty = FuncType::new(&engine, [typed.clone()], [ValType::I32]);
    linker
        .func_new("host", "run", run_ty, |mut caller, args, results| {
            let f = *args[0].unwrap_funcref().expect("non-null");
            let f = f.typed::<(i32, i32), i32>(&caller)?;
            results[0] = Val::I32(f.call(&mut caller, (5, 8))?);
            Ok(())
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let via_host = instance
        .get_typed_func::<i32, i32>(&mut store, "via_host")
        .unwrap();
    assert_eq!(via_host.call(&mut store, 0).unwrap(), 13);
    let give_mul = instance
        .get_typed_func::<(), i32>(&mut store, "give_mul")
        .unwrap();
    assert_eq!(give_mul.call(&mut store, ()).unwrap(), 40);

    // From the host into Wasm: a `Func` of the right type fits `(ref $binop)`,
    // one of another type and a null do not, as errors rather than traps.
    let wat = r#"(module
      (type $binop (func (param i32 i32) (result i32)))
      (func (export "apply") (param (ref $binop)) (result i32)
        (call_ref $binop (i32.const 2) (i32.const 3) (local.get 0))))"#;
    let apply_module = Module::new(&engine, wat).unwrap();
    let apply = Instance::new(&mut store, &apply_module, &[]).unwrap();
    let dynamic = apply.get_func(&mut store, "apply").unwrap();
    let typed_apply = apply
        .get_typed_func::<Func, i32>(&mut store, "apply")
        .unwrap();
    let optional_apply = apply
        .get_typed_func::<Option<Func>, i32>(&mut store, "apply")
        .unwrap();
    assert_eq!(typed_apply.call(&mut store, plus).unwrap(), 5);
    assert_eq!(optional_apply.call(&mut store, Some(plus)).unwrap(), 5);
    let mut out = [Val::I32(0)];
    dynamic
        .call(&mut store, &[Val::FuncRef(Some(plus))], &mut out)
        .unwrap();
    assert_eq!(out[0].unwrap_i32(), 5);
    let unary = Func::wrap(&mut store, |a: i32| a);
    for err in [
        typed_apply.call(&mut store, unary).unwrap_err(),
        optional_apply.call(&mut store, None).unwrap_err(),
        dynamic
            .call(&mut store, &[Val::FuncRef(None)], &mut out)
            .unwrap_err(),
        dynamic
            .call(&mut store, &[Val::FuncRef(Some(unary))], &mut out)
            .unwrap_err(),
    ] {
        assert!(
            trap_of(&err).is_none(),
            "an argument error, not a trap: {err}"
        );
        assert!(err.to_string().contains("argument 0"), "{err}");
    }
    // A typed view that promises less than the function returns is fine; one
    // that promises more (non-null from a nullable result) is refused.
    let mul_export = instance.get_func(&mut store, "mul").unwrap();
    assert!(mul_export.typed::<(i32, i32), i32>(&store).is_ok());
    let pick = Module::new(
        &engine,
        r#"(module (type $t (func)) (func (export "maybe") (result (ref null $t)) (ref.null $t)))"#,
    )
    .unwrap();
    let pick = Instance::new(&mut store, &pick, &[]).unwrap();
    assert!(
        pick.get_typed_func::<(), Option<Func>>(&mut store, "maybe")
            .is_ok()
    );
    assert!(
        pick.get_typed_func::<(), Func>(&mut store, "maybe")
            .is_err()
    );
}

#[test]
fn imports_of_typed_references_are_type_checked() {
    let engine = Engine::new(&Config::new()).unwrap();
    let mut store = Store::new(&engine, ());
    let exporter = Module::new(
        &engine,
        r#"(module
          (type $binop (func (param i32 i32) (result i32)))
          (type $unop (func (param i32) (result i32)))
          (func $add (export "add") (type $binop) (i32.add (local.get 0) (local.get 1)))
          (func $neg (type $unop) (i32.sub (i32.const 0) (local.get 0)))
          (global (export "g_binop") (ref $binop) (ref.func $add))
          (global (export "g_unop") (ref $unop) (ref.func $neg))
          (func (export "takes_binop") (param (ref $binop))))"#,
    )
    .unwrap();
    let exporter = Instance::new(&mut store, &exporter, &[]).unwrap();
    let mut linker = Linker::new(&engine);
    linker.instance(&mut store, "m", exporter).unwrap();

    // A constant global of `(ref $binop)` satisfies one of `(ref null $binop)`
    // and of `funcref` (subtyping), a function of the same structural type in
    // another module its import.
    let accepted = r#"(module
      (type $b (func (param i32 i32) (result i32)))
      (import "m" "g_binop" (global (ref null $b)))
      (import "m" "g_binop" (global funcref))
      (import "m" "takes_binop" (func (param (ref $b))))
      (import "m" "add" (func (type $b))))"#;
    let module = Module::new(&engine, accepted).unwrap();
    linker.instantiate(&mut store, &module).unwrap();

    for (wat, what) in [
        (
            r#"(module (type $b (func (param i32 i32) (result i32)))
                 (import "m" "g_unop" (global (ref $b))))"#,
            "a global of another function type",
        ),
        (
            r#"(module (type $u (func (param i32) (result i32)))
                 (import "m" "takes_binop" (func (param (ref $u)))))"#,
            "a function whose parameter refers to another type",
        ),
        (
            r#"(module (type $b (func (param i32 i32) (result i32)))
                 (import "m" "takes_binop" (func (param (ref null $b)))))"#,
            "a function whose parameter is nullable",
        ),
    ] {
        let module = Module::new(&engine, wat).unwrap();
        let err = linker.instantiate(&mut store, &module).unwrap_err();
        assert!(
            err.to_string().contains("incompatible import type"),
            "{what}: {err}"
        );
        let imports: Vec<_> = linker_items(&mut store, exporter, &module);
        let err = Instance::new(&mut store, &module, &imports).unwrap_err();
        assert!(
            err.to_string().contains("incompatible import type"),
            "{what} (Instance::new): {err}"
        );
    }
}

/// The exports of `exporter` that `module` imports, in import order.
fn linker_items(store: &mut Store<()>, exporter: Instance, module: &Module) -> Vec<lazuli::Extern> {
    module
        .imports()
        .map(|i| exporter.get_export(&mut *store, i.name()).unwrap())
        .collect()
}

#[test]
fn the_proposal_can_be_turned_off() {
    let mut config = Config::new();
    config.wasm_function_references(false);
    let engine = Engine::new(&config).unwrap();
    let err = Module::new(
        &engine,
        r#"(module (type $t (func)) (func (param (ref $t))))"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("function references"), "{err}");
}

#[test]
fn reading_an_unset_non_nullable_local_is_invalid_eagerly_and_lazily() {
    let wat = r#"(module
      (type $t (func))
      (func (export "ok") (result i32) (i32.const 1))
      (func (export "bad") (local $f (ref $t))
        (call_ref $t (local.get $f))))"#;
    let engine = Engine::new(&Config::new()).unwrap();
    let err = Module::new(&engine, wat).unwrap_err();
    assert!(err.to_string().contains("uninitialized local"), "{err:#}");

    for (name, mut config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        config.validation(Validation::Lazy);
        let engine = Engine::new(&config).unwrap();
        // Eager compilation validates each body as it compiles it, at load;
        // lazy compilation at the body's first call.
        let module = match Module::new(&engine, wat) {
            Ok(module) => module,
            Err(err) => {
                assert!(!name.contains("Lazy"), "{name}: {err:#}");
                assert!(
                    format!("{err:#}").contains("uninitialized local"),
                    "{name}: {err:#}"
                );
                continue;
            }
        };
        assert!(
            name.contains("Lazy"),
            "{name}: an eager compile accepted the body"
        );
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let ok = instance
            .get_typed_func::<(), i32>(&mut store, "ok")
            .unwrap();
        let bad = instance
            .get_typed_func::<(), ()>(&mut store, "bad")
            .unwrap();
        let err = bad.call(&mut store, ()).unwrap_err();
        assert!(
            format!("{err:#}").contains("uninitialized local"),
            "{name}: {err:#}"
        );
        assert_eq!(ok.call(&mut store, ()).unwrap(), 1, "{name}");
    }
}

#[test]
fn a_precompiled_module_keeps_its_typed_references() {
    let engine = Engine::new(&Config::new()).unwrap();
    let bytes = engine.precompile_module(REFS.as_bytes()).unwrap();
    // SAFETY: the artifact was just made by this engine.
    let module = unsafe { Module::deserialize(&engine, &bytes) }.unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let sum = instance
        .get_typed_func::<i64, i64>(&mut store, "sum")
        .unwrap();
    assert_eq!(sum.call(&mut store, 1000).unwrap(), 500_500);
    let table_call = instance
        .get_typed_func::<i32, i32>(&mut store, "table_call")
        .unwrap();
    assert_eq!(table_call.call(&mut store, 2).unwrap(), 22);
    let on_null = instance
        .get_typed_func::<Option<Func>, i32>(&mut store, "on_null")
        .unwrap();
    assert_eq!(on_null.call(&mut store, None).unwrap(), -1);
}
