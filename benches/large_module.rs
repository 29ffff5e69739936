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

use common::{mean, record};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use lazuli::{Compilation, Config, Engine, Linker, Module, Store, Validation};
use std::time::{Duration, Instant};
use wasm_encoder::{
    BlockType, CodeSection, ExportKind, ExportSection, Function, FunctionSection, InstructionSink,
    Module as Encoder, TypeSection, ValType,
};

/// Functions in the start-up module.
const LARGE_FUNCTIONS: u32 = 20_000;
/// Functions in the throughput module (eager single-threaded compilation of the
/// large one would take minutes per sample on this machine).
const THROUGHPUT_FUNCTIONS: u32 = 2_000;
/// Bytes of instructions per body, at least: 20,000 × 530 B > 10 MiB.
const BODY_BYTES: usize = 530;
/// The argument the export is called with; the guarded calls never run with it.
const ARG: i32 = 7;
/// The parameter value that takes a body's guarded call to the next function.
const MAGIC: i32 = -123_456_789;

/// A generated module and what it holds.
struct Generated {
    bytes: Vec<u8>,
    /// Bytes of the code section's function bodies.
    code_bytes: usize,
}

/// splitmix64: a deterministic stream so every run builds the same module.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }

    fn constant(&mut self) -> i32 {
        // Mostly small constants (one or two LEB bytes), some large ones.
        if self.below(4) == 0 {
            self.next() as i32
        } else {
            self.below(200) as i32 + 1
        }
    }
}

// Locals: 0 is the parameter, 1..=4 are i32 values, 5 the loop counter, 6 an i64.
const VALUES: u32 = 4;
const COUNTER: u32 = 5;
const WIDE: u32 = 6;

/// Pushes `local a <op> local b <op> const` and stores it into a value local.
fn arithmetic(s: &mut InstructionSink<'_>, rng: &mut Rng) {
    let a = rng.below(VALUES + 1);
    let b = 1 + rng.below(VALUES);
    let dst = 1 + rng.below(VALUES);
    s.local_get(a).local_get(b);
    binop(s, rng.below(10));
    s.i32_const(rng.constant());
    binop(s, rng.below(10));
    s.local_set(dst);
}

fn binop(s: &mut InstructionSink<'_>, op: u32) {
    match op {
        0 => s.i32_add(),
        1 => s.i32_sub(),
        2 => s.i32_mul(),
        3 => s.i32_xor(),
        4 => s.i32_and(),
        5 => s.i32_or(),
        6 => s.i32_shl(),
        7 => s.i32_shr_u(),
        8 => s.i32_rotl(),
        _ => s.i32_rotr(),
    };
}

/// One stack-neutral statement: arithmetic, 64-bit arithmetic, an `if`, a short
/// counted loop, or (rarely) a call to `next` guarded by a test that never holds
/// for [`ARG`].
fn statement(s: &mut InstructionSink<'_>, rng: &mut Rng, next: u32) {
    match rng.below(16) {
        0..=8 => arithmetic(s, rng),
        9 | 10 => {
            s.local_get(WIDE)
                .local_get(1 + rng.below(VALUES))
                .i64_extend_i32_u()
                .i64_const(i64::from(rng.constant()))
                .i64_mul()
                .i64_add()
                .local_set(WIDE);
        }
        11..=13 => {
            s.local_get(rng.below(VALUES + 1))
                .i32_const(rng.constant())
                .i32_gt_s()
                .if_(BlockType::Empty);
            arithmetic(s, rng);
            s.else_();
            arithmetic(s, rng);
            s.end();
        }
        14 => {
            s.i32_const(2 + rng.below(7) as i32)
                .local_set(COUNTER)
                .loop_(BlockType::Empty);
            arithmetic(s, rng);
            arithmetic(s, rng);
            s.local_get(COUNTER)
                .i32_const(1)
                .i32_sub()
                .local_tee(COUNTER)
                .br_if(0)
                .end();
        }
        _ => {
            let dst = 1 + rng.below(VALUES);
            s.local_get(0)
                .i32_const(MAGIC)
                .i32_eq()
                .if_(BlockType::Empty)
                .local_get(0)
                .i32_const(1)
                .i32_add()
                .call(next)
                .local_get(dst)
                .i32_add()
                .local_set(dst)
                .end();
        }
    }
}

/// A module of `n` functions `(i32) -> i32`, each different, exporting the
/// middle one as `run`.
fn generate(n: u32) -> Generated {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut code_bytes = 0;
    for i in 0..n {
        functions.function(0);
        let mut rng = Rng(u64::from(i) * 0x1234_5678_9abc_def1 + 1);
        let mut f = Function::new([(VALUES + 1, ValType::I32), (1, ValType::I64)]);
        {
            let mut s = f.instructions();
            for v in 1..=VALUES {
                s.local_get(0)
                    .i32_const(rng.constant())
                    .i32_add()
                    .local_set(v);
            }
        }
        while f.byte_len() < BODY_BYTES {
            statement(&mut f.instructions(), &mut rng, (i + 1) % n);
        }
        let mut s = f.instructions();
        s.local_get(1);
        for v in 2..=VALUES {
            s.local_get(v);
            binop(&mut s, rng.below(6));
        }
        s.local_get(WIDE).i32_wrap_i64().i32_add().end();
        code_bytes += f.byte_len();
        code.function(&f);
    }
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, n / 2);
    let mut module = Encoder::new();
    module
        .section(&types)
        .section(&functions)
        .section(&exports)
        .section(&code);
    Generated {
        bytes: module.finish(),
        code_bytes,
    }
}

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
