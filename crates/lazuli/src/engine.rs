//! [`Engine`]: the compilers (one per tier it uses), the background compiler, the
//! engine-wide signature registry and the shared trampolines.

use crate::background::Background;
use crate::cache::{self, CacheCounters, CodeCache};
use crate::codec::Bounds;
use crate::instance_pool::InstancePool;
use crate::{Compilation, Config, InstanceAllocationStrategy, Strategy, Tiering};
use anyhow::{Context, Result, bail};
use lazuli_cranelift::{CompileError, Compiler, CompilerOptions, Tier, host_isa, target_isa};
use lazuli_environ::{CompiledFunction, ModuleInfo, SignatureId, SignatureRegistry, WasmFuncType};
use lazuli_jit::{CodeMemory, FunctionInfo, registry};
use lazuli_runtime::{MemoryPool, MemoryStyle};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Compiles and runs modules; cheap to clone, shared by all its modules and stores.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    pub(crate) config: Config,
    /// Compiles every function first (and the trampolines and stubs).
    pub(crate) compiler: Compiler,
    /// Under `Tiering::Auto`, recompiles the functions that use up their budget.
    optimizer: Option<Compiler>,
    /// Runs tier-up and compile-ahead jobs, with `Config::background_compilation`.
    background: Option<Background>,
    pub(crate) signatures: SignatureRegistry,
    trampolines: Mutex<HashMap<SignatureId, Arc<Trampolines>>>,
    trampoline_code: CodeMemory,
    /// The memory pool and the instance and table counts, under
    /// `InstanceAllocationStrategy::Pooling`.
    memory_pool: Option<Arc<MemoryPool>>,
    instance_pool: Option<Arc<InstancePool>>,
    /// The code cache, if `Config::cache` has one, with the key parts of the
    /// first tier and of the optimiser.
    cache: Option<(CodeCache, cache::Tier, Option<cache::Tier>)>,
    /// The epoch, which generated code compares with its store's deadline
    /// (`Config::epoch_interruption`); every store points at it.
    epoch: AtomicU64,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        let trampolines = self
            .trampolines
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for t in trampolines.values() {
            registry::unregister(t.code_start);
        }
    }
}

/// The two trampolines of one signature.
pub(crate) struct Trampolines {
    /// Host→Wasm: `extern "C" fn(callee_vmctx, caller_vmctx, code, values)`.
    pub(crate) array_to_wasm: usize,
    /// Wasm→host: Wasm signature, callee vmctx is a `VMHostContext`.
    pub(crate) wasm_to_host: usize,
    /// Where their code starts: registered by the engine for its own, by the
    /// module for a precompiled module's.
    code_start: usize,
    /// The lazy-compile stub template of the signature (lazy engines only), copied
    /// once per function of that type by the modules that use it.
    pub(crate) lazy_stub: Option<CompiledFunction>,
}

impl Trampolines {
    /// The trampolines of a precompiled module's image, at these addresses.
    pub(crate) fn in_image(array_to_wasm: usize, wasm_to_host: usize) -> Trampolines {
        Trampolines {
            array_to_wasm,
            wasm_to_host,
            code_start: array_to_wasm.min(wasm_to_host),
            lazy_stub: None,
        }
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(&Config::default()).expect("the default configuration builds for the host")
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `config`; fails if it asks for a compiler Lazuli does not
    /// have ([`Strategy::Winch`]) or for Cranelift flags Cranelift refuses, or if
    /// its code cache cannot be opened.
    pub fn new(config: &Config) -> Result<Engine> {
        if config.strategy == Strategy::Winch {
            bail!(
                "compiler strategy `Winch` is not available: Lazuli compiles with Cranelift only"
            );
        }
        // Code for other targets is only ever compiled eagerly, and cannot tier up.
        let native = config.target.is_none();
        let lazy = config.compilation == Compilation::Lazy && native;
        let tiers_up = config.tiering == Tiering::Auto && native;
        let first_tier = match config.tiering {
            Tiering::Fast => Tier::Fast,
            Tiering::Auto if tiers_up => Tier::Fast,
            Tiering::Auto | Tiering::Optimized => Tier::Optimized,
        };
        let options = CompilerOptions {
            guarded_memories: config.effective_memory_style() == MemoryStyle::Guarded,
            // A slot is where tier-up publishes, so every call must go through it.
            slot_calls: lazy || tiers_up,
            tier_up_counters: tiers_up,
            locals_in_frame: first_tier == Tier::Fast,
            consume_fuel: config.consume_fuel,
            epoch_interruption: config.epoch_interruption,
            relaxed_simd_deterministic: config.relaxed_simd_deterministic,
        };
        let compiler = Compiler::new(isa(config, first_tier)?, options);
        let optimizer = tiers_up
            .then(|| -> Result<Compiler> {
                let options = CompilerOptions {
                    tier_up_counters: false,
                    locals_in_frame: false,
                    ..options
                };
                Ok(Compiler::new(isa(config, Tier::Optimized)?, options))
            })
            .transpose()?;
        let features = format!("{:?}", config.features);
        let cache = config.cache.as_ref().map(CodeCache::open).transpose()?;
        let cache = cache.map(|cache| {
            let first = cache::Tier::new(&compiler, &features);
            let optimized = optimizer.as_ref().map(|o| cache::Tier::new(o, &features));
            (cache, first, optimized)
        });
        Ok(Engine {
            inner: Arc::new(EngineInner {
                cache,
                config: config.clone(),
                compiler,
                optimizer,
                background: config.background_compilation.then(Background::new),
                signatures: SignatureRegistry::default(),
                trampolines: Mutex::new(HashMap::new()),
                trampoline_code: CodeMemory::new(),
                memory_pool: memory_pool(config),
                instance_pool: match config.allocation_strategy {
                    InstanceAllocationStrategy::Pooling(limits) => {
                        Some(Arc::new(InstancePool::new(limits)))
                    }
                    InstanceAllocationStrategy::OnDemand => None,
                },
                epoch: AtomicU64::new(0),
            }),
        })
    }

    /// Moves the epoch on by one: Wasm running in stores whose deadline this
    /// reaches stops at its next function entry or loop header (with
    /// [`Config::epoch_interruption`]). Callable from any thread, e.g. a timer
    /// thread; one atomic addition.
    pub fn increment_epoch(&self) {
        self.inner.epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// The epoch now.
    pub(crate) fn current_epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Relaxed)
    }

    /// The epoch counter, which stores' contexts point to.
    pub(crate) fn epoch_counter(&self) -> &AtomicU64 {
        &self.inner.epoch
    }

    /// Whether `self` and `other` are the same engine.
    pub(crate) fn same(&self, other: &Engine) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The pool instances take their memories from, if the engine pools them.
    pub(crate) fn memory_pool(&self) -> Option<&Arc<MemoryPool>> {
        self.inner.memory_pool.as_ref()
    }

    /// The counts of live instances and tables, if the engine pools them.
    pub(crate) fn instance_pool(&self) -> Option<&Arc<InstancePool>> {
        self.inner.instance_pool.as_ref()
    }

    pub(crate) fn compiler(&self) -> &Compiler {
        &self.inner.compiler
    }

    /// The optimising compiler of a tiering engine (`Tiering::Auto`).
    pub(crate) fn optimizer(&self) -> Option<&Compiler> {
        self.inner.optimizer.as_ref()
    }

    /// The code cache and the key part of `compiler` (one of this engine's), if
    /// the engine has a cache.
    pub(crate) fn cache_for(&self, compiler: &Compiler) -> Option<(&CodeCache, &cache::Tier)> {
        let (cache, first, optimized) = self.inner.cache.as_ref()?;
        let tier = match std::ptr::eq(compiler, &self.inner.compiler) {
            true => first,
            false => optimized.as_ref()?,
        };
        Some((cache, tier))
    }

    /// The code cache and the key of the marker that says the module `bytes` was
    /// validated, if the engine has a cache.
    pub(crate) fn validated_marker(&self, bytes: &[u8]) -> Option<(&CodeCache, cache::Key)> {
        let (cache, tier) = self.cache_for(self.compiler())?;
        Some((cache, cache::validated_key(tier, bytes)))
    }

    /// The background compiler, unless compiling off the calling thread is off.
    pub(crate) fn background(&self) -> Option<&Background> {
        self.inner.background.as_ref()
    }

    /// Whether modules compile each function on its first call.
    pub(crate) fn is_lazy(&self) -> bool {
        self.inner.config.compilation == Compilation::Lazy && self.is_native()
    }

    /// Whether code from this engine can run on this machine.
    pub(crate) fn is_native(&self) -> bool {
        self.inner.config.target.is_none()
    }

    pub(crate) fn signature(&self, ty: &WasmFuncType) -> SignatureId {
        self.inner.signatures.register(ty)
    }

    /// The id of `ty` in this engine's signature registry, registering it and
    /// the types it refers to unless they are from this engine already.
    pub(crate) fn func_type_id(&self, ty: &crate::FuncType) -> SignatureId {
        if let Some(id) = ty.id_in(self.inner.signatures.id()) {
            return id;
        }
        let registered = WasmFuncType::new(
            ty.param_types().iter().map(|t| t.to_registered(self)),
            ty.result_types().iter().map(|t| t.to_registered(self)),
        );
        self.signature(&registered)
    }

    /// The trampolines for `ty`, compiled on first use.
    /// They depend only on how `ty` is passed (every reference is a pointer), so
    /// they are kept by the signature of [`WasmFuncType::erased`].
    pub(crate) fn trampolines(&self, ty: &WasmFuncType) -> Result<Arc<Trampolines>> {
        if !self.is_native() {
            anyhow::bail!("this engine compiles for another target and cannot run code here");
        }
        let ty = &ty.erased();
        let id = self.signature(ty);
        let mut cache = self
            .inner
            .trampolines
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = cache.get(&id) {
            return Ok(t.clone());
        }
        // Trampolines and stubs run at every host call and first call: the best
        // code the engine has.
        let compiler = self.optimizer().unwrap_or(self.compiler());
        let to_wasm = self.trampoline(compiler, "to wasm", ty, Compiler::compile_array_to_wasm)?;
        let to_host = self.trampoline(compiler, "to host", ty, Compiler::compile_wasm_to_host)?;
        let lazy_stub = self
            .is_lazy()
            .then(|| self.trampoline(compiler, "lazy stub", ty, Compiler::compile_lazy_stub))
            .transpose()?;
        let trampolines = Arc::new(Trampolines {
            lazy_stub,
            ..publish_trampolines(&self.inner.trampoline_code, &to_wasm, &to_host)?
        });
        cache.insert(id, trampolines.clone());
        Ok(trampolines)
    }
}

impl Engine {
    /// The code of the two trampolines of `ty` (to Wasm, to the host), not
    /// published: for precompiled modules, which carry their own.
    pub(crate) fn trampoline_code(&self, ty: &WasmFuncType) -> Result<[CompiledFunction; 2]> {
        let compiler = self.optimizer().unwrap_or(self.compiler());
        Ok([
            self.trampoline(compiler, "to wasm", ty, Compiler::compile_array_to_wasm)?,
            self.trampoline(compiler, "to host", ty, Compiler::compile_wasm_to_host)?,
        ])
    }

    /// The trampolines of each of `info`'s types (none on an engine for another
    /// target, which cannot run them).
    pub(crate) fn module_trampolines(&self, info: &ModuleInfo) -> Result<Vec<Arc<Trampolines>>> {
        if !self.is_native() {
            return Ok(Vec::new());
        }
        info.types.iter().map(|t| self.trampolines(t)).collect()
    }

    /// The trampoline of `kind` for `ty`, compiled by `compile` with `compiler`,
    /// or from the code cache (a module with many signatures spends much of its
    /// load compiling them).
    fn trampoline(
        &self,
        compiler: &Compiler,
        kind: &str,
        ty: &WasmFuncType,
        compile: fn(&Compiler, &WasmFuncType) -> Result<CompiledFunction, CompileError>,
    ) -> Result<CompiledFunction> {
        let Some((cache, tier)) = self.cache_for(compiler) else {
            return Ok(compile(compiler, ty)?);
        };
        let key = cache::trampoline_key(tier, kind, ty);
        let counters = CacheCounters::default();
        if let Some(cached) = cache.load(&key, &Bounds::TRAMPOLINE, &counters, None) {
            return Ok(cached.func);
        }
        let func = compile(compiler, ty)?;
        cache.store(&key, &func, 0, &counters, None);
        Ok(func)
    }
}

/// The memory pool of `config`'s allocation strategy, if it pools.
fn memory_pool(config: &Config) -> Option<Arc<MemoryPool>> {
    let InstanceAllocationStrategy::Pooling(limits) = config.allocation_strategy else {
        return None;
    };
    let pool = MemoryPool::new(
        config.effective_memory_style(),
        limits.max_memory_pages,
        limits.total_memories as usize,
    );
    Some(Arc::new(pool))
}

/// The ISA of `config`'s target (or the host) at `tier`.
fn isa(config: &Config, tier: Tier) -> Result<lazuli_cranelift::OwnedTargetIsa> {
    let settings = config.isa_settings();
    Ok(match &config.target {
        Some(triple) => target_isa(triple, tier, &settings)?,
        None => host_isa(tier, &settings)?,
    })
}

fn publish_trampolines(
    code: &CodeMemory,
    to_wasm: &CompiledFunction,
    to_host: &CompiledFunction,
) -> Result<Trampolines> {
    let batch = code
        .publish(&[to_wasm, to_host], |_| None)
        .context("publishing trampolines")?;
    let functions = [to_wasm, to_host]
        .iter()
        .zip(&batch.functions)
        .map(|(f, range)| FunctionInfo {
            range: range.clone(),
            func_index: None,
            tables: f.tables.clone().into(),
        })
        .collect();
    registry::register(batch.range.clone(), functions, None);
    Ok(Trampolines {
        array_to_wasm: batch.functions[0].start,
        wasm_to_host: batch.functions[1].start,
        code_start: batch.range.start,
        lazy_stub: None,
    })
}
