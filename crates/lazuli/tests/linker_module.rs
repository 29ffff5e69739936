//! `Linker::module` (commands and reactors), `Linker::get_default`,
//! `Linker::define_unknown_imports_as_traps` and `Linker::instantiate_pre`.

use lazuli::{Engine, Func, Linker, Module, Store};

/// A command: every call of `count` sees a fresh global, so it always returns 1.
const COMMAND: &str = r#"(module
  (global $n (mut i32) (i32.const 0))
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "count") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (global.get $n)))"#;

/// A reactor: `_initialize` sets the global once; `next` keeps counting from it.
const REACTOR: &str = r#"(module
  (global $n (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $n (i32.const 10)))
  (func (export "next") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (global.get $n)))"#;

fn call_i32(store: &mut Store<()>, func: Func) -> i32 {
    func.typed::<(), i32>(&*store)
        .unwrap()
        .call(&mut *store, ())
        .unwrap()
}

#[test]
fn command_exports_run_in_a_fresh_instance_per_call() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let command = Module::new(&engine, COMMAND).unwrap();
    linker.module(&mut store, "cmd", &command).unwrap();
    let count = linker
        .get(&mut store, "cmd", "count")
        .unwrap()
        .into_func()
        .unwrap();
    assert_eq!(call_i32(&mut store, count), 1);
    assert_eq!(call_i32(&mut store, count), 1);
    // A module importing the export gets the same behaviour through Wasm.
    let user = Module::new(
        &engine,
        r#"(module
          (import "cmd" "count" (func $count (result i32)))
          (func (export "twice") (result i32)
            (i32.add (call $count) (call $count))))"#,
    )
    .unwrap();
    let instance = linker.instantiate(&mut store, &user).unwrap();
    let twice = instance.get_func(&mut store, "twice").unwrap();
    assert_eq!(call_i32(&mut store, twice), 2);
    // The toolchain's `memory` export is allowed and not defined.
    assert!(linker.get(&mut store, "cmd", "memory").is_none());
}

#[test]
fn reactor_is_instantiated_once_and_initialised() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let reactor = Module::new(&engine, REACTOR).unwrap();
    linker.module(&mut store, "r", &reactor).unwrap();
    let next = linker
        .get(&mut store, "r", "next")
        .unwrap()
        .into_func()
        .unwrap();
    assert_eq!(call_i32(&mut store, next), 11);
    assert_eq!(call_i32(&mut store, next), 12);
}

#[test]
fn a_module_that_is_both_command_and_reactor_is_rejected() {
    let engine = Engine::default();
    let both = Module::new(
        &engine,
        r#"(module (func (export "_start")) (func (export "_initialize")))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let err = Linker::new(&engine)
        .module(&mut store, "m", &both)
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("both a command and a reactor"),
        "{err}"
    );
}

#[test]
fn command_exporting_an_unknown_non_function_needs_allow_unknown_exports() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (func (export "_start")) (global (export "state") i32 (i32.const 1)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let err = linker.module(&mut store, "m", &module).err().unwrap();
    assert!(
        err.to_string().contains("`state` is not a function"),
        "{err}"
    );
    linker.allow_unknown_exports(true);
    linker.module(&mut store, "m", &module).unwrap();
    assert!(linker.get(&mut store, "m", "_start").is_some());
    assert!(linker.get(&mut store, "m", "state").is_none());
}

#[test]
fn reactor_initialisation_failure_is_reported() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (func (export "_initialize") unreachable))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let err = Linker::new(&engine)
        .module(&mut store, "m", &module)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("_initialize"), "{err:#}");
}

#[test]
fn get_default_prefers_the_empty_name_then_start_then_a_no_op() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("a", "", || 1i32).unwrap();
    linker.func_wrap("a", "_start", || 2i32).unwrap();
    linker.func_wrap("b", "_start", || 3i32).unwrap();
    linker.func_wrap("c", "other", || 4i32).unwrap();
    let a = linker.get_default(&mut store, "a").unwrap();
    assert_eq!(call_i32(&mut store, a), 1);
    let b = linker.get_default(&mut store, "b").unwrap();
    assert_eq!(call_i32(&mut store, b), 3);
    let c = linker.get_default(&mut store, "c").unwrap();
    assert_eq!(c.ty(&store).params().len(), 0);
    assert_eq!(c.ty(&store).results().len(), 0);
    c.call(&mut store, &[], &mut []).unwrap();
    // A default that is not a function is an error.
    let memory = lazuli::Memory::new(&mut store, lazuli::MemoryType::new(1, None)).unwrap();
    linker.define(&store, "d", "", memory).unwrap();
    assert!(linker.get_default(&mut store, "d").is_err());
}

#[test]
fn get_default_of_a_command_runs_start_in_a_fresh_instance() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "seen" (func $seen (param i32)))
          (global $n (mut i32) (i32.const 0))
          (func (export "_start")
            (global.set $n (i32.add (global.get $n) (i32.const 1)))
            (call $seen (global.get $n))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, Vec::new());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "seen",
            |mut caller: lazuli::Caller<'_, Vec<i32>>, n: i32| caller.data_mut().push(n),
        )
        .unwrap();
    linker.module(&mut store, "", &module).unwrap();
    let start = linker.get_default(&mut store, "").unwrap();
    start.call(&mut store, &[], &mut []).unwrap();
    start.call(&mut store, &[], &mut []).unwrap();
    assert_eq!(store.data(), &[1, 1]);
}

const NEEDS_MISSING: &str = r#"(module
  (import "env" "missing" (func $missing (param i32) (result i32)))
  (func (export "uses") (result i32) (call $missing (i32.const 1)))
  (func (export "fine") (result i32) (i32.const 7)))"#;

#[test]
fn unknown_imports_defined_as_traps_fail_only_when_called() {
    let engine = Engine::default();
    let module = Module::new(&engine, NEEDS_MISSING).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let err = linker.instantiate(&mut store, &module).err().unwrap();
    assert!(err.to_string().contains("unknown import"), "{err}");
    linker.define_unknown_imports_as_traps(&module).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let fine = instance.get_func(&mut store, "fine").unwrap();
    assert_eq!(call_i32(&mut store, fine), 7);
    let uses = instance
        .get_typed_func::<(), i32>(&mut store, "uses")
        .unwrap();
    let err = uses.call(&mut store, ()).unwrap_err();
    assert!(
        format!("{err:#}").contains("`env::missing` has not been defined"),
        "{err:#}"
    );
}

#[test]
fn define_unknown_imports_as_traps_keeps_existing_definitions() {
    let engine = Engine::default();
    let module = Module::new(&engine, NEEDS_MISSING).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("env", "missing", |x: i32| x + 41).unwrap();
    linker.define_unknown_imports_as_traps(&module).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let uses = instance.get_func(&mut store, "uses").unwrap();
    assert_eq!(call_i32(&mut store, uses), 42);
}

#[test]
fn instance_pre_instantiates_in_many_stores() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module $pre
          (import "host" "base" (func $base (result i32)))
          (global $n (mut i32) (i32.const 0))
          (func (export "next") (result i32)
            (global.set $n (i32.add (global.get $n) (call $base)))
            (global.get $n)))"#,
    )
    .unwrap();
    let mut linker = Linker::<i32>::new(&engine);
    linker
        .func_wrap("host", "base", |caller: lazuli::Caller<'_, i32>| {
            *caller.data()
        })
        .unwrap();
    let pre = linker.instantiate_pre(&module).unwrap();
    assert_eq!(pre.module().name(), Some("pre"));
    for base in [3, 5] {
        let mut store = Store::new(&engine, base);
        let instance = pre.clone().instantiate(&mut store).unwrap();
        let next = instance
            .get_typed_func::<(), i32>(&mut store, "next")
            .unwrap();
        assert_eq!(next.call(&mut store, ()).unwrap(), base);
        assert_eq!(next.call(&mut store, ()).unwrap(), 2 * base);
        // A second instance in the same store starts afresh.
        let again = pre.instantiate(&mut store).unwrap();
        let next = again.get_typed_func::<(), i32>(&mut store, "next").unwrap();
        assert_eq!(next.call(&mut store, ()).unwrap(), base);
    }
}

#[test]
fn instance_pre_checks_imports_before_any_store() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (import "host" "f" (func (param i32))))"#,
    )
    .unwrap();
    let mut linker = Linker::<()>::new(&engine);
    let err = linker.instantiate_pre(&module).err().unwrap();
    assert!(err.to_string().contains("unknown import"), "{err}");
    linker.func_wrap("host", "f", |_: i64| {}).unwrap();
    let err = linker.instantiate_pre(&module).err().unwrap();
    assert!(
        err.to_string().contains("incompatible import type"),
        "{err}"
    );
    let mut store = Store::new(&engine, ());
    assert!(linker.instantiate(&mut store, &module).is_err());
}

#[test]
fn a_memory_defined_before_it_grew_satisfies_imports_of_its_new_size() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let memory = lazuli::Memory::new(&mut store, lazuli::MemoryType::new(1, None)).unwrap();
    let mut linker = Linker::new(&engine);
    linker.define(&store, "m", "memory", memory).unwrap();
    memory.grow(&mut store, 1).unwrap();
    let module = Module::new(&engine, r#"(module (import "m" "memory" (memory 2)))"#).unwrap();
    linker.instantiate(&mut store, &module).unwrap();
    let too_big = Module::new(&engine, r#"(module (import "m" "memory" (memory 3)))"#).unwrap();
    let err = linker.instantiate(&mut store, &too_big).err().unwrap();
    assert!(
        err.to_string().contains("incompatible import type"),
        "{err}"
    );
}
