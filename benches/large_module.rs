//! Start-up and compile throughput on a large generated module.
//!
//! - `first_result`: time from the module's bytes to the first result of one
//!   export (`Module::from_binary` + instantiate + first call), on a module of
//!   20,000 functions and more than 10 MiB of code: eager compilation, lazy
//!   compilation (eager validation, the default) and lazy compilation with lazy
//!   validation.
//! - `eager_throughput`: eager compilation (validation included) of a module of
//!   2,000 such functions, in bytes of Wasm code per second, on one thread and
//!   on all of rayon's threads.
//!
//! `cargo bench --bench large_module` runs both and prints the ratios at the end.

mod common;
#[path = "common/generator.rs"]
mod generator;

use common::{mean, record};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use generator::{ARG, Generated, generate};
use lazuli::{Compilation, Config, Engine, Linker, Module, Store, Validation};
use std::time::{Duration, Instant};

/// Functions in the start-up module.
const LARGE_FUNCTIONS: u32 = 20_000;
/// Functions in the throughput module (eager single-threaded compilation of the
/// large one would take minutes per sample on this machine).
const THROUGHPUT_FUNCTIONS: u32 = 2_000;
fn engine(compilation: Compilation, validation: Validation) -> Engine {
    let mut config = Config::new();
    config.compilation(compilation).validation(validation);
    Engine::new(&config).expect("host engine")
}

/// Loads `bytes`, instantiates it and calls `run` once; returns the result and
/// the module (dropped by the caller, outside the timed region).
fn first_result(engine: &Engine, bytes: &[u8]) -> (i32, Module, Store<()>) {
    let module = Module::from_binary(engine, bytes).expect("valid module");
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine)
        .instantiate(&mut store, &module)
        .expect("instantiates");
    let run = instance
        .get_typed_func::<i32, i32>(&mut store, "run")
        .expect("exported");
    let result = run.call(&mut store, ARG).expect("runs");
    (result, module, store)
}

const FIRST_RESULT_SAMPLES: usize = 10;
const THROUGHPUT_SAMPLES: usize = 10;

fn bench_first_result(c: &mut Criterion, large: &Generated) {
    let mut group = c.benchmark_group("first_result");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(FIRST_RESULT_SAMPLES)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let (expected, module, _) =
        first_result(&engine(Compilation::Lazy, Validation::Lazy), &large.bytes);
    let stats = module.compile_stats();
    println!(
        "lazy first call of `run` compiled {} function(s): {} bytes of Wasm, {} of code, in {:.2?}",
        stats.functions_compiled, stats.wasm_bytes, stats.code_bytes, stats.compile_time
    );
    let configs = [
        ("lazy", Compilation::Lazy, Validation::Eager),
        ("lazy_lazy_validation", Compilation::Lazy, Validation::Lazy),
        ("eager", Compilation::Eager, Validation::Eager),
    ];
    for (name, compilation, validation) in configs {
        let engine = engine(compilation, validation);
        if compilation == Compilation::Eager {
            // 5-10 s per iteration on 2 cores: give criterion the time it needs
            // for 10 samples of one iteration instead of a warning.
            group.measurement_time(Duration::from_secs(80));
        }
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let (result, module, store) = first_result(&engine, &large.bytes);
                    elapsed += start.elapsed();
                    assert_eq!(result, expected, "{name}");
                    drop((store, module));
                }
                record(&format!("first_result/{name}"), iters, elapsed);
                elapsed
            })
        });
    }
    group.finish();
}

fn bench_eager_throughput(c: &mut Criterion, small: &Generated) {
    let mut group = c.benchmark_group("eager_throughput");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(THROUGHPUT_SAMPLES)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Bytes(small.code_bytes as u64));
    let engine = engine(Compilation::Eager, Validation::Eager);
    let mut thread_counts = vec![1];
    if rayon::current_num_threads() > 1 {
        thread_counts.push(rayon::current_num_threads());
    }
    for threads in thread_counts {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let label = format!("eager_throughput/threads/{threads}");
        group.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let module = pool.install(|| Module::from_binary(&engine, &small.bytes));
                    elapsed += start.elapsed();
                    let module = module.expect("valid module");
                    assert_eq!(
                        module.compile_stats().functions_compiled,
                        THROUGHPUT_FUNCTIONS as usize
                    );
                }
                record(&label, iters, elapsed);
                elapsed
            })
        });
    }
    group.finish();
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let start = Instant::now();
    let large = generate(LARGE_FUNCTIONS);
    println!(
        "large module: {LARGE_FUNCTIONS} functions, {:.2} MiB of code ({} bytes), \
         {:.2} MiB in all, generated in {:.2?}",
        mib(large.code_bytes),
        large.code_bytes,
        mib(large.bytes.len()),
        start.elapsed()
    );
    assert!(large.code_bytes >= 10 << 20, "at least 10 MiB of code");
    let small = generate(THROUGHPUT_FUNCTIONS);
    println!(
        "throughput module: {THROUGHPUT_FUNCTIONS} functions, {:.2} MiB of code",
        mib(small.code_bytes)
    );

    bench_first_result(&mut c, &large);
    bench_eager_throughput(&mut c, &small);
    c.final_summary();

    let first = |name| mean(&format!("first_result/{name}"), FIRST_RESULT_SAMPLES);
    if let (Some(eager), Some(lazy)) = (first("eager"), first("lazy")) {
        println!(
            "first_result: eager {:.3} s, lazy {:.2} ms: lazy is {:.0}x faster (target >= 50x)",
            eager,
            lazy * 1e3,
            eager / lazy
        );
    }
    if let (Some(eager), Some(lazy)) = (first("eager"), first("lazy_lazy_validation")) {
        println!(
            "first_result: eager {:.3} s, lazy with lazy validation {:.2} ms: {:.0}x faster",
            eager,
            lazy * 1e3,
            eager / lazy
        );
    }
    let all = rayon::current_num_threads();
    let throughput = |threads: usize| {
        mean(
            &format!("eager_throughput/threads/{threads}"),
            THROUGHPUT_SAMPLES,
        )
        .map(|t| mib(small.code_bytes) / t)
    };
    if let (Some(one), Some(many)) = (throughput(1), throughput(all)) {
        println!(
            "eager_throughput: 1 thread {one:.2} MiB/s, {all} threads {many:.2} MiB/s: {:.2}x",
            many / one
        );
    }
}
