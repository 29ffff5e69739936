//! Tail calls (`return_call`, `return_call_indirect`): the callee runs in the
//! caller's stack space and returns to the caller's caller, at every tier and
//! compilation mode, through lazy-compile stubs, tier-up and OSR, into host
//! functions and other instances; the indirect checks trap before the caller's
//! frame is gone; fuel and epochs still stop endless tail recursion.

mod support;
use support::{configs, instantiate};

use lazuli::{Config, Engine, Func, Instance, Linker, Module, Store, Trap, WasmBacktrace};

const COUNTERS: &str = r#"(module
  (type $step (func (param i64 i64) (result i64)))
  (table funcref (elem $even $odd))
  ;; Sums n + (n-1) + ... + 1 by tail recursion.
  (func $sum (export "sum") (param $n i64) (param $acc i64) (result i64)
    (if (i64.eqz (local.get $n)) (then (return (local.get $acc))))
    (return_call $sum (i64.sub (local.get $n) (i64.const 1))
                      (i64.add (local.get $acc) (local.get $n))))
  ;; Mutual recursion through the table: 1 if n is even.
  (func $even (type $step)
    (if (i64.eqz (local.get 0)) (then (return (i64.const 1))))
    (return_call_indirect (type $step)
      (i64.sub (local.get 0) (i64.const 1)) (local.get 1) (i32.const 1)))
  (func $odd (type $step)
    (if (i64.eqz (local.get 0)) (then (return (i64.const 0))))
    (return_call_indirect (type $step)
      (i64.sub (local.get 0) (i64.const 1)) (local.get 1) (i32.const 0)))
  (func (export "is_even") (param i64) (result i64)
    (return_call $even (local.get 0) (i64.const 0)))
  ;; Many parameters (more than fit in registers) rotated on every call, and
  ;; several results.
  (func $rotate (export "rotate")
    (param $n i32) (param i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (result i64 i64 i64)
    (if (i32.eqz (local.get $n))
      (then (return (local.get 1) (local.get 2) (local.get 12))))
    (return_call $rotate (i32.sub (local.get $n) (i32.const 1))
      (local.get 2) (local.get 3) (local.get 4) (local.get 5) (local.get 6)
      (local.get 7) (local.get 8) (local.get 9) (local.get 10) (local.get 11)
      (local.get 12) (local.get 1))))
"#;

#[test]
fn ten_million_tail_calls_run_in_constant_stack_at_every_tier() {
    for (name, config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        let (mut store, instance) = instantiate(&config, COUNTERS);
        let sum = instance
            .get_typed_func::<(i64, i64), i64>(&mut store, "sum")
            .unwrap();
        let n = 10_000_000i64;
        assert_eq!(
            sum.call(&mut store, (n, 0)).unwrap(),
            n * (n + 1) / 2,
            "{name}"
        );
        let is_even = instance
            .get_typed_func::<i64, i64>(&mut store, "is_even")
            .unwrap();
        assert_eq!(is_even.call(&mut store, 1_000_001).unwrap(), 0, "{name}");
        assert_eq!(is_even.call(&mut store, 1_000_000).unwrap(), 1, "{name}");
    }
}

#[test]
fn tail_calls_pass_stack_arguments_and_several_results() {
    type Params = (
        i32,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    );
    for (name, config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        let (mut store, instance) = instantiate(&config, COUNTERS);
        let rotate = instance
            .get_typed_func::<Params, (i64, i64, i64)>(&mut store, "rotate")
            .unwrap();
        let args = (25, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
        // 25 rotations of 12 values are one rotation by 1: 2, 3, …, 12, 1.
        assert_eq!(rotate.call(&mut store, args).unwrap(), (2, 3, 1), "{name}");
    }
}

#[test]
fn a_tail_call_with_the_wrong_signature_traps_in_the_calling_frame() {
    let wat = r#"(module
      (type $unary (func (param i32) (result i32)))
      (table funcref (elem $nullary))
      (func $nullary (result i32) (i32.const 7))
      (func $caller (export "caller") (result i32)
        (return_call_indirect (type $unary) (i32.const 1) (i32.const 0)))
      (func $null (export "null") (result i32)
        (return_call_indirect (type $unary) (i32.const 1) (i32.const 5))))"#;
    for (name, config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        let (mut store, instance) = instantiate(&config, wat);
        for (export, trap) in [
            ("caller", Trap::BadSignature),
            ("null", Trap::TableOutOfBounds),
        ] {
            let f = instance.get_typed_func::<(), i32>(&mut store, export);
            let err = f.unwrap().call(&mut store, ()).unwrap_err();
            assert_eq!(err.downcast_ref::<Trap>(), Some(&trap), "{name}: {err:?}");
            let frames = err.downcast_ref::<WasmBacktrace>().unwrap().frames();
            let names: Vec<_> = frames.iter().map(|f| f.func_name()).collect();
            assert_eq!(names, [Some(export)], "{name}");
        }
    }
}

#[test]
fn a_tail_call_into_the_host_or_another_instance_returns_to_the_callers_caller() {
    let callee = r#"(module
      (func (export "triple") (param i32) (result i32)
        (i32.mul (local.get 0) (i32.const 3))))"#;
    let caller = r#"(module
      (import "host" "add" (func $add (param i32 i32) (result i32)))
      (import "other" "triple" (func $triple (param i32) (result i32)))
      (func (export "to_host") (param i32) (result i32)
        (return_call $add (local.get 0) (i32.const 100)))
      (func (export "to_other") (param i32) (result i32)
        (return_call $triple (local.get 0)))
      (func (export "outer") (param i32) (result i32)
        (i32.add (call 3 (local.get 0)) (i32.const 1))))"#;
    for (name, config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        let engine = Engine::new(&config).unwrap();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        let add = Func::wrap(&mut store, |a: i32, b: i32| a + b);
        linker.define(&mut store, "host", "add", add).unwrap();
        let other = Module::new(&engine, callee).unwrap();
        let other = linker.instantiate(&mut store, &other).unwrap();
        linker.instance(&mut store, "other", other).unwrap();
        let module = Module::new(&engine, caller).unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let call = |store: &mut Store<()>, export: &str, arg: i32| {
            let f = instance.get_typed_func::<i32, i32>(&mut *store, export);
            f.unwrap().call(store, arg).unwrap()
        };
        assert_eq!(call(&mut store, "to_host", 5), 105, "{name}");
        assert_eq!(call(&mut store, "to_other", 5), 15, "{name}");
        assert_eq!(call(&mut store, "outer", 5), 16, "{name}");
    }
}

/// A function that tail-calls itself for ever.
const FOREVER: &str = r#"(module
  (func $forever (export "forever") (param i32) (result i32)
    (return_call $forever (i32.add (local.get 0) (i32.const 1)))))"#;

#[test]
fn fuel_and_epochs_stop_endless_tail_recursion() {
    for (name, mut config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        config.consume_fuel(true);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, FOREVER).unwrap();
        let mut store = Store::new(&engine, ());
        store.set_fuel(1_000_000).unwrap();
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let forever = instance.get_typed_func::<i32, i32>(&mut store, "forever");
        let err = forever.unwrap().call(&mut store, 0).unwrap_err();
        assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::OutOfFuel), "{name}");
        assert_eq!(store.get_fuel().unwrap(), 0, "{name}");
    }
    for (name, mut config) in configs(&[lazuli::MemoryStyle::Guarded]) {
        config.epoch_interruption(true);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, FOREVER).unwrap();
        let mut store = Store::new(&engine, ());
        store.set_epoch_deadline(1);
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let forever = instance.get_typed_func::<i32, i32>(&mut store, "forever");
        let ticker = engine.clone();
        let timer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            ticker.increment_epoch();
        });
        let err = forever.unwrap().call(&mut store, 0).unwrap_err();
        timer.join().unwrap();
        assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::Interrupt), "{name}");
    }
}

#[test]
fn tail_calls_can_be_turned_off() {
    let mut config = Config::new();
    config.wasm_tail_call(false);
    let engine = Engine::new(&config).unwrap();
    let err = Module::new(&engine, FOREVER).unwrap_err();
    assert!(format!("{err:#}").contains("tail call"), "{err:#}");
}
