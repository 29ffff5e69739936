//! [`WasmCoreDump`]: what a store held when Wasm trapped, attached to the trap's
//! error under [`Config::coredump_on_trap`](crate::Config::coredump_on_trap), and
//! its encoding in the tool-conventions core dump format (`Coredump.md`), which
//! Wasmtime and debuggers read: a Wasm module whose custom sections `core`,
//! `coremodules`, `coreinstances` and `corestack` name the program, its modules,
//! its instances and the frames of the trap, and whose memory, global and data
//! sections hold the store's memories and globals.
//!
//! Locals and operand-stack values are not recorded (the format lets a frame
//! leave them out): optimised code keeps them nowhere a frame walk can read.

use crate::store::StoreContextMut;
use crate::trap::{FrameInfo, WasmBacktrace};
use crate::types::{HeapType, Mutability, ValType};
use crate::{AsContext, AsContextMut, Global, Instance, Memory, Module, Val};
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use wasm_encoder::{
    ConstExpr, CoreDumpInstancesSection, CoreDumpModulesSection, CoreDumpSection,
    CoreDumpStackSection, DataSection, GlobalSection, Ieee32, Ieee64, MemorySection,
};

/// The state of a store when Wasm trapped: the trap's frames and handles to the
/// store's modules, instances, memories and globals. With
/// [`Config::coredump_on_trap`](crate::Config::coredump_on_trap) on, the error of
/// a trap (or of a host function's error that crossed Wasm) carries one:
/// `err.downcast_ref::<WasmCoreDump>()`.
///
/// The memories and globals are handles, not copies: [`WasmCoreDump::serialize`]
/// and the handles read them as they are when called, which is as they were at
/// the trap as long as nothing has run in the store since.
pub struct WasmCoreDump {
    modules: Vec<Module>,
    instances: Vec<Instance>,
    memories: Vec<Memory>,
    globals: Vec<Global>,
    backtrace: WasmBacktrace,
}

impl WasmCoreDump {
    /// The dump of `store` for a trap whose frames are `backtrace`.
    pub(crate) fn capture<T>(
        mut store: StoreContextMut<'_, T>,
        backtrace: WasmBacktrace,
    ) -> WasmCoreDump {
        let opaque = &store.0.opaque;
        let instances: Vec<Instance> = (0..opaque.instances.len())
            .map(|i| Instance(opaque.stored(i)))
            .collect();
        let mut modules: Vec<Module> = Vec::new();
        for data in &opaque.instances {
            if !modules.iter().any(|m| same_module(m, &data.module)) {
                modules.push(data.module.clone());
            }
        }
        // A defined global gets its handle on first use: make them all, so that
        // the store's list below has every instance's globals.
        for instance in &instances {
            instance.all_globals(&mut store);
        }
        let opaque = &store.0.opaque;
        WasmCoreDump {
            modules,
            instances,
            memories: (0..opaque.memories.len())
                .map(|i| Memory(opaque.stored(i)))
                .collect(),
            globals: (0..opaque.globals.len())
                .map(|i| Global(opaque.stored(i)))
                .collect(),
            backtrace,
        }
    }

    /// The Wasm frames of the trap, innermost first.
    pub fn frames(&self) -> &[FrameInfo] {
        self.backtrace.frames()
    }

    /// Every module instantiated in the store, in the order of their first
    /// instantiation.
    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// Every instance of the store, in the order they were made.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Every memory of the store, defined by an instance or by the host.
    pub fn memories(&self) -> &[Memory] {
        &self.memories
    }

    /// Every global of the store, defined by an instance or by the host.
    pub fn globals(&self) -> &[Global] {
        &self.globals
    }

    /// The dump in the tool-conventions core dump format, with `name` (a file
    /// name, a URL…) as the program's name. Memories are written as data
    /// segments of their non-zero bytes; reference globals as null (a constant
    /// expression cannot name a function or host object); each frame as a frame
    /// of the latest instance of its module (a frame does not say which
    /// instance it ran in), with its code offset from the start of its
    /// function's body.
    ///
    /// # Panics
    /// If `store` is not the store the dump was taken in.
    pub fn serialize(&self, mut store: impl AsContextMut, name: &str) -> Vec<u8> {
        let mut store = store.as_context_mut();
        let mut dump = wasm_encoder::Module::new();
        dump.section(&CoreDumpSection::new(name));
        dump.section(&self.modules_section());
        dump.section(&self.instances_section(&mut store));
        dump.section(&self.stack_section(&mut store));
        let (memory_section, data_section) = self.memory_sections(&mut store);
        dump.section(&memory_section);
        dump.section(&self.global_section(&mut store));
        dump.section(&data_section);
        dump.finish()
    }

    /// The `coremodules` section: each module's name, or a made-up one.
    fn modules_section(&self) -> CoreDumpModulesSection {
        let mut section = CoreDumpModulesSection::new();
        for (i, module) in self.modules.iter().enumerate() {
            match module.name() {
                Some(name) => section.module(name),
                None => section.module(format!("<anonymous module {i}>")),
            };
        }
        section
    }

    /// The `coreinstances` section: each instance's module, memories and
    /// globals, as indices into the dump's sections.
    fn instances_section<T>(&self, store: &mut StoreContextMut<'_, T>) -> CoreDumpInstancesSection {
        let memories = positions(&self.memories);
        let globals = positions(&self.globals);
        let mut section = CoreDumpInstancesSection::new();
        for instance in &self.instances {
            let module = self.module_index(&instance.module(&*store));
            let own_memories = instance.all_memories(&*store);
            let own_globals = instance.all_globals(&mut *store);
            section.instance(
                module,
                own_memories.iter().map(|m| memories[m]),
                own_globals.iter().map(|g| globals[g]),
            );
        }
        section
    }

    /// The `corestack` section: one thread, the trap's frames innermost first.
    fn stack_section<T>(&self, store: &mut StoreContextMut<'_, T>) -> CoreDumpStackSection {
        let mut section = CoreDumpStackSection::new("main");
        for frame in self.frames() {
            let module = frame.module();
            let instance = self
                .instances
                .iter()
                .rposition(|i| same_module(&i.module(&*store), module));
            let offset = frame.func_offset().and_then(|o| u32::try_from(o).ok());
            section.frame(
                instance.map_or(0, |i| i as u32),
                frame.func_index(),
                offset.unwrap_or(0),
                [],
                [],
            );
        }
        section
    }

    /// The memory section (each memory at its current size) and the data
    /// section (each memory's non-zero bytes).
    fn memory_sections<T>(
        &self,
        store: &mut StoreContextMut<'_, T>,
    ) -> (MemorySection, DataSection) {
        let (mut memory_section, mut data_section) = (MemorySection::new(), DataSection::new());
        let max_segments = MAX_SEGMENTS / self.memories.len().max(1);
        for (index, memory) in self.memories.iter().enumerate() {
            let memory64 = memory.ty(&*store).is_64();
            memory_section.memory(wasm_encoder::MemoryType {
                minimum: memory.size(&*store),
                maximum: memory.ty(&*store).maximum(),
                memory64,
                shared: false,
                page_size_log2: None,
            });
            let data = memory.data(store.as_context());
            for run in nonzero_runs(data, max_segments) {
                let offset = match memory64 {
                    true => ConstExpr::i64_const(run.start as i64),
                    false => ConstExpr::i32_const(run.start as u32 as i32),
                };
                data_section.active(index as u32, &offset, data[run].iter().copied());
            }
        }
        (memory_section, data_section)
    }

    /// The global section: each global with its type and its value as a
    /// constant.
    fn global_section<T>(&self, store: &mut StoreContextMut<'_, T>) -> GlobalSection {
        let mut section = GlobalSection::new();
        for global in &self.globals {
            let ty = global.ty(&*store);
            let global_type = wasm_encoder::GlobalType {
                val_type: encoded_type(ty.content()),
                mutable: ty.mutability() == Mutability::Var,
                shared: false,
            };
            section.global(global_type, &constant(global.get(&mut *store)));
        }
        section
    }

    /// The index of `module` in the dump's modules.
    fn module_index(&self, module: &Module) -> u32 {
        let index = self.modules.iter().position(|m| same_module(m, module));
        index.map_or(0, |i| i as u32)
    }
}

/// Whether `a` and `b` are the same compiled module.
fn same_module(a: &Module, b: &Module) -> bool {
    Arc::ptr_eq(&a.inner, &b.inner)
}

/// Each item's index in `items`.
fn positions<K: std::hash::Hash + Eq + Copy>(items: &[K]) -> HashMap<K, u32> {
    items
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, i as u32))
        .collect()
}

/// The data segments a dump has room for, shared by its memories: Wasm modules
/// may have at most 100,000 (the limit wasmparser and browsers enforce).
const MAX_SEGMENTS: usize = 50_000;

/// Zero bytes in fewer than this many stay inside a data segment: a segment costs
/// a few bytes of header, so splitting at every zero would make the dump larger.
const MIN_ZERO_GAP: usize = 4096;

/// The ranges of `data` to write as data segments: every non-zero byte is in one,
/// and two are at least a gap of zeros apart, a gap large enough that there are at
/// most `max_segments`.
fn nonzero_runs(data: &[u8], max_segments: usize) -> Vec<Range<usize>> {
    let gap = MIN_ZERO_GAP.max(data.len() / max_segments.max(1));
    let next_nonzero = |from: usize| data[from..].iter().position(|&b| b != 0).map(|p| from + p);
    let next_zero = |from: usize| {
        data[from..]
            .iter()
            .position(|&b| b == 0)
            .map_or(data.len(), |p| from + p)
    };
    let mut runs = Vec::new();
    let mut from = 0;
    while let Some(start) = next_nonzero(from) {
        let mut end = next_zero(start);
        while let Some(next) = next_nonzero(end).filter(|&n| n - end < gap) {
            end = next_zero(next);
        }
        runs.push(start..end);
        from = end;
    }
    runs
}

/// How a global of type `ty` is declared in the dump: a reference as the
/// nullable top of its hierarchy, since the dump has no types to refer to and
/// holds references as null.
fn encoded_type(ty: &ValType) -> wasm_encoder::ValType {
    use wasm_encoder::ValType as E;
    match ty {
        ValType::I32 => E::I32,
        ValType::I64 => E::I64,
        ValType::F32 => E::F32,
        ValType::F64 => E::F64,
        ValType::V128 => E::V128,
        ValType::Ref(r) => match r.heap_type().top() {
            HeapType::Extern => E::EXTERNREF,
            _ => E::FUNCREF,
        },
    }
}

/// `value` as a constant expression (references as null).
fn constant(value: Val) -> ConstExpr {
    match value {
        Val::I32(v) => ConstExpr::i32_const(v),
        Val::I64(v) => ConstExpr::i64_const(v),
        Val::F32(bits) => ConstExpr::f32_const(Ieee32::new(bits)),
        Val::F64(bits) => ConstExpr::f64_const(Ieee64::new(bits)),
        Val::V128(v) => ConstExpr::v128_const(v as i128),
        Val::FuncRef(_) => ConstExpr::ref_null(wasm_encoder::HeapType::FUNC),
        Val::ExternRef(_) => ConstExpr::ref_null(wasm_encoder::HeapType::EXTERN),
    }
}

impl fmt::Display for WasmCoreDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .modules
            .iter()
            .map(|m| m.name().unwrap_or("<anonymous>"))
            .collect();
        write!(
            f,
            "wasm core dump: modules [{}], {} instances, {} memories, {} globals, {} frames",
            names.join(", "),
            self.instances.len(),
            self.memories.len(),
            self.globals.len(),
            self.frames().len()
        )
    }
}

impl fmt::Debug for WasmCoreDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasmCoreDump")
            .field("modules", &self.modules.len())
            .field("instances", &self.instances.len())
            .field("memories", &self.memories.len())
            .field("globals", &self.globals.len())
            .field("frames", &self.backtrace.frames())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonzero_runs_cover_every_nonzero_byte_and_merge_short_gaps() {
        assert!(nonzero_runs(&[0; 100], 10).is_empty());
        let mut data = vec![0u8; 20_000];
        data[3] = 1;
        data[10] = 2;
        data[9_000] = 3;
        data[19_999] = 4;
        assert_eq!(
            nonzero_runs(&data, 1000),
            [3..11, 9_000..9_001, 19_999..20_000]
        );
        // Room for two segments only: the gap grows to half the memory.
        assert_eq!(nonzero_runs(&data, 2), [3..9_001, 19_999..20_000]);
    }
}
