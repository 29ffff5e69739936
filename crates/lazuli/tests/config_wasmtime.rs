//! The `Config` surface Wasmtime's tuning examples use (`pre_compile.rs`,
//! `fast_compilation.rs`, `fast_execution.rs`, `fast_instantiation.rs`), each
//! setting checked for what it does in Lazuli.

use lazuli::{
    Cache, CacheConfig, Compilation, Config, Engine, Instance, InstanceAllocationStrategy,
    MemoryStyle, Module, OptLevel, PoolingAllocationConfig, Store, Strategy, Tiering, Trap,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

/// A memory of 1 page that may grow to 4, with a data segment.
const MEMORY_WAT: &str = r#"(module
  (memory (export "memory") 1 4)
  (data (i32.const 100) "lazuli")
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;

/// Eight functions, for watching where an eager compile runs.
fn many_functions() -> String {
    let funcs: String = (0..8)
        .map(|i| format!("(func (export \"f{i}\") (result i32) (i32.const {i}))"))
        .collect();
    format!("(module {funcs})")
}

fn engine(config: &Config) -> Engine {
    Engine::new(config).unwrap()
}

/// The threads an eager compile of [`many_functions`] ran on.
fn compile_threads(parallel: bool) -> Vec<ThreadId> {
    let threads = Arc::new(Mutex::new(Vec::new()));
    let seen = threads.clone();
    let mut config = Config::new();
    config
        .compilation(Compilation::Eager)
        .parallel_compilation(parallel)
        .compile_progress(move |_, _| seen.lock().unwrap().push(std::thread::current().id()));
    Module::new(&engine(&config), many_functions()).unwrap();
    let threads = threads.lock().unwrap().clone();
    assert_eq!(threads.len(), 8, "one report per function");
    threads
}

#[test]
fn parallel_compilation_off_compiles_on_the_calling_thread() {
    let me = std::thread::current().id();
    assert!(compile_threads(false).iter().all(|t| *t == me));
}

#[test]
fn parallel_compilation_on_compiles_on_the_thread_pool() {
    let me = std::thread::current().id();
    assert!(compile_threads(true).iter().all(|t| *t != me));
}

#[test]
fn winch_is_refused_by_engine_new_with_its_name() {
    let err = Engine::new(Config::new().strategy(Strategy::Winch)).unwrap_err();
    assert!(err.to_string().contains("Winch"), "{err}");
    for strategy in [Strategy::Auto, Strategy::Cranelift] {
        let engine = engine(Config::new().strategy(strategy));
        assert_eq!(call(&engine, MEMORY_WAT, "load", 101), i32::from(b'a'));
    }
}

#[test]
fn target_checks_the_triple_at_the_call() {
    let mut config = Config::new();
    let err = config.target("not-a-triple").unwrap_err();
    assert!(err.to_string().contains("not-a-triple"), "{err}");
    let err = config.target("riscv64gc-unknown-linux-gnu").unwrap_err();
    assert!(err.to_string().contains("no code generator"), "{err}");
    // `pre_compile.rs`: an architecture alone is a target.
    config.target("x86_64").unwrap();
    let artifact = engine(&config).precompile_module(MEMORY_WAT.as_bytes());
    assert!(Module::is_precompiled(&artifact.unwrap()));
}

/// Instantiates `wat` and calls its `name(arg) -> i32`.
fn call(engine: &Engine, wat: &str, name: &str, arg: i32) -> i32 {
    try_call(engine, wat, name, arg).unwrap()
}

fn try_call(engine: &Engine, wat: &str, name: &str, arg: i32) -> lazuli::Result<i32> {
    let module = Module::new(engine, wat)?;
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &module, &[])?;
    let f = instance.get_typed_func::<i32, i32>(&mut store, name)?;
    f.call(&mut store, arg)
}

/// Whether memories of `config`'s engine are bounds-checked: its code is that of
/// a bounds-checked engine (the precompiled header compares every setting the
/// code depends on), and not that of a guarded one.
fn bounds_checked(config: &Config) -> bool {
    let artifact = engine(config)
        .precompile_module(MEMORY_WAT.as_bytes())
        .unwrap();
    let loads = |style| {
        let other = engine(Config::new().memory_style(style));
        // SAFETY: from `precompile_module`, for this host.
        unsafe { Module::deserialize(&other, &artifact) }.is_ok()
    };
    let checked = loads(MemoryStyle::BoundsChecked);
    assert_ne!(
        checked,
        loads(MemoryStyle::Guarded),
        "one style or the other"
    );
    checked
}

/// Growth works up to the maximum, and past the memory's end accesses trap.
fn check_memory_semantics(engine: &Engine) {
    let wat = r#"(module
      (memory 1 4)
      (func (export "grow_then_load") (param i32) (result i32)
        (drop (memory.grow (i32.const 2)))
        (i32.load (local.get 0))))"#;
    assert_eq!(call(engine, wat, "grow_then_load", 3 * 65536 - 4), 0);
    let err = try_call(engine, wat, "grow_then_load", 3 * 65536 - 3).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds));
    assert_eq!(call(engine, MEMORY_WAT, "grow", 3), 1);
    assert_eq!(call(engine, MEMORY_WAT, "grow", 4), -1, "past the maximum");
}

#[test]
fn a_small_memory_reservation_makes_memories_bounds_checked() {
    let mut config = Config::new();
    config.memory_reservation(1 << 20);
    assert!(bounds_checked(&config));
    check_memory_semantics(&engine(&config));
}

#[test]
fn a_small_memory_guard_makes_memories_bounds_checked() {
    let mut config = Config::new();
    config.memory_guard_size(64 << 10);
    assert!(bounds_checked(&config));
    check_memory_semantics(&engine(&config));
}

#[test]
fn four_gib_of_reservation_and_of_guard_keep_memories_guarded() {
    // `fast_execution.rs`.
    let mut config = Config::new();
    config
        .signals_based_traps(true)
        .memory_reservation(1 << 32)
        .memory_guard_size(1 << 32);
    assert!(!bounds_checked(&config));
    assert!(!bounds_checked(&Config::new()), "the default");
    config.memory_style(MemoryStyle::BoundsChecked);
    assert!(bounds_checked(&config), "the last call decides");
}

#[test]
fn signals_based_traps_off_makes_memories_bounds_checked() {
    let mut config = Config::new();
    config.signals_based_traps(false);
    assert!(bounds_checked(&config));
    check_memory_semantics(&engine(&config));
}

/// The path of the file mapped at `addr` in this process (`None` for anonymous
/// memory).
fn mapped_file(addr: usize) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let line = maps.lines().find(|line| {
        let range = line.split(' ').next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let parse = |s| usize::from_str_radix(s, 16).unwrap();
        (parse(start)..parse(end)).contains(&addr)
    })?;
    let path = line.split_whitespace().nth(5)?;
    Some(path.to_string())
}

/// The first bytes of the memory of [`MEMORY_WAT`] instantiated with
/// copy-on-write `cow`, and the file mapped where its data segment lies.
fn instantiate_data(cow: bool) -> (Vec<u8>, Option<String>) {
    let engine = engine(Config::new().memory_init_cow(cow));
    let module = Module::new(&engine, MEMORY_WAT).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    let data = memory.data(&store);
    let file = mapped_file(data.as_ptr() as usize + 100);
    (data[..4096].to_vec(), file)
}

#[test]
fn memory_init_cow_on_and_off_give_the_same_memory() {
    let (with_image, file) = instantiate_data(true);
    assert!(file.is_some_and(|f| f.contains("lazuli-memory-image")));
    let (copied, file) = instantiate_data(false);
    assert_eq!(file, None, "the segment was copied into anonymous memory");
    assert_eq!(with_image, copied);
    assert_eq!(&copied[100..106], b"lazuli");
}

#[test]
fn an_artifact_from_another_opt_level_is_refused() {
    let mut none = Config::new();
    none.cranelift_opt_level(OptLevel::None);
    let artifact = engine(&none).precompile_module(MEMORY_WAT.as_bytes());
    let artifact = artifact.unwrap();
    for (level, loads) in [
        (OptLevel::None, true),
        (OptLevel::Speed, false),
        (OptLevel::SpeedAndSize, false),
    ] {
        let other = engine(Config::new().cranelift_opt_level(level));
        // SAFETY: from `precompile_module`, for this host.
        let module = unsafe { Module::deserialize(&other, &artifact) };
        assert_eq!(module.is_ok(), loads, "{level:?}");
    }
}

/// A fresh directory for a code cache.
fn cache_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "lazuli-config-wasmtime-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The cache hits of compiling [`MEMORY_WAT`] eagerly with `config` and a cache
/// in `dir`.
fn cache_hits(config: &mut Config, dir: &Path) -> u64 {
    let mut cache = CacheConfig::new();
    cache.with_directory(dir);
    config
        .cache(Some(Cache::new(cache).unwrap()))
        .compilation(Compilation::Eager)
        .tiering(Tiering::Optimized)
        .background_compilation(false);
    let module = Module::new(&engine(config), MEMORY_WAT).unwrap();
    module.compile_stats().cache_hits
}

#[test]
fn the_opt_level_and_cranelift_flags_are_part_of_the_cache_key() {
    let dir = cache_dir("key");
    assert_eq!(cache_hits(&mut Config::new(), &dir), 0, "a cold cache");
    assert!(
        cache_hits(&mut Config::new(), &dir) > 0,
        "the same settings"
    );
    let mut none = Config::new();
    none.cranelift_opt_level(OptLevel::None);
    assert_eq!(cache_hits(&mut none, &dir), 0, "another opt level");
    let mut nan = Config::new();
    // SAFETY: NaN canonicalisation changes no Wasm semantics.
    unsafe { nan.cranelift_flag_enable("enable_nan_canonicalization") };
    assert_eq!(cache_hits(&mut nan, &dir), 0, "another flag");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_artifact_from_engines_with_other_cranelift_flags_is_refused() {
    let mut nan = Config::new();
    // SAFETY: NaN canonicalisation changes no Wasm semantics.
    unsafe { nan.cranelift_flag_set("enable_nan_canonicalization", "true") };
    let with_flag = engine(&nan);
    assert_eq!(call(&with_flag, MEMORY_WAT, "load", 102), i32::from(b'z'));
    let artifact = with_flag.precompile_module(MEMORY_WAT.as_bytes());
    let artifact = artifact.unwrap();
    // SAFETY: from `precompile_module`, for this host.
    let err = unsafe { Module::deserialize(&engine(&Config::new()), &artifact) }.unwrap_err();
    assert!(err.to_string().contains("other settings"), "{err}");
    // SAFETY: as above.
    assert!(unsafe { Module::deserialize(&with_flag, &artifact) }.is_ok());
}

/// The error of `Engine::new` with the Cranelift `flag` (with a value if given).
fn flag_error(flag: &str, value: Option<&str>) -> String {
    let mut config = Config::new();
    // SAFETY: the engine is refused before it compiles anything.
    unsafe {
        match value {
            Some(value) => config.cranelift_flag_set(flag, value),
            None => config.cranelift_flag_enable(flag),
        }
    };
    Engine::new(&config).unwrap_err().to_string()
}

#[test]
fn unknown_or_bad_cranelift_flags_fail_engine_new_naming_them() {
    let err = flag_error("no_such_flag", None);
    assert!(err.contains("no_such_flag"), "{err}");
    let err = flag_error("opt_level", Some("fastest"));
    assert!(
        err.contains("opt_level") && err.contains("fastest"),
        "{err}"
    );
    let err = flag_error("opt_level", None);
    assert!(err.contains("opt_level"), "not a boolean: {err}");
    let err = flag_error("preserve_frame_pointers", Some("false"));
    assert!(err.contains("Lazuli relies on it"), "{err}");
}

#[test]
fn target_specific_cranelift_flags_are_accepted() {
    let flag = match cfg!(target_arch = "aarch64") {
        true => "has_lse",
        false => "has_sse41",
    };
    let mut config = Config::new();
    // SAFETY: the engine compiles nothing that runs (only checks the flag).
    unsafe { config.cranelift_flag_enable(flag) };
    Engine::new(&config).unwrap();
}

#[test]
fn target_specific_cranelift_flags_are_part_of_the_artifact_settings() {
    // For another target, so that the flag is not one the host has already.
    let (triple, flag) = match cfg!(target_arch = "aarch64") {
        true => ("x86_64-unknown-linux-gnu", "has_avx2"),
        false => ("aarch64-unknown-linux-gnu", "has_lse"),
    };
    let mut baseline = Config::new();
    baseline.target(triple).unwrap();
    let mut with_flag = baseline.clone();
    // SAFETY: code for another target never runs here.
    unsafe { with_flag.cranelift_flag_enable(flag) };
    let artifact = engine(&with_flag).precompile_module(MEMORY_WAT.as_bytes());
    let artifact = artifact.unwrap();
    // SAFETY: from `precompile_module`; an engine for another target runs nothing.
    assert!(unsafe { Module::deserialize(&engine(&with_flag), &artifact) }.is_ok());
    // SAFETY: as above.
    assert!(unsafe { Module::deserialize(&engine(&baseline), &artifact) }.is_err());
}

/// An engine pooling with `pool`.
fn pooling(pool: &PoolingAllocationConfig) -> Engine {
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(*pool));
    engine(&config)
}

#[test]
fn the_pool_limits_live_instances_over_all_stores() {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(2);
    let engine = pooling(&pool);
    let module = Module::new(&engine, "(module)").unwrap();
    let mut first = Store::new(&engine, ());
    Instance::new(&mut first, &module, &[]).unwrap();
    let mut second = Store::new(&engine, ());
    Instance::new(&mut second, &module, &[]).unwrap();
    let err = Instance::new(&mut second, &module, &[]).unwrap_err();
    assert!(err.to_string().contains("2 live instances"), "{err}");
    drop(first);
    Instance::new(&mut second, &module, &[]).unwrap();
}

#[test]
fn the_pool_limits_live_tables_and_their_elements() {
    let wat = r#"(module (table 2 funcref)
      (func (export "grow") (param i32) (result i32)
        (table.grow (ref.null func) (local.get 0))))"#;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_tables(1).table_elements(5);
    let engine = pooling(&pool);
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let grow = instance.get_typed_func::<i32, i32>(&mut store, "grow");
    let grow = grow.unwrap();
    assert_eq!(grow.call(&mut store, 3).unwrap(), 2);
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1, "past 5 elements");
    let err = Instance::new(&mut store, &module, &[]).unwrap_err();
    assert!(err.to_string().contains("1 live tables"), "{err}");
    drop(store);
    let big = Module::new(&engine, "(module (table 6 funcref))").unwrap();
    let err = Instance::new(&mut Store::new(&engine, ()), &big, &[]).unwrap_err();
    assert!(err.to_string().contains("table of 6 elements"), "{err}");
}

#[test]
fn the_pool_limits_each_memory_to_max_memory_size() {
    let mut pool = PoolingAllocationConfig::new();
    pool.max_memory_size(2 << 16);
    let engine = pooling(&pool);
    assert_eq!(call(&engine, MEMORY_WAT, "grow", 1), 1);
    assert_eq!(call(&engine, MEMORY_WAT, "grow", 2), -1, "past 2 pages");
}

#[test]
fn a_cache_stores_compiled_code_in_its_directory() {
    let dir = cache_dir("store");
    let mut config = CacheConfig::new();
    config.with_directory(&dir);
    let cache = Cache::new(config).unwrap();
    assert_eq!(cache.directory(), &dir);
    assert!(dir.is_dir(), "made by `Cache::new`");
    let engine = engine(Config::new().cache(Some(cache)));
    let module = Module::new(&engine, MEMORY_WAT).unwrap();
    let mut store = Store::new(&engine, ());
    Instance::new(&mut store, &module, &[]).unwrap();
    drop((store, module, engine));
    assert!(dir.join("key").is_file(), "the cache's secret");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cache_from_a_configuration_file_is_refused() {
    let err = Cache::from_file(Some("cache.toml".as_ref())).unwrap_err();
    assert!(err.to_string().contains("cache.toml"), "{err}");
}
