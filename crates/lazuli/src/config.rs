//! [`Config`]: the choices an [`crate::Engine`] is built with.

mod cranelift;
mod memory;
mod pooling;

pub use cranelift::{OptLevel, Strategy};
pub use lazuli_runtime::MemoryStyle;
pub use pooling::{InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::Cache;
use lazuli_cranelift::Flag;
use wasmparser::WasmFeatures;

/// When function bodies are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// Every body is validated (in parallel) before the module is accepted, as the
    /// spec requires.
    #[default]
    Eager,
    /// Each body is validated as it is compiled: an invalid body surfaces as an
    /// error at its first call. Makes loading a huge module cheaper still.
    Lazy,
}

/// When function bodies are compiled to machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compilation {
    /// Each function on its first call (default): loading a module compiles nothing.
    #[default]
    Lazy,
    /// Every function while the module loads, in parallel on all cores.
    Eager,
}

/// How hard the compiler works on each function: the choice between starting
/// sooner and running faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tiering {
    /// Each function is first compiled at the fast tier, counting its calls and
    /// loop iterations; one that uses up its budget ([`Config::tier_up_budget`]) is
    /// recompiled by the optimising tier (in the background, see
    /// [`Config::background_compilation`]) and every later call to it reaches the
    /// optimised code (default).
    #[default]
    Auto,
    /// Every function is compiled quickly, into slower and larger code (Cranelift
    /// without its optimiser and with single-pass register allocation): for code
    /// that runs briefly, where compiling dominates.
    Fast,
    /// Every function is compiled by Cranelift's optimising pipeline.
    Optimized,
}

/// The default of [`Config::max_wasm_stack`]: 1 MiB. Fast-tier frames of large
/// functions are up to 2.9 times the size of optimised ones (python3.11.wasm's
/// interpreter recursed 952 levels deep at the fast tier in 512 KiB, 2,715 when
/// optimised), so twice Wasmtime's 512 KiB keeps a program that recurses as deep
/// as Wasmtime lets it, under the default tiering, from running out of stack
/// before its code is optimised.
pub const DEFAULT_MAX_WASM_STACK: usize = 1 << 20;

/// The default of [`Config::tier_up_small_functions`]: 0, every function starts at
/// the fast tier. Measured (BENCHMARKS.md, "Tier-up"): compiling bodies under 500
/// bytes optimised at once cut CPU time on small C programs by up to 12%, but made
/// python3.11.wasm `print(6*7)` take 1.51 s instead of 1.01 s (200 bytes: 1.23 s),
/// and start-up of large programs is what the default tiering is for.
pub const DEFAULT_SMALL_FUNCTION_BYTES: u32 = 0;

/// What a function may do at the fast tier before [`Tiering::Auto`] recompiles it
/// optimised: each call and each loop iteration uses one unit.
pub const DEFAULT_TIER_UP_BUDGET: u32 = 10_000;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) compilation: Compilation,
    pub(crate) tiering: Tiering,
    pub(crate) tier_up_budget: u32,
    pub(crate) small_function_bytes: u32,
    pub(crate) background_compilation: bool,
    pub(crate) validation: Validation,
    pub(crate) parallel_compilation: bool,
    pub(crate) features: WasmFeatures,
    /// Bytes of address space asked for each memory, and of guard after it
    /// (`config/memory.rs`).
    pub(crate) memory_reservation: u64,
    pub(crate) memory_guard_size: u64,
    pub(crate) signals_based_traps: bool,
    pub(crate) memory_init_cow: bool,
    pub(crate) allocation_strategy: InstanceAllocationStrategy,
    pub(crate) max_wasm_stack: usize,
    pub(crate) strategy: Strategy,
    pub(crate) verify: bool,
    pub(crate) opt_level: OptLevel,
    /// `Config::cranelift_flag_enable` and `cranelift_flag_set`, in order.
    pub(crate) cranelift_flags: Vec<Flag>,
    /// Checked by `Config::target`: Cranelift has a code generator for it.
    pub(crate) target: Option<String>,
    pub(crate) cache: Option<Cache>,
    /// The progress callback and the profiler (`profiling.rs`).
    pub(crate) hooks: crate::profiling::Hooks,
    pub(crate) consume_fuel: bool,
    pub(crate) epoch_interruption: bool,
    pub(crate) relaxed_simd_deterministic: bool,
    pub(crate) coredump_on_trap: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            compilation: Compilation::Lazy,
            tiering: Tiering::Auto,
            tier_up_budget: DEFAULT_TIER_UP_BUDGET,
            small_function_bytes: DEFAULT_SMALL_FUNCTION_BYTES,
            background_compilation: true,
            validation: Validation::Eager,
            parallel_compilation: true,
            features: WasmFeatures::WASM2
                | WasmFeatures::EXTENDED_CONST
                | WasmFeatures::RELAXED_SIMD
                | WasmFeatures::TAIL_CALL
                | WasmFeatures::MULTI_MEMORY
                | WasmFeatures::MEMORY64
                | WasmFeatures::THREADS
                | WasmFeatures::FUNCTION_REFERENCES,
            memory_reservation: memory::GUARDED_RESERVATION,
            memory_guard_size: memory::GUARDED_GUARD_SIZE,
            signals_based_traps: true,
            memory_init_cow: true,
            allocation_strategy: InstanceAllocationStrategy::OnDemand,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            strategy: Strategy::Auto,
            verify: cfg!(debug_assertions),
            opt_level: OptLevel::Speed,
            cranelift_flags: Vec::new(),
            target: None,
            cache: None,
            hooks: Default::default(),
            consume_fuel: false,
            epoch_interruption: false,
            relaxed_simd_deterministic: false,
            coredump_on_trap: false,
        }
    }
}

impl Config {
    pub fn new() -> Self {
        Self::default()
    }

    /// The persistent code cache (default: none; the `lazuli` CLI uses one in
    /// the user's cache directory). With one, every function compiled, at every
    /// tier, is stored, one entry per function, and a later engine with the same
    /// settings loads it instead of compiling it again (see [`crate::Cache`]).
    pub fn cache(&mut self, cache: Option<Cache>) -> &mut Self {
        self.cache = cache;
        self
    }

    /// Whether 128-bit SIMD (`v128`) is accepted (default: yes).
    pub fn wasm_simd(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::SIMD, enable);
        self
    }

    /// Whether reference types (`externref`, several tables, `table.*`) are accepted
    /// (default: yes).
    pub fn wasm_reference_types(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::REFERENCE_TYPES, enable);
        self
    }

    /// Whether bulk memory operations (`memory.copy`, passive segments, …) are
    /// accepted (default: yes).
    pub fn wasm_bulk_memory(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::BULK_MEMORY, enable);
        self
    }

    /// Whether functions and blocks may return several values (default: yes).
    pub fn wasm_multi_value(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::MULTI_VALUE, enable);
        self
    }

    /// Whether a module may define and import several memories, each memory
    /// instruction naming the one it uses (default: yes, as in Wasmtime).
    pub fn wasm_multi_memory(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::MULTI_MEMORY, enable);
        self
    }

    /// Whether shared memories, atomic instructions and `memory.atomic.wait`/
    /// `notify` are accepted (threads; default: yes, as in Wasmtime built with its
    /// `threads` feature). Off, a module with a shared memory is invalid and
    /// [`SharedMemory::new`](crate::SharedMemory::new) fails.
    pub fn wasm_threads(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::THREADS, enable);
        self
    }

    /// Whether memories and tables may have `i64` addresses and indices
    /// (memory64, with table64; default: yes, as in Wasmtime). A 64-bit memory
    /// is always bounds-checked, reserves at most 16 GiB
    /// ([`lazuli_runtime::MAX_PAGES_64`] pages) and cannot grow past that.
    pub fn wasm_memory64(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::MEMORY64, enable);
        self
    }

    /// Whether `return_call` and `return_call_indirect` are accepted (default:
    /// yes). A tail call runs the callee in the caller's stack space, so tail
    /// recursion of any depth runs in constant stack.
    pub fn wasm_tail_call(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::TAIL_CALL, enable);
        self
    }

    /// Whether typed function references are accepted (default: yes, as in
    /// Wasmtime): `(ref $t)` and `(ref null $t)` types, `call_ref`,
    /// `return_call_ref`, `ref.as_non_null`, `br_on_null`, `br_on_non_null`,
    /// non-nullable locals and tables with initialisers.
    pub fn wasm_function_references(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::FUNCTION_REFERENCES, enable);
        self
    }

    /// Whether constant expressions may use `i32`/`i64` `add`, `sub` and `mul`
    /// (extended constant expressions; default: yes).
    pub fn wasm_extended_const(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::EXTENDED_CONST, enable);
        self
    }

    /// Whether the relaxed SIMD operators are accepted (default: yes, as in
    /// Wasmtime). Their results may differ between platforms unless
    /// [`Config::relaxed_simd_deterministic`] is on.
    pub fn wasm_relaxed_simd(&mut self, enable: bool) -> &mut Self {
        self.features.set(WasmFeatures::RELAXED_SIMD, enable);
        self
    }

    /// Whether relaxed SIMD operators give the same results on every platform (the
    /// spec's deterministic profile) instead of what one native instruction gives
    /// on x86-64 (default: no, as in Wasmtime). On other targets they always do.
    pub fn relaxed_simd_deterministic(&mut self, enable: bool) -> &mut Self {
        self.relaxed_simd_deterministic = enable;
        self
    }

    /// When functions are compiled: lazily on first call (default) or eagerly.
    pub fn compilation(&mut self, compilation: Compilation) -> &mut Self {
        self.compilation = compilation;
        self
    }

    /// How functions are compiled: first quickly, then optimised where they run
    /// long ([`Tiering::Auto`], the default), always quickly ([`Tiering::Fast`]) or
    /// always into the fastest code ([`Tiering::Optimized`]).
    pub fn tiering(&mut self, tiering: Tiering) -> &mut Self {
        self.tiering = tiering;
        self
    }

    /// Under [`Tiering::Auto`], how many calls and loop iterations (one unit each) a
    /// function runs at the fast tier before it is recompiled optimised (default
    /// [`DEFAULT_TIER_UP_BUDGET`]; at least 1). With a budget of 1 and
    /// [`Config::background_compilation`] off, every function is optimised as soon as
    /// its first call begins: the first call runs the fast code, every later one the
    /// optimised code.
    pub fn tier_up_budget(&mut self, budget: u32) -> &mut Self {
        self.tier_up_budget = budget.max(1);
        self
    }

    /// Under [`Tiering::Auto`], functions whose bodies are smaller than `bytes`
    /// are compiled by the optimising tier at once: their optimising compile
    /// costs little, and small functions are the ones hot loops call, which helps
    /// small programs that run briefly. The default,
    /// [`DEFAULT_SMALL_FUNCTION_BYTES`], is 0: every function starts at the fast
    /// tier, which starts large programs sooner.
    pub fn tier_up_small_functions(&mut self, bytes: u32) -> &mut Self {
        self.small_function_bytes = bytes;
        self
    }

    /// Whether compilation may happen off the thread that needs it (default: yes):
    /// tier-up compiles on a background thread while the fast code keeps running,
    /// and, on a machine with more than one core, idle cores compile the functions
    /// likely to be called next. Off, every compilation happens on the thread whose
    /// call needs it, in a deterministic order (for tests).
    pub fn background_compilation(&mut self, enable: bool) -> &mut Self {
        self.background_compilation = enable;
        self
    }

    /// When function bodies are validated: all before the module is accepted
    /// (default, as the spec requires), or each one when it is first compiled.
    pub fn validation(&mut self, validation: Validation) -> &mut Self {
        self.validation = validation;
        self
    }

    /// Whether an eager compile ([`Compilation::Eager`],
    /// [`crate::Engine::precompile_module`]) and the eager validation of a large
    /// module use several threads (default: yes, rayon's pool, one thread per
    /// core). Off, every function is validated and compiled on the thread that
    /// loads the module. Lazy compiles always happen where
    /// [`Config::background_compilation`] says.
    pub fn parallel_compilation(&mut self, enable: bool) -> &mut Self {
        self.parallel_compilation = enable;
        self
    }

    /// Where instances' memories come from (default: reserved for each memory
    /// and unmapped when its store drops).
    pub fn allocation_strategy(&mut self, strategy: InstanceAllocationStrategy) -> &mut Self {
        self.allocation_strategy = strategy;
        self
    }

    /// The most stack, in bytes, that Wasm code may use before it traps with
    /// [`crate::Trap::StackOverflow`] (default [`DEFAULT_MAX_WASM_STACK`], 1 MiB;
    /// the budget is counted from where the host
    /// first enters Wasm on a thread, shared by nested entries into any store).
    /// On a thread whose native stack is smaller, Wasm gets what the thread has
    /// less 128 KiB kept for host functions and the runtime; a call made with
    /// less than that left fails with the same trap without running Wasm.
    pub fn max_wasm_stack(&mut self, bytes: usize) -> &mut Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// Whether Wasm consumes fuel (default: no): each store then has an amount
    /// ([`crate::Store::set_fuel`], none at first), every operator uses some,
    /// and Wasm that has used it all traps with [`crate::Trap::OutOfFuel`].
    /// Deterministic: the same calls use the same fuel at every tier. The code
    /// counts as it runs (measured in BENCHMARKS.md, "Interruption").
    pub fn consume_fuel(&mut self, enable: bool) -> &mut Self {
        self.consume_fuel = enable;
        self
    }

    /// Whether Wasm checks the engine's epoch ([`crate::Engine::increment_epoch`])
    /// against its store's deadline ([`crate::Store::set_epoch_deadline`]) at
    /// every function entry and loop header (default: no), to stop it from
    /// another thread, e.g. a timer's. Reaching the deadline traps with
    /// [`crate::Trap::Interrupt`] or runs the store's
    /// [`crate::Store::epoch_deadline_callback`]. Cheaper than fuel, and not
    /// deterministic.
    pub fn epoch_interruption(&mut self, enable: bool) -> &mut Self {
        self.epoch_interruption = enable;
        self
    }

    /// Runs Cranelift's IR verifier on every function (on in debug builds).
    pub fn cranelift_verifier(&mut self, enable: bool) -> &mut Self {
        self.verify = enable;
        self
    }

    /// Whether the error of a trap carries a [`crate::WasmCoreDump`] of the
    /// store (default: no): the trap's frames and the store's modules,
    /// instances, memories and globals, which
    /// [`WasmCoreDump::serialize`](crate::WasmCoreDump::serialize) writes in the
    /// tool-conventions core dump format. A host function's error that crosses
    /// Wasm gets one too. Costs nothing until a trap.
    pub fn coredump_on_trap(&mut self, enable: bool) -> &mut Self {
        self.coredump_on_trap = enable;
        self
    }
}
