//! `lazuli run --coredump-on-trap PATH`: a Wasm core dump in the tool-conventions
//! format (`Coredump.md`), which Wasmtime writes too: a Wasm module whose custom
//! sections `core`, `coremodules`, `coreinstances` and `corestack` describe the
//! process, its module, its instance and the frames of the trap, and whose memory,
//! data and global sections hold the instance's memories and globals as they were.
//!
//! The dump has one module and one instance, the main module's: frames are those
//! of the trap's Wasm backtrace, each written as a frame of that instance. Locals
//! and operand-stack values are not recorded (the format allows leaving them
//! out). Memories are written up to their last non-zero byte.

use std::path::Path;

use anyhow::{Context as _, Result};
use lazuli::{ExternType, Global, Instance, Memory, Module, Store, Val, WasmBacktrace};
use wasm_encoder::{
    ConstExpr, CoreDumpInstancesSection, CoreDumpModulesSection, CoreDumpSection,
    CoreDumpStackSection, DataSection, GlobalSection, GlobalType, HeapType, Ieee32, Ieee64,
    MemorySection, MemoryType,
};

/// What a core dump is made of besides the store.
pub struct Crash<'a> {
    /// The file run, the dump's executable name and the module's name.
    pub file: &'a str,
    /// The main module and its bytes (the bytes name each function's start).
    pub module: &'a Module,
    pub bytes: &'a [u8],
    pub instance: Instance,
    pub backtrace: &'a WasmBacktrace,
}

/// Writes the core dump of `crash` to `path`.
pub fn write<T: 'static>(path: &Path, store: &mut Store<T>, crash: &Crash<'_>) -> Result<()> {
    let dump = encode(store, crash);
    std::fs::write(path, dump)
        .with_context(|| format!("cannot write the core dump `{}`", path.display()))
}

/// The core dump of `crash` as a Wasm module.
fn encode<T: 'static>(store: &mut Store<T>, crash: &Crash<'_>) -> Vec<u8> {
    let memories = crash.instance.all_memories(&mut *store);
    let globals = crash.instance.all_globals(&mut *store);
    let mut module = wasm_encoder::Module::new();
    module.section(&CoreDumpSection::new(crash.file));
    let mut modules = CoreDumpModulesSection::new();
    modules.module(crash.module.name().unwrap_or(crash.file));
    module.section(&modules);
    let mut instances = CoreDumpInstancesSection::new();
    instances.instance(0, 0..memories.len() as u32, 0..globals.len() as u32);
    module.section(&instances);
    module.section(&stack(crash));
    let (memory_section, data_section) = memory_sections(store, &memories);
    module.section(&memory_section);
    module.section(&global_section(store, &globals));
    module.section(&data_section);
    module.finish()
}

/// The `corestack` section: the trap's frames, innermost first, with each code
/// offset counted from the start of its function's body.
fn stack(crash: &Crash<'_>) -> CoreDumpStackSection {
    let starts = body_starts(crash.bytes);
    let imported = crash
        .module
        .imports()
        .filter(|i| matches!(i.ty(), ExternType::Func(_)))
        .count();
    let mut stack = CoreDumpStackSection::new("main");
    for frame in crash.backtrace.frames() {
        let start = (frame.func_index() as usize)
            .checked_sub(imported)
            .and_then(|defined| starts.get(defined));
        let offset = match (frame.module_offset(), start) {
            (Some(offset), Some(&start)) => (offset as u32).saturating_sub(start),
            _ => 0,
        };
        stack.frame(0, frame.func_index(), offset, [], []);
    }
    stack
}

/// Where each defined function's body starts in `bytes`; empty if `bytes` is not
/// a Wasm binary (a precompiled module: code offsets are then written as 0).
fn body_starts(bytes: &[u8]) -> Vec<u32> {
    let mut starts = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::CodeSectionEntry(body)) => {
                starts.push(body.range().start as u32);
            }
            Ok(_) => {}
            Err(_) => return Vec::new(),
        }
    }
    starts
}

/// The memory section (each memory at its current size) and the data section
/// (each memory's bytes as one active segment at offset 0).
fn memory_sections<T: 'static>(
    store: &mut Store<T>,
    memories: &[Memory],
) -> (MemorySection, DataSection) {
    let (mut memory_section, mut data_section) = (MemorySection::new(), DataSection::new());
    for (index, memory) in memories.iter().enumerate() {
        let ty = memory.ty(&*store);
        memory_section.memory(MemoryType {
            minimum: memory.size(&*store),
            maximum: ty.maximum(),
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let data = memory.data(&*store);
        let used = data
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |last| last + 1);
        data_section.active(
            index as u32,
            &ConstExpr::i32_const(0),
            data[..used].iter().copied(),
        );
    }
    (memory_section, data_section)
}

/// The global section: each global as an immutable global of its value (a
/// non-null reference, which a constant cannot hold, as null).
fn global_section<T: 'static>(store: &mut Store<T>, globals: &[Global]) -> GlobalSection {
    let mut section = GlobalSection::new();
    for global in globals {
        let (val_type, init) = constant(global.get(&mut *store));
        section.global(
            GlobalType {
                val_type,
                mutable: false,
                shared: false,
            },
            &init,
        );
    }
    section
}

/// The type and constant expression of `value`.
fn constant(value: Val) -> (wasm_encoder::ValType, ConstExpr) {
    use wasm_encoder::ValType as T;
    match value {
        Val::I32(v) => (T::I32, ConstExpr::i32_const(v)),
        Val::I64(v) => (T::I64, ConstExpr::i64_const(v)),
        Val::F32(bits) => (T::F32, ConstExpr::f32_const(Ieee32::new(bits))),
        Val::F64(bits) => (T::F64, ConstExpr::f64_const(Ieee64::new(bits))),
        Val::V128(v) => (T::V128, ConstExpr::v128_const(v as i128)),
        Val::FuncRef(_) => (T::FUNCREF, ConstExpr::ref_null(HeapType::FUNC)),
        Val::ExternRef(_) => (T::EXTERNREF, ConstExpr::ref_null(HeapType::EXTERN)),
    }
}
