//! Runs a WASI program's `_start` with fuel or epoch interruption on, to measure
//! what they cost (BENCHMARKS.md, "Interruption"):
//!
//! ```text
//! cargo run --release --example interrupt_cost -- [--fuel | --epochs]
//!     [--tier fast|optimized|auto] FILE [ARGS...]
//! ```
//!
//! `--fuel` gives the store `u64::MAX` units (nothing runs out); `--epochs` sets
//! a deadline that the epoch, which nothing increments, never reaches: both
//! measure the checks alone. Without either, neither is compiled in. The
//! program's output goes to the inherited stdio, and its exit status is
//! ignored; the fuel used is printed to stderr.

use anyhow::{Context, Result, bail};
use lazuli::{Config, Engine, Linker, Module, Store, Tiering};
use lazuli_wasi::WasiCtxBuilder;
use lazuli_wasi::p1::{self, WasiP1Ctx};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = Config::new();
    let (mut fuel, mut epochs) = (false, false);
    let mut rest = &args[..];
    let file = loop {
        match rest {
            [flag, tail @ ..] if flag == "--fuel" => (fuel, rest) = (true, tail),
            [flag, tail @ ..] if flag == "--epochs" => (epochs, rest) = (true, tail),
            [flag, value, tail @ ..] if flag == "--tier" => {
                config.tiering(match value.as_str() {
                    "fast" => Tiering::Fast,
                    "optimized" => Tiering::Optimized,
                    "auto" => Tiering::Auto,
                    other => bail!("`--tier {other}`: expected fast, optimized or auto"),
                });
                rest = tail;
            }
            [file, ..] => break file,
            [] => bail!("usage: interrupt_cost [--fuel | --epochs] [--tier T] FILE [ARGS...]"),
        }
    };
    config.consume_fuel(fuel).epoch_interruption(epochs);
    let engine = Engine::new(&config)?;
    let module = Module::from_file(&engine, file)?;
    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio().args(rest);
    let mut store = Store::<WasiP1Ctx>::new(&engine, wasi.build_p1());
    if fuel {
        store.set_fuel(u64::MAX)?;
    }
    store.set_epoch_deadline(u64::MAX);
    let mut linker = Linker::<WasiP1Ctx>::new(&engine);
    p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
    let instance = linker.instantiate(&mut store, &module)?;
    let run = instance
        .get_func(&mut store, "_start")
        .context("no `_start`")?;
    // A WASI exit is an error here; the time is what matters.
    let _ = run.call(&mut store, &[], &mut []);
    if fuel {
        let left = i64::MAX as u64 - store.get_fuel()?;
        eprintln!("fuel used: {left}");
    }
    Ok(())
}
