//! [`Config`]: the choices an [`crate::Engine`] is built with.

pub use lazuli_runtime::MemoryStyle;

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
    /// Every function is compiled quickly, into slower and larger code (Cranelift
    /// without its optimiser and with single-pass register allocation): for code
    /// that runs briefly, where compiling dominates.
    Fast,
    /// Every function is compiled by Cranelift's optimising pipeline (default).
    #[default]
    Optimized,
}

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) compilation: Compilation,
    pub(crate) tiering: Tiering,
    pub(crate) validation: Validation,
    pub(crate) features: WasmFeatures,
    pub(crate) memory_style: MemoryStyle,
    pub(crate) max_wasm_stack: usize,
    pub(crate) verify: bool,
    pub(crate) target: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            compilation: Compilation::Lazy,
            tiering: Tiering::Optimized,
            validation: Validation::Eager,
            features: WasmFeatures::WASM2,
            memory_style: MemoryStyle::Guarded,
            max_wasm_stack: 512 * 1024,
            verify: cfg!(debug_assertions),
            target: None,
        }
    }
}

impl Config {
    pub fn new() -> Self {
        Self::default()
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

    /// How functions are compiled: quickly ([`Tiering::Fast`]) or into the fastest
    /// code ([`Tiering::Optimized`], the default).
    pub fn tiering(&mut self, tiering: Tiering) -> &mut Self {
        self.tiering = tiering;
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

    /// The most stack, in bytes, that Wasm code may use before it traps with
    /// [`crate::Trap::StackOverflow`] (the budget is counted from where the host
    /// first enters Wasm on a thread, shared by nested entries into any store).
    /// On a thread whose native stack is smaller, Wasm gets what the thread has
    /// less 128 KiB kept for host functions and the runtime; a call made with
    /// less than that left fails with the same trap without running Wasm.
    pub fn max_wasm_stack(&mut self, bytes: usize) -> &mut Self {
        self.max_wasm_stack = bytes;
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
}
