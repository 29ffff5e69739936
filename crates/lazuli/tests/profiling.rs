//! Watching compilation: `Config::compile_progress` during eager compiles and
//! `Config::profiler(ProfilingStrategy::PerfMap)`'s `/tmp/perf-PID.map`.

use lazuli::{Compilation, Config, Engine, Instance, Module, ProfilingStrategy, Store, Tiering};
use std::sync::{Arc, Mutex};

/// A module of `count` functions.
fn functions(count: usize) -> String {
    let bodies: String = (0..count)
        .map(|i| format!("(func (result i32) i32.const {i})\n"))
        .collect();
    format!("(module {bodies})")
}

/// The progress reports an engine made: (done, total) each.
type Reports = Arc<Mutex<Vec<(usize, usize)>>>;

/// An engine with `compilation` that records every progress report.
fn recording(compilation: Compilation) -> (Engine, Reports) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let mut config = Config::new();
    config
        .compilation(compilation)
        .compile_progress(move |done, total| sink.lock().unwrap().push((done, total)));
    (Engine::new(&config).unwrap(), reports)
}

#[test]
fn eager_compiles_report_each_function_once() {
    let (engine, reports) = recording(Compilation::Eager);
    Module::new(&engine, functions(37)).unwrap();
    let mut seen = reports.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, (1..=37).map(|d| (d, 37)).collect::<Vec<_>>());
    // Precompiling reports too.
    reports.lock().unwrap().clear();
    engine.precompile_module(functions(5).as_bytes()).unwrap();
    assert_eq!(reports.lock().unwrap().len(), 5);
}

#[test]
fn lazy_compiles_report_nothing() {
    let (engine, reports) = recording(Compilation::Lazy);
    let module = Module::new(&engine, functions(3)).unwrap();
    let mut store = Store::new(&engine, ());
    Instance::new(&mut store, &module, &[]).unwrap();
    assert!(reports.lock().unwrap().is_empty());
}

/// The lines of this process's perf map naming `name`, as (start, size).
fn perf_map_entries(name: &str) -> Vec<(usize, usize)> {
    let path = format!("/tmp/perf-{}.map", std::process::id());
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ' ');
            let start = usize::from_str_radix(fields.next()?, 16).ok()?;
            let size = usize::from_str_radix(fields.next()?, 16).ok()?;
            (fields.next()? == name).then_some((start, size))
        })
        .collect()
}

#[test]
fn the_perf_map_names_lazy_and_tiered_up_code() {
    let mut config = Config::new();
    config
        .profiler(ProfilingStrategy::PerfMap)
        .tiering(Tiering::Auto)
        .tier_up_budget(1)
        .tier_up_small_functions(0)
        .background_compilation(false);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(
        &engine,
        r#"(module $perfmap_test
          (func $hot (export "hot") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
          (func (export "cold")))"#,
    )
    .unwrap();
    assert!(
        perf_map_entries("perfmap_test::hot").is_empty(),
        "nothing ran yet"
    );
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let hot = instance
        .get_typed_func::<i32, i32>(&mut store, "hot")
        .unwrap();
    assert_eq!(hot.call(&mut store, 1).unwrap(), 2);
    assert_eq!(hot.call(&mut store, 2).unwrap(), 3);
    // The fast code at the first call, then the optimised code of its tier-up.
    let entries = perf_map_entries("perfmap_test::hot");
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_ne!(entries[0].0, entries[1].0);
    assert!(entries.iter().all(|&(start, size)| start > 0 && size > 0));
    // `cold` never ran, so it was never compiled.
    assert!(perf_map_entries("perfmap_test::wasm-function[1]").is_empty());
}
