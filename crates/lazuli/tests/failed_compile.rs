//! A failed compile leaves nothing behind: whatever way a function fails to compile
//! (invalid body, unsupported operator, code generator error or panic), the next
//! function compiled on the same thread — by the same module, another module or
//! another engine — is compiled exactly as on a fresh thread.
//!
//! Each test makes a compile fail on the current thread and then compiles and runs
//! a "victim" function there, checking its results.

use lazuli::{Compilation, Config, Engine, Linker, Module, Store, Validation};
use lazuli_cranelift::{CompileError, Compiler, CompilerOptions, IsaSettings, Tier, host_isa};
use lazuli_environ::wasmparser::WasmFeatures;
use lazuli_environ::{ModuleInfo, translate_module};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The issue's reproducer: `bad` is invalid deep inside a block and a loop (the
/// `i64.add` gets i32 operands); `good(1)` is 42 and `good(0)` is 7.
const REPRODUCER: &str = r#"(module
  (func (export "bad") (result i32)
    (block (result i32) (loop (result i32) (i32.const 1) (i32.const 2) (i32.add) (i64.add))))
  (func (export "good") (param i32) (result i32) (local i32)
    (local.set 1 (i32.const 40))
    (if (result i32) (local.get 0)
      (then (i32.add (local.get 1) (i32.const 2)))
      (else (i32.const 7)))))"#;

/// Just the valid function of [`REPRODUCER`].
const GOOD: &str = r#"(module
  (func (export "good") (param i32) (result i32) (local i32)
    (local.set 1 (i32.const 40))
    (if (result i32) (local.get 0)
      (then (i32.add (local.get 1) (i32.const 2)))
      (else (i32.const 7)))))"#;

/// Stores an i64 and returns it loaded back together with the address: wrong
/// results or a store that misses linear memory show up here.
const STORE: &str = r#"(module
  (memory (export "mem") 1)
  (func (export "store") (param i32 i64) (result i64 i32)
    (i64.store (local.get 0) (local.get 1))
    (i64.load (local.get 0))
    (local.get 0)))"#;

fn engine(validation: Validation, compilation: Compilation) -> Engine {
    let mut config = Config::new();
    config.validation(validation).compilation(compilation);
    Engine::new(&config).unwrap()
}

fn lazy_validation() -> Engine {
    engine(Validation::Lazy, Compilation::Lazy)
}

/// Compiles [`GOOD`] with `engine` on this thread and checks both of its arms.
fn assert_good_works(engine: &Engine) {
    let module = Module::new(engine, GOOD).unwrap();
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let good = instance
        .get_typed_func::<i32, i32>(&mut store, "good")
        .unwrap();
    assert_eq!(good.call(&mut store, 1).unwrap(), 42);
    assert_eq!(good.call(&mut store, 0).unwrap(), 7);
}

/// Compiles [`STORE`] with `engine` on this thread; its results are right, its
/// store lands in linear memory and an out-of-bounds store traps.
fn assert_store_works(engine: &Engine) {
    let module = Module::new(engine, STORE).unwrap();
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let f = instance
        .get_typed_func::<(i32, i64), (i64, i32)>(&mut store, "store")
        .unwrap();
    let value = 0x0123_4567_89ab_cdef_i64;
    assert_eq!(f.call(&mut store, (24, value)).unwrap(), (value, 24));
    let mem = instance.get_memory(&mut store, "mem").unwrap();
    assert_eq!(mem.data(&store)[24..32], value.to_le_bytes());
    assert!(f.call(&mut store, (65536 - 4, value)).is_err());
}

/// Calls export `bad` (of type `() -> i32`) of `wasm` under `engine` and returns
/// its compile error.
fn bad_call_error(engine: &Engine, wasm: impl AsRef<[u8]>) -> String {
    let module = Module::new(engine, wasm).unwrap();
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let bad = instance
        .get_typed_func::<(), i32>(&mut store, "bad")
        .unwrap();
    format!("{:#}", bad.call(&mut store, ()).unwrap_err())
}

/// A compiler for this host, as an engine with default settings builds its first
/// tier.
fn host_compiler() -> Compiler {
    let options = CompilerOptions {
        guarded_memories: true,
        slot_calls: true,
        tier_up_counters: true,
        locals_in_frame: true,
        ..CompilerOptions::default()
    };
    Compiler::new(
        host_isa(Tier::Fast, &IsaSettings::new(true)).unwrap(),
        options,
    )
}

/// Parses `wat` with `features`, keeping every body's validator (lazy validation).
fn parse(wat: &str, features: WasmFeatures) -> (Vec<u8>, ModuleInfo) {
    let bytes = wat::parse_str(wat).unwrap();
    let info = translate_module(&bytes, features).unwrap();
    (bytes, info)
}

#[test]
fn lazy_validation_reproducer_good_returns_42_after_bad_is_rejected() {
    let engine = lazy_validation();
    let module = Module::new(&engine, REPRODUCER).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let bad = instance
        .get_typed_func::<(), i32>(&mut store, "bad")
        .unwrap();
    let err = format!("{:#}", bad.call(&mut store, ()).unwrap_err());
    assert!(err.contains("type mismatch"), "{err}");
    let good = instance
        .get_typed_func::<i32, i32>(&mut store, "good")
        .unwrap();
    assert_eq!(good.call(&mut store, 1).unwrap(), 42);
    assert_eq!(good.call(&mut store, 0).unwrap(), 7);
}

#[test]
fn eager_compiles_on_the_pool_survive_eight_rejected_modules() {
    // One thread: the rejected compiles run on the very thread that later compiles
    // the valid module.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let engine = engine(Validation::Lazy, Compilation::Eager);
    pool.install(|| {
        for _ in 0..8 {
            let err = format!("{:#}", Module::new(&engine, REPRODUCER).unwrap_err());
            assert!(err.contains("type mismatch"), "{err}");
        }
        assert_good_works(&engine);
    });
}

#[test]
fn a_body_rejected_by_one_engine_does_not_leak_into_another_engines_code() {
    let err = bad_call_error(&lazy_validation(), REPRODUCER);
    assert!(err.contains("type mismatch"), "{err}");
    let default = Engine::default();
    assert_store_works(&default);
    assert_good_works(&default);
}

#[test]
fn a_validation_error_mid_body_leaves_no_state() {
    // Rejected in the middle of an `if` arm, with frames and values still open.
    let wat = r#"(module
      (func (export "bad") (result i32) (local i64)
        (block (result i32)
          (if (result i32) (i32.const 1)
            (then (i32.const 3) (local.get 0) (i32.add))
            (else (i32.const 4))))))"#;
    let err = bad_call_error(&lazy_validation(), wat);
    assert!(err.contains("type mismatch"), "{err}");
    assert_good_works(&Engine::default());
}

#[test]
fn invalid_locals_leave_no_state() {
    // The locals declaration fails validation after the entry block was built.
    let wat = r#"(module (func (export "bad") (result i32) (local i32 i32)
      (local i64) (local i64) (local i64) (local i64) (local i64) (local i64) (local i64)
      (local i64) (local i64) (local i64) (local i64) (local i64) (local i64) (local i64)
      (local v128) (i32.const 0)))"#;
    let mut config = Config::new();
    config.validation(Validation::Lazy).wasm_simd(false);
    let err = bad_call_error(&Engine::new(&config).unwrap(), wat);
    assert!(err.contains("SIMD"), "{err}");
    assert_good_works(&Engine::default());
}

#[test]
fn a_malformed_operator_leaves_no_state() {
    // `nop` inside two blocks, patched into an opcode that does not exist: reading
    // the operator fails (lazy validation does not look at bodies at load).
    let wat = r#"(module (func (export "bad") (result i32) (local i32)
      (block (block (local.get 0) (drop) (nop))) (i32.const 0)))"#;
    let mut bytes = wat::parse_str(wat).unwrap();
    let body = [0x02, 0x40, 0x02, 0x40, 0x20, 0x00, 0x1a, 0x01];
    let at = bytes
        .windows(body.len())
        .position(|w| w == body)
        .expect("the body's encoding")
        + body.len()
        - 1;
    bytes[at] = 0xff;
    let err = bad_call_error(&lazy_validation(), &bytes);
    assert!(err.contains("opcode"), "{err}");
    assert_good_works(&Engine::default());
}

#[test]
fn an_unsupported_operator_leaves_no_state() {
    // Wide arithmetic passes a validator that has it enabled, but the translator
    // has no translation for `i64.add128`. Lazuli's engines never enable it, so
    // this goes through the compiler crate with a module parsed for Wasm 2 + wide
    // arithmetic.
    let wat = r#"(module (memory 1) (func $f (param i64) (result i64)
      (block (result i64) (loop (result i64)
        (i64.add128 (local.get 0) (i64.const 4) (local.get 0) (i64.const 4))
        (drop)))))"#;
    let (bytes, info) = parse(wat, WasmFeatures::WASM2 | WasmFeatures::WIDE_ARITHMETIC);
    let err = host_compiler()
        .compile_function(&info, &bytes, 0)
        .unwrap_err();
    assert!(
        matches!(&err, CompileError::Wasm(e) if e.to_string().contains("unsupported operator")),
        "{err}"
    );
    assert_good_works(&Engine::default());
    assert_store_works(&Engine::default());
}

#[test]
fn a_code_generation_error_leaves_no_state() {
    // For baseline x86-64 (no SSE4.1) Cranelift lowers `f32.ceil` to a libcall,
    // which Lazuli's code generator refuses: the translation succeeded and the
    // failure comes after Cranelift ran.
    let mut config = Config::new();
    config
        .target("x86_64-unknown-linux-gnu")
        .unwrap()
        .validation(Validation::Lazy);
    let engine = Engine::new(&config).unwrap();
    let wat = r#"(module (func (param f32) (result f32)
      (block (result f32) (f32.ceil (local.get 0)))))"#;
    let err = format!("{:#}", Module::new(&engine, wat).unwrap_err());
    assert!(err.contains("code generation failed"), "{err}");
    assert_good_works(&Engine::default());
    assert_store_works(&Engine::default());
}

#[test]
fn a_panic_in_the_code_generator_leaves_no_state() {
    // The seam: a module description that lacks the type the `call_indirect`
    // names makes the compiler panic when it reaches it, in the middle of a body
    // inside open frames. `Module` catches code generator panics the same way.
    let wat = r#"(module (table 1 funcref)
      (type (func (param i32) (result i32)))
      (type (func (param i64)))
      (func (type 0)
        (block (result i32) (loop (result i32)
          (call_indirect (type 1) (i64.const 0) (i32.const 0))
          (local.get 0)))))"#;
    let (bytes, mut info) = parse(wat, WasmFeatures::WASM2);
    info.types.truncate(1);
    let compiler = host_compiler();
    let panic = catch_unwind(AssertUnwindSafe(|| {
        compiler.compile_function(&info, &bytes, 0)
    }));
    assert!(panic.is_err(), "the compiler panicked");
    assert_good_works(&Engine::default());
    assert_store_works(&Engine::default());
}
