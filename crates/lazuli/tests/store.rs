//! The store across entries into Wasm: host functions that change the store
//! while a call from the host is still running, nested host → Wasm → host → Wasm
//! calls, and export handles that do not multiply.

use lazuli::{
    Caller, Engine, Extern, Func, FuncType, Global, GlobalType, Linker, Module, Mutability, Store,
    Val, ValType,
};

/// Handles made by one call of `fill_store`, enough to reallocate the store's
/// tables of functions and globals several times over.
const NEW_HANDLES: i32 = 1000;

/// Makes `NEW_HANDLES` functions and globals in the caller's store and returns
/// what the last function returns when called.
fn fill_store(mut caller: Caller<'_, u32>) -> lazuli::Result<i32> {
    let mut last = None;
    for i in 0..NEW_HANDLES {
        last = Some(Func::wrap(&mut caller, move || i));
        let ty = GlobalType::new(ValType::I64, Mutability::Var);
        Global::new(&mut caller, ty, Val::I64(i.into()))?;
    }
    *caller.data_mut() += 1;
    let last = last.expect("at least one function was made");
    last.typed::<(), i32>(&caller)?.call(&mut caller, ())
}

/// `run` calls the host's `fill` in the middle of computing several results of
/// different types, one of them a funcref the host must map back to a handle.
const FILLER: &str = r#"(module
  (import "host" "fill" (func $fill (result i32)))
  (func $seven (export "seven") (result i32) (i32.const 7))
  (elem declare func $seven)
  (func (export "run") (param i32) (result i32 i64 f64 funcref)
    (i32.add (local.get 0) (call $fill))
    (i64.const -5)
    (f64.const 2.5)
    (ref.func $seven)))"#;

fn filler_instance(store: &mut Store<u32>) -> lazuli::Instance {
    let engine = store.engine().clone();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "fill", fill_store).unwrap();
    let module = Module::new(&engine, FILLER).unwrap();
    linker.instantiate(store, &module).unwrap()
}

#[test]
fn func_call_results_survive_a_host_function_that_fills_the_store() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, 0u32);
    let instance = filler_instance(&mut store);
    let run = instance.get_func(&mut store, "run").unwrap();
    let mut results = [Val::I32(0), Val::I64(0), Val::F64(0), Val::FuncRef(None)];
    for round in 1..=3 {
        run.call(&mut store, &[Val::I32(10)], &mut results).unwrap();
        assert_eq!(results[0], Val::I32(10 + NEW_HANDLES - 1));
        assert_eq!(results[1], Val::I64(-5));
        assert_eq!(results[2], Val::F64(2.5f64.to_bits()));
        let Val::FuncRef(Some(seven)) = results[3] else {
            panic!("expected a funcref, got {:?}", results[3]);
        };
        let seven = seven.typed::<(), i32>(&store).unwrap();
        assert_eq!(seven.call(&mut store, ()).unwrap(), 7);
        assert_eq!(*store.data(), round);
    }
}

#[test]
fn typed_call_results_survive_a_host_function_that_fills_the_store() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, 0u32);
    let instance = filler_instance(&mut store);
    let run = instance
        .get_typed_func::<i32, (i32, i64, f64, Option<Func>)>(&mut store, "run")
        .unwrap();
    for round in 1..=3 {
        let (a, b, c, f) = run.call(&mut store, 1).unwrap();
        assert_eq!((a, b, c), (NEW_HANDLES, -5, 2.5));
        let f = f.unwrap().typed::<(), i32>(&store).unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), 7);
        assert_eq!(*store.data(), round);
    }
}

/// `down(n)` is a host function that calls back into Wasm's `rec(n - 1)`, which
/// calls `down` again: host → Wasm → host → Wasm … until `n` is 0.
const RECURSIVE: &str = r#"(module
  (import "host" "down" (func $down (param i32) (result i32)))
  (func (export "rec") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 1000))
      (else (i32.add (local.get 0) (call $down (local.get 0)))))))"#;

#[test]
fn nested_host_and_wasm_calls_each_see_the_store() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, 0u32);
    let module = Module::new(&engine, RECURSIVE).unwrap();
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "down",
            |mut caller: Caller<'_, u32>, n: i32| -> lazuli::Result<i32> {
                // Every level adds handles, so the store's tables move under the
                // levels further out.
                for _ in 0..100 {
                    Func::wrap(&mut caller, || 0i32);
                }
                let before = *caller.data();
                *caller.data_mut() += 1;
                let Some(Extern::Func(rec)) = caller.get_export("rec") else {
                    anyhow::bail!("no rec export");
                };
                let r = rec.typed::<i32, i32>(&caller)?.call(&mut caller, n - 1)?;
                // The inner levels counted themselves in the same data.
                assert_eq!(*caller.data(), before + n as u32);
                Ok(r)
            },
        )
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let rec = instance
        .get_typed_func::<i32, i32>(&mut store, "rec")
        .unwrap();
    assert_eq!(
        rec.call(&mut store, 10).unwrap(),
        1000 + (1..=10).sum::<i32>()
    );
    assert_eq!(*store.data(), 10);
    // A host function called straight from the host enters the same way.
    let ty = FuncType::new(&engine, [ValType::I32], [ValType::I32]);
    let direct = Func::new(&mut store, ty, move |mut caller, params, results| {
        let n = params[0].i32().unwrap();
        results[0] = Val::I32(rec.call(&mut caller, n)?);
        Ok(())
    });
    let mut results = [Val::I32(0)];
    direct
        .call(&mut store, &[Val::I32(3)], &mut results)
        .unwrap();
    assert_eq!(results[0], Val::I32(1006));
    assert_eq!(*store.data(), 13);
}

#[test]
fn exporting_a_defined_global_again_returns_the_same_handle() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let module = Module::new(
        &engine,
        r#"(module (global (export "g") (mut i32) (i32.const 5)))"#,
    )
    .unwrap();
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let first = instance.get_global(&mut store, "g").unwrap();
    for _ in 0..1000 {
        assert_eq!(instance.get_global(&mut store, "g").unwrap(), first);
        assert!(matches!(
            instance.get_export(&mut store, "g"),
            Some(Extern::Global(g)) if g == first
        ));
    }
    let exported = instance.exports(&mut store).next().unwrap().into_extern();
    assert!(matches!(exported, Extern::Global(g) if g == first));
    // Handles are indices into the store: the next global made by the host is
    // the second one, not the 2002nd.
    let ty = GlobalType::new(ValType::I32, Mutability::Const);
    let next = Global::new(&mut store, ty, Val::I32(0)).unwrap();
    assert!(format!("{next:?}").contains("index: 1 "), "{next:?}");
    first.set(&mut store, Val::I32(9)).unwrap();
    assert_eq!(
        instance
            .get_global(&mut store, "g")
            .unwrap()
            .get(&mut store),
        Val::I32(9)
    );
}
