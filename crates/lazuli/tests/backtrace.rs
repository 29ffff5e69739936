//! `FrameInfo` accessors, `WasmBacktrace::capture` from host functions, and the
//! backtrace attached to a host function's error that crosses Wasm frames.

use lazuli::{
    Caller, Compilation, Config, Engine, Instance, Linker, Module, Store, Trap, WasmBacktrace,
};

/// `(name, func_index)` of each frame, innermost first.
fn names(backtrace: &WasmBacktrace) -> Vec<(String, u32)> {
    backtrace
        .frames()
        .iter()
        .map(|f| (f.func_name().unwrap_or("?").to_string(), f.func_index()))
        .collect()
}

fn named(frames: &[(&str, u32)]) -> Vec<(String, u32)> {
    frames.iter().map(|(n, i)| (n.to_string(), *i)).collect()
}

/// The start of each function body in `wasm`, by defined index.
fn body_starts(wasm: &[u8]) -> Vec<usize> {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .filter_map(|p| match p.unwrap() {
            wasmparser::Payload::CodeSectionEntry(body) => Some(body.range().start as usize),
            _ => None,
        })
        .collect()
}

fn engines() -> Vec<Engine> {
    [Compilation::Lazy, Compilation::Eager]
        .into_iter()
        .map(|c| {
            let mut config = Config::new();
            config.compilation(c);
            Engine::new(&config).unwrap()
        })
        .collect()
}

#[test]
fn frame_info_accessors_describe_the_trapping_frames() {
    let wat = r#"(module $named
      (func $outer (export "run") (param i32) (result i32)
        (call $inner (local.get 0)))
      (func $inner (param i32) (result i32)
        (i32.div_u (i32.const 1) (local.get 0))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let starts = body_starts(&wasm);
    for engine in engines() {
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let run = instance
            .get_typed_func::<i32, i32>(&mut store, "run")
            .unwrap();
        let err = run.call(&mut store, 0).unwrap_err();
        assert_eq!(
            err.downcast_ref::<Trap>(),
            Some(&Trap::IntegerDivisionByZero)
        );
        let backtrace = err.downcast_ref::<WasmBacktrace>().unwrap();
        assert_eq!(names(backtrace), named(&[("inner", 1), ("outer", 0)]));
        for (frame, defined) in backtrace.frames().iter().zip([1, 0]) {
            assert_eq!(frame.module().name(), Some("named"));
            let module_offset = frame.module_offset().unwrap();
            let func_offset = frame.func_offset().unwrap();
            assert_eq!(module_offset - func_offset, starts[defined]);
            assert!(func_offset > 0);
        }
    }
}

/// `a` calls `b`, which calls the host's `capture`.
const CAPTURING: &str = r#"(module
  (import "host" "capture" (func $capture))
  (func $a (export "a") (call $b))
  (func $b (call $capture)))"#;

#[test]
fn capture_from_a_host_function_lists_the_wasm_frames_that_called_it() {
    for engine in engines() {
        let module = Module::new(&engine, CAPTURING).unwrap();
        let mut store = Store::new(&engine, Vec::new());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap(
                "host",
                "capture",
                |mut caller: Caller<'_, Vec<(String, u32)>>| {
                    let backtrace = WasmBacktrace::capture(&caller);
                    *caller.data_mut() = names(&backtrace);
                },
            )
            .unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let a = instance.get_typed_func::<(), ()>(&mut store, "a").unwrap();
        a.call(&mut store, ()).unwrap();
        assert_eq!(store.data(), &named(&[("b", 2), ("a", 1)]));
        // With no Wasm running, there is nothing to capture.
        assert!(WasmBacktrace::capture(&store).frames().is_empty());
    }
}

#[test]
fn capture_lists_the_frames_of_every_entry_into_the_store() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "reenter" (func $reenter))
          (import "host" "capture" (func $capture))
          (func $outer (export "outer") (call $reenter))
          (func $inner (export "inner") (call $capture)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, Vec::new());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "reenter",
            |mut caller: Caller<'_, Vec<(String, u32)>>| {
                let inner = caller.get_export("inner").unwrap().into_func().unwrap();
                inner.call(&mut caller, &[], &mut [])
            },
        )
        .unwrap()
        .func_wrap(
            "host",
            "capture",
            |mut caller: Caller<'_, Vec<(String, u32)>>| {
                let backtrace = WasmBacktrace::capture(&caller);
                *caller.data_mut() = names(&backtrace);
            },
        )
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let outer = instance
        .get_typed_func::<(), ()>(&mut store, "outer")
        .unwrap();
    outer.call(&mut store, ()).unwrap();
    assert_eq!(store.data(), &named(&[("inner", 3), ("outer", 2)]));
}

#[test]
fn capture_leaves_out_the_frames_of_other_stores() {
    let engine = Engine::default();
    let module = Module::new(&engine, CAPTURING).unwrap();
    // The host function of the outer store runs the inner store's Wasm, whose
    // host function captures: only the inner store's frames are listed.
    let inner_engine = engine.clone();
    let inner_module = module.clone();
    let mut outer_linker = Linker::new(&engine);
    outer_linker
        .func_wrap(
            "host",
            "capture",
            move |_: Caller<'_, ()>| -> lazuli::Result<()> {
                let mut store = Store::new(&inner_engine, Vec::new());
                let mut linker = Linker::new(&inner_engine);
                linker.func_wrap(
                    "host",
                    "capture",
                    |mut caller: Caller<'_, Vec<(String, u32)>>| {
                        let backtrace = WasmBacktrace::capture(&caller);
                        *caller.data_mut() = names(&backtrace);
                    },
                )?;
                let instance = linker.instantiate(&mut store, &inner_module)?;
                instance
                    .get_typed_func::<(), ()>(&mut store, "a")?
                    .call(&mut store, ())?;
                assert_eq!(store.data(), &named(&[("b", 2), ("a", 1)]));
                Ok(())
            },
        )
        .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = outer_linker.instantiate(&mut store, &module).unwrap();
    let a = instance.get_typed_func::<(), ()>(&mut store, "a").unwrap();
    a.call(&mut store, ()).unwrap();
}

#[derive(Debug)]
struct HostFailed(u32);

impl std::fmt::Display for HostFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host failed with {}", self.0)
    }
}

impl std::error::Error for HostFailed {}

#[test]
fn host_error_crossing_wasm_carries_a_backtrace_and_stays_downcastable() {
    for engine in engines() {
        let module = Module::new(&engine, CAPTURING).unwrap();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("host", "capture", || -> lazuli::Result<()> {
                Err(HostFailed(7).into())
            })
            .unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let a = instance.get_typed_func::<(), ()>(&mut store, "a").unwrap();
        let err = a.call(&mut store, ()).unwrap_err();
        assert_eq!(err.downcast_ref::<HostFailed>().map(|e| e.0), Some(7));
        let backtrace = err.downcast_ref::<WasmBacktrace>().unwrap();
        assert_eq!(names(backtrace), named(&[("b", 2), ("a", 1)]));
        assert!(format!("{err:?}").contains("host failed with 7"), "{err:?}");
    }
}

#[test]
fn host_error_through_nested_entries_keeps_the_first_backtrace() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "reenter" (func $reenter))
          (import "host" "fail" (func $fail))
          (func $outer (export "outer") (call $reenter))
          (func $inner (export "inner") (call $fail)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "reenter", |mut caller: Caller<'_, ()>| {
            let inner = caller.get_export("inner").unwrap().into_func().unwrap();
            inner.call(&mut caller, &[], &mut [])
        })
        .unwrap()
        .func_wrap("host", "fail", || -> lazuli::Result<()> {
            Err(HostFailed(1).into())
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let outer = instance
        .get_typed_func::<(), ()>(&mut store, "outer")
        .unwrap();
    let err = outer.call(&mut store, ()).unwrap_err();
    let backtrace = err.downcast_ref::<WasmBacktrace>().unwrap();
    assert_eq!(names(backtrace), named(&[("inner", 3), ("outer", 2)]));
    let backtraces = err.chain().map(|e| e.to_string());
    let backtraces =
        backtraces.filter(|e| e.starts_with("error while executing at wasm backtrace"));
    assert_eq!(backtraces.count(), 1, "{err:?}");
    assert_eq!(err.downcast_ref::<HostFailed>().map(|e| e.0), Some(1));
}

#[test]
fn trap_in_a_nested_entry_lists_the_outer_frames_too() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "reenter" (func $reenter))
          (func $outer (export "outer") (call $reenter))
          (func $inner (export "inner") unreachable))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "reenter", |mut caller: Caller<'_, ()>| {
            let inner = caller.get_export("inner").unwrap().into_func().unwrap();
            inner.call(&mut caller, &[], &mut [])
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let outer = instance
        .get_typed_func::<(), ()>(&mut store, "outer")
        .unwrap();
    let err = outer.call(&mut store, ()).unwrap_err();
    assert_eq!(
        err.downcast_ref::<Trap>(),
        Some(&Trap::UnreachableCodeReached)
    );
    let backtrace = err.downcast_ref::<WasmBacktrace>().unwrap();
    assert_eq!(names(backtrace), named(&[("inner", 2), ("outer", 1)]));
}
