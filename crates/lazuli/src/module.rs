//! [`Module`]: a validated, compiled Wasm module, shared by all its instances.

use crate::Engine;
use crate::engine::Trampolines;
use crate::types::{ExportType, ExternType, ImportType};
use anyhow::{Context, Result, bail};
use lazuli_environ::{EntityIndex, ModuleInfo, SignatureId, translate_module};
use lazuli_jit::{CodeMemory, FunctionInfo, RelocTarget, registry};
use std::path::Path;
use std::sync::Arc;
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
    /// Entry address of each defined function (empty for foreign targets).
    pub(crate) func_addrs: Vec<usize>,
    code: Option<CodeMemory>,
    stats: CompileStats,
}

/// What compiling a module cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Functions compiled to machine code.
    pub functions_compiled: usize,
    /// Bytes of Wasm function bodies compiled.
    pub wasm_bytes: usize,
    /// Bytes of machine code produced.
    pub code_bytes: usize,
    /// Wall-clock time spent compiling.
    pub compile_time: Duration,
}

impl Drop for ModuleInner {
    fn drop(&mut self) {
        if let Some(code) = &self.code {
            registry::unregister(code.range().start);
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
        let binary = wat::parse_bytes(bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        Module::from_binary(engine, &binary)
    }

    /// Compiles a module read from `path` (`.wasm` or `.wat`).
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        Module::new(engine, bytes).with_context(|| format!("in `{}`", path.display()))
    }

    /// Compiles a module from binary Wasm only.
    pub fn from_binary(engine: &Engine, bytes: &[u8]) -> Result<Module> {
        let features = wasmparser::WasmFeatures::WASM2;
        let info = translate_module(bytes, features, engine.config().validation)
            .map_err(|e| anyhow::anyhow!("invalid module: {e}"))?;
        let signatures: Vec<SignatureId> = info.types.iter().map(|t| engine.signature(t)).collect();

        let start = Instant::now();
        let compiler = engine.compiler();
        let mut compiled = Vec::with_capacity(info.bodies.len());
        for i in 0..info.num_defined_funcs() {
            let f = compiler
                .compile_function(&info, bytes, &signatures, i)
                .with_context(|| format!("compiling function {}", info.num_imported_funcs + i))?;
            compiled.push(f);
        }
        let stats = CompileStats {
            functions_compiled: compiled.len(),
            wasm_bytes: info.bodies.iter().map(|b| b.range.len()).sum(),
            code_bytes: compiled.iter().map(|f| f.code.len()).sum(),
            compile_time: start.elapsed(),
        };
        let info = Arc::new(info);
        if !engine.is_native() {
            return Ok(Module {
                inner: Arc::new(ModuleInner {
                    engine: engine.clone(),
                    info,
                    bytes: bytes.into(),
                    signatures,
                    trampolines: Vec::new(),
                    func_addrs: Vec::new(),
                    code: None,
                    stats,
                }),
            });
        }

        let trampolines = info
            .types
            .iter()
            .map(|t| engine.trampolines(t))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<_> = compiled.iter().collect();
        let imported = info.num_imported_funcs;
        let code = CodeMemory::publish(&refs, |func| {
            func.checked_sub(imported)
                .map(|d| RelocTarget::Batch(d as usize))
        })?;
        let functions = compiled
            .iter()
            .enumerate()
            .map(|(i, f)| FunctionInfo {
                range: code.function(i),
                func_index: Some(imported + i as u32),
                tables: f.tables.clone(),
            })
            .collect();
        registry::register(code.range(), functions, Some(info.clone()));
        let func_addrs = (0..compiled.len())
            .map(|i| code.function(i).start)
            .collect();
        Ok(Module {
            inner: Arc::new(ModuleInner {
                engine: engine.clone(),
                info,
                bytes: bytes.into(),
                signatures,
                trampolines,
                func_addrs,
                code: Some(code),
                stats,
            }),
        })
    }

    /// Checks that `bytes` is a valid module without compiling it.
    pub fn validate(engine: &Engine, bytes: &[u8]) -> Result<()> {
        let features = wasmparser::WasmFeatures::WASM2;
        translate_module(bytes, features, engine.config().validation)
            .map(drop)
            .map_err(|e| anyhow::anyhow!("invalid module: {e}"))
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The module's name from its name section.
    pub fn name(&self) -> Option<&str> {
        self.inner.info.name.as_deref()
    }

    /// What compiling this module cost so far.
    pub fn compile_stats(&self) -> CompileStats {
        self.inner.stats
    }

    pub(crate) fn info(&self) -> &ModuleInfo {
        &self.inner.info
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
        if self.inner.code.is_none() && self.inner.info.num_defined_funcs() > 0
            || !self.inner.engine.is_native()
        {
            bail!("module was compiled for another target and cannot run here");
        }
        Ok(())
    }
}
