//! Steady state: what lazy compilation costs once everything is compiled.
//!
//! In lazy mode every call between a module's functions goes through the
//! module's dispatch slot for the callee (a load of its code word and an indirect
//! call); in eager mode calls are direct. Two kernels, each run on a lazy and an
//! eager engine at the optimising tier (`Tiering::Optimized`) after a first call
//! has compiled everything, on a lazy engine at the fast tier (`Tiering::Fast`),
//! for what unoptimised code costs, and on a lazy tiered engine (`auto`:
//! `Tiering::Auto` with the default tier-up budget and background compilation),
//! for what tiering costs once the hot code has tiered up:
//!
//! - `fib30`: recursive `fib(30)`, 1.6 million calls;
//! - `sieve`: a sieve of Eratosthenes over 1 MB of linear memory, no calls.
//!
//! `cargo bench --bench steady_state` runs both and prints lazy/eager, fast/lazy
//! and auto/lazy ratios.

mod common;

use common::{mean, record};
use criterion::Criterion;
use lazuli::{Compilation, Config, Engine, Linker, Module, Store, Tiering, TypedFunc};
use std::time::{Duration, Instant};

/// `fib` and `sieve`, shared with `cargo xtask compare`.
const WAT: &str = include_str!("common/kernels.wat");

const FIB_N: i32 = 30;
const FIB_RESULT: i32 = 832_040;
const SIEVE_N: i32 = 1_000_000;
const SIEVE_RESULT: i32 = 78_498;

const SAMPLE_SIZE: usize = 20;

/// An instance of the kernels on an engine compiling as `compilation` at `tiering`,
/// with `name` compiled by a first call.
fn kernel(
    compilation: Compilation,
    tiering: Tiering,
    name: &str,
    arg: i32,
) -> (Store<()>, TypedFunc<i32, i32>) {
    let mut config = Config::new();
    config.compilation(compilation).tiering(tiering);
    let engine = Engine::new(&config).expect("host engine");
    let module = Module::new(&engine, WAT).expect("valid module");
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .expect("instantiates");
    let func = instance
        .get_typed_func::<i32, i32>(&mut store, name)
        .expect("exported");
    func.call(&mut store, arg).expect("runs");
    (store, func)
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let kernels = [
        ("fib30", "fib", FIB_N, FIB_RESULT),
        ("sieve", "sieve", SIEVE_N, SIEVE_RESULT),
    ];
    for (group_name, export, arg, expected) in kernels {
        let mut group = c.benchmark_group(group_name);
        group
            .sample_size(SAMPLE_SIZE)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        let engines = [
            ("lazy", Compilation::Lazy, Tiering::Optimized),
            ("eager", Compilation::Eager, Tiering::Optimized),
            ("fast", Compilation::Lazy, Tiering::Fast),
            ("auto", Compilation::Lazy, Tiering::Auto),
        ];
        for (name, compilation, tiering) in engines {
            let (mut store, func) = kernel(compilation, tiering, export, arg);
            let label = format!("{group_name}/{name}");
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        assert_eq!(func.call(&mut store, arg).unwrap(), expected);
                    }
                    let elapsed = start.elapsed();
                    record(&label, iters, elapsed);
                    elapsed
                })
            });
        }
        group.finish();
    }
    c.final_summary();

    for (group_name, ..) in kernels {
        let time = |name| mean(&format!("{group_name}/{name}"), SAMPLE_SIZE);
        if let (Some(lazy), Some(eager)) = (time("lazy"), time("eager")) {
            let target = if group_name == "fib30" {
                " (target <= 1.05)"
            } else {
                ""
            };
            println!(
                "{group_name}: lazy {:.3} ms, eager {:.3} ms: lazy/eager = {:.3}{target}",
                lazy * 1e3,
                eager * 1e3,
                lazy / eager
            );
        }
        if let (Some(fast), Some(lazy)) = (time("fast"), time("lazy")) {
            println!(
                "{group_name}: fast tier {:.3} ms: fast/lazy = {:.3}",
                fast * 1e3,
                fast / lazy
            );
        }
        if let (Some(auto), Some(lazy)) = (time("auto"), time("lazy")) {
            println!(
                "{group_name}: auto tier {:.3} ms: auto/lazy = {:.3} (target <= 1.05)",
                auto * 1e3,
                auto / lazy
            );
        }
    }
}
