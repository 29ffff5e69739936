//! Cross-compilation: an engine for another target compiles (through that target's
//! Cranelift backend) but refuses to run the code here.

use lazuli::{Config, Engine, Linker, Module, Store};

const WAT: &str = r#"(module
  (import "env" "f" (func $f (param i32) (result i32)))
  (memory 1)
  (table 2 funcref)
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "mem") (param i32) (result i64)
    (i64.load offset=8 (local.get 0)))
  (func (export "simd") (param v128 v128) (result v128)
    (i32x4.add (local.get 0) (local.get 1)))
  (func (export "indirect") (param i32) (result i32)
    (call_indirect (param i32) (result i32) (i32.const 5) (local.get 0)))
  (func (export "host") (result i32) (call $f (i32.const 1))))"#;

#[test]
fn aarch64_compiles_every_function_but_does_not_run() {
    let mut config = Config::new();
    config.target("aarch64-unknown-linux-gnu").unwrap();
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, WAT).unwrap();
    let stats = module.compile_stats();
    assert_eq!(
        stats.functions_compiled, 5,
        "cross-compilation is always eager"
    );
    assert!(stats.code_bytes > 0);
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("env", "f", |x: i32| x).unwrap();
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    assert!(err.to_string().contains("another target"), "{err}");
}

#[test]
fn unknown_targets_are_errors() {
    let err = Config::new().target("not-a-real-triple").unwrap_err();
    assert!(err.to_string().contains("not-a-real-triple"), "{err}");
}
