//! Threads: a `SharedMemory` imported by instances of stores on several threads,
//! atomic read-modify-writes that add up exactly, `memory.atomic.wait32`/`notify`
//! between threads, and the traps (unaligned, unshared, out of bounds).

use lazuli::{
    Config, Engine, Extern, Instance, Memory, MemoryStyle, MemoryType, Module, SharedMemory, Store,
    Trap,
};
use std::time::{Duration, Instant};

/// Adds 1 to the i32 at 0 `n` times with `i32.atomic.rmw.add`.
const COUNTER: &str = r#"(module
  (import "env" "memory" (memory 1 1 shared))
  (func (export "add") (param $n i32)
    (loop $again
      (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
      (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $again))))"#;

/// Two players take turns through the i32 at 0 (whose turn it is): each waits
/// until it is its own, counts a move in the i32 at 4, hands the turn over and
/// notifies. A wait that times out after 10 s traps instead of hanging the test.
const PING_PONG: &str = r#"(module
  (import "env" "memory" (memory 1 1 shared))
  (func (export "play") (param $me i32) (param $rounds i32)
    (local $other i32)
    (local.set $other (i32.sub (i32.const 1) (local.get $me)))
    (loop $round
      (block $mine
        (loop $wait
          (br_if $mine (i32.eq (i32.atomic.load (i32.const 0)) (local.get $me)))
          (if (i32.eq
                (memory.atomic.wait32 (i32.const 0) (local.get $other) (i64.const 10_000_000_000))
                (i32.const 2))
            (then unreachable))
          (br $wait)))
      (drop (i32.atomic.rmw.add (i32.const 4) (i32.const 1)))
      (i32.atomic.store (i32.const 0) (local.get $other))
      (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))
      (local.tee $rounds (i32.sub (local.get $rounds) (i32.const 1)))
      (br_if $round))))"#;

/// Waits, notifies and atomic accesses on a memory of its own, shared or not.
fn probes(shared: bool) -> String {
    let memory = if shared { "1 1 shared" } else { "1 1" };
    format!(
        r#"(module
  (memory (export "mem") {memory})
  (func (export "wait32") (param i32 i32 i64) (result i32)
    (memory.atomic.wait32 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "wait64") (param i32 i64 i64) (result i32)
    (memory.atomic.wait64 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "notify") (param i32 i32) (result i32)
    (memory.atomic.notify (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.atomic.load (local.get 0)))
  (func (export "load_offset") (param i32) (result i64)
    (i64.atomic.load offset=4 (local.get 0)))
  (func (export "rmw8_sub") (param i32 i32) (result i32)
    (i32.atomic.rmw8.sub_u (local.get 0) (local.get 1)))
  (func (export "cmpxchg16") (param i32 i64 i64) (result i64)
    (i64.atomic.rmw16.cmpxchg_u (local.get 0) (local.get 1) (local.get 2))))"#
    )
}

fn engine(style: MemoryStyle) -> Engine {
    let mut config = Config::new();
    config.memory_style(style);
    Engine::new(&config).unwrap()
}

const STYLES: [MemoryStyle; 2] = [MemoryStyle::Guarded, MemoryStyle::BoundsChecked];

/// The i32 at `offset` of `memory`.
fn read_i32(memory: &SharedMemory, offset: usize) -> i32 {
    let mut bytes = [0; 4];
    memory.read(offset, &mut bytes).unwrap();
    i32::from_le_bytes(bytes)
}

/// Runs `f(store, instance)` on `threads` threads, each with its own store and
/// instance of `module` importing `memory`.
fn on_threads(
    module: &Module,
    memory: &SharedMemory,
    threads: i32,
    f: impl Fn(&mut Store<()>, Instance, i32) + Send + Sync + Copy + 'static,
) {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (module, memory) = (module.clone(), memory.clone());
            std::thread::spawn(move || {
                let mut store = Store::new(module.engine(), ());
                let import = Extern::SharedMemory(memory);
                let instance = Instance::new(&mut store, &module, &[import]).unwrap();
                f(&mut store, instance, t);
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

#[test]
fn eight_threads_increment_one_counter_exactly() {
    for style in STYLES {
        let engine = engine(style);
        let module = Module::new(&engine, COUNTER).unwrap();
        let memory = SharedMemory::new(&engine, MemoryType::shared(1, 1)).unwrap();
        on_threads(&module, &memory, 8, |store, instance, _| {
            let add = instance
                .get_typed_func::<i32, ()>(&mut *store, "add")
                .unwrap();
            add.call(&mut *store, 1_000_000).unwrap();
        });
        assert_eq!(read_i32(&memory, 0), 8_000_000, "{style:?}");
    }
}

#[test]
fn one_linker_definition_serves_stores_on_several_threads() {
    let engine = engine(MemoryStyle::BoundsChecked);
    let module = Module::new(&engine, COUNTER).unwrap();
    let memory = SharedMemory::new(&engine, MemoryType::shared(1, 1)).unwrap();
    let mut linker = lazuli::Linker::new(&engine);
    linker
        .define(Store::new(&engine, ()), "env", "memory", memory.clone())
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut store = Store::new(&engine, ());
                let instance = linker.instantiate(&mut store, &module).unwrap();
                let add = instance
                    .get_typed_func::<i32, ()>(&mut store, "add")
                    .unwrap();
                add.call(&mut store, 10_000).unwrap();
            });
        }
    });
    assert_eq!(read_i32(&memory, 0), 40_000);
    let mut unshared = lazuli::Linker::new(&engine);
    let mut store = Store::new(&engine, ());
    let plain = Memory::new(&mut store, MemoryType::new(1, Some(1))).unwrap();
    unshared.define(&store, "env", "memory", plain).unwrap();
    let err = unshared.instantiate(&mut store, &module).unwrap_err();
    assert!(
        err.to_string().contains("incompatible import type"),
        "{err}"
    );
}

#[test]
fn two_threads_play_a_thousand_rounds_of_ping_pong_through_wait_and_notify() {
    let engine = engine(MemoryStyle::Guarded);
    let module = Module::new(&engine, PING_PONG).unwrap();
    let memory = SharedMemory::new(&engine, MemoryType::shared(1, 1)).unwrap();
    on_threads(&module, &memory, 2, |store, instance, me| {
        let play = instance
            .get_typed_func::<(i32, i32), ()>(&mut *store, "play")
            .unwrap();
        play.call(&mut *store, (me, 1000)).unwrap();
    });
    assert_eq!(read_i32(&memory, 4), 2000, "every move of both players");
    assert_eq!(read_i32(&memory, 0), 0, "the turn came back to the first");
}

/// An instance of `probes(shared)` in a store of a default engine.
fn probe_instance(style: MemoryStyle, shared: bool) -> (Store<()>, Instance) {
    let engine = engine(style);
    let module = Module::new(&engine, probes(shared)).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (store, instance)
}

fn trap_of(error: lazuli::Error) -> Trap {
    *error
        .downcast_ref::<Trap>()
        .unwrap_or_else(|| panic!("not a trap: {error:?}"))
}

#[test]
fn a_wait_times_out_with_2_and_a_changed_value_returns_1_at_once() {
    let (mut store, instance) = probe_instance(MemoryStyle::Guarded, true);
    let wait32 = instance
        .get_typed_func::<(i32, i32, i64), i32>(&mut store, "wait32")
        .unwrap();
    let wait64 = instance
        .get_typed_func::<(i32, i64, i64), i32>(&mut store, "wait64")
        .unwrap();
    let start = Instant::now();
    assert_eq!(wait32.call(&mut store, (8, 0, 20_000_000)).unwrap(), 2);
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(wait64.call(&mut store, (8, 0, 0)).unwrap(), 2);
    assert_eq!(wait32.call(&mut store, (8, 1, -1)).unwrap(), 1, "not equal");
    assert_eq!(wait64.call(&mut store, (8, 1, -1)).unwrap(), 1, "not equal");
    let notify = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "notify")
        .unwrap();
    assert_eq!(notify.call(&mut store, (8, 5)).unwrap(), 0, "nobody waits");
}

#[test]
fn waiting_on_an_unshared_memory_traps_and_notify_finds_nobody() {
    for style in STYLES {
        let (mut store, instance) = probe_instance(style, false);
        let wait32 = instance
            .get_typed_func::<(i32, i32, i64), i32>(&mut store, "wait32")
            .unwrap();
        let err = wait32.call(&mut store, (0, 0, 0)).unwrap_err();
        assert_eq!(trap_of(err), Trap::ExpectedSharedMemory, "{style:?}");
        assert_eq!(
            Trap::ExpectedSharedMemory.to_string(),
            "expected shared memory"
        );
        let notify = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "notify")
            .unwrap();
        assert_eq!(notify.call(&mut store, (0, 1)).unwrap(), 0);
    }
}

#[test]
fn unaligned_and_out_of_bounds_atomics_trap_on_shared_and_unshared_memories() {
    for (style, shared) in STYLES.into_iter().flat_map(|s| [(s, true), (s, false)]) {
        let (mut store, instance) = probe_instance(style, shared);
        let load = instance
            .get_typed_func::<i32, i32>(&mut store, "load")
            .unwrap();
        let load_offset = instance
            .get_typed_func::<i32, i64>(&mut store, "load_offset")
            .unwrap();
        let notify = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "notify")
            .unwrap();
        let wait64 = instance
            .get_typed_func::<(i32, i64, i64), i32>(&mut store, "wait64")
            .unwrap();
        let sub = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "rmw8_sub")
            .unwrap();
        let cmpxchg = instance
            .get_typed_func::<(i32, i64, i64), i64>(&mut store, "cmpxchg16")
            .unwrap();
        let case = format!("{style:?}, shared: {shared}");
        assert_eq!(load.call(&mut store, 4).unwrap(), 0, "{case}");
        assert_eq!(load_offset.call(&mut store, 4).unwrap(), 0, "{case}");
        let unaligned = [
            load.call(&mut store, 1).unwrap_err(),
            load_offset.call(&mut store, 2).unwrap_err(),
            notify.call(&mut store, (2, 1)).unwrap_err(),
            wait64.call(&mut store, (4, 0, 0)).unwrap_err(),
            cmpxchg.call(&mut store, (65535, 0, 1)).unwrap_err(),
        ];
        for err in unaligned {
            assert_eq!(trap_of(err), Trap::UnalignedAtomic, "{case}");
        }
        let out_of_bounds = [
            load.call(&mut store, 65536).unwrap_err(),
            load.call(&mut store, -4).unwrap_err(),
            load_offset.call(&mut store, 65532).unwrap_err(),
            notify.call(&mut store, (65536, 1)).unwrap_err(),
            wait64.call(&mut store, (-8, 0, 0)).unwrap_err(),
            sub.call(&mut store, (65536, 1)).unwrap_err(),
            cmpxchg.call(&mut store, (-2, 0, 1)).unwrap_err(),
        ];
        for err in out_of_bounds {
            assert_eq!(trap_of(err), Trap::MemoryOutOfBounds, "{case}");
        }
    }
}

#[test]
fn narrow_read_modify_writes_zero_extend_and_compare_the_low_bits() {
    let (mut store, instance) = probe_instance(MemoryStyle::BoundsChecked, false);
    let memory = instance.get_memory(&mut store, "mem").unwrap();
    memory.write(&mut store, 0, &[5, 0xAA, 0x34, 0x12]).unwrap();
    let sub = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "rmw8_sub")
        .unwrap();
    assert_eq!(sub.call(&mut store, (0, 7)).unwrap(), 5, "the old byte");
    let cmpxchg = instance
        .get_typed_func::<(i32, i64, i64), i64>(&mut store, "cmpxchg16")
        .unwrap();
    // 0x1234 matches the low 16 bits of the expected value only.
    let old = cmpxchg
        .call(&mut store, (2, 0x7_0000_1234, 0xFFFF_BEEF))
        .unwrap();
    assert_eq!(old, 0x1234);
    assert_eq!(memory.data(&store)[..4], [0xFE, 0xAA, 0xEF, 0xBE]);
}

#[test]
fn a_shared_memory_is_exported_as_one_and_never_as_a_memory() {
    let (mut store, instance) = probe_instance(MemoryStyle::Guarded, true);
    assert!(instance.get_memory(&mut store, "mem").is_none());
    let Some(Extern::SharedMemory(shared)) = instance.get_export(&mut store, "mem") else {
        panic!("the export is a shared memory");
    };
    assert_eq!(
        instance.get_shared_memory(&mut store, "mem"),
        Some(shared.clone())
    );
    assert!(shared.ty().is_shared());
    assert_eq!((shared.size(), shared.data_size()), (1, 65536));
    assert!(instance.all_memories(&store).is_empty());
    let refused = Memory::new(&mut store, MemoryType::shared(1, 1)).unwrap_err();
    assert!(
        refused.to_string().contains("SharedMemory::new"),
        "{refused}"
    );
}

#[test]
fn growth_from_the_host_is_seen_by_every_instance() {
    let engine = engine(MemoryStyle::BoundsChecked);
    let module = Module::new(
        &engine,
        r#"(module
          (import "env" "memory" (memory 1 4 shared))
          (func (export "size") (result i32) (memory.size))
          (func (export "load") (param i32) (result i32) (i32.atomic.load (local.get 0))))"#,
    )
    .unwrap();
    let memory = SharedMemory::new(&engine, MemoryType::shared(1, 4)).unwrap();
    let mut store = Store::new(&engine, ());
    let import = [Extern::SharedMemory(memory.clone())];
    let instance = Instance::new(&mut store, &module, &import).unwrap();
    let load = instance
        .get_typed_func::<i32, i32>(&mut store, "load")
        .unwrap();
    assert!(load.call(&mut store, 65536).is_err());
    assert_eq!(memory.grow(2).unwrap(), 1);
    memory.write(65536, &7i32.to_le_bytes()).unwrap();
    assert_eq!(load.call(&mut store, 65536).unwrap(), 7);
    let size = instance
        .get_typed_func::<(), i32>(&mut store, "size")
        .unwrap();
    assert_eq!(size.call(&mut store, ()).unwrap(), 3);
    assert!(memory.grow(2).is_err(), "past the maximum");
    assert_eq!(memory.ty(), MemoryType::shared(3, 4));
}

#[test]
fn shared_memories_need_threads_the_same_engine_and_a_shared_import() {
    let mut config = Config::new();
    config.wasm_threads(false);
    let off = Engine::new(&config).unwrap();
    assert!(SharedMemory::new(&off, MemoryType::shared(1, 1)).is_err());
    assert!(Module::new(&off, "(module (memory 1 1 shared))").is_err());
    let on = Engine::default();
    assert!(
        SharedMemory::new(&on, MemoryType::new(1, Some(1))).is_err(),
        "unshared type"
    );
    let module = Module::new(&on, COUNTER).unwrap();
    let other = Engine::default();
    let foreign = SharedMemory::new(&other, MemoryType::shared(1, 1)).unwrap();
    let mut store = Store::new(&on, ());
    let err = Instance::new(&mut store, &module, &[Extern::SharedMemory(foreign)]).unwrap_err();
    assert!(err.to_string().contains("another engine"), "{err}");
    let unshared = Memory::new(&mut store, MemoryType::new(1, Some(1))).unwrap();
    let err = Instance::new(&mut store, &module, &[Extern::Memory(unshared)]).unwrap_err();
    assert!(
        err.to_string().contains("incompatible import type"),
        "{err}"
    );
}

#[test]
fn engines_modules_and_shared_memories_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Engine>();
    send_sync::<Module>();
    send_sync::<SharedMemory>();
}

#[test]
fn a_shared_64_bit_memory_checks_64_bit_effective_addresses() {
    let engine = engine(MemoryStyle::Guarded);
    let module = Module::new(
        &engine,
        r#"(module
          (memory (export "mem") i64 1 1 shared)
          (func (export "load") (param i64) (result i64)
            (i64.atomic.load offset=8 (local.get 0)))
          (func (export "wait") (param i64) (result i32)
            (memory.atomic.wait32 offset=8 (local.get 0) (i32.const 1) (i64.const 0))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let shared = instance.get_shared_memory(&mut store, "mem").unwrap();
    assert_eq!(shared.ty(), MemoryType::shared64(1, 1));
    shared.write(16, &9u64.to_le_bytes()).unwrap();
    let load = instance
        .get_typed_func::<i64, i64>(&mut store, "load")
        .unwrap();
    let wait = instance
        .get_typed_func::<i64, i32>(&mut store, "wait")
        .unwrap();
    assert_eq!(load.call(&mut store, 8).unwrap(), 9);
    assert_eq!(wait.call(&mut store, 0).unwrap(), 1, "0 is not 1");
    assert_eq!(
        trap_of(load.call(&mut store, 4).unwrap_err()),
        Trap::UnalignedAtomic
    );
    // index + offset wraps around 2^64 to 0: out of bounds, not address 0.
    for index in [-8, 65536] {
        let err = load.call(&mut store, index).unwrap_err();
        assert_eq!(trap_of(err), Trap::MemoryOutOfBounds, "load at {index}");
        let err = wait.call(&mut store, index).unwrap_err();
        assert_eq!(trap_of(err), Trap::MemoryOutOfBounds, "wait at {index}");
    }
}

#[test]
fn the_last_page_is_accessible_whenever_another_thread_sees_it_grown() {
    // One thread grows the memory page by page while others keep reading the last
    // word of the size they see: a length published before its pages were
    // accessible would fault as out of bounds.
    let wat = r#"(module
      (import "env" "memory" (memory 1 64 shared))
      (func (export "grow") (param $n i32)
        (loop $again
          (drop (memory.grow (i32.const 1)))
          (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $again)))
      (func (export "probe") (param $n i32)
        (loop $again
          (drop (i32.atomic.load
            (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4))))
          (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $again))))"#;
    for style in STYLES {
        let engine = engine(style);
        let module = Module::new(&engine, wat).unwrap();
        let memory = SharedMemory::new(&engine, MemoryType::shared(1, 64)).unwrap();
        on_threads(&module, &memory, 3, |store, instance, t| {
            if t == 0 {
                let grow = instance
                    .get_typed_func::<i32, ()>(&mut *store, "grow")
                    .unwrap();
                grow.call(&mut *store, 63).unwrap();
            } else {
                let probe = instance
                    .get_typed_func::<i32, ()>(&mut *store, "probe")
                    .unwrap();
                probe.call(&mut *store, 200_000).unwrap();
            }
        });
        assert_eq!(memory.size(), 64, "{style:?}");
    }
}

/// A store of an engine that interrupts on epochs, waiting forever at a shared
/// memory nobody notifies, while another thread advances the epoch.
fn wait_forever_until_epoch(
    deadline: impl FnOnce(&mut Store<u32>),
) -> (Result<i32, lazuli::Error>, u32, Duration) {
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, probes(true)).unwrap();
    let mut store = Store::new(&engine, 0u32);
    store.set_epoch_deadline(1);
    deadline(&mut store);
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let wait32 = instance
        .get_typed_func::<(i32, i32, i64), i32>(&mut store, "wait32")
        .unwrap();
    let ticker = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            for _ in 0..4 {
                std::thread::sleep(Duration::from_millis(30));
                engine.increment_epoch();
            }
        })
    };
    let start = Instant::now();
    let result = wait32.call(&mut store, (0, 0, -1));
    let elapsed = start.elapsed();
    ticker.join().unwrap();
    (result, *store.data(), elapsed)
}

#[test]
fn a_wait_forever_ends_with_an_interrupt_when_the_epoch_deadline_passes() {
    let (result, _, elapsed) = wait_forever_until_epoch(|store| store.epoch_deadline_trap());
    assert_eq!(trap_of(result.unwrap_err()), Trap::Interrupt);
    assert!(elapsed >= Duration::from_millis(25), "{elapsed:?}");
}

#[test]
fn the_deadline_callback_may_let_a_wait_go_on_and_then_end_it() {
    let (result, calls, elapsed) = wait_forever_until_epoch(|store| {
        store.epoch_deadline_callback(|mut caller| {
            *caller.data_mut() += 1;
            match *caller.data() {
                1 => Ok(lazuli::UpdateDeadline::Continue(1)),
                _ => Err(lazuli::Error::msg("enough waiting")),
            }
        })
    });
    let error = result.unwrap_err();
    assert!(format!("{error:#}").contains("enough waiting"), "{error:#}");
    assert_eq!(calls, 2, "once to go on, once to stop");
    assert!(elapsed >= Duration::from_millis(55), "{elapsed:?}");
}
