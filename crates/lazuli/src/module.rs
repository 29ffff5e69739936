//! [`Module`]: a validated Wasm module and its machine code, shared by all its
//! instances. Every defined function has one dispatch slot, holding the code all
//! calls to it reach. In lazy mode (the default) the slot starts out at the
//! function's lazy-compile stub, and the function is compiled on its first call,
//! exactly once however many threads call it; in eager mode all are compiled in
//! parallel when the module loads.

use crate::engine::Trampolines;
use crate::types::{ExportType, ExternType, ImportType};
use crate::{Engine, Validation};
use anyhow::{Context, Result, anyhow, bail};
use lazuli_cranelift::CompileError;
use lazuli_environ::{CompiledFunction, EntityIndex, ModuleInfo, SignatureId, translate_module};
use lazuli_jit::{Batch, CodeMemory, FunctionInfo, RelocTarget, registry};
use lazuli_runtime::{ModuleCode, VMFuncSlot};
use rayon::prelude::*;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A compiled module; cheap to clone.
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    pub(crate) engine: Engine,
    pub(crate) info: Arc<ModuleInfo>,
    /// The module's bytes: function bodies and data segments are ranges of them.
    pub(crate) bytes: Box<[u8]>,
    /// Engine-wide id of each of the module's types.
    pub(crate) signatures: Vec<SignatureId>,
    /// Trampolines of each of the module's types (empty for foreign targets).
    pub(crate) trampolines: Vec<Arc<Trampolines>>,
    /// Each defined function's dispatch slot: the code every call reaches.
    slots: Box<[VMFuncSlot]>,
    /// Whether each defined function is compiled, or why it cannot be.
    states: Box<[Mutex<FuncState>]>,
    /// The module's machine code.
    code: CodeMemory,
    /// The lazy-compile stubs, published once at load in a reservation of their
    /// own, so that the pages of compiled code are mapped by the first compile (a
    /// module that never runs maps no room for code).
    stubs: CodeMemory,
    /// Where each published batch of code starts (to unregister it).
    batches: Mutex<Vec<usize>>,
    stats: Counters,
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
}

impl Drop for ModuleInner {
    fn drop(&mut self) {
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
        let bytes = bytes.as_ref();
        if bytes.starts_with(b"\0asm") {
            return Module::from_binary(engine, bytes);
        }
        let binary = wat::parse_bytes(bytes).map_err(|e| anyhow!("{e}"))?;
        Module::from_binary(engine, &binary)
    }

    /// Compiles a module read from `path` (`.wasm` or `.wat`).
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        Module::new(engine, bytes)
    }

    /// Compiles a module from binary Wasm only.
    pub fn from_binary(engine: &Engine, bytes: &[u8]) -> Result<Module> {
        let info = parse(engine, bytes)?;
        let signatures = info.types.iter().map(|t| engine.signature(t)).collect();
        let trampolines = if engine.is_native() {
            info.types
                .iter()
                .map(|t| engine.trampolines(t))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let defined = info.num_defined_funcs() as usize;
        let inner = Arc::new(ModuleInner {
            engine: engine.clone(),
            slots: (0..defined).map(|_| VMFuncSlot::new(0)).collect(),
            states: (0..defined).map(|_| Mutex::default()).collect(),
            info: Arc::new(info),
            bytes: bytes.into(),
            signatures,
            trampolines,
            code: CodeMemory::new(),
            stubs: CodeMemory::new(),
            batches: Mutex::new(Vec::new()),
            stats: Counters::default(),
        });
        if !engine.is_lazy() {
            inner.compile_all()?;
        } else {
            inner.publish_stubs()?;
        }
        Ok(Module { inner })
    }

    /// Checks that `bytes` is a valid module without compiling it.
    pub fn validate(engine: &Engine, bytes: &[u8]) -> Result<()> {
        parse(engine, bytes).map(drop)
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The module's name from its name section.
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
        }
    }

    /// The number of functions the module defines.
    pub fn defined_functions(&self) -> usize {
        self.inner.slots.len()
    }

    pub(crate) fn info(&self) -> &ModuleInfo {
        &self.inner.info
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
        ExternType::of(self.info(), index)
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

/// Validates and parses `bytes`; with eager validation the function bodies are
/// validated too, on all cores, reporting the first invalid body in module order.
fn parse(engine: &Engine, bytes: &[u8]) -> Result<ModuleInfo> {
    let invalid = |e| anyhow!("invalid module: {e}");
    let mut info = translate_module(bytes, engine.config().features).map_err(invalid)?;
    if engine.config().validation == Validation::Eager {
        let validate = |d| info.validate_body(bytes, d);
        let defined = 0..info.num_defined_funcs();
        let body_bytes: usize = info.bodies.iter().map(|b| b.range.len()).sum();
        // Small modules are not worth waking the thread pool for.
        let first_error = if body_bytes < PARALLEL_VALIDATION_BYTES {
            defined.map(validate).find(Result::is_err)
        } else {
            defined
                .into_par_iter()
                .map(validate)
                .find_first(Result::is_err)
        };
        if let Some(Err(e)) = first_error {
            return Err(invalid(e));
        }
        info.func_validators.clear();
    }
    Ok(info)
}

impl ModuleInner {
    fn compile_one(&self, defined: u32) -> Result<CompiledFunction> {
        let start = Instant::now();
        // A panic in the code generator is a bug, but it must not take the host down
        // (lazily, this runs inside a builtin called from Wasm, where unwinding is
        // not allowed): it becomes this function's compile error.
        let compiled = catch_unwind(AssertUnwindSafe(|| {
            self.engine.compiler().compile_function(
                &self.info,
                &self.bytes,
                &self.signatures,
                defined,
            )
        }))
        .unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(CompileError::Codegen(format!(
                "the code generator panicked: {message}"
            )))
        });
        let func = compiled.with_context(|| {
            format!(
                "compiling function {}",
                self.info.num_imported_funcs + defined
            )
        })?;
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

    /// Compiles every function in parallel and publishes them as one block with
    /// direct calls between them.
    fn compile_all(&self) -> Result<()> {
        let compiled = (0..self.info.num_defined_funcs())
            .into_par_iter()
            .map(|d| self.compile_one(d))
            .collect::<Result<Vec<_>>>()?;
        if !self.engine.is_native() {
            return Ok(());
        }
        let imported = self.info.num_imported_funcs;
        let refs: Vec<&CompiledFunction> = compiled.iter().collect();
        let batch = self.code.publish(&refs, |func| {
            func.checked_sub(imported)
                .map(|d| RelocTarget::Batch(d as usize))
        })?;
        for ((slot, state), range) in self.slots.iter().zip(&self.states).zip(&batch.functions) {
            slot.set(range.start);
            *state.lock().unwrap_or_else(PoisonError::into_inner) = FuncState::Compiled;
        }
        self.register(&batch, &compiled, 0);
        Ok(())
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
                tables: stub.tables.clone(),
            })
            .collect();
        self.register_batch(&batch, infos);
        Ok(())
    }

    /// Registers `batch` (holding `functions`, the first being defined function
    /// `first`) for trap lookups and backtraces.
    fn register(&self, batch: &Batch, functions: &[CompiledFunction], first: u32) {
        let infos = functions
            .iter()
            .zip(&batch.functions)
            .enumerate()
            .map(|(i, (f, range))| FunctionInfo {
                range: range.clone(),
                func_index: Some(self.info.num_imported_funcs + first + i as u32),
                tables: f.tables.clone(),
            })
            .collect();
        self.register_batch(batch, infos);
    }

    /// Registers `batch`, holding `infos`, until the module is dropped.
    fn register_batch(&self, batch: &Batch, infos: Vec<FunctionInfo>) {
        registry::register(batch.range.clone(), infos, Some(self.info.clone()));
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(batch.range.start);
    }

    /// Compiles and publishes one function (lazy mode).
    fn compile_lazily(&self, defined: u32) -> Result<usize, LazyCompileError> {
        let func = self
            .compile_one(defined)
            .map_err(|e| LazyCompileError::Deterministic(format!("{e:#}")))?;
        let batch = self.code.publish(&[&func], |_| None).map_err(|e| {
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
        self.register(&batch, std::slice::from_ref(&func), defined);
        Ok(batch.functions[0].start)
    }

    /// The entry address of defined function `defined`, compiling it and pointing
    /// its slot at it unless an earlier call did; an earlier transient failure is
    /// retried.
    fn compiled_or_compile(&self, defined: u32) -> Result<usize, String> {
        let mut state = self.states[defined as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = &self.slots[defined as usize];
        match &*state {
            FuncState::Compiled => return Ok(slot.code()),
            FuncState::Failed(message) => return Err(message.clone()),
            FuncState::Pending => {}
        }
        match self.compile_lazily(defined) {
            Ok(address) => {
                slot.set(address);
                *state = FuncState::Compiled;
                Ok(address)
            }
            Err(LazyCompileError::Transient(message)) => Err(message),
            Err(LazyCompileError::Deterministic(message)) => {
                *state = FuncState::Failed(message.clone());
                Err(message)
            }
        }
    }
}

impl ModuleCode for ModuleInner {
    fn compile(&self, func_index: u32) -> Result<usize, Box<dyn Any + Send>> {
        let defined = func_index
            .checked_sub(self.info.num_imported_funcs)
            .filter(|d| (*d as usize) < self.slots.len())
            .ok_or_else(|| {
                Box::new(anyhow!(
                    "function {func_index} is not defined by this module"
                )) as Box<dyn Any + Send>
            })?;
        self.compiled_or_compile(defined)
            .map_err(|e| Box::new(anyhow!(e)) as Box<dyn Any + Send>)
    }

    fn func_slots(&self) -> *const VMFuncSlot {
        self.slots.as_ptr()
    }

    fn data_segment(&self, index: u32) -> &[u8] {
        self.info
            .data
            .get(index as usize)
            .map_or(&[], |segment| &self.bytes[segment.data.clone()])
    }
}
