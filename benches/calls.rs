//! Call overhead across the host/Wasm boundary.
//!
//! - `host_to_wasm`: `TypedFunc::call` and `Func::call` of an exported function
//!   that does nothing (`() -> ()`) and of one that adds (`(i32, i32) -> i32`).
//! - `wasm_to_host`: a Wasm loop calling a `Linker::func_wrap` import; one
//!   criterion iteration is one call (the loop runs `iters` times), with a Wasm
//!   callee in the same module as the baseline.
//!
//! `cargo bench --bench calls` runs both and prints per-call figures at the end.

mod common;

use common::{mean, record};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use lazuli::{Engine, Instance, Linker, Module, Store, TypedFunc, Val};
use std::hint::black_box;
use std::time::{Duration, Instant};

const WAT: &str = r#"
(module
  (import "host" "inc" (func $host_inc (param i32) (result i32)))
  (import "host" "nop" (func $host_nop))
  (func $wasm_inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $wasm_nop)

  (func (export "nop"))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))

  ;; Each loop calls its callee `n` times and returns the accumulated value.
  (func (export "host_inc_loop") (param $n i64) (result i32)
    (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc (call $host_inc (local.get $acc)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc))
  (func (export "host_nop_loop") (param $n i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (call $host_nop)
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next))))
  (func (export "wasm_inc_loop") (param $n i64) (result i32)
    (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc (call $wasm_inc (local.get $acc)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc))
  (func (export "wasm_nop_loop") (param $n i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (call $wasm_nop)
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
"#;

const SAMPLE_SIZE: usize = 30;

fn setup() -> (Store<()>, Instance) {
    let engine = Engine::default();
    let module = Module::new(&engine, WAT).expect("valid module");
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "inc", |x: i32| x.wrapping_add(1))
        .expect("defines")
        .func_wrap("host", "nop", || {})
        .expect("defines");
    let mut store = Store::new(&engine, ());
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");
    (store, instance)
}

fn configure<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group
}

fn bench_host_to_wasm(c: &mut Criterion) {
    let (mut store, instance) = setup();
    let nop: TypedFunc<(), ()> = instance.get_typed_func(&mut store, "nop").unwrap();
    let add: TypedFunc<(i32, i32), i32> = instance.get_typed_func(&mut store, "add").unwrap();
    let nop_func = instance.get_func(&mut store, "nop").unwrap();
    let add_func = instance.get_func(&mut store, "add").unwrap();
    // Compile both before measuring.
    nop.call(&mut store, ()).unwrap();
    assert_eq!(add.call(&mut store, (2, 3)).unwrap(), 5);

    let mut group = configure(c, "host_to_wasm");
    group.bench_function("typed_nop", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                nop.call(&mut store, ()).unwrap();
            }
            let elapsed = start.elapsed();
            record("host_to_wasm/typed_nop", iters, elapsed);
            elapsed
        })
    });
    group.bench_function("typed_add", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                black_box(add.call(&mut store, (black_box(i as i32), 1)).unwrap());
            }
            let elapsed = start.elapsed();
            record("host_to_wasm/typed_add", iters, elapsed);
            elapsed
        })
    });
    group.bench_function("func_nop", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                nop_func.call(&mut store, &[], &mut []).unwrap();
            }
            let elapsed = start.elapsed();
            record("host_to_wasm/func_nop", iters, elapsed);
            elapsed
        })
    });
    group.bench_function("func_add", |b| {
        let mut results = [Val::I32(0)];
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let params = [Val::I32(black_box(i as i32)), Val::I32(1)];
                add_func.call(&mut store, &params, &mut results).unwrap();
                black_box(&results);
            }
            let elapsed = start.elapsed();
            record("host_to_wasm/func_add", iters, elapsed);
            elapsed
        })
    });
    group.finish();
}

fn bench_wasm_to_host(c: &mut Criterion) {
    let (mut store, instance) = setup();
    let mut group = configure(c, "wasm_to_host");
    for name in ["host_inc", "host_nop", "wasm_inc", "wasm_nop"] {
        let export = format!("{name}_loop");
        let func = instance.get_func(&mut store, &export).unwrap();
        let returns = func.ty(&store).results().len() == 1;
        let mut results = vec![Val::I32(0); usize::from(returns)];
        // Compile the loop and its callee before measuring.
        func.call(&mut store, &[Val::I64(10)], &mut results)
            .unwrap();
        let label = format!("wasm_to_host/{name}");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                // One call into Wasm that makes `iters` calls; the entry is
                // amortised over them.
                let start = Instant::now();
                func.call(&mut store, &[Val::I64(iters as i64)], &mut results)
                    .unwrap();
                let elapsed = start.elapsed();
                if returns {
                    assert_eq!(results[0], Val::I32(iters as i32));
                }
                record(&label, iters, elapsed);
                elapsed
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_host_to_wasm(&mut c);
    bench_wasm_to_host(&mut c);
    c.final_summary();

    let ns = |label: &str| mean(label, SAMPLE_SIZE).map(|s| s * 1e9);
    for name in ["typed_nop", "typed_add", "func_nop", "func_add"] {
        if let Some(t) = ns(&format!("host_to_wasm/{name}")) {
            let target = if name == "typed_nop" {
                " (target <= 15 ns)"
            } else {
                ""
            };
            println!("host_to_wasm/{name}: {t:.1} ns per call{target}");
        }
    }
    for kind in ["inc", "nop"] {
        if let (Some(host), Some(wasm)) = (
            ns(&format!("wasm_to_host/host_{kind}")),
            ns(&format!("wasm_to_host/wasm_{kind}")),
        ) {
            println!(
                "wasm_to_host/{kind}: host import {host:.1} ns per call, \
                 Wasm callee {wasm:.1} ns per call: {:.1}x",
                host / wasm
            );
        }
    }
}
