//! The host's own limits: a thread's real native stack bounds the Wasm stack, and
//! a compile that failed for want of a resource is retried once the resource is
//! back.
//!
//! Each test runs in a child process (this test binary re-executed with
//! `CHILD_ENV` set to the test's name and `--exact <name>`): without the fixes a
//! stack overflow ends the whole process, and the address-space limit of the
//! compile test is process-wide.

use lazuli::{Config, Engine, Instance, Module, Store, Trap, TypedFunc, WasmBacktrace};
use std::process::{Command, Output};

/// Set in a child process to the name of the test it runs.
const CHILD_ENV: &str = "LAZULI_HOST_LIMITS_CHILD";

/// Whether this process is the child re-executed for test `name`.
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(name)
}

/// Runs test `name` of this binary alone in a child process and checks that it
/// passed there.
fn run_in_child(name: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out: Output = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"ulimit -c 0; exec "$0" "$@""#)
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .output()
        .expect("the test binary can be re-executed");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "child for {name} failed: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Infinite recursion with a frame per call; `r(0)` never returns.
const RECURSE: &str = r#"(module
  (global $calls (export "calls") (mut i32) (i32.const 0))
  (func $r (export "r") (param i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (result i32) (local.get 0)
      (then (local.get 0))
      (else (i32.add (i32.const 1) (call $r (local.get 0)))))))"#;

/// An instance of [`RECURSE`] and its `r`.
fn recursion(config: &Config) -> (Store<()>, Instance, TypedFunc<i32, i32>) {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, RECURSE).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let r = instance
        .get_typed_func::<i32, i32>(&mut store, "r")
        .unwrap();
    (store, instance, r)
}

/// Runs `f` on a new thread with a native stack of `bytes`.
fn on_thread_with_stack(bytes: usize, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(bytes)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// Deep recursion with `config` ends in a stack-overflow trap, and the store is
/// usable afterwards.
fn assert_recursion_traps(config: &Config) {
    let (mut store, _, r) = recursion(config);
    for _ in 0..2 {
        let err = r.call(&mut store, 0).unwrap_err();
        assert_eq!(
            err.downcast_ref::<Trap>(),
            Some(&Trap::StackOverflow),
            "{err:#}"
        );
    }
    assert_eq!(r.call(&mut store, 7).unwrap(), 7);
}

#[test]
fn deep_recursion_on_a_256_kib_thread_traps() {
    const NAME: &str = "deep_recursion_on_a_256_kib_thread_traps";
    if !is_child(NAME) {
        return run_in_child(NAME);
    }
    on_thread_with_stack(256 * 1024, || {
        for compilation in [lazuli::Compilation::Lazy, lazuli::Compilation::Eager] {
            let mut config = Config::new();
            config.compilation(compilation);
            assert_recursion_traps(&config);
        }
    });
}

#[test]
fn a_wasm_stack_budget_larger_than_the_thread_traps() {
    const NAME: &str = "a_wasm_stack_budget_larger_than_the_thread_traps";
    if !is_child(NAME) {
        return run_in_child(NAME);
    }
    on_thread_with_stack(8 << 20, || {
        let mut config = Config::new();
        config.max_wasm_stack(16 << 20);
        assert_recursion_traps(&config);
    });
}

/// Uses up native stack until fewer than `left` bytes remain above `low`, then
/// runs `f` there.
#[inline(never)]
fn with_stack_left_below(low: usize, left: usize, f: &mut dyn FnMut()) {
    let pad = std::hint::black_box([0u8; 2048]);
    if pad.as_ptr() as usize - low < left {
        f();
    } else {
        with_stack_left_below(low, left, f);
    }
    std::hint::black_box(&pad);
}

#[test]
fn entering_wasm_with_too_little_native_stack_left_is_refused() {
    const NAME: &str = "entering_wasm_with_too_little_native_stack_left_is_refused";
    if !is_child(NAME) {
        return run_in_child(NAME);
    }
    const STACK: usize = 512 * 1024;
    on_thread_with_stack(STACK, || {
        let (mut store, instance, r) = recursion(&Config::new());
        let calls = instance.get_global(&mut store, "calls").unwrap();
        let top = &store as *const _ as usize;
        // Less than the 128 KiB the runtime keeps for host code called from Wasm,
        // but enough for the error path.
        with_stack_left_below(top - STACK, 100 * 1024, &mut || {
            let err = r.call(&mut store, 1).unwrap_err();
            assert_eq!(
                err.downcast_ref::<Trap>(),
                Some(&Trap::StackOverflow),
                "{err:#}"
            );
            let frames = err
                .downcast_ref::<WasmBacktrace>()
                .map(|b| b.frames().len());
            assert_eq!(frames, Some(0), "no Wasm frame ran");
        });
        assert_eq!(calls.get(&mut store).i32(), Some(0), "no Wasm code ran");
        // With the stack back, the same call runs.
        assert_eq!(r.call(&mut store, 1).unwrap(), 1);
    });
}

/// The process's address-space size and the soft and hard `RLIMIT_AS`.
fn address_space() -> (u64, libc::rlimit) {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: `sysconf` has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes the record it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) }, 0);
    (pages * page, limit)
}

fn set_address_space_limit(limit: &libc::rlimit) {
    // SAFETY: `setrlimit` reads the record it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, limit) }, 0);
}

/// A real `ENOMEM` from the kernel, not a simulated one: with the soft
/// address-space limit just above what the process uses, the 1 MiB code memory
/// reservation a new module needs is refused. Once the limit is back up, the same
/// function compiles.
#[test]
fn a_compile_that_ran_out_of_address_space_is_retried() {
    const NAME: &str = "a_compile_that_ran_out_of_address_space_is_retried";
    if !is_child(NAME) {
        return run_in_child(NAME);
    }
    let engine = Engine::default();
    let instantiate = |module: &Module| {
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, module, &[]).unwrap();
        let f = instance.get_typed_func::<(), i32>(&mut store, "f").unwrap();
        (store, f)
    };
    let module_with = |value: i32| {
        let wat = format!(r#"(module (func (export "f") (result i32) i32.const {value}))"#);
        Module::new(&engine, wat).unwrap()
    };
    // A first module warms up this thread (its allocator arena, its signal stack)
    // so that the second one's compile needs no new mapping but its code memory.
    let (mut warm_store, warm) = instantiate(&module_with(1));
    assert_eq!(warm.call(&mut warm_store, ()).unwrap(), 1);
    let module = module_with(2);
    let (mut store, f) = instantiate(&module);

    let (used, normal) = address_space();
    let tight = libc::rlimit {
        rlim_cur: used + 256 * 1024,
        rlim_max: normal.rlim_max,
    };
    set_address_space_limit(&tight);
    let err = f.call(&mut store, ());
    set_address_space_limit(&normal);
    let err = err.unwrap_err();
    assert!(
        format!("{err:#}").contains("cannot map code memory"),
        "{err:#}"
    );

    assert_eq!(f.call(&mut store, ()).unwrap(), 2);
    let (mut store, f) = instantiate(&module);
    assert_eq!(f.call(&mut store, ()).unwrap(), 2, "a new instance");
}

/// `$r(d)` recurses `d` times, then calls `$leaf`, which nothing called before and
/// which calls the host.
const RECURSE_THEN_LEAF: &str = r#"(module
  (import "" "host" (func $host (param i32) (result i32)))
  (func $r (export "r") (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (i32.add (i32.const 1) (call $r (i32.sub (local.get 0) (i32.const 1)))))
      (else (call $leaf (i32.const 5)))))
  (func $leaf (param i32) (result i32)
    (local i64 i64 i64)
    (local.set 1 (i64.extend_i32_u (local.get 0)))
    (local.set 2 (i64.mul (local.get 1) (local.get 1)))
    (local.set 3 (i64.add (local.get 2) (i64.const 7)))
    (call $host (i32.wrap_i64 (i64.rem_u (local.get 3) (i64.const 1000))))))"#;

/// Lazy compilation and host functions run below the Wasm stack limit: on a small
/// thread they must still have room there. Deeper and deeper recursions, each
/// ending in a first call (a compile) and a host call, until the limit is hit: the
/// deepest one that succeeded compiled and called the host right at the limit.
#[test]
fn compiling_and_calling_the_host_at_the_deepest_point_has_room() {
    const NAME: &str = "compiling_and_calling_the_host_at_the_deepest_point_has_room";
    if !is_child(NAME) {
        return run_in_child(NAME);
    }
    on_thread_with_stack(256 * 1024, || {
        let engine = Engine::default();
        let mut deepest = None;
        for depth in (0..).step_by(40) {
            // A new module each time, so that `$leaf` is compiled at this depth.
            let module = Module::new(&engine, RECURSE_THEN_LEAF).unwrap();
            let mut store = Store::new(&engine, ());
            let host = lazuli::Func::wrap(&mut store, |x: i32| -> lazuli::Result<i32> {
                let text = format!("{x:>40}");
                Ok(text.trim().parse::<i32>()? + 1)
            });
            let instance = Instance::new(&mut store, &module, &[host.into()]).unwrap();
            let r = instance
                .get_typed_func::<i32, i32>(&mut store, "r")
                .unwrap();
            match r.call(&mut store, depth) {
                Ok(value) => {
                    assert_eq!(value, depth + 33);
                    deepest = Some(depth);
                }
                Err(err) => {
                    assert_eq!(
                        err.downcast_ref::<Trap>(),
                        Some(&Trap::StackOverflow),
                        "{err:#}"
                    );
                    break;
                }
            }
        }
        assert!(deepest.is_some_and(|d| d > 100), "{deepest:?}");
    });
}
