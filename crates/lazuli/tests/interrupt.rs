//! Nothing a guest does may hang its host: fuel (`Config::consume_fuel`) and
//! epoch deadlines (`Config::epoch_interruption`) stop a `(loop (br 0))`, at
//! every tier (OSR entries included) and in lazy and eager compilation; fuel is
//! counted exactly, as Wasmtime counts it, and can be refilled; a deadline
//! can be extended by a callback.

use lazuli::{
    Cache, CacheConfig, Caller, Compilation, Config, Engine, Instance, Linker, Module, Store,
    Tiering, Trap, UpdateDeadline,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Every tier in both compilation modes, by name. `Auto` has a budget small
/// enough, and compiles on the calling thread, so that the loops below leave
/// their fast code for OSR entries.
fn configs() -> Vec<(String, Config)> {
    let mut configs = Vec::new();
    for tiering in [Tiering::Fast, Tiering::Optimized, Tiering::Auto] {
        for compilation in [Compilation::Lazy, Compilation::Eager] {
            let mut config = Config::new();
            config.tiering(tiering).compilation(compilation);
            if tiering == Tiering::Auto {
                config.tier_up_budget(20).background_compilation(false);
            }
            configs.push((format!("{tiering:?} {compilation:?}"), config));
        }
    }
    configs
}

/// An engine of every configuration of [`configs`], with `with` applied.
fn engines(with: impl Fn(&mut Config) -> &mut Config) -> Vec<(String, Engine)> {
    configs()
        .into_iter()
        .map(|(name, mut config)| (name, Engine::new(with(&mut config)).unwrap()))
        .collect()
}

/// `spin` never returns; `sum(n)` adds 0 to n - 1 in a loop, 12 units of fuel per
/// iteration and 1 more (see [`sum_fuel`]); `probe` calls the host twice.
const WAT: &str = r#"(module
  (import "host" "probe" (func $probe))
  (func (export "spin") (loop (br 0)))
  (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $s))
  (func (export "probe") (call $probe) (nop) (call $probe)))"#;

/// The fuel `sum(n)` uses, counted by Wasmtime's costs: `loop` and the `end`s
/// cost nothing; in each iteration the five `local.get`s, the `i32.const`, the
/// two `i32.add`s, the two `local.set`s, `i32.lt_u` and `br_if` cost one each
/// (12); the last `local.get` costs one.
fn sum_fuel(n: u64) -> u64 {
    12 * n + 1
}

/// A store of `engine` whose data is the fuel the host saw at each probe, and
/// the instance of [`WAT`] in it; the probe sets the fuel to `refill` when
/// given.
fn instantiate(engine: &Engine, refill: Option<u64>) -> (Store<Vec<u64>>, Instance, Module) {
    let module = Module::new(engine, WAT).unwrap();
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("host", "probe", move |mut caller: Caller<'_, Vec<u64>>| {
            let fuel = caller.get_fuel().unwrap();
            caller.data_mut().push(fuel);
            if let Some(refill) = refill {
                caller.set_fuel(refill).unwrap();
            }
        })
        .unwrap();
    let mut store = Store::new(engine, Vec::new());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    (store, instance, module)
}

fn trap_of(error: lazuli::Error) -> Trap {
    *error
        .downcast_ref::<Trap>()
        .unwrap_or_else(|| panic!("not a trap: {error:?}"))
}

#[test]
fn an_infinite_loop_runs_out_of_fuel_at_every_tier() {
    for (name, engine) in engines(|c| c.consume_fuel(true)) {
        let (mut store, instance, _) = instantiate(&engine, None);
        store.set_fuel(100_000).unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let error = spin.call(&mut store, ()).unwrap_err();
        assert_eq!(trap_of(error), Trap::OutOfFuel, "{name}");
        assert_eq!(store.get_fuel().unwrap(), 0, "{name}");
    }
}

#[test]
fn a_known_function_uses_exactly_its_fuel_at_every_tier() {
    for (name, engine) in engines(|c| c.consume_fuel(true)) {
        let (mut store, instance, module) = instantiate(&engine, None);
        let sum = instance
            .get_typed_func::<i32, i32>(&mut store, "sum")
            .unwrap();
        for n in [1, 5, 1000] {
            store.set_fuel(1_000_000).unwrap();
            assert_eq!(sum.call(&mut store, n).unwrap(), n * (n - 1) / 2, "{name}");
            let used = 1_000_000 - store.get_fuel().unwrap();
            assert_eq!(used, sum_fuel(n as u64), "{name}, sum({n})");
        }
        if name.starts_with("Auto") {
            let stats = module.compile_stats();
            assert!(stats.osr_entries >= 1, "{name}: {stats:?}");
        }
    }
}

#[test]
fn a_store_runs_out_of_fuel_exactly_where_it_is_used_up() {
    let engine = &engines(|c| c.consume_fuel(true))[0].1;
    let (mut store, instance, _) = instantiate(engine, None);
    let sum = instance
        .get_typed_func::<i32, i32>(&mut store, "sum")
        .unwrap();
    // Checked at the loop header, before each iteration, as in Wasmtime: with
    // one unit left after nine iterations the tenth runs (and the call
    // finishes, using more than it had); with none left it does not start.
    store.set_fuel(12 * 9 + 1).unwrap();
    assert_eq!(sum.call(&mut store, 10).unwrap(), 45);
    assert_eq!(store.get_fuel().unwrap(), 0);
    store.set_fuel(12 * 9).unwrap();
    let error = sum.call(&mut store, 10).unwrap_err();
    assert_eq!(trap_of(error), Trap::OutOfFuel);
}

#[test]
fn a_store_refilled_after_running_out_runs_again() {
    for (name, engine) in engines(|c| c.consume_fuel(true)) {
        let (mut store, instance, _) = instantiate(&engine, None);
        let sum = instance
            .get_typed_func::<i32, i32>(&mut store, "sum")
            .unwrap();
        store.set_fuel(100).unwrap();
        let error = sum.call(&mut store, 1000).unwrap_err();
        assert_eq!(trap_of(error), Trap::OutOfFuel, "{name}");
        store.set_fuel(sum_fuel(1000)).unwrap();
        assert_eq!(sum.call(&mut store, 1000).unwrap(), 499_500, "{name}");
        assert_eq!(store.get_fuel().unwrap(), 0, "{name}");
    }
}

#[test]
fn host_functions_see_and_set_the_exact_fuel() {
    for (name, engine) in engines(|c| c.consume_fuel(true)) {
        let (mut store, instance, _) = instantiate(&engine, Some(50));
        let probe = instance
            .get_typed_func::<(), ()>(&mut store, "probe")
            .unwrap();
        store.set_fuel(1000).unwrap();
        probe.call(&mut store, ()).unwrap();
        // Each `call` costs one unit before the host runs; the first probe
        // refills to 50, which the Wasm after it goes on from.
        assert_eq!(store.data(), &[999, 49], "{name}");
        assert_eq!(store.get_fuel().unwrap(), 50, "{name}");
    }
}

#[test]
fn fuel_is_an_error_unless_enabled() {
    let mut store = Store::new(&Engine::default(), ());
    assert!(store.get_fuel().is_err());
    assert!(store.set_fuel(10).is_err());
}

#[test]
fn a_store_starts_without_fuel() {
    let engine = &engines(|c| c.consume_fuel(true))[0].1;
    let (mut store, instance, _) = instantiate(engine, None);
    assert_eq!(store.get_fuel().unwrap(), 0);
    let sum = instance
        .get_typed_func::<i32, i32>(&mut store, "sum")
        .unwrap();
    assert_eq!(
        trap_of(sum.call(&mut store, 1).unwrap_err()),
        Trap::OutOfFuel
    );
}

#[test]
fn an_epoch_deadline_stops_an_infinite_loop_from_another_thread() {
    for (name, engine) in engines(|c| c.epoch_interruption(true)) {
        let (mut store, instance, _) = instantiate(&engine, None);
        store.set_epoch_deadline(1);
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let timer = {
            let engine = engine.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                engine.increment_epoch();
            })
        };
        let error = spin.call(&mut store, ()).unwrap_err();
        assert_eq!(trap_of(error), Trap::Interrupt, "{name}");
        timer.join().unwrap();
    }
}

#[test]
fn a_store_without_a_deadline_stops_at_once() {
    let engine = &engines(|c| c.epoch_interruption(true))[0].1;
    let (mut store, instance, _) = instantiate(engine, None);
    let sum = instance
        .get_typed_func::<i32, i32>(&mut store, "sum")
        .unwrap();
    assert_eq!(
        trap_of(sum.call(&mut store, 1).unwrap_err()),
        Trap::Interrupt
    );
    store.set_epoch_deadline(1);
    assert_eq!(sum.call(&mut store, 4).unwrap(), 6);
}

/// `tick` moves the epoch on at each of its `n` iterations.
const TICKS: &str = r#"(module
  (import "host" "tick" (func $tick))
  (func (export "ticks") (param $n i32)
    (loop $l
      (call $tick)
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))"#;

#[test]
fn a_deadline_callback_extends_the_deadline_until_it_stops() {
    for (name, engine) in engines(|c| c.epoch_interruption(true)) {
        let module = Module::new(&engine, TICKS).unwrap();
        let mut linker = Linker::new(&engine);
        let ticker = engine.clone();
        linker
            .func_wrap("host", "tick", move || ticker.increment_epoch())
            .unwrap();
        let mut store = Store::new(&engine, 0u32);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut store| {
            *store.data_mut() += 1;
            if *store.data() < 10 {
                Ok(UpdateDeadline::Continue(1))
            } else {
                Err(lazuli::Error::msg("ten deadlines are enough"))
            }
        });
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let ticks = instance
            .get_typed_func::<i32, ()>(&mut store, "ticks")
            .unwrap();
        // Each tick reaches the deadline at the next loop header.
        ticks.call(&mut store, 5).unwrap();
        assert_eq!(*store.data(), 4, "{name}: the fifth tick is after the loop");
        let error = ticks.call(&mut store, 100).unwrap_err();
        assert_eq!(
            error.root_cause().to_string(),
            "ten deadlines are enough",
            "{name}"
        );
        assert_eq!(*store.data(), 10, "{name}");
        // Back to the default behaviour.
        store.epoch_deadline_trap();
        let error = ticks.call(&mut store, 100).unwrap_err();
        assert_eq!(trap_of(error), Trap::Interrupt, "{name}");
        assert_eq!(*store.data(), 10, "{name}");
    }
}

#[test]
fn a_deadline_callback_can_run_for_a_timer_thread() {
    let engine = Engine::new(Config::new().epoch_interruption(true)).unwrap();
    let (mut store, instance, _) = instantiate(&engine, None);
    let (done, ticker) = (Arc::new(AtomicBool::new(false)), engine.clone());
    let timer = {
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
                ticker.increment_epoch();
            }
        })
    };
    store.set_epoch_deadline(1);
    let mut deadlines = 0;
    store.epoch_deadline_callback(move |_| {
        deadlines += 1;
        if deadlines < 3 {
            Ok(UpdateDeadline::Continue(1))
        } else {
            Err(lazuli::Error::msg("three"))
        }
    });
    let spin = instance
        .get_typed_func::<(), ()>(&mut store, "spin")
        .unwrap();
    let error = spin.call(&mut store, ()).unwrap_err();
    done.store(true, Ordering::Relaxed);
    timer.join().unwrap();
    assert_eq!(error.root_cause().to_string(), "three");
}

#[test]
fn fuel_and_epochs_work_together() {
    let engine = Engine::new(Config::new().consume_fuel(true).epoch_interruption(true)).unwrap();
    let (mut store, instance, _) = instantiate(&engine, None);
    store.set_epoch_deadline(1);
    store.set_fuel(1000).unwrap();
    let sum = instance
        .get_typed_func::<i32, i32>(&mut store, "sum")
        .unwrap();
    assert_eq!(sum.call(&mut store, 10).unwrap(), 45);
    assert_eq!(store.get_fuel().unwrap(), 1000 - sum_fuel(10));
    engine.increment_epoch();
    assert_eq!(
        trap_of(sum.call(&mut store, 10).unwrap_err()),
        Trap::Interrupt
    );
}

#[test]
fn cached_code_without_fuel_is_not_reused_by_an_engine_that_consumes_fuel() {
    let dir = std::env::temp_dir().join(format!("lazuli-interrupt-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |fuel: bool| {
        let mut cache_config = CacheConfig::new();
        cache_config.with_directory(&dir);
        let mut config = Config::new();
        config
            .cache(Some(Cache::new(cache_config).unwrap()))
            .tiering(Tiering::Optimized)
            .consume_fuel(fuel);
        let engine = Engine::new(&config).unwrap();
        let (mut store, instance, module) = instantiate(&engine, None);
        if fuel {
            store.set_fuel(1000).unwrap();
        }
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let sum = instance
            .get_typed_func::<i32, i32>(&mut store, "sum")
            .unwrap();
        assert_eq!(sum.call(&mut store, 3).unwrap(), 3);
        let result = fuel.then(|| trap_of(spin.call(&mut store, ()).unwrap_err()));
        (module.compile_stats(), result)
    };
    let (without, _) = run(false);
    assert_eq!(without.functions_compiled, 1, "{without:?}");
    assert_eq!(run(false).0.cache_hits, 1, "the cache is used");
    let (with, trap) = run(true);
    assert_eq!(
        (with.functions_compiled, with.cache_hits),
        (2, 0),
        "{with:?}"
    );
    assert_eq!(trap, Some(Trap::OutOfFuel));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_deadline_a_host_function_moves_earlier_stops_its_caller() {
    for (name, engine) in engines(|c| c.epoch_interruption(true)) {
        let module = Module::new(&engine, TICKS).unwrap();
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("host", "tick", |mut caller: Caller<'_, ()>| {
                caller.set_epoch_deadline(0);
            })
            .unwrap();
        let mut store = Store::new(&engine, ());
        store.set_epoch_deadline(1_000_000);
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let ticks = instance
            .get_typed_func::<i32, ()>(&mut store, "ticks")
            .unwrap();
        // The loop header after the first tick sees the deadline it set.
        let error = ticks.call(&mut store, 1000).unwrap_err();
        assert_eq!(trap_of(error), Trap::Interrupt, "{name}");
    }
}
