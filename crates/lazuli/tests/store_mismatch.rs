//! Objects used with a store they do not belong to: every operation that returns
//! a `Result` reports the mistake as an error instead of panicking.

use lazuli::{
    Engine, Extern, ExternRef, Func, Global, GlobalType, Instance, Linker, Memory, MemoryType,
    Module, Mutability, Ref, RefType, Store, Table, TableType, Val, ValType,
};

const MODULE: &str = r#"(module
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1))))"#;

fn mismatch(result: lazuli::Result<impl std::fmt::Debug>) {
    let err = result.unwrap_err();
    // The whole chain: an error from a host function comes with the backtrace
    // of the Wasm it crossed as context.
    assert!(format!("{err:#}").contains("different store"), "{err:#}");
}

fn two_stores() -> (Engine, Store<()>, Store<()>) {
    let engine = Engine::default();
    let (a, b) = (Store::new(&engine, ()), Store::new(&engine, ()));
    (engine, a, b)
}

#[test]
fn typed_func_called_with_another_store_is_an_error() {
    let (engine, mut a, mut b) = two_stores();
    let module = Module::new(&engine, MODULE).unwrap();
    let instance = Instance::new(&mut a, &module, &[]).unwrap();
    let add = instance
        .get_typed_func::<(i32, i32), i32>(&mut a, "add")
        .unwrap();
    mismatch(add.call(&mut b, (1, 2)));
    assert_eq!(add.call(&mut a, (1, 2)).unwrap(), 3);
}

#[test]
fn func_called_or_typed_with_another_store_is_an_error() {
    let (engine, mut a, mut b) = two_stores();
    let module = Module::new(&engine, MODULE).unwrap();
    let instance = Instance::new(&mut a, &module, &[]).unwrap();
    let add = instance.get_func(&mut a, "add").unwrap();
    let mut results = [Val::I32(0)];
    mismatch(
        add.call(&mut b, &[Val::I32(1), Val::I32(2)], &mut results)
            .map(drop),
    );
    mismatch(add.typed::<(i32, i32), i32>(&b).map(drop));
    mismatch(
        instance
            .get_typed_func::<(i32, i32), i32>(&mut b, "add")
            .map(drop),
    );
}

/// Functions that take references and say whether they got null.
const REFS: &str = r#"(module
  (func (export "func") (param funcref) (result i32) (ref.is_null (local.get 0)))
  (func (export "extern") (param externref) (result i32) (ref.is_null (local.get 0)))
  (func (export "second") (param i32 funcref) (result i32) (ref.is_null (local.get 1))))"#;

#[test]
fn typed_arguments_from_another_store_are_an_error() {
    let (engine, mut a, mut b) = two_stores();
    let foreign = Func::wrap(&mut a, || {});
    let foreign_ref = ExternRef::new(&mut a, 1u32);
    let module = Module::new(&engine, REFS).unwrap();
    let instance = Instance::new(&mut b, &module, &[]).unwrap();
    let func = instance
        .get_typed_func::<Option<Func>, i32>(&mut b, "func")
        .unwrap();
    mismatch(func.call(&mut b, Some(foreign)));
    let extern_ = instance
        .get_typed_func::<Option<ExternRef>, i32>(&mut b, "extern")
        .unwrap();
    mismatch(extern_.call(&mut b, Some(foreign_ref)));
    let second = instance
        .get_typed_func::<(i32, Option<Func>), i32>(&mut b, "second")
        .unwrap();
    mismatch(second.call(&mut b, (0, Some(foreign))));
    // The store is unharmed: its own references and nulls still go through.
    let own = Func::wrap(&mut b, || {});
    assert_eq!(func.call(&mut b, Some(own)).unwrap(), 0);
    assert_eq!(func.call(&mut b, None).unwrap(), 1);
    assert_eq!(second.call(&mut b, (0, None)).unwrap(), 1);
    let own_ref = ExternRef::new(&mut b, 2u32);
    assert_eq!(extern_.call(&mut b, Some(own_ref)).unwrap(), 0);
}

#[test]
fn typed_func_with_references_called_with_another_store_is_an_error() {
    let (engine, mut a, mut b) = two_stores();
    let module = Module::new(&engine, REFS).unwrap();
    let instance = Instance::new(&mut a, &module, &[]).unwrap();
    let func = instance
        .get_typed_func::<Option<Func>, i32>(&mut a, "func")
        .unwrap();
    // Whichever store the argument is from, the function is not `b`'s.
    let of_a = Func::wrap(&mut a, || {});
    let of_b = Func::wrap(&mut b, || {});
    mismatch(func.call(&mut b, Some(of_a)));
    mismatch(func.call(&mut b, Some(of_b)));
    mismatch(func.call(&mut b, None));
    assert_eq!(func.call(&mut a, Some(of_a)).unwrap(), 0);
}

#[test]
fn host_results_from_another_store_are_an_error() {
    let (engine, mut a, mut b) = two_stores();
    let foreign = Func::wrap(&mut a, || {});
    let foreign_ref = ExternRef::new(&mut a, 1u32);
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "func" (func $func (result funcref)))
          (import "host" "extern" (func $extern (result i32 externref)))
          (func (export "func") (result i32) (ref.is_null (call $func)))
          (func (export "extern") (result i32) (call $extern) (drop)))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "func", move || Some(foreign))
        .unwrap()
        .func_wrap("host", "extern", move || (7, Some(foreign_ref)))
        .unwrap();
    let instance = linker.instantiate(&mut b, &module).unwrap();
    for name in ["func", "extern"] {
        let run = instance.get_typed_func::<(), i32>(&mut b, name).unwrap();
        mismatch(run.call(&mut b, ()));
    }
    // A closure made with `Func::wrap` directly, called from the host.
    let wrapped = Func::wrap(&mut b, move || Some(foreign));
    let mut results = [Val::FuncRef(None)];
    mismatch(wrapped.call(&mut b, &[], &mut results));
}

#[test]
fn imports_from_another_store_are_an_error() {
    let (engine, mut a, mut b) = two_stores();
    let module = Module::new(&engine, r#"(module (import "m" "mem" (memory 1)))"#).unwrap();
    let memory = Memory::new(&mut a, MemoryType::new(1, None)).unwrap();
    mismatch(Instance::new(&mut b, &module, &[Extern::Memory(memory)]));
    let mut linker = Linker::new(&engine);
    mismatch(linker.define(&b, "m", "mem", memory).map(drop));
    linker.define(&a, "m", "mem", memory).unwrap();
    mismatch(linker.instantiate(&mut b, &module));
}

#[test]
fn references_into_another_store_are_an_error() {
    let (engine, mut a, mut b) = two_stores();
    let module = Module::new(&engine, MODULE).unwrap();
    let instance = Instance::new(&mut a, &module, &[]).unwrap();
    let func: Func = instance.get_func(&mut a, "add").unwrap();
    let ty = TableType::new(RefType::FUNCREF, 1, None);
    let table = Table::new(&mut b, ty.clone(), Ref::Func(None)).unwrap();
    mismatch(table.set(&mut b, 0, Ref::Func(Some(func))));
    mismatch(table.grow(&mut b, 1, Ref::Func(Some(func))));
    mismatch(Table::new(&mut b, ty, Ref::Func(Some(func))));
    let gty = GlobalType::new(ValType::FUNCREF, Mutability::Var);
    mismatch(Global::new(&mut b, gty.clone(), Val::FuncRef(Some(func))));
    let global = Global::new(&mut b, gty, Val::FuncRef(None)).unwrap();
    mismatch(global.set(&mut b, Val::FuncRef(Some(func))));
    mismatch(global.set(&mut a, Val::FuncRef(None)));
}

#[test]
fn memories_and_tables_of_another_store_are_an_error() {
    let (_engine, mut a, mut b) = two_stores();
    let memory = Memory::new(&mut a, MemoryType::new(1, None)).unwrap();
    mismatch(memory.grow(&mut b, 1));
    mismatch(memory.write(&mut b, 0, &[1]));
    mismatch(memory.read(&b, 0, &mut [0]));
    let table = Table::new(
        &mut a,
        TableType::new(RefType::FUNCREF, 1, None),
        Ref::Func(None),
    )
    .unwrap();
    mismatch(table.set(&mut b, 0, Ref::Func(None)));
    mismatch(table.grow(&mut b, 1, Ref::Func(None)));
}

#[test]
fn data_and_store_mut_gives_the_bytes_and_the_data_together() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "take" (func $take (param i32 i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "lazuli")
          (func (export "run") (call $take (i32.const 16) (i32.const 6))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, Vec::<u8>::new());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "take",
            |mut caller: lazuli::Caller<'_, Vec<u8>>, at: i32, len: i32| {
                let memory = caller.get_export("memory").unwrap().into_memory().unwrap();
                let (bytes, data) = memory.data_and_store_mut(&mut caller);
                let range = at as usize..(at + len) as usize;
                data.extend_from_slice(&bytes[range.clone()]);
                bytes[range].make_ascii_uppercase();
            },
        )
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance
        .get_typed_func::<(), ()>(&mut store, "run")
        .unwrap();
    run.call(&mut store, ()).unwrap();
    assert_eq!(store.data(), b"lazuli");
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    assert_eq!(&memory.data(&store)[16..22], b"LAZULI");
}
