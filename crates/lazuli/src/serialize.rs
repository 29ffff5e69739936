//! Precompiled modules: [`Engine::precompile_module`] and [`Module::serialize`]
//! write an artifact holding a module and the code of all its functions, and
//! [`Module::deserialize`] loads one without compiling anything.
//!
//! ```text
//! magic "LZMODULE" | format u32
//! version, target, settings: each a u32 length then UTF-8
//! the Wasm module: u32 length then bytes
//! the defined functions: u32 count, the u32 end of each in what follows, then
//!   each in `codec.rs`'s encoding
//! ```
//!
//! A lazy engine decodes and publishes a precompiled function when it is first
//! called (the function's slot starts at its lazy-compile stub, as when
//! compiling lazily); an eager one publishes them all at load.
//!
//! An artifact is checked for the Lazuli version, the target and the settings that
//! change code (the optimising compiler's fingerprint, the Wasm features) before
//! anything else is read, so that one from another version, machine or `Config`
//! is refused with the reason. Past that, its contents are trusted, as with
//! Wasmtime's: the caller promises that it came from `serialize`.

use crate::codec::{self, Bounds, Reader};
use crate::module::{compile_each, compile_guarded, parse};
use crate::{Engine, Module};
use anyhow::{Context, Result, anyhow, bail};
use lazuli_environ::{CompiledFunction, ModuleInfo, translate_module};
use std::path::Path;

const MAGIC: &[u8; 8] = b"LZMODULE";

fn corrupt() -> anyhow::Error {
    anyhow!("the precompiled module is truncated or corrupt")
}
const FORMAT: u32 = 2;

impl Engine {
    /// Compiles every function of `bytes` (binary or text) with this engine's
    /// optimising compiler and returns the artifact [`Module::deserialize`] loads
    /// (with an engine of the same version, target and settings). An engine for
    /// another target (`Config::target`) precompiles for that target.
    pub fn precompile_module(&self, bytes: &[u8]) -> Result<Vec<u8>> {
        let binary = match bytes.starts_with(b"\0asm") {
            true => bytes.to_vec(),
            false => wat::parse_bytes(bytes)
                .map_err(|e| anyhow!("{e}"))?
                .into_owned(),
        };
        let info = parse(self, &binary)?;
        let compiler = self.optimizer().unwrap_or(self.compiler());
        let compiled = compile_each(self, &info, |d| {
            compile_guarded(&info, d, || compiler.compile_function(&info, &binary, d))
        })?;
        Ok(write(self, &binary, &info, &compiled))
    }

    /// What an artifact must have been made with to run on this engine.
    fn compatibility(&self) -> [String; 3] {
        let compiler = self.optimizer().unwrap_or(self.compiler());
        let target = compiler.isa().triple().to_string();
        let settings = format!("{} {:?}", compiler.fingerprint(), self.config().features);
        [env!("CARGO_PKG_VERSION").to_string(), target, settings]
    }
}

impl Module {
    /// The artifact of this module for [`Module::deserialize`]: its functions
    /// compiled anew by the engine's optimising compiler (a lazily compiled module
    /// has compiled only what ran).
    pub fn serialize(&self) -> Result<Vec<u8>> {
        self.engine().precompile_module(&self.inner.bytes)
    }

    /// Loads an artifact of [`Module::serialize`] or
    /// [`Engine::precompile_module`] without compiling anything. An artifact made
    /// by another Lazuli version, for another target or with a `Config` that
    /// changes code is refused with an error saying which.
    ///
    /// # Safety
    /// `bytes` must come from `serialize` or `precompile_module`, unchanged: past
    /// the header, the machine code in it is run as it is.
    pub unsafe fn deserialize(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let mut r = Reader(bytes.as_ref());
        check_header(engine, &mut r)?;
        let wasm = r.list_bytes().ok_or_else(corrupt)?;
        let mut info = translate_module(wasm, engine.config().features)
            .map_err(|e| anyhow!("invalid module in the precompiled artifact: {e}"))?;
        // Its bodies were validated when it was compiled.
        info.func_validators.clear();
        let functions = Precompiled::read(&mut r, &info).ok_or_else(corrupt)?;
        if engine.is_lazy() {
            return Module::from_precompiled(engine, info, wasm, functions);
        }
        let compiled = functions.all(&info).ok_or_else(corrupt)?;
        Module::from_compiled(engine, info, wasm, &compiled)
    }

    /// [`Module::deserialize`] of the file at `path`.
    ///
    /// # Safety
    /// As for [`Module::deserialize`]: the file must hold an unchanged artifact.
    pub unsafe fn deserialize_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        // SAFETY: the caller vouches for the file's contents.
        unsafe { Module::deserialize(engine, bytes) }
    }

    /// Whether `bytes` starts like an artifact of [`Module::serialize`].
    pub fn is_precompiled(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }
}

/// The artifact of `wasm` (parsed into `info`) with `compiled`.
fn write(
    engine: &Engine,
    wasm: &[u8],
    info: &ModuleInfo,
    compiled: &[CompiledFunction],
) -> Vec<u8> {
    let code: usize = compiled.iter().map(|f| f.code.len()).sum();
    let mut w = Vec::with_capacity(wasm.len() + code + 1024);
    w.extend_from_slice(MAGIC);
    codec::put_u32(&mut w, FORMAT);
    for field in engine.compatibility() {
        put_bytes(&mut w, field.as_bytes());
    }
    put_bytes(&mut w, wasm);
    let mut blob = Vec::with_capacity(code + 64 * compiled.len());
    let ends: Vec<u32> = compiled
        .iter()
        .zip(&info.bodies)
        .map(|(func, body)| {
            codec::encode(&mut blob, func, body.range.start as u32);
            blob.len() as u32
        })
        .collect();
    codec::put_u32(&mut w, compiled.len() as u32);
    ends.iter().for_each(|end| codec::put_u32(&mut w, *end));
    w.extend_from_slice(&blob);
    w
}

fn put_bytes(w: &mut Vec<u8>, bytes: &[u8]) {
    codec::put_u32(w, bytes.len() as u32);
    w.extend_from_slice(bytes);
}

/// Reads the header off `r`: an error unless it is an artifact this engine runs.
fn check_header(engine: &Engine, r: &mut Reader<'_>) -> Result<()> {
    if r.take(MAGIC.len()) != Some(MAGIC) {
        bail!("not a precompiled Lazuli module");
    }
    if r.u32().ok_or_else(corrupt)? != FORMAT {
        bail!("the precompiled module has another format version than this Lazuli's");
    }
    let [version, target, settings] = engine.compatibility();
    let mut field = || {
        let bytes = r.list_bytes().ok_or_else(corrupt)?;
        Ok::<_, anyhow::Error>(String::from_utf8_lossy(bytes).into_owned())
    };
    let theirs = field()?;
    if theirs != version {
        bail!("the precompiled module was made by Lazuli {theirs}; this is Lazuli {version}");
    }
    let theirs = field()?;
    if theirs != target {
        bail!(
            "the precompiled module was compiled for {theirs}; this engine compiles for {target}"
        );
    }
    if field()? != settings {
        bail!(
            "the precompiled module was compiled with other settings (CPU features, \
             tiering, memory style or Wasm features) than this engine's"
        );
    }
    Ok(())
}

/// The defined functions of an artifact, each decoded when asked for.
pub(crate) struct Precompiled {
    /// The functions in `codec.rs`'s encoding, one after another.
    blob: Box<[u8]>,
    /// Where each function's encoding ends in `blob` (and the next one's starts).
    ends: Vec<u32>,
}

impl Precompiled {
    /// The functions of `info` read off `r`, which they must end.
    fn read(r: &mut Reader<'_>, info: &ModuleInfo) -> Option<Precompiled> {
        let count = r.u32()?;
        if count != info.num_defined_funcs() {
            return None;
        }
        let ends = (0..count).map(|_| r.u32()).collect::<Option<Vec<u32>>>()?;
        let in_order = ends.windows(2).all(|w| w[0] <= w[1]);
        let last = ends.last().map_or(0, |&e| e as usize);
        (in_order && last == r.0.len()).then(|| Precompiled {
            blob: r.0.into(),
            ends,
        })
    }

    /// The code of defined function `defined` of `info`, if its encoding is whole
    /// and fits the function.
    pub(crate) fn function(&self, info: &ModuleInfo, defined: u32) -> Option<CompiledFunction> {
        let d = defined as usize;
        let start = d.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        let mut r = Reader(self.blob.get(start..*self.ends.get(d)? as usize)?);
        codec::decode(&mut r, &Bounds::of(info, defined)).filter(|_| r.0.is_empty())
    }

    /// The code of every defined function of `info`.
    fn all(&self, info: &ModuleInfo) -> Option<Vec<CompiledFunction>> {
        (0..info.num_defined_funcs())
            .map(|d| self.function(info, d))
            .collect()
    }
}
