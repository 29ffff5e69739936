//! Runs a WASI program's `_start` and prints what compiling it cost
//! (`Module::compile_stats` after the whole run), for BENCHMARKS.md:
//!
//! ```text
//! cargo run --release --example compile_stats -- [--compile lazy|eager]
//!     [--dir HOST::GUEST]... [--env KEY=VALUE]... FILE [ARGS...]
//! ```
//!
//! The program's exit status is ignored; its output goes to the inherited stdio and
//! the statistics to stderr.

use anyhow::{Context, Result, bail};
use lazuli::{Compilation, Config, Engine, Linker, Module, Store};
use lazuli_wasi::p1::{self, WasiP1Ctx};
use lazuli_wasi::{DirPerms, FilePerms, WasiCtxBuilder};
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut compilation = Compilation::Lazy;
    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio();
    let mut rest = &args[..];
    let file = loop {
        match rest {
            [flag, value, tail @ ..] if flag == "--compile" => {
                compilation = match value.as_str() {
                    "lazy" => Compilation::Lazy,
                    "eager" => Compilation::Eager,
                    other => bail!("`--compile {other}`: expected lazy or eager"),
                };
                rest = tail;
            }
            [flag, value, tail @ ..] if flag == "--dir" => {
                let (host, guest) = value.split_once("::").unwrap_or((value, value));
                wasi.preopened_dir(host, guest, DirPerms::all(), FilePerms::all())?;
                rest = tail;
            }
            [flag, value, tail @ ..] if flag == "--env" => {
                let (key, val) = value.split_once('=').context("--env KEY=VALUE")?;
                wasi.env(key, val);
                rest = tail;
            }
            [file, tail @ ..] => {
                wasi.arg(file).args(tail);
                break file;
            }
            [] => bail!(
                "usage: compile_stats [--compile lazy|eager] [--dir H::G] [--env K=V] FILE [ARGS...]"
            ),
        }
    };
    let mut config = Config::new();
    config.compilation(compilation);
    let engine = Engine::new(&config)?;
    let start = Instant::now();
    let module = Module::from_file(&engine, file)?;
    let mut store = Store::<WasiP1Ctx>::new(&engine, wasi.build_p1());
    let mut linker = Linker::<WasiP1Ctx>::new(&engine);
    p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
    let instance = linker.instantiate(&mut store, &module)?;
    let run = instance
        .get_func(&mut store, "_start")
        .context("no `_start`")?;
    // A WASI exit is an error here; the statistics are what matter.
    let _ = run.call(&mut store, &[], &mut []);
    let elapsed = start.elapsed();
    let stats = module.compile_stats();
    let wasm = stats.wasm_bytes.max(1) as f64;
    eprintln!(
        "{compilation:?}: {} of {} functions compiled, {} Wasm bytes -> {} bytes of machine code \
         ({:.2} bytes per Wasm byte) in {:.1} ms ({:.0} ns per Wasm byte); \
         lazy-compile stubs {} bytes; {} bytes of code pages; whole run {:.1} ms; \
         {} compiled ahead; {} optimised ({} bytes of code, {:.1} ms), {} of them OSR entries",
        stats.functions_compiled,
        module.defined_functions(),
        stats.wasm_bytes,
        stats.code_bytes,
        stats.code_bytes as f64 / wasm,
        stats.compile_time.as_secs_f64() * 1e3,
        stats.compile_time.as_nanos() as f64 / wasm,
        stats.stub_bytes,
        stats.code_memory_bytes,
        elapsed.as_secs_f64() * 1e3,
        stats.functions_compiled_ahead,
        stats.functions_optimized,
        stats.optimized_code_bytes,
        stats.optimize_time.as_secs_f64() * 1e3,
        stats.osr_entries,
    );
    Ok(())
}
