//! `compare [--quick]`: Lazuli against Wasmtime, wasmi and native Rust, in one process,
//! on the same inputs, reported as ratios.
//!
//! - steady state: recursive `fib(30)` and a sieve over 1 MB of linear memory, once
//!   everything is compiled (Lazuli lazy and eager, Wasmtime, wasmi, and the same
//!   algorithms in Rust);
//! - host→Wasm call overhead of a typed `() -> ()` call;
//! - time to first result (`from_binary` + instantiate + first call) on a generated
//!   module of 10,000 functions.
//!
//! Every figure is the median of several runs, the runtimes taking turns run by run so
//! that a change in the machine's load hits all of them alike. Every runtime must
//! return the same result for each workload, or the comparison fails.
//!
//! The peers are optional dependencies behind xtask's `compare` feature, so that a plain
//! build of xtask does not compile Wasmtime; without the feature, `compare` re-runs
//! xtask through cargo with it.
//!
//! `compare --whole-process` is another measurement, of whole processes: see
//! [`crate::whole_process`].

use anyhow::Result;

/// Re-runs xtask as `cargo run --release --package xtask --features compare -- compare
/// ARGS` (stdio inherited) and exits with its status.
#[cfg(not(feature = "compare"))]
pub fn run(args: &[&str]) -> Result<()> {
    use anyhow::Context;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?;
    let status = std::process::Command::new(cargo)
        .current_dir(root)
        .args(["run", "--release", "--package", "xtask", "--features"])
        .args(["compare", "--", "compare"])
        .args(args)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

#[cfg(feature = "compare")]
pub fn run(args: &[&str]) -> Result<()> {
    let quick = match args {
        [] => false,
        ["--quick"] => true,
        _ => anyhow::bail!("usage: cargo xtask compare [--quick]"),
    };
    measure::run(quick)
}

/// The large module of `benches/large_module.rs`, shared with it (and with
/// `compare --whole-process`, which needs no feature).
#[path = "../../benches/common/generator.rs"]
pub(crate) mod generator;

#[cfg(feature = "compare")]
mod measure {
    use std::any::Any;
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use anyhow::{Context, Result, anyhow, ensure};
    use lazuli::{Compilation, Validation};

    /// `fib` and `sieve`, shared with `benches/steady_state.rs`.
    const WAT: &str = include_str!("../../benches/common/kernels.wat");

    /// A steady-state kernel: an export `(i32) -> i32` and its Rust twin.
    struct Kernel {
        workload: &'static str,
        export: &'static str,
        arg: i32,
        expected: i32,
    }

    const KERNELS: [Kernel; 2] = [
        Kernel {
            workload: "fib(30)",
            export: "fib",
            arg: 30,
            expected: 832_040,
        },
        Kernel {
            workload: "sieve(1,000,000)",
            export: "sieve",
            arg: 1_000_000,
            expected: 78_498,
        },
    ];

    #[inline(never)]
    fn native_fib(n: i32) -> i32 {
        if (n as u32) < 2 {
            n
        } else {
            native_fib(n - 1).wrapping_add(native_fib(n - 2))
        }
    }

    /// The Wasm `sieve`, with `flags` as its linear memory.
    #[inline(never)]
    fn native_sieve(flags: &mut [u8], n: i32) -> i32 {
        let n = n as u32 as usize;
        for flag in &mut flags[..n] {
            *flag = 0;
        }
        let mut count = 0i32;
        for i in 2..n {
            if flags[i] == 0 {
                count = count.wrapping_add(1);
                if i < 65_536 {
                    let mut j = i * i;
                    while j < n {
                        flags[j] = 1;
                        j += i;
                    }
                }
            }
        }
        count
    }

    /// Calls an export `(i32) -> i32` of its own instance.
    type Call = Box<dyn FnMut(i32) -> Result<i32>>;
    /// Calls an export `() -> ()` of its own instance that many times.
    type Calls = Box<dyn FnMut(u64) -> Result<()>>;

    enum Engine {
        Native,
        Lazuli(lazuli::Engine),
        Wasmtime(wasmtime::Engine),
        Wasmi(wasmi::Engine),
    }

    /// Wasmtime's error type is not a `std::error::Error`.
    fn wt<T>(r: wasmtime::Result<T>) -> Result<T> {
        r.map_err(|e| anyhow!("wasmtime: {e:?}"))
    }

    impl Engine {
        fn lazuli(compilation: Compilation, validation: Validation) -> Result<Self> {
            let mut config = lazuli::Config::new();
            config.compilation(compilation).validation(validation);
            Ok(Engine::Lazuli(lazuli::Engine::new(&config)?))
        }

        /// Lazy compilation, eager validation.
        fn lazuli_default() -> Result<Self> {
            Self::lazuli(Compilation::Lazy, Validation::Eager)
        }

        fn wasmtime() -> Result<Self> {
            Ok(Engine::Wasmtime(wt(wasmtime::Engine::new(
                &wasmtime::Config::new(),
            ))?))
        }

        fn wasmi(mode: wasmi::CompilationMode) -> Self {
            let mut config = wasmi::Config::default();
            config.compilation_mode(mode);
            Engine::Wasmi(wasmi::Engine::new(&config))
        }

        /// A fresh instance of `wasm` and a closure calling its export `name`.
        fn call(&self, wasm: &[u8], name: &str) -> Result<Call> {
            Ok(match self {
                Engine::Native => match name {
                    "fib" => Box::new(|n| Ok(native_fib(n))),
                    "sieve" => {
                        let mut flags = vec![0u8; 16 << 16];
                        Box::new(move |n| Ok(native_sieve(&mut flags, n)))
                    }
                    _ => anyhow::bail!("no native `{name}`"),
                },
                Engine::Lazuli(engine) => {
                    let module = lazuli::Module::from_binary(engine, wasm)?;
                    let mut store = lazuli::Store::new(engine, ());
                    let instance = lazuli::Linker::new(engine).instantiate(&mut store, &module)?;
                    let f = instance.get_typed_func::<i32, i32>(&mut store, name)?;
                    Box::new(move |x| f.call(&mut store, x))
                }
                Engine::Wasmtime(engine) => {
                    let module = wt(wasmtime::Module::from_binary(engine, wasm))?;
                    let mut store = wasmtime::Store::new(engine, ());
                    let linker = wasmtime::Linker::<()>::new(engine);
                    let instance = wt(linker.instantiate(&mut store, &module))?;
                    let f = wt(instance.get_typed_func::<i32, i32>(&mut store, name))?;
                    Box::new(move |x| wt(f.call(&mut store, x)))
                }
                Engine::Wasmi(engine) => {
                    let module = wasmi::Module::new(engine, wasm)?;
                    let mut store = wasmi::Store::new(engine, ());
                    let linker = wasmi::Linker::<()>::new(engine);
                    let instance = linker.instantiate_and_start(&mut store, &module)?;
                    let f = instance.get_typed_func::<i32, i32>(&store, name)?;
                    Box::new(move |x| Ok(f.call(&mut store, x)?))
                }
            })
        }

        /// A fresh instance of `wasm` and a closure calling its `() -> ()` export
        /// `name` n times, each runtime's call inlined into its own loop.
        fn calls(&self, wasm: &[u8], name: &str) -> Result<Calls> {
            Ok(match self {
                Engine::Native => anyhow::bail!("no native call-overhead figure"),
                Engine::Lazuli(engine) => {
                    let module = lazuli::Module::from_binary(engine, wasm)?;
                    let mut store = lazuli::Store::new(engine, ());
                    let instance = lazuli::Linker::new(engine).instantiate(&mut store, &module)?;
                    let f = instance.get_typed_func::<(), ()>(&mut store, name)?;
                    Box::new(move |n| {
                        for _ in 0..n {
                            f.call(&mut store, ())?;
                        }
                        Ok(())
                    })
                }
                Engine::Wasmtime(engine) => {
                    let module = wt(wasmtime::Module::from_binary(engine, wasm))?;
                    let mut store = wasmtime::Store::new(engine, ());
                    let linker = wasmtime::Linker::<()>::new(engine);
                    let instance = wt(linker.instantiate(&mut store, &module))?;
                    let f = wt(instance.get_typed_func::<(), ()>(&mut store, name))?;
                    Box::new(move |n| {
                        for _ in 0..n {
                            wt(f.call(&mut store, ()))?;
                        }
                        Ok(())
                    })
                }
                Engine::Wasmi(engine) => {
                    let module = wasmi::Module::new(engine, wasm)?;
                    let mut store = wasmi::Store::new(engine, ());
                    let linker = wasmi::Linker::<()>::new(engine);
                    let instance = linker.instantiate_and_start(&mut store, &module)?;
                    let f = instance.get_typed_func::<(), ()>(&store, name)?;
                    Box::new(move |n| {
                        for _ in 0..n {
                            f.call(&mut store, ())?;
                        }
                        Ok(())
                    })
                }
            })
        }

        /// Loads `wasm`, instantiates it and calls its export `run` once. Returns the
        /// result and what must be dropped after the clock has stopped.
        fn first_result(&self, wasm: &[u8], arg: i32) -> Result<(i32, Box<dyn Any>)> {
            Ok(match self {
                Engine::Native => anyhow::bail!("no native first result"),
                Engine::Lazuli(engine) => {
                    let module = lazuli::Module::from_binary(engine, wasm)?;
                    let mut store = lazuli::Store::new(engine, ());
                    let instance = lazuli::Linker::new(engine).instantiate(&mut store, &module)?;
                    let f = instance.get_typed_func::<i32, i32>(&mut store, "run")?;
                    (f.call(&mut store, arg)?, Box::new((module, store)))
                }
                Engine::Wasmtime(engine) => {
                    let module = wt(wasmtime::Module::from_binary(engine, wasm))?;
                    let mut store = wasmtime::Store::new(engine, ());
                    let linker = wasmtime::Linker::<()>::new(engine);
                    let instance = wt(linker.instantiate(&mut store, &module))?;
                    let f = wt(instance.get_typed_func::<i32, i32>(&mut store, "run"))?;
                    (wt(f.call(&mut store, arg))?, Box::new((module, store)))
                }
                Engine::Wasmi(engine) => {
                    let module = wasmi::Module::new(engine, wasm)?;
                    let mut store = wasmi::Store::new(engine, ());
                    let linker = wasmi::Linker::<()>::new(engine);
                    let instance = linker.instantiate_and_start(&mut store, &module)?;
                    let f = instance.get_typed_func::<i32, i32>(&store, "run")?;
                    (f.call(&mut store, arg)?, Box::new((module, store)))
                }
            })
        }
    }

    struct Runtime {
        name: &'static str,
        engine: Engine,
    }

    fn runtime(name: &'static str, engine: Engine) -> Runtime {
        Runtime { name, engine }
    }

    const NATIVE: &str = "native Rust";
    const LAZULI: &str = "Lazuli, lazy (default)";
    const WASMTIME: &str = "Wasmtime 48.0.8";

    /// How many runs each figure is the median of, and how big the inputs are.
    struct Plan {
        steady_runs: usize,
        call_runs: usize,
        calls_per_run: u64,
        first_runs: usize,
        functions: u32,
    }

    /// One line of the report.
    struct Row {
        workload: String,
        runtime: &'static str,
        /// Seconds (per call for the call-overhead rows).
        time: f64,
    }

    fn median(mut times: Vec<Duration>) -> Duration {
        times.sort();
        times[times.len() / 2]
    }

    pub(super) fn run(quick: bool) -> Result<()> {
        let plan = if quick {
            Plan {
                steady_runs: 3,
                call_runs: 3,
                calls_per_run: 100_000,
                first_runs: 1,
                functions: 1_000,
            }
        } else {
            Plan {
                steady_runs: 51,
                call_runs: 21,
                calls_per_run: 1_000_000,
                first_runs: 7,
                functions: 10_000,
            }
        };
        let start = Instant::now();
        let load_before = loadavg();
        println!(
            "{} threads, CPU: {}, load average {load_before}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model(),
        );
        let wasm = wat::parse_str(WAT).context("the kernels' WAT")?;
        let mut rows = Vec::new();
        steady_state(&plan, &wasm, &mut rows)?;
        call_overhead(&plan, &wasm, &mut rows)?;
        first_result(&plan, &mut rows)?;
        print_table(&rows);
        println!(
            "\nmedian of {} runs (steady state), {} runs of {} calls (call overhead), {} runs \
             (first result); load average {load_before} before, {} after; {:.0?} in all",
            plan.steady_runs,
            plan.call_runs,
            plan.calls_per_run,
            plan.first_runs,
            loadavg(),
            start.elapsed()
        );
        Ok(())
    }

    fn steady_state(plan: &Plan, wasm: &[u8], rows: &mut Vec<Row>) -> Result<()> {
        let runtimes = [
            runtime(NATIVE, Engine::Native),
            runtime(LAZULI, Engine::lazuli_default()?),
            runtime(
                "Lazuli, eager",
                Engine::lazuli(Compilation::Eager, Validation::Eager)?,
            ),
            runtime(WASMTIME, Engine::wasmtime()?),
            runtime(
                "wasmi 2.0.0",
                Engine::wasmi(wasmi::CompilationMode::default()),
            ),
        ];
        for kernel in &KERNELS {
            let mut calls = Vec::new();
            for rt in &runtimes {
                let mut call = rt.engine.call(wasm, kernel.export)?;
                // The first call compiles (lazy modes) and warms up.
                check(kernel.workload, rt.name, kernel.expected, call(kernel.arg)?)?;
                calls.push(call);
            }
            let mut times = vec![Vec::new(); runtimes.len()];
            for _ in 0..plan.steady_runs {
                for ((rt, call), times) in runtimes.iter().zip(&mut calls).zip(&mut times) {
                    let arg = black_box(kernel.arg);
                    let start = Instant::now();
                    let result = call(arg)?;
                    times.push(start.elapsed());
                    check(kernel.workload, rt.name, kernel.expected, result)?;
                }
            }
            for (rt, times) in runtimes.iter().zip(times) {
                rows.push(Row {
                    workload: kernel.workload.to_string(),
                    runtime: rt.name,
                    time: median(times).as_secs_f64(),
                });
            }
        }
        Ok(())
    }

    fn call_overhead(plan: &Plan, wasm: &[u8], rows: &mut Vec<Row>) -> Result<()> {
        let runtimes = [
            runtime(LAZULI, Engine::lazuli_default()?),
            runtime(WASMTIME, Engine::wasmtime()?),
            runtime(
                "wasmi 2.0.0",
                Engine::wasmi(wasmi::CompilationMode::default()),
            ),
        ];
        let mut calls = Vec::new();
        for rt in &runtimes {
            let mut call = rt.engine.calls(wasm, "nop")?;
            call(1000)?;
            calls.push(call);
        }
        let mut times = vec![Vec::new(); runtimes.len()];
        for _ in 0..plan.call_runs {
            for (call, times) in calls.iter_mut().zip(&mut times) {
                let n = black_box(plan.calls_per_run);
                let start = Instant::now();
                call(n)?;
                times.push(start.elapsed());
            }
        }
        for (rt, times) in runtimes.iter().zip(times) {
            rows.push(Row {
                workload: "`TypedFunc::call`, `() -> ()`".to_string(),
                runtime: rt.name,
                time: median(times).as_secs_f64() / plan.calls_per_run as f64,
            });
        }
        Ok(())
    }

    fn first_result(plan: &Plan, rows: &mut Vec<Row>) -> Result<()> {
        let start = Instant::now();
        let generator::Generated {
            bytes: wasm,
            code_bytes,
        } = generate(plan.functions);
        println!(
            "large module: {} functions, {:.2} MiB of code, generated in {:.0?}",
            plan.functions,
            code_bytes as f64 / f64::from(1 << 20),
            start.elapsed()
        );
        use wasmi::CompilationMode;
        let runtimes = [
            runtime(LAZULI, Engine::lazuli_default()?),
            runtime(
                "Lazuli, lazy, lazy validation",
                Engine::lazuli(Compilation::Lazy, Validation::Lazy)?,
            ),
            runtime(
                "Lazuli, eager (2 threads)",
                Engine::lazuli(Compilation::Eager, Validation::Eager)?,
            ),
            runtime("Wasmtime 48.0.8 (eager, 2 threads)", Engine::wasmtime()?),
            runtime(
                "wasmi, lazy translation (default)",
                Engine::wasmi(CompilationMode::LazyTranslation),
            ),
            runtime(
                "wasmi, lazy (lazy validation)",
                Engine::wasmi(CompilationMode::Lazy),
            ),
            runtime("wasmi, eager", Engine::wasmi(CompilationMode::Eager)),
        ];
        let workload = format!("first result, {} functions", plan.functions);
        let mut expected = None;
        let mut times = vec![Vec::new(); runtimes.len()];
        for _ in 0..plan.first_runs {
            for (rt, times) in runtimes.iter().zip(&mut times) {
                let start = Instant::now();
                let (result, keep) = rt.engine.first_result(&wasm, black_box(ARG))?;
                times.push(start.elapsed());
                drop(keep);
                check(&workload, rt.name, *expected.get_or_insert(result), result)?;
            }
        }
        for (rt, times) in runtimes.iter().zip(times) {
            rows.push(Row {
                workload: workload.clone(),
                runtime: rt.name,
                time: median(times).as_secs_f64(),
            });
        }
        Ok(())
    }

    fn check(workload: &str, runtime: &str, expected: i32, got: i32) -> Result<()> {
        ensure!(
            got == expected,
            "wrong result: {runtime} returned {got} for {workload}, expected {expected}"
        );
        Ok(())
    }

    /// A Markdown table; ratios are this row's time over native's or Wasmtime's for
    /// the same workload (below 1: faster than Wasmtime).
    fn print_table(rows: &[Row]) {
        println!();
        println!("| workload | runtime | time (median) | ÷ native | ÷ Wasmtime |");
        println!("|---|---|---:|---:|---:|");
        let reference = |workload: &str, prefix: &str| {
            rows.iter()
                .find(|r| r.workload == workload && r.runtime.starts_with(prefix))
                .map(|r| r.time)
        };
        for row in rows {
            let ratio = |prefix| {
                reference(&row.workload, prefix)
                    .map_or_else(|| "—".to_string(), |t| fmt_ratio(row.time / t))
            };
            println!(
                "| {} | {} | {} | {} | {} |",
                row.workload,
                row.runtime,
                fmt_time(row.time),
                ratio(NATIVE),
                ratio("Wasmtime"),
            );
        }
    }

    fn fmt_time(seconds: f64) -> String {
        if seconds >= 1.0 {
            format!("{seconds:.3} s")
        } else if seconds >= 1e-3 {
            format!("{:.2} ms", seconds * 1e3)
        } else if seconds >= 1e-6 {
            format!("{:.1} µs", seconds * 1e6)
        } else {
            format!("{:.1} ns", seconds * 1e9)
        }
    }

    fn fmt_ratio(ratio: f64) -> String {
        if ratio >= 0.1 {
            format!("{ratio:.2}")
        } else {
            format!("{ratio:.4} (1/{:.0})", 1.0 / ratio)
        }
    }

    fn loadavg() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| "?".to_string())
    }

    fn cpu_model() -> String {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "?".to_string())
    }

    use super::generator::{self, ARG, generate};
}
