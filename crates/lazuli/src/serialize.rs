//! Precompiled modules: [`Engine::precompile_module`] and [`Module::serialize`]
//! write an artifact holding a module and the code of all its functions and
//! trampolines, and [`Module::deserialize`] loads one without compiling anything.
//!
//! ```text
//! magic "LZMODULE" | format u32
//! version, target, settings: each a u32 length then UTF-8
//! the Wasm module: u32 length then bytes
//! the code's index: u32 count of defined functions, u32 count of rows, then a
//!   row for each defined function in order and two per type (trampolines to
//!   Wasm, to the host), each six u32: start in the image, length, number of
//!   trap sites, number of Wasm offsets, the body's start in the Wasm module
//!   and its length (0 and 0 for a trampoline)
//! the code's tables: each row's trap sites then Wasm offsets, in row order
//!   (the records of `codec::put_trap_records` and `put_offset_records`)
//! u64 where the image starts in the artifact (a multiple of IMAGE_ALIGN),
//!   u64 its length; the memory image: u64 where it starts in the artifact (a
//!   multiple of IMAGE_ALIGN; 0 if there is none), u64 where in the memory,
//!   u64 its length
//! zeros up to the image; the image; zeros up to the memory image; the memory image
//! ```
//!
//! The image is the code laid out as it runs, its calls between functions
//! already relocated (they are relative), so that loading maps it read+execute
//! where it lies: `deserialize_file` maps the file itself, `deserialize` a copy
//! of the bytes. Every function's slot then points at its code at once; nothing
//! is copied, compiled or published per function. Likewise the memory's initial
//! contents (when no data segment can trap, see `segments.rs`) are a page-aligned
//! image that `deserialize_file`'s instances map copy-on-write from the file.
//!
//! An artifact is checked for the Lazuli version, the target and the settings that
//! change code (the optimising compiler's fingerprint, the Wasm features) before
//! anything else is read, so that one from another version, machine or `Config`
//! is refused with the reason. Past that, its contents are trusted, as with
//! Wasmtime's: the caller promises that it came from `serialize`. So loading
//! neither validates the Wasm module again nor reads its code section (the index
//! says where the bodies are), and it reads the index but never the tables:
//! they are registered where they lie, and only a trap or a backtrace reads them.

use crate::codec::{self, Reader};
use crate::module::{compile_each, compile_guarded, parse};
use crate::module_bytes::ModuleBytes;
use crate::segments::image_segments;
use crate::{Engine, Module};
use anyhow::{Context, Result, anyhow, bail};
use lazuli_environ::{CompiledFunction, ModuleInfo, translate_trusted_module};
use lazuli_jit::{InPlaceTables, Mapping, OFFSET_RECORD, TRAP_RECORD, Tables, relocatable_image};
use lazuli_runtime::{MemoryImage, image_range};
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"LZMODULE";
const FORMAT: u32 = 4;
/// What the image's start in an artifact is a multiple of: the largest host page
/// size of the targets, so that it can be mapped where it lies.
const IMAGE_ALIGN: usize = 64 * 1024;

fn corrupt() -> anyhow::Error {
    anyhow!("the precompiled module is truncated or corrupt")
}

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
        let mut code = compile_each(self, &info, |d| {
            compile_guarded(&info, d, || compiler.compile_function(&info, &binary, d))
        })?;
        for ty in &info.types {
            code.extend(self.trampoline_code(ty)?);
        }
        write(self, &binary, &info, &code)
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
        let map = Mapping::copy_of(bytes.as_ref())?;
        load(engine, map, None)
    }

    /// [`Module::deserialize`] of the file at `path`, which is mapped rather than
    /// read: its code runs where it lies in the file.
    ///
    /// # Safety
    /// As for [`Module::deserialize`]: the file must hold an unchanged artifact,
    /// and nobody may change it while the module lives.
    pub unsafe fn deserialize_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let file = File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        // SAFETY: the caller vouches that the file holds an artifact nobody
        // changes while the module lives.
        let map = unsafe { Mapping::of_file(&file) }
            .with_context(|| format!("cannot map `{}`", path.display()))?;
        load(engine, map, Some(Arc::new(file)))
    }

    /// Whether `bytes` starts like an artifact of [`Module::serialize`].
    pub fn is_precompiled(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }
}

/// The artifact of `wasm` (parsed into `info`) with `code`: its defined
/// functions, then the two trampolines of each type.
fn write(
    engine: &Engine,
    wasm: &[u8],
    info: &ModuleInfo,
    code: &[CompiledFunction],
) -> Result<Vec<u8>> {
    let refs: Vec<&CompiledFunction> = code.iter().collect();
    let imported = info.num_imported_funcs;
    let (image, ranges) = relocatable_image(&refs, |f| f.checked_sub(imported).map(|d| d as usize))
        .context("laying out the precompiled code")?;
    let mut w = Vec::with_capacity(wasm.len() + image.len() + IMAGE_ALIGN);
    w.extend_from_slice(MAGIC);
    codec::put_u32(&mut w, FORMAT);
    for field in engine.compatibility() {
        put_bytes(&mut w, field.as_bytes());
    }
    put_bytes(&mut w, wasm);
    write_index(&mut w, info, code, &ranges);
    for (i, func) in code.iter().enumerate() {
        let body_start = info.bodies.get(i).map_or(0, |b| b.range.start as u32);
        codec::put_trap_records(&mut w, &func.tables);
        codec::put_offset_records(&mut w, &func.tables, body_start);
    }
    let memory = image_segments(info, wasm)
        .map(|segments| memory_image_bytes(&segments))
        .transpose()?
        .flatten();
    let image_at = (w.len() + 5 * 8).next_multiple_of(IMAGE_ALIGN);
    let memory_at = (image_at + image.len()).next_multiple_of(IMAGE_ALIGN);
    let (memory_at, memory_range) = match &memory {
        Some((range, _)) => (memory_at, range.clone()),
        None => (0, 0..0),
    };
    for field in [
        image_at,
        image.len(),
        memory_at,
        memory_range.start,
        memory_range.len(),
    ] {
        w.extend_from_slice(&(field as u64).to_le_bytes());
    }
    w.resize(image_at, 0);
    w.extend_from_slice(&image);
    if let Some((_, bytes)) = memory {
        w.resize(memory_at, 0);
        w.extend_from_slice(&bytes);
    }
    Ok(w)
}

/// Appends the index of `code`, laid out in the image at `ranges`, to `w`.
fn write_index(
    w: &mut Vec<u8>,
    info: &ModuleInfo,
    code: &[CompiledFunction],
    ranges: &[Range<usize>],
) {
    codec::put_u32(w, info.num_defined_funcs());
    codec::put_u32(w, code.len() as u32);
    for (i, (func, range)) in code.iter().zip(ranges).enumerate() {
        let body = info.bodies.get(i).map_or(0..0, |b| b.range.clone());
        let tables = &func.tables;
        for field in [
            range.start,
            range.len(),
            tables.traps.len(),
            tables.wasm_offsets.len(),
            body.start,
            body.len(),
        ] {
            codec::put_u32(w, field as u32);
        }
    }
}

/// The memory range the image of `segments` covers, and its bytes.
fn memory_image_bytes(segments: &[(usize, &[u8])]) -> Result<Option<(Range<usize>, Vec<u8>)>> {
    let Some(range) = image_range(segments).map_err(|e| anyhow!("{e}"))? else {
        return Ok(None);
    };
    let mut bytes = vec![0; range.len()];
    for (at, data) in segments {
        let at = at - range.start;
        bytes[at..at + data.len()].copy_from_slice(data);
    }
    Ok(Some((range, bytes)))
}

fn put_bytes(w: &mut Vec<u8>, bytes: &[u8]) {
    codec::put_u32(w, bytes.len() as u32);
    w.extend_from_slice(bytes);
}

/// The module of the artifact `map` holds, its code made executable where it
/// lies (on an engine for another target, nothing is: such a module cannot run).
/// If `map` maps `file`, instances map the memory image from it too.
fn load(engine: &Engine, mut map: Mapping, file: Option<Arc<File>>) -> Result<Module> {
    let artifact = read(engine, map.bytes())?;
    let base = match engine.is_native() {
        true => Some(map.make_executable(artifact.image.clone())?),
        false => None,
    };
    // Without copy-on-write the first instantiation copies the segments instead.
    let memory = artifact.memory.filter(|_| engine.config().memory_init_cow);
    let memory_image = file.zip(memory).and_then(|(file, (at, range))| {
        // SAFETY: the file is the artifact `map` maps, which holds the image at
        // `at` (checked by `read`) and which the caller keeps unchanged.
        unsafe { MemoryImage::in_file(file, at as u64, range) }
    });
    let bytes = ModuleBytes::Mapped {
        map: Arc::new(map),
        range: artifact.wasm,
    };
    let image = base.map(|base| Image {
        range: base..base + artifact.image.len(),
        entries: artifact.entries,
    });
    Module::from_image(engine, artifact.info, bytes, image, memory_image)
}

/// What [`read`] finds in an artifact.
struct Artifact {
    /// Where the Wasm module lies in the artifact.
    wasm: Range<usize>,
    info: ModuleInfo,
    entries: Vec<ImageEntry>,
    /// Where the code's image lies in the artifact.
    image: Range<usize>,
    /// Where the memory image lies in the artifact, and the memory range it is.
    memory: Option<(usize, Range<usize>)>,
}

/// The precompiled code of a module, mapped executable.
pub(crate) struct Image {
    /// Where all of it lies.
    pub(crate) range: Range<usize>,
    /// The defined functions in order, then the two trampolines (to Wasm, to the
    /// host) of each type.
    pub(crate) entries: Vec<ImageEntry>,
}

/// One function of an image.
pub(crate) struct ImageEntry {
    /// Where its code lies, relative to the image's start.
    pub(crate) range: Range<usize>,
    /// Read in place in the artifact.
    pub(crate) tables: Tables,
}

/// Reads the artifact `bytes`, checking that what it says lies in it does.
fn read(engine: &Engine, bytes: &[u8]) -> Result<Artifact> {
    let mut r = Reader(bytes);
    check_header(engine, &mut r)?;
    let wasm_len = r.u32().ok_or_else(corrupt)? as usize;
    let wasm_at = bytes.len() - r.0.len();
    let wasm = r.take(wasm_len).ok_or_else(corrupt)?;
    let (defined, rows) = read_index(&mut r, wasm_len).ok_or_else(corrupt)?;
    let bodies = rows[..defined].iter().map(|row| row.body.clone()).collect();
    let info = translate_trusted_module(wasm, bodies)
        .map_err(|e| anyhow!("invalid module in the precompiled artifact: {e}"))?;
    if info.num_defined_funcs() as usize != defined || rows.len() != defined + 2 * info.types.len()
    {
        return Err(corrupt());
    }
    let entries = read_entries(&mut r, &rows).ok_or_else(corrupt)?;
    let mut fields = [0usize; 5];
    for field in &mut fields {
        *field = r
            .u64()
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(corrupt)?;
    }
    let [image_at, image_len, memory_at, memory_offset, memory_len] = fields;
    let after_fields = bytes.len() - r.0.len();
    let image = span(image_at, image_len, after_fields, bytes.len()).ok_or_else(corrupt)?;
    if entries.iter().any(|e| e.range.end > image.len()) {
        return Err(corrupt());
    }
    let memory = match memory_at {
        0 => None,
        _ => {
            let span = span(memory_at, memory_len, image.end, bytes.len()).ok_or_else(corrupt)?;
            let range = memory_offset..memory_offset.checked_add(memory_len).ok_or_else(corrupt)?;
            Some((span.start, range))
        }
    };
    Ok(Artifact {
        wasm: wasm_at..wasm_at + wasm_len,
        info,
        entries,
        image,
        memory,
    })
}

/// `at..at + len` if it starts at a multiple of `IMAGE_ALIGN`, at or after
/// `after`, and ends within `total` bytes.
fn span(at: usize, len: usize, after: usize, total: usize) -> Option<Range<usize>> {
    let end = at.checked_add(len)?;
    (at.is_multiple_of(IMAGE_ALIGN) && at >= after && end <= total).then_some(at..end)
}

/// One row of an artifact's index.
struct Row {
    /// Where the function's code lies in the image.
    code: Range<usize>,
    /// How many trap site and Wasm offset records it has.
    traps: usize,
    offsets: usize,
    /// Where its body lies in the Wasm module (empty for a trampoline).
    body: Range<usize>,
}

/// The count of defined functions and the rows of the index read off `r`, each
/// body within the `wasm_len` bytes of the Wasm module.
fn read_index(r: &mut Reader<'_>, wasm_len: usize) -> Option<(usize, Vec<Row>)> {
    let defined = r.u32()? as usize;
    let count = r.u32()? as usize;
    // Each row takes 24 bytes: a count the artifact cannot hold is corrupt.
    if defined > count || count > r.0.len() / 24 {
        return None;
    }
    let rows = (0..count)
        .map(|_| {
            let mut field = || r.u32().map(|v| v as usize);
            let [start, len, traps, offsets, body_start, body_len] = [(); 6].map(|_| field());
            let body = body_start?..body_start?.checked_add(body_len?)?;
            (body.end <= wasm_len).then_some(())?;
            Some(Row {
                code: start?..start?.checked_add(len?)?,
                traps: traps?,
                offsets: offsets?,
                body,
            })
        })
        .collect::<Option<Vec<Row>>>()?;
    Some((defined, rows))
}

/// The entries of the code `rows` index, their tables taken off `r` where they
/// lie, which must be the artifact's mapping, kept by the module until it
/// unregisters its code.
fn read_entries(r: &mut Reader<'_>, rows: &[Row]) -> Option<Vec<ImageEntry>> {
    rows.iter()
        .map(|row| {
            let traps = r.take(row.traps.checked_mul(TRAP_RECORD)?)?;
            let offsets = r.take(row.offsets.checked_mul(OFFSET_RECORD)?)?;
            // SAFETY: the records lie in the artifact's mapping (the caller's
            // promise), which the module keeps until it has unregistered them.
            let tables = unsafe { InPlaceTables::new(traps, offsets, row.body.start as u32) }?;
            Some(ImageEntry {
                range: row.code.clone(),
                tables: Tables::InPlace(tables),
            })
        })
        .collect()
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
