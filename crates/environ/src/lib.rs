//! Everything Lazuli knows about a module before any code exists: the parsed and
//! validated [`ModuleInfo`], engine-wide signature ids, the one description of the
//! VMContext layout ([`VMOffsets`]) and the trap kinds ([`TrapKind`]).
//!
//! This crate has no Cranelift and no `unsafe`: the compiler and the runtime both read
//! it, so a layout change is one edit here.
#![forbid(unsafe_code)]

mod builtins;
mod compiled;
mod const_expr;
mod error;
mod module;
mod signatures;
mod translate;
mod trap;
mod types;
mod vmoffsets;

pub use builtins::{
    ATOMIC_DEADLINE_FAILED, ATOMIC_INTERRUPTED, ATOMIC_OUT_OF_BOUNDS, ATOMIC_UNALIGNED,
    ATOMIC_UNSHARED, Builtin, BuiltinType, GROW_LIMITER_FAILED,
};
pub use compiled::{CompiledFunction, RelocKind, Relocation, SideTables, TrapSite};
pub use const_expr::{ConstExpr, ConstOp};
pub use error::WasmError;
pub use module::{
    DataSegment, ElemItems, ElementSegment, EntityIndex, Export, FunctionBody, Global, Import,
    MemoryPlan, ModuleInfo, SegmentMode, TablePlan,
};
pub use signatures::{SignatureId, SignatureRegistry};
pub use translate::{translate_module, translate_trusted_module};
pub use trap::TrapKind;
pub use types::{WasmFuncType, WasmHeapType, WasmRefType, WasmValType, wasm_val_type};
pub use vmoffsets::{VMCONTEXT_MAGIC, VMOffsets, host_ctx, store_ctx};
pub use wasmparser;
