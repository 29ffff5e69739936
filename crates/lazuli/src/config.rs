//! [`Config`]: the choices an [`crate::Engine`] is built with.

pub use lazuli_runtime::MemoryStyle;

use crate::CacheConfig;
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

/// Where the memories an instance defines come from ([`Config::allocation_strategy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceAllocationStrategy {
    /// Each memory reserves its address space when created and unmaps it when its
    /// store drops.
    OnDemand,
    /// Memories take their reservations from a pool the engine keeps: a dropped
    /// memory's reservation is reset (one `mmap` over the bytes it used) and kept
    /// for the next one, which saves reserving and unmapping address space per
    /// instance. Host-created memories (`Memory::new`) are not pooled.
    Pooling(PoolingAllocationConfig),
}

/// The limits of [`InstanceAllocationStrategy::Pooling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolingAllocationConfig {
    pub(crate) total_memories: usize,
    pub(crate) max_memory_pages: u64,
}

impl Default for PoolingAllocationConfig {
    /// 1,000 memories of at most 160 pages (10 MiB) each.
    fn default() -> Self {
        PoolingAllocationConfig {
            total_memories: 1000,
            max_memory_pages: 160,
        }
    }
}

impl PoolingAllocationConfig {
    /// How many pooled memories may be live at once, over all the engine's
    /// stores; instantiating one more is an error.
    pub fn total_memories(&mut self, count: usize) -> &mut Self {
        self.total_memories = count;
        self
    }

    /// The most pages a pooled memory may have: a module asking for more at
    /// instantiation fails, and growth past it fails as past a declared maximum.
    /// With bounds-checked memories this is also each reservation's size.
    pub fn max_memory_pages(&mut self, pages: u64) -> &mut Self {
        self.max_memory_pages = pages;
        self
    }
}

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) compilation: Compilation,
    pub(crate) tiering: Tiering,
    pub(crate) tier_up_budget: u32,
    pub(crate) small_function_bytes: u32,
    pub(crate) background_compilation: bool,
    pub(crate) validation: Validation,
    pub(crate) features: WasmFeatures,
    pub(crate) memory_style: MemoryStyle,
    pub(crate) allocation_strategy: InstanceAllocationStrategy,
    pub(crate) max_wasm_stack: usize,
    pub(crate) verify: bool,
    pub(crate) target: Option<String>,
    pub(crate) cache: CacheConfig,
    /// The progress callback and the profiler (`profiling.rs`).
    pub(crate) hooks: crate::profiling::Hooks,
    pub(crate) consume_fuel: bool,
    pub(crate) epoch_interruption: bool,
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
            features: WasmFeatures::WASM2,
            memory_style: MemoryStyle::Guarded,
            allocation_strategy: InstanceAllocationStrategy::OnDemand,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            verify: cfg!(debug_assertions),
            target: None,
            cache: CacheConfig::disabled(),
            hooks: Default::default(),
            consume_fuel: false,
            epoch_interruption: false,
            coredump_on_trap: false,
        }
    }
}

impl Config {
    pub fn new() -> Self {
        Self::default()
    }

    /// The persistent code cache (default: off; the `lazuli` CLI turns it on in
    /// the user's cache directory). With it, every function compiled, at every
    /// tier, is stored, and a later engine with the same settings loads it instead
    /// of compiling it again (see `CacheConfig`).
    pub fn cache(&mut self, cache: CacheConfig) -> &mut Self {
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

    /// How linear-memory accesses are bounds-checked: guard pages (default) or
    /// explicit checks in generated code.
    pub fn memory_style(&mut self, style: MemoryStyle) -> &mut Self {
        self.memory_style = style;
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

    /// Compiles for another target triple (e.g. `aarch64-unknown-linux-gnu`). Such
    /// an engine can compile modules but not run them.
    pub fn target(&mut self, triple: &str) -> &mut Self {
        self.target = Some(triple.to_string());
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
