//! [`Module`]: a validated Wasm module and its machine code, shared by all its
//! instances. Every defined function has one dispatch slot, holding the code all
//! calls to it reach. In lazy mode (the default) the slot starts out at the
//! function's lazy-compile stub, and the function is compiled on its first call,
//! exactly once however many threads call it; in eager mode all are compiled in
//! parallel when the module loads. Under `Tiering::Auto` that first compile is at
//! the fast tier, with counters; a function that uses up its budget is recompiled
//! optimised (`ModuleInner::optimize`) and its slot swapped to the new code.

use crate::background::JobKind;
use crate::cache::{self, CacheCounters, Cached, CodeCache, ModuleContext, Pack};
use crate::codec::Bounds;
use crate::engine::Trampolines;
use crate::module_bytes::ModuleBytes;
use crate::segments::Segments;
use crate::serialize::Image;
use crate::types::{ExportType, ExternType, ImportType};
use crate::{Engine, ProfilingStrategy, Validation};
use anyhow::{Context, Result, anyhow, bail};
use lazuli_cranelift::{CompileError, Compiler};
use lazuli_environ::{
    CompiledFunction, EntityIndex, ModuleInfo, SignatureId, WasmError, translate_module,
};
use lazuli_jit::{Batch, CodeMemory, FunctionInfo, RelocTarget, registry};
use lazuli_runtime::{MemoryImage, ModuleCode, VMFuncSlot};
use rayon::prelude::*;
use std::any::Any;
use std::collections::HashMap;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, TryLockError, Weak};
use std::time::{Duration, Instant};

/// A compiled module; cheap to clone.
#[derive(Clone)]
pub struct Module {
    /// Shared by the embedder's handles alone, not by instances' internals or
    /// background compiles: the last handle dropped writes the module's pack to
    /// the code cache. Declared first, so it drops before `inner`.
    _handles: Arc<Handles>,
    pub(crate) inner: Arc<ModuleInner>,
}

/// What the handles of one [`Module`] share.
struct Handles(Weak<ModuleInner>);

impl Drop for Handles {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner.close_pack();
        }
    }
}

impl Module {
    fn of(inner: Arc<ModuleInner>) -> Module {
        Module {
            _handles: Arc::new(Handles(Arc::downgrade(&inner))),
            inner,
        }
    }
}

pub(crate) struct ModuleInner {
    /// This module, for the background jobs it queues.
    this: Weak<ModuleInner>,
    pub(crate) engine: Engine,
    pub(crate) info: Arc<ModuleInfo>,
    /// The module's bytes: function bodies and data segments are ranges of them.
    /// A precompiled module's code lies in the same mapping and lives as long.
    pub(crate) bytes: ModuleBytes,
    /// Engine-wide id of each of the module's types.
    pub(crate) signatures: Vec<SignatureId>,
    /// Each of the module's types as the embedding API names it.
    pub(crate) func_types: Vec<crate::FuncType>,
    /// Trampolines of each of the module's types (empty for foreign targets).
    pub(crate) trampolines: Vec<Arc<Trampolines>>,
    /// Each defined function's dispatch slot: the code every call reaches.
    slots: Box<[VMFuncSlot]>,
    /// Whether each defined function is compiled, or why it cannot be.
    states: Box<[Mutex<FuncState>]>,
    /// Whether each defined function's tier-up was asked for (at most once).
    tiered_up: Box<[AtomicBool]>,
    /// The OSR entries asked for: by defined function, its loops' entries.
    /// While one of a function's entries is `Compiling`, its other loops wait
    /// for it rather than ask for entries of their own: a function with many
    /// loops (bzip2's) otherwise had one compile per loop queued before the first
    /// came back.
    osr_entries: Mutex<HashMap<u32, Vec<(u32, OsrEntry)>>>,
    /// The module's machine code.
    code: CodeMemory,
    /// The lazy-compile stubs, published once at load in a reservation of their
    /// own, so that the pages of compiled code are mapped by the first compile (a
    /// module that never runs maps no room for code).
    stubs: CodeMemory,
    /// Where each published batch of code starts (to unregister it).
    batches: Mutex<Vec<usize>>,
    stats: Counters,
    /// The digest of the sections code depends on, made on the code cache's
    /// first use.
    cache_context: OnceLock<ModuleContext>,
    cache_counters: CacheCounters,
    /// The module's pack in the code cache (`cache/pack.rs`): what its last run
    /// used, read at load; written again when the module is dropped.
    cache_pack: Option<Pack>,
    /// The segments prepared for instantiation, by the first one.
    segments: OnceLock<Segments>,
}

/// How far compiling one defined function has got. Locked while compiling lazily,
/// so that a function is published at most once even when a failed attempt leaves
/// it `Pending` for the next caller.
#[derive(Default)]
enum FuncState {
    /// Its slot holds its lazy-compile stub.
    #[default]
    Pending,
    /// Its slot holds its code.
    Compiled,
    /// A deterministic error (invalid body, code generator failure); a failure for
    /// want of a resource is never stored here.
    Failed(String),
}

/// How far compiling one OSR entry has got.
enum OsrEntry {
    Compiling,
    Ready(usize),
    /// Never asked for again: the fast code goes on in the loop.
    Failed,
}

/// The budget a loop waiting for its OSR entry gets: how many more iterations
/// (and calls) it runs before asking again.
const OSR_POLL_BUDGET: i32 = 1000;

/// Why compiling a function lazily failed.
enum LazyCompileError {
    /// Compiling again gives the same error.
    Deterministic(String),
    /// The system lacked a resource (e.g. code memory); a later attempt may work.
    Transient(String),
}

#[derive(Default)]
struct Counters {
    functions: AtomicUsize,
    wasm_bytes: AtomicUsize,
    code_bytes: AtomicUsize,
    stub_bytes: AtomicUsize,
    nanos: AtomicU64,
    compiled_ahead: AtomicUsize,
    optimized: AtomicUsize,
    optimized_code_bytes: AtomicUsize,
    optimize_nanos: AtomicU64,
    optimize_failures: AtomicUsize,
    osr_entries: AtomicUsize,
}

/// What compiling a module has cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Functions compiled to machine code.
    pub functions_compiled: usize,
    /// Bytes of Wasm function bodies compiled.
    pub wasm_bytes: usize,
    /// Bytes of machine code produced.
    pub code_bytes: usize,
    /// Bytes of lazy-compile stubs published at load (one per defined function, in
    /// lazy mode), alignment included; not counted in `code_bytes`.
    pub stub_bytes: usize,
    /// Bytes of executable pages the module's code and stubs occupy.
    pub code_memory_bytes: usize,
    /// Time spent compiling, summed over threads.
    pub compile_time: Duration,
    /// Of `functions_compiled`, those compiled ahead of their first call by a
    /// background thread.
    pub functions_compiled_ahead: usize,
    /// Functions recompiled by the optimising tier after using up their tier-up
    /// budget (`Tiering::Auto`); not counted in the fields above.
    pub functions_optimized: usize,
    /// Bytes of machine code tier-up produced.
    pub optimized_code_bytes: usize,
    /// Time spent recompiling for tier-up, summed over threads.
    pub optimize_time: Duration,
    /// Tier-ups that failed (a code generator error at the optimising tier after
    /// the fast tier succeeded, a Lazuli bug); such functions keep their fast code.
    pub optimize_failures: usize,
    /// OSR entries compiled: optimised code that a running fast-tier activation
    /// continues in at a loop (counted in `functions_optimized` too, and in the
    /// optimised bytes and time).
    pub osr_entries: usize,
    /// Functions and OSR entries whose code came from the code cache
    /// (`Config::cache`) instead of a compiler; not counted in the fields above.
    pub cache_hits: u64,
    /// Cache entries found but refused (truncated, corrupted, not authentic, or
    /// not fitting the function); their functions were compiled.
    pub cache_rejected: u64,
    /// Compiled functions and OSR entries handed to the code cache to store (its
    /// own thread writes them; a write the disk refuses is lost).
    pub cache_stored: u64,
}

impl Drop for ModuleInner {
    fn drop(&mut self) {
        self.close_pack();
        for start in self
            .batches
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
        {
            registry::unregister(*start);
        }
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl Module {
    /// Compiles a module from binary Wasm or from the text format.
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        Module::from_wasm_or_wat(engine, bytes.as_ref(), None)
    }

    /// Compiles a module as [`Module::new`] does, naming it `name` (which
    /// [`Module::name`] and backtraces report) in place of its name section's.
    ///
    /// Older Wasmtime versions had this constructor, with this meaning. The name
    /// is not part of [`Module::serialize`]'s artifact: a deserialized module has
    /// its name section's.
    pub fn new_with_name(engine: &Engine, bytes: impl AsRef<[u8]>, name: &str) -> Result<Module> {
        Module::from_wasm_or_wat(engine, bytes.as_ref(), Some(name))
    }

    fn from_wasm_or_wat(engine: &Engine, bytes: &[u8], name: Option<&str>) -> Result<Module> {
        if bytes.starts_with(b"\0asm") {
            return Module::compile(engine, bytes.into(), name);
        }
        let binary = wat::parse_bytes(bytes).map_err(|e| anyhow!("{e}"))?;
        Module::compile(engine, binary.into_owned().into(), name)
    }

    /// Compiles a module read from `path` (`.wasm` or `.wat`). A binary module
    /// keeps the bytes read, uncopied.
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        Module::from_vec(engine, bytes)
    }

    /// Compiles binary Wasm or the text format, as [`Module::new`] does, from
    /// bytes handed over: a binary module keeps them, uncopied (on a module of
    /// tens of megabytes, the copy and its page faults are a noticeable part of
    /// a start whose code comes from the cache).
    pub fn from_vec(engine: &Engine, bytes: Vec<u8>) -> Result<Module> {
        match bytes.starts_with(b"\0asm") {
            true => Module::compile(engine, bytes.into(), None),
            false => Module::new(engine, bytes),
        }
    }

    /// Compiles a module from binary Wasm only.
    pub fn from_binary(engine: &Engine, bytes: &[u8]) -> Result<Module> {
        Module::compile(engine, bytes.into(), None)
    }

    /// Compiles binary Wasm, which the module keeps, named `name` if given.
    fn compile(engine: &Engine, bytes: ModuleBytes, name: Option<&str>) -> Result<Module> {
        let marker = engine.validated_marker(&bytes);
        let mut info = parse_marked(engine, &bytes, marker.as_ref())?;
        if let Some(name) = name {
            info.name = Some(name.to_string());
        }
        let trampolines = engine.module_trampolines(&info)?;
        let pack = marker
            .filter(|_| info.num_defined_funcs() >= cache::PACK_MIN_FUNCTIONS)
            .map(|(cache, key)| cache.open_pack(cache::pack_key(&key)));
        let inner = ModuleInner::new(engine, info, bytes, trampolines, pack);
        if !engine.is_lazy() {
            inner.compile_all()?;
        } else {
            inner.publish_stubs()?;
        }
        Ok(Module::of(inner))
    }

    /// The module of `bytes` (parsed into `info`) whose code and trampolines are
    /// `image`, precompiled and mapped executable: every slot points at its code
    /// at once; its memory's image is `memory_image` if given. Without an image
    /// (an engine for another target) nothing can run.
    pub(crate) fn from_image(
        engine: &Engine,
        info: ModuleInfo,
        bytes: ModuleBytes,
        image: Option<Image>,
        memory_image: Option<MemoryImage>,
    ) -> Result<Module> {
        let Some(image) = image else {
            let inner = ModuleInner::new(engine, info, bytes, Vec::new(), None);
            return Ok(Module::of(inner));
        };
        let defined = info.num_defined_funcs() as usize;
        let entry = |i: usize| image.range.start + image.entries[defined + i].range.start;
        let trampolines = (0..info.types.len())
            .map(|t| Arc::new(Trampolines::in_image(entry(2 * t), entry(2 * t + 1))))
            .collect();
        let inner = ModuleInner::new(engine, info, bytes, trampolines, None);
        if let Some(memory_image) = memory_image {
            let segments = Segments::with_image(&inner.info, Some(memory_image));
            // The module is new: nothing has prepared its segments yet.
            let _ = inner.segments.set(segments);
        }
        inner.never_tier_up();
        inner.publish_image(image);
        Ok(Module::of(inner))
    }

    /// Checks that `bytes` is a valid module without compiling it.
    pub fn validate(engine: &Engine, bytes: &[u8]) -> Result<()> {
        parse(engine, bytes).map(drop)
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The module's name: the one given to [`Module::new_with_name`], else its
    /// name section's.
    pub fn name(&self) -> Option<&str> {
        self.inner.info.name.as_deref()
    }

    /// What compiling this module has cost so far.
    pub fn compile_stats(&self) -> CompileStats {
        let c = &self.inner.stats;
        CompileStats {
            functions_compiled: c.functions.load(Ordering::Relaxed),
            wasm_bytes: c.wasm_bytes.load(Ordering::Relaxed),
            code_bytes: c.code_bytes.load(Ordering::Relaxed),
            stub_bytes: c.stub_bytes.load(Ordering::Relaxed),
            code_memory_bytes: self.inner.code.committed_bytes()
                + self.inner.stubs.committed_bytes(),
            compile_time: Duration::from_nanos(c.nanos.load(Ordering::Relaxed)),
            functions_compiled_ahead: c.compiled_ahead.load(Ordering::Relaxed),
            functions_optimized: c.optimized.load(Ordering::Relaxed),
            optimized_code_bytes: c.optimized_code_bytes.load(Ordering::Relaxed),
            optimize_time: Duration::from_nanos(c.optimize_nanos.load(Ordering::Relaxed)),
            optimize_failures: c.optimize_failures.load(Ordering::Relaxed),
            osr_entries: c.osr_entries.load(Ordering::Relaxed),
            cache_hits: self.inner.cache_counters.hits.load(Ordering::Relaxed),
            cache_rejected: self.inner.cache_counters.rejected.load(Ordering::Relaxed),
            cache_stored: self.inner.cache_counters.stored.load(Ordering::Relaxed),
        }
    }

    /// The tier-up budget left to function `func_index` (calls and loop iterations
    /// its fast-tier code may still run before asking to be optimised; `i32::MAX`
    /// once tier-up was asked for, or when the function does not count), or `None`
    /// if the module does not define it. For tests: whether later calls still run
    /// the fast code shows in this number.
    #[doc(hidden)]
    pub fn tier_up_budget(&self, func_index: u32) -> Option<i32> {
        let defined = self.inner.defined(func_index)?;
        Some(self.inner.slots[defined as usize].budget())
    }

    /// The number of functions the module defines.
    pub fn defined_functions(&self) -> usize {
        self.inner.slots.len()
    }

    pub(crate) fn info(&self) -> &ModuleInfo {
        &self.inner.info
    }

    /// The module's segments prepared for instantiation (its memory image, its
    /// element segments' non-null items), worked out by the first instantiation.
    pub(crate) fn segments(&self) -> &Segments {
        let inner = &self.inner;
        inner
            .segments
            .get_or_init(|| Segments::new(&inner.info, &inner.bytes, &inner.engine))
    }

    /// The dispatch slot of defined function `defined`.
    pub(crate) fn func_slot(&self, defined: usize) -> *const VMFuncSlot {
        &self.inner.slots[defined]
    }

    /// The module's imports, in order.
    pub fn imports(&self) -> impl ExactSizeIterator<Item = ImportType<'_>> + '_ {
        self.inner.info.imports.iter().map(|i| ImportType {
            module: &i.module,
            name: &i.name,
            ty: self.entity_type(i.index),
        })
    }

    /// The module's exports, in order.
    pub fn exports(&self) -> impl ExactSizeIterator<Item = ExportType<'_>> + '_ {
        self.inner.info.exports.iter().map(|e| ExportType {
            name: &e.name,
            ty: self.entity_type(e.index),
        })
    }

    /// The type of the export `name`.
    pub fn get_export(&self, name: &str) -> Option<ExternType> {
        self.inner
            .info
            .export_map
            .get(name)
            .map(|i| self.entity_type(*i))
    }

    pub(crate) fn entity_type(&self, index: EntityIndex) -> ExternType {
        ExternType::of(self.info(), &self.inner.func_types, index)
    }

    /// The module's value type `ty` as the embedding API names it.
    pub(crate) fn val_type(&self, ty: lazuli_environ::WasmValType) -> crate::ValType {
        crate::ValType::of_module(ty, &self.inner.func_types)
    }

    /// The signature of function `func` (imported or defined).
    pub(crate) fn func_type(&self, func: u32) -> crate::FuncType {
        let ty = self.inner.info.functions[func as usize] as usize;
        self.inner.func_types[ty].clone()
    }

    /// Fails unless this module's code can run here.
    pub(crate) fn ensure_runnable(&self) -> Result<()> {
        if !self.inner.engine.is_native() {
            bail!("module was compiled for another target and cannot run here");
        }
        Ok(())
    }
}

/// Below this many bytes of function bodies, validation stays on the calling thread.
const PARALLEL_VALIDATION_BYTES: usize = 64 * 1024;

/// Runs `compile`, which compiles defined function `defined` of `info` (or its
/// OSR entry), turning a panic into an error.
pub(crate) fn compile_guarded(
    info: &ModuleInfo,
    defined: u32,
    compile: impl FnOnce() -> Result<CompiledFunction, CompileError>,
) -> Result<CompiledFunction> {
    // A panic in the code generator is a bug, but it must not take the host down
    // (lazily, this runs inside a builtin called from Wasm, where unwinding is
    // not allowed): it becomes this function's compile error.
    let compiled = catch_unwind(AssertUnwindSafe(compile)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Err(CompileError::Codegen(format!(
            "the code generator panicked: {message}"
        )))
    });
    compiled.with_context(|| format!("compiling function {}", info.num_imported_funcs + defined))
}

/// Compiles every defined function of `info` with `compile`, on all cores
/// unless `Config::parallel_compilation` is off, in module order, telling the engine's `Config::compile_progress` callback after
/// each one.
pub(crate) fn compile_each(
    engine: &Engine,
    info: &ModuleInfo,
    compile: impl Fn(u32) -> Result<CompiledFunction> + Sync,
) -> Result<Vec<CompiledFunction>> {
    let total = info.num_defined_funcs();
    let done = AtomicUsize::new(0);
    let hooks = &engine.config().hooks;
    let compile_one = |d| {
        let func = compile(d)?;
        hooks.progress(done.fetch_add(1, Ordering::Relaxed) + 1, total as usize);
        Ok(func)
    };
    match engine.config().parallel_compilation {
        true => (0..total).into_par_iter().map(compile_one).collect(),
        false => (0..total).map(compile_one).collect(),
    }
}

/// Validates and parses `bytes`; with eager validation the function bodies are
/// validated too, on all cores, reporting the first invalid body in module order.
pub(crate) fn parse(engine: &Engine, bytes: &[u8]) -> Result<ModuleInfo> {
    parse_marked(engine, bytes, engine.validated_marker(bytes).as_ref())
}

/// [`parse`], with the code cache and the key of the module's validity marker in
/// it, if the engine has a cache.
fn parse_marked(
    engine: &Engine,
    bytes: &[u8],
    marker: Option<&(&CodeCache, cache::Key)>,
) -> Result<ModuleInfo> {
    let invalid = |e| anyhow!("invalid module: {e}");
    let mut info = translate_module(bytes, engine.config().features).map_err(invalid)?;
    if engine.config().validation == Validation::Eager {
        // With the code cache, a module validated before (these very bytes, with
        // this engine's features) is not validated again; its validators stay,
        // so a body that is compiled is validated then.
        if marker.is_some_and(|(cache, key)| cache.has_marker(key)) {
            return Ok(info);
        }
        let parallel = engine.config().parallel_compilation;
        validate_bodies(&info, bytes, parallel).map_err(invalid)?;
        info.func_validators.clear();
        if let Some((cache, key)) = marker {
            cache.store_marker(key);
        }
    }
    Ok(info)
}

/// Validates every function body of `info` (in `bytes`): on all cores for a large
/// module if `parallel`, reporting the first invalid body in module order.
fn validate_bodies(info: &ModuleInfo, bytes: &[u8], parallel: bool) -> Result<(), WasmError> {
    let validate = |d| info.validate_body(bytes, d);
    let defined = 0..info.num_defined_funcs();
    let body_bytes: usize = info.bodies.iter().map(|b| b.range.len()).sum();
    // Small modules are not worth waking the thread pool for.
    let first_error = if !parallel || body_bytes < PARALLEL_VALIDATION_BYTES {
        defined.map(validate).find(Result::is_err)
    } else {
        defined
            .into_par_iter()
            .map(validate)
            .find_first(Result::is_err)
    };
    first_error.unwrap_or(Ok(()))
}

impl ModuleInner {
    /// The module of `bytes`, parsed into `info`, with the trampolines of its
    /// types and nothing compiled or published yet (its slots are empty).
    fn new(
        engine: &Engine,
        info: ModuleInfo,
        bytes: ModuleBytes,
        trampolines: Vec<Arc<Trampolines>>,
        cache_pack: Option<Pack>,
    ) -> Arc<ModuleInner> {
        let signatures = engine.inner.signatures.register_module(&info.types);
        let func_types = crate::FuncType::of_module(engine, &info.types, &signatures);
        let defined = info.num_defined_funcs() as usize;
        Arc::new_cyclic(|this| ModuleInner {
            this: this.clone(),
            engine: engine.clone(),
            slots: (0..defined).map(|_| VMFuncSlot::new(0)).collect(),
            states: (0..defined).map(|_| Mutex::default()).collect(),
            tiered_up: (0..defined).map(|_| AtomicBool::new(false)).collect(),
            osr_entries: Mutex::default(),
            info: Arc::new(info),
            bytes,
            signatures,
            func_types,
            trampolines,
            code: CodeMemory::new(),
            stubs: CodeMemory::new(),
            batches: Mutex::new(Vec::new()),
            stats: Counters::default(),
            cache_context: OnceLock::new(),
            cache_counters: CacheCounters::default(),
            cache_pack,
            segments: OnceLock::new(),
        })
    }
}

impl ModuleInner {
    /// Compiles defined function `defined` at the first tier, counting it in the
    /// compile statistics, unless the code cache has its code: its optimised code
    /// if it tiered up in an earlier run (it then starts optimised and never
    /// counts), else its first-tier code.
    fn compile_one(&self, defined: u32) -> Result<CompiledFunction> {
        let first_tier = self.first_tier(defined);
        if let Some(cached) = self.look_up_cache(first_tier, defined, None) {
            let optimised = cached.tiered.then(|| self.cached_optimised(defined));
            return Ok(optimised.flatten().unwrap_or(cached.func));
        }
        let start = Instant::now();
        let func = self.compile_and_store(first_tier, defined, None)?;
        let c = &self.stats;
        c.functions.fetch_add(1, Ordering::Relaxed);
        c.wasm_bytes.fetch_add(
            self.info.bodies[defined as usize].range.len(),
            Ordering::Relaxed,
        );
        c.code_bytes.fetch_add(func.code.len(), Ordering::Relaxed);
        c.nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(func)
    }

    /// The optimised code of defined function `defined` from the code cache, if
    /// this engine tiers up and an earlier run stored it; marks the function
    /// tiered up.
    fn cached_optimised(&self, defined: u32) -> Option<CompiledFunction> {
        let optimizer = self.engine.optimizer()?;
        let cached = self.look_up_cache(optimizer, defined, None)?;
        self.tiered_up[defined as usize].store(true, Ordering::Relaxed);
        Some(cached.func)
    }

    /// The code of defined function `defined` (its OSR entry at `osr_loop` if
    /// given) by `compiler`: from the code cache if it has it (`true`), else
    /// compiled and stored there.
    fn compile_cached(
        &self,
        compiler: &Compiler,
        defined: u32,
        osr_loop: Option<u32>,
    ) -> Result<(CompiledFunction, bool)> {
        if let Some(cached) = self.look_up_cache(compiler, defined, osr_loop) {
            return Ok((cached.func, true));
        }
        Ok((self.compile_and_store(compiler, defined, osr_loop)?, false))
    }

    /// Compiles defined function `defined` (its OSR entry at `osr_loop` if given)
    /// with `compiler` and stores the code in the code cache, if there is one.
    fn compile_and_store(
        &self,
        compiler: &Compiler,
        defined: u32,
        osr_loop: Option<u32>,
    ) -> Result<CompiledFunction> {
        let func = compile_guarded(&self.info, defined, || match osr_loop {
            None => compiler.compile_function(&self.info, &self.bytes, defined),
            Some(l) => compiler.compile_osr_entry(&self.info, &self.bytes, defined, l),
        })?;
        if let Some((cache, tier)) = self.engine.cache_for(compiler) {
            let key = self.cache_key(tier, defined, osr_loop);
            let start = self.info.bodies[defined as usize].range.start as u32;
            cache.store(&key, &func, start, &self.cache_counters, self.pack());
        }
        Ok(func)
    }

    /// Marks defined function `defined`'s first-tier cache entry: its optimised
    /// code is in the cache now, so a later run starts with that.
    fn mark_tiered_in_cache(&self, defined: u32) {
        let compiler = self.engine.compiler();
        if let Some((cache, tier)) = self.engine.cache_for(compiler) {
            let key = self.cache_key(tier, defined, None);
            cache.mark_tiered(&key, &Bounds::of(&self.info, defined), self.pack());
        }
    }

    /// What the code cache holds for defined function `defined` compiled by
    /// `compiler` (as an OSR entry at `osr_loop` if given), if anything usable.
    fn look_up_cache(
        &self,
        compiler: &Compiler,
        defined: u32,
        osr_loop: Option<u32>,
    ) -> Option<Cached> {
        let (cache, tier) = self.engine.cache_for(compiler)?;
        let key = self.cache_key(tier, defined, osr_loop);
        let bounds = Bounds::of(&self.info, defined);
        cache.load(&key, &bounds, &self.cache_counters, self.pack())
    }

    /// The module's pack in the code cache, if it has one.
    fn pack(&self) -> Option<&Pack> {
        self.cache_pack.as_ref()
    }

    /// Writes the module's pack back to the code cache (once), and waits for
    /// the cache's writes to be done.
    fn close_pack(&self) {
        let cache = self.engine.cache_for(self.engine.compiler());
        if let (Some((cache, _)), Some(pack)) = (cache, self.pack()) {
            cache.close_pack(pack);
        }
    }

    fn cache_key(&self, tier: &cache::Tier, defined: u32, osr_loop: Option<u32>) -> cache::Key {
        let context = self
            .cache_context
            .get_or_init(|| ModuleContext::new(&self.bytes));
        let body = &self.bytes[self.info.bodies[defined as usize].range.clone()];
        cache::key(tier, context, defined, osr_loop, body)
    }

    /// The compiler of defined function `defined`'s first compile: the engine's
    /// first tier, or under tier-up the optimising one for a small function
    /// (`Config::tier_up_small_functions`), which then never tiers up.
    fn first_tier(&self, defined: u32) -> &Compiler {
        let small = self.engine.config().small_function_bytes as usize;
        match self.engine.optimizer() {
            Some(optimizer) if self.info.bodies[defined as usize].range.len() < small => {
                self.tiered_up[defined as usize].store(true, Ordering::Relaxed);
                optimizer
            }
            _ => self.engine.compiler(),
        }
    }

    /// Points the slot of defined function `defined` at its first-tier `code`,
    /// giving it its tier-up budget first if that code counts.
    fn publish_first_tier(&self, defined: u32, code: usize) {
        let slot = &self.slots[defined as usize];
        let counts = !self.tiered_up[defined as usize].load(Ordering::Relaxed);
        if self.engine.optimizer().is_some() && counts {
            let budget = self.engine.config().tier_up_budget;
            slot.set_budget(i32::try_from(budget).unwrap_or(i32::MAX));
        }
        slot.set(code);
    }

    /// Marks every function tiered up, so that none counts or asks for tier-up:
    /// precompiled code is the optimiser's already.
    fn never_tier_up(&self) {
        if self.engine.optimizer().is_some() {
            let tiered = self.tiered_up.iter();
            tiered.for_each(|t| t.store(true, Ordering::Relaxed));
        }
    }

    /// Compiles every function (in parallel unless `Config::parallel_compilation`
    /// is off) and publishes them as one block with direct calls between them.
    fn compile_all(&self) -> Result<()> {
        let compiled = compile_each(&self.engine, &self.info, |d| self.compile_one(d))?;
        self.publish_all(&compiled)
    }

    /// Publishes `compiled`, the code of every defined function in order, as one
    /// block with direct calls between them, and points each slot at its code.
    fn publish_all(&self, compiled: &[CompiledFunction]) -> Result<()> {
        if !self.engine.is_native() {
            return Ok(());
        }
        let imported = self.info.num_imported_funcs;
        let refs: Vec<&CompiledFunction> = compiled.iter().collect();
        let batch = self.code.publish(&refs, |func| {
            func.checked_sub(imported)
                .map(|d| RelocTarget::Batch(d as usize))
        })?;
        for (d, (state, range)) in self.states.iter().zip(&batch.functions).enumerate() {
            self.publish_first_tier(d as u32, range.start);
            *state.lock().unwrap_or_else(PoisonError::into_inner) = FuncState::Compiled;
        }
        self.register(&batch, compiled, 0);
        Ok(())
    }

    /// Points every defined function's slot at its code in `image` and registers
    /// the image (its trampolines too) for trap lookups and backtraces.
    fn publish_image(&self, image: Image) {
        let imported = self.info.num_imported_funcs;
        let defined = self.states.len();
        let base = image.range.start;
        let infos: Vec<FunctionInfo> = image
            .entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| FunctionInfo {
                range: base + entry.range.start..base + entry.range.end,
                func_index: (i < defined).then(|| imported + i as u32),
                tables: entry.tables,
            })
            .collect();
        for (d, (state, info)) in self.states.iter().zip(&infos).enumerate() {
            self.publish_first_tier(d as u32, info.range.start);
            *state.lock().unwrap_or_else(PoisonError::into_inner) = FuncState::Compiled;
        }
        self.register_batch(image.range, infos);
    }

    /// Publishes a lazy-compile stub for every defined function, copied from its
    /// signature's template with the function's index patched in, as one batch, and
    /// points each function's slot at its stub.
    fn publish_stubs(&self) -> Result<()> {
        if !self.engine.is_native() {
            return Ok(());
        }
        let imported = self.info.num_imported_funcs;
        let templates = (imported..self.info.functions.len() as u32)
            .map(|f| {
                let type_index = self.info.functions[f as usize] as usize;
                self.trampolines[type_index]
                    .lazy_stub
                    .as_ref()
                    .ok_or_else(|| anyhow!("no lazy-compile stub for function {f}"))
            })
            .collect::<Result<Vec<_>>>()?;
        if templates.is_empty() {
            return Ok(());
        }
        let batch = self
            .stubs
            .publish_each(&templates, |i, _| {
                Some(RelocTarget::Address((imported as usize) + i))
            })
            .context("publishing lazy-compile stubs")?;
        for (slot, range) in self.slots.iter().zip(&batch.functions) {
            slot.set(range.start);
        }
        self.stats
            .stub_bytes
            .store(batch.range.len(), Ordering::Relaxed);
        let infos = templates
            .iter()
            .zip(&batch.functions)
            .map(|(stub, range)| FunctionInfo {
                range: range.clone(),
                // Not a Wasm frame: backtraces skip it, as they skip trampolines.
                func_index: None,
                tables: stub.tables.clone().into(),
            })
            .collect();
        self.register_batch(batch.range, infos);
        Ok(())
    }

    /// Registers `batch` (holding `functions`, the first being defined function
    /// `first`) for trap lookups and backtraces.
    fn register(&self, batch: &Batch, functions: &[CompiledFunction], first: u32) {
        if self.engine.config().hooks.profiler == ProfilingStrategy::PerfMap {
            let first = self.info.num_imported_funcs + first;
            let named: Vec<_> = (batch.functions.iter().cloned()).zip(first..).collect();
            crate::profiling::record_perf_map(&self.info, &named);
        }
        let infos = functions
            .iter()
            .zip(&batch.functions)
            .enumerate()
            .map(|(i, (f, range))| FunctionInfo {
                range: range.clone(),
                func_index: Some(self.info.num_imported_funcs + first + i as u32),
                tables: f.tables.clone().into(),
            })
            .collect();
        self.register_batch(batch.range.clone(), infos);
    }

    /// Registers the code in `range`, holding `infos`, until the module is dropped.
    fn register_batch(&self, range: Range<usize>, infos: Vec<FunctionInfo>) {
        let start = range.start;
        registry::register(range, infos, Some(self.info.clone()));
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(start);
    }

    /// Compiles and publishes one function (lazy mode); the function and the
    /// functions it calls directly.
    fn compile_lazily(&self, defined: u32) -> Result<(usize, Vec<u32>), LazyCompileError> {
        let mut func = self
            .compile_one(defined)
            .map_err(|e| LazyCompileError::Deterministic(format!("{e:#}")))?;
        let address = self.publish_one(&func, defined)?;
        Ok((address, std::mem::take(&mut func.callees)))
    }

    /// Publishes `func`, the code of defined function `defined`, and registers it;
    /// its entry address.
    fn publish_one(
        &self,
        func: &CompiledFunction,
        defined: u32,
    ) -> Result<usize, LazyCompileError> {
        let batch = self.code.publish(&[func], |_| None).map_err(|e| {
            let message = format!(
                "publishing function {}: {e}",
                self.info.num_imported_funcs + defined
            );
            if e.is_transient() {
                LazyCompileError::Transient(message)
            } else {
                LazyCompileError::Deterministic(message)
            }
        })?;
        self.register(&batch, std::slice::from_ref(func), defined);
        Ok(batch.functions[0].start)
    }

    /// The entry address of defined function `defined`, compiling it and pointing
    /// its slot at it unless an earlier call did (or a background thread is doing
    /// so: the lock makes this call wait for it); an earlier transient failure is
    /// retried. The functions it calls are queued for compiling ahead.
    fn compiled_or_compile(&self, defined: u32) -> Result<usize, String> {
        let state = self.states[defined as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (address, callees) = self.compile_locked(defined, state)?;
        self.queue_ahead(&callees);
        Ok(address)
    }

    /// Compiles defined function `defined` ahead of its first call (a background
    /// job), unless it is compiled, failed, or being compiled by a call right now,
    /// and queues its callees in turn: the call graph is walked breadth-first from
    /// what runs (on python3.11.wasm this predicted more of the functions a run
    /// needs than the direct callees of what ran alone: BENCHMARKS.md).
    pub(crate) fn compile_ahead(&self, defined: u32) {
        let state = match self.states[defined as usize].try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        if !matches!(*state, FuncState::Pending) || !self.worth_compiling_ahead(defined) {
            return;
        }
        if let Ok((_, callees)) = self.compile_locked(defined, state) {
            self.stats.compiled_ahead.fetch_add(1, Ordering::Relaxed);
            self.queue_ahead(&callees);
        }
    }

    /// Whether compiling defined function `defined` ahead is worth it: always
    /// without a code cache or in a first run (a module that found nothing in the
    /// cache yet); after that, only if an earlier run compiled it, which makes it
    /// a load from the cache. What earlier runs did not need is likely not needed
    /// now either, and compiling it ahead on every warm start cost python3.11 a
    /// third of a core.
    fn worth_compiling_ahead(&self, defined: u32) -> bool {
        let Some((cache, tier)) = self.engine.cache_for(self.first_tier(defined)) else {
            return true;
        };
        self.cache_counters.hits.load(Ordering::Relaxed) == 0
            || cache.contains(&self.cache_key(tier, defined, None), self.pack())
    }

    /// Queues the functions in `callees` that are not compiled yet for compiling
    /// ahead, if the engine does that and the module did not run before with the
    /// code cache (its pack held entries when loaded): then what the run needs
    /// is in the pack, and each load is cheap on the thread that needs it, while
    /// a worker loading ahead costs both threads a lock handoff per function
    /// (python3.11.wasm's warm start spent a third of its time there).
    fn queue_ahead(&self, callees: &[u32]) {
        let Some(background) = self.engine.background() else {
            return;
        };
        if !background.compiles_ahead() || self.pack().is_some_and(Pack::was_filled) {
            return;
        }
        for &callee in callees {
            let pending = match self.states[callee as usize].try_lock() {
                Ok(state) => matches!(*state, FuncState::Pending),
                // Being compiled (or poisoned, which compiling ahead would not mend).
                Err(_) => false,
            };
            if pending {
                background.push(self.this.clone(), callee, JobKind::CompileAhead);
            }
        }
    }

    /// Compiles defined function `defined`, whose state `state` is locked, unless
    /// that is done; its entry address, and the functions it calls if this call
    /// compiled it.
    fn compile_locked(
        &self,
        defined: u32,
        mut state: std::sync::MutexGuard<'_, FuncState>,
    ) -> Result<(usize, Vec<u32>), String> {
        let slot = &self.slots[defined as usize];
        match &*state {
            FuncState::Compiled => return Ok((slot.code(), Vec::new())),
            FuncState::Failed(message) => return Err(message.clone()),
            FuncState::Pending => {}
        }
        match self.compile_lazily(defined) {
            Ok((address, callees)) => {
                self.publish_first_tier(defined, address);
                *state = FuncState::Compiled;
                Ok((address, callees))
            }
            Err(LazyCompileError::Transient(message)) => Err(message),
            Err(LazyCompileError::Deterministic(message)) => {
                *state = FuncState::Failed(message.clone());
                Err(message)
            }
        }
    }
}

impl ModuleInner {
    /// Asks for defined function `defined` to be recompiled optimised: at once
    /// without background compilation, else by a background job. Only the first
    /// request counts; the budget is set so that the fast code stops asking.
    fn request_tier_up(&self, defined: u32) {
        self.slots[defined as usize].set_budget(i32::MAX);
        if self.tiered_up[defined as usize].swap(true, Ordering::AcqRel) {
            return;
        }
        match self.engine.background() {
            Some(background) => background.push(self.this.clone(), defined, JobKind::Optimize),
            None => self.optimize(defined),
        }
    }

    /// Recompiles defined function `defined` at the optimising tier and points its
    /// slot at the new code: every later call, however it reaches the function,
    /// runs it; calls already running finish in the fast code, which stays
    /// published until the module is dropped. A failure leaves the fast code.
    pub(crate) fn optimize(&self, defined: u32) {
        let Some(optimizer) = self.engine.optimizer() else {
            return;
        };
        let compiled = self.compile_optimised(optimizer, defined, None);
        if let Some(address) = compiled {
            self.slots[defined as usize].set(address);
        }
    }

    /// The entry of defined function `defined`'s optimised code at loop
    /// `loop_index` if it is compiled, else 0 after asking for it (compiling it
    /// now without background compilation); asks for the function's tier-up too.
    fn osr_entry_for(&self, defined: u32, loop_index: u32) -> usize {
        self.request_tier_up(defined);
        let mut table = self
            .osr_entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let poll = || self.slots[defined as usize].set_budget(OSR_POLL_BUDGET);
        let entries = table.entry(defined).or_default();
        match entries.iter().find(|(l, _)| *l == loop_index) {
            Some((_, OsrEntry::Ready(address))) => return *address,
            Some((_, OsrEntry::Failed)) => return 0,
            Some((_, OsrEntry::Compiling)) => {
                poll();
                return 0;
            }
            None if entries
                .iter()
                .any(|(_, e)| matches!(e, OsrEntry::Compiling)) =>
            {
                poll();
                return 0;
            }
            None => entries.push((loop_index, OsrEntry::Compiling)),
        }
        drop(table);
        match self.engine.background() {
            Some(background) => {
                background.push(self.this.clone(), defined, JobKind::Osr(loop_index));
                poll();
                0
            }
            None => self.compile_osr(defined, loop_index),
        }
    }

    /// Compiles and publishes the OSR entry of defined function `defined` at loop
    /// `loop_index`; its address, or 0 if it cannot be compiled.
    pub(crate) fn compile_osr(&self, defined: u32, loop_index: u32) -> usize {
        let Some(optimizer) = self.engine.optimizer() else {
            return 0;
        };
        let compiled = self.compile_optimised(optimizer, defined, Some(loop_index));
        let entry = match compiled {
            Some(address) => {
                self.stats.osr_entries.fetch_add(1, Ordering::Relaxed);
                OsrEntry::Ready(address)
            }
            None => OsrEntry::Failed,
        };
        let mut table = self
            .osr_entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entries = table.entry(defined).or_default();
        entries.retain(|(l, _)| *l != loop_index);
        entries.push((loop_index, entry));
        compiled.unwrap_or(0)
    }

    /// Compiles optimised code of defined function `defined` (its OSR entry at
    /// `osr_loop` if given) with `optimizer`, or takes it from the code cache,
    /// publishes it and counts it; its address, or `None` (counted as a failure).
    fn compile_optimised(
        &self,
        optimizer: &Compiler,
        defined: u32,
        osr_loop: Option<u32>,
    ) -> Option<usize> {
        let start = Instant::now();
        let published = self
            .compile_cached(optimizer, defined, osr_loop)
            .map(|(func, cached)| {
                if !cached && osr_loop.is_none() {
                    self.mark_tiered_in_cache(defined);
                }
                func
            })
            .map_err(|e| format!("{e:#}"))
            .and_then(|func| {
                let address = self.publish_one(&func, defined).map_err(|e| match e {
                    LazyCompileError::Deterministic(m) | LazyCompileError::Transient(m) => m,
                })?;
                Ok((address, func.code.len()))
            });
        let c = &self.stats;
        c.optimize_nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match published {
            Ok((address, bytes)) => {
                c.optimized.fetch_add(1, Ordering::Relaxed);
                c.optimized_code_bytes.fetch_add(bytes, Ordering::Relaxed);
                Some(address)
            }
            Err(_) => {
                c.optimize_failures.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

impl ModuleInner {
    /// The defined index of function `func_index`, if this module defines it.
    fn defined(&self, func_index: u32) -> Option<u32> {
        func_index
            .checked_sub(self.info.num_imported_funcs)
            .filter(|d| (*d as usize) < self.slots.len())
    }
}

impl ModuleCode for ModuleInner {
    fn compile(&self, func_index: u32) -> Result<usize, Box<dyn Any + Send>> {
        let defined = self.defined(func_index).ok_or_else(|| {
            Box::new(anyhow!(
                "function {func_index} is not defined by this module"
            )) as Box<dyn Any + Send>
        })?;
        self.compiled_or_compile(defined)
            .map_err(|e| Box::new(anyhow!(e)) as Box<dyn Any + Send>)
    }

    fn tier_up(&self, func_index: u32) {
        if let Some(defined) = self.defined(func_index) {
            self.request_tier_up(defined);
        }
    }

    fn osr_entry(&self, func_index: u32, loop_index: u32) -> usize {
        self.defined(func_index)
            .map_or(0, |defined| self.osr_entry_for(defined, loop_index))
    }

    fn func_slots(&self) -> *const VMFuncSlot {
        self.slots.as_ptr()
    }

    fn type_ids(&self) -> *const u32 {
        // `SignatureId` is a `repr(transparent)` `u32`.
        self.signatures.as_ptr().cast()
    }

    fn data_segment(&self, index: u32) -> &[u8] {
        self.info
            .data
            .get(index as usize)
            .map_or(&[], |segment| &self.bytes[segment.data.clone()])
    }
}
