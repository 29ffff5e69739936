//! Instantiation of an already-compiled module (issue 11's targets: an empty module
//! ≤ 2 µs, a module with one 1 MiB data segment ≤ 5 µs).
//!
//! - `instantiate/*`: `Instance::new` alone, into a store that takes 100 instances
//!   before it is replaced (creating and dropping stores is not timed).
//! - `store_and_instantiate/*`: a new `Store`, `Instance::new` and dropping the
//!   store, as a host instantiating per request does; dropping unmaps the memory.
//!
//! Modules: `empty`; `data_1mib`, a 16-page memory with one 1 MiB segment at a
//! constant offset (mapped from the module's copy-on-write image); `data_1mib_copied`,
//! the same segment at an imported global's offset, which is copied; `data_16b`, one
//! 16-byte segment in a one-page memory (an image of one host page), and
//! `data_16b_copied`, copied.
//!
//! The `pooling_*` groups do the same with `InstanceAllocationStrategy::Pooling`
//! (1,000 memories of up to 16 pages), where a dropped memory's reservation is
//! reset and reused.
//!
//! `cargo bench --bench instantiation` prints per-instantiation means at the end.

mod common;

use common::{mean, record};
use criterion::Criterion;
use lazuli::{
    Config, Engine, Extern, Global, GlobalType, Instance, InstanceAllocationStrategy, Module,
    Mutability, PoolingAllocationConfig, Store, Val, ValType,
};
use std::time::{Duration, Instant};

const SAMPLE_SIZE: usize = 30;
/// Instances per store in `instantiate/*`.
const PER_STORE: u64 = 100;

/// 1 MiB of letters, as a WAT string.
fn one_mib() -> String {
    (0..1 << 20)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect()
}

fn modules(engine: &Engine) -> Vec<(&'static str, Module)> {
    let data = one_mib();
    let wats = [
        ("empty", "(module)".to_string()),
        (
            "data_1mib",
            format!(r#"(module (memory 16) (data (i32.const 0) "{data}"))"#),
        ),
        (
            "data_1mib_copied",
            format!(
                r#"(module (import "host" "offset" (global i32)) (memory 16)
                     (data (global.get 0) "{data}"))"#
            ),
        ),
        (
            "data_16b",
            r#"(module (memory 1) (data (i32.const 64) "sixteen bytes..."))"#.to_string(),
        ),
        (
            "data_16b_copied",
            r#"(module (import "host" "offset" (global i32)) (memory 1)
                 (data (global.get 0) "sixteen bytes..."))"#
                .to_string(),
        ),
    ];
    wats.into_iter()
        .map(|(name, wat)| (name, Module::new(engine, wat).expect("valid module")))
        .collect()
}

/// The module's imports in `store`: the offset global if it has one.
fn imports(store: &mut Store<()>, module: &Module) -> Vec<Extern> {
    if module.imports().len() == 0 {
        return Vec::new();
    }
    let ty = GlobalType::new(ValType::I32, Mutability::Const);
    vec![Extern::Global(Global::new(store, ty, Val::I32(0)).unwrap())]
}

fn pooling_engine() -> Engine {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_memories(1000).max_memory_size(16 << 16);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).expect("valid config")
}

fn bench_instantiate(c: &mut Criterion, prefix: &str, engine: &Engine, modules: &[(&str, Module)]) {
    let mut group = c.benchmark_group(format!("{prefix}instantiate"));
    group
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, module) in modules {
        let label = format!("{prefix}instantiate/{name}");
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let mut store = Store::new(engine, ());
                    let imports = imports(&mut store, module);
                    let batch = PER_STORE.min(iters - done);
                    let start = Instant::now();
                    for _ in 0..batch {
                        Instance::new(&mut store, module, &imports).unwrap();
                    }
                    elapsed += start.elapsed();
                    done += batch;
                }
                record(&label, iters, elapsed);
                elapsed
            })
        });
    }
    group.finish();
}

fn bench_store_and_instantiate(
    c: &mut Criterion,
    prefix: &str,
    engine: &Engine,
    modules: &[(&str, Module)],
) {
    let mut group = c.benchmark_group(format!("{prefix}store_and_instantiate"));
    group
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, module) in modules {
        let label = format!("{prefix}store_and_instantiate/{name}");
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut store = Store::new(engine, ());
                    let imports = imports(&mut store, module);
                    Instance::new(&mut store, module, &imports).unwrap();
                }
                let elapsed = start.elapsed();
                record(&label, iters, elapsed);
                elapsed
            })
        });
    }
    group.finish();
}

fn main() {
    let engines = [("", Engine::default()), ("pooling_", pooling_engine())];
    let mut c = Criterion::default().configure_from_args();
    let mut names = Vec::new();
    for (prefix, engine) in &engines {
        let modules = modules(engine);
        bench_instantiate(&mut c, prefix, engine, &modules);
        bench_store_and_instantiate(&mut c, prefix, engine, &modules);
        names = modules.iter().map(|(name, _)| *name).collect();
    }
    c.final_summary();

    for (prefix, _) in &engines {
        for group in ["instantiate", "store_and_instantiate"] {
            for name in &names {
                let label = format!("{prefix}{group}/{name}");
                if let Some(t) = mean(&label, SAMPLE_SIZE) {
                    println!("{label}: {:.2} µs", t * 1e6);
                }
            }
        }
    }
}
