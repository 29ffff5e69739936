//! The one description of the VMContext layout. The compiler emits loads at these
//! offsets and the runtime writes its `repr(C)` structures at the same offsets; the
//! runtime's tests assert that the two agree.
//!
//! ```text
//! VMContext (per instance, 16-byte aligned)
//!   magic                u32 (+4 padding)
//!   store_ctx            *mut VMStoreContext      per-store state (stack limit, fuel, epoch deadline, …)
//!   builtins             *const VMBuiltins        libcall addresses
//!   instance             *mut Instance            the runtime's owner of this VMContext
//!   func_slots           *const [VMFuncSlot]      the module's dispatch slots (one per defined function)
//!   type_ids             *const [u32]             engine-wide signature id of each of the module's types
//!   tables               [*mut VMTableDefinition; n_t]   imported and defined
//!   memories             [*mut VMMemoryDefinition; n_m]  imported and defined
//!   imported_globals     [*mut VMGlobalDefinition; ni_g]
//!   defined_globals      [VMGlobalDefinition; nd_g] 16 bytes each, 16-aligned
//!   func_refs            [VMFuncRef; n_funcs]      { slot, vmctx, type_id, func_index }
//! ```
//!
//! Each defined function has one dispatch slot per module, a word holding its
//! current entry point (a lazy-compile stub until it is compiled), shared by every
//! instance of the module. A call to an imported function, or through a table, loads
//! the code from the slot the funcref points to; a call to a defined function when
//! compiling lazily loads it from `func_slots`. Imports are copied into the caller's
//! own `func_refs` at instantiation and still point at the exporter's slot.
//! Tables and memories live in their own objects (owned by the store) so that
//! importing one shares it by pointer and growing one never moves the VMContext.

use crate::ModuleInfo;

/// Value of the `magic` field of every instance's VMContext.
pub const VMCONTEXT_MAGIC: u32 = u32::from_le_bytes(*b"lazu");

/// Offsets inside `VMStoreContext`, the per-store record every VMContext points to.
pub mod store_ctx {
    use super::PTR;

    /// Lowest stack address Wasm code may use; checked in every prologue.
    pub const STACK_LIMIT: u32 = 0;
    /// The store's growth limiter, a two-word `Option<NonNull<dyn …>>` that only the
    /// runtime reads.
    pub const LIMITER: u32 = PTR;
    /// Fuel used so far, as a signed 64-bit count that starts at minus the fuel
    /// the store was given (`Config::consume_fuel`): generated code adds each
    /// block's cost to it and stops with `OutOfFuel` once it is no longer
    /// negative.
    pub const FUEL_CONSUMED: u32 = 3 * PTR;
    /// Where fast-tier code leaving for an OSR entry puts its locals, 16 bytes
    /// each (`OSR_LOCAL_SIZE`), and where the OSR entry takes them from at once.
    pub const OSR_LOCALS: u32 = 4 * PTR;
    /// Bytes per local in `OSR_LOCALS`: every value type fits.
    pub const OSR_LOCAL_SIZE: u32 = 16;
    /// How many locals `OSR_LOCALS` holds: functions with more are not entered
    /// from their loops.
    pub const OSR_MAX_LOCALS: u32 = 256;
    /// The epoch at which Wasm of the store stops to run the store's deadline
    /// behaviour (`Config::epoch_interruption`), unsigned 64-bit.
    pub const EPOCH_DEADLINE: u32 = OSR_LOCALS + OSR_MAX_LOCALS * OSR_LOCAL_SIZE;
    /// The address of the engine's epoch counter, an unsigned 64-bit atomic that
    /// any thread may increment.
    pub const EPOCH_COUNTER: u32 = EPOCH_DEADLINE + PTR;
    /// Size of the structure (a multiple of `OSR_LOCALS`' 16-byte alignment).
    pub const SIZE: u32 = EPOCH_COUNTER + PTR;
}

/// Offsets inside `VMHostContext`, the callee "vmctx" of a host function.
pub mod host_ctx {
    /// `extern "C" fn(host_ctx, caller_vmctx, values: *mut ValRaw, len: usize,
    /// exit_fp: usize) -> u32`, where `exit_fp` is the calling trampoline's frame
    /// pointer; returns 1 on success and 0 if the host function failed.
    pub const SHIM: u32 = 0;
    /// The embedder's data for the shim; generated code does not read it.
    pub const DATA: u32 = super::PTR;
    /// Size of the structure.
    pub const SIZE: u32 = 2 * super::PTR;
}

/// Sizes of the VMContext's records; all are 64-bit hosts and targets.
pub(crate) const PTR: u32 = 8;
const GLOBAL_DEF: u32 = 16;
const FUNC_REF: u32 = 3 * PTR;
const FUNC_SLOT: u32 = 2 * PTR;

/// Field offsets of one module's VMContext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VMOffsets {
    pub num_tables: u32,
    pub num_memories: u32,
    pub num_imported_globals: u32,
    pub num_defined_globals: u32,
    pub num_funcs: u32,
    tables: u32,
    memories: u32,
    imported_globals: u32,
    defined_globals: u32,
    func_refs: u32,
    size: u32,
}

impl VMOffsets {
    /// Lays out the VMContext for `module`.
    pub fn new(module: &ModuleInfo) -> VMOffsets {
        VMOffsets::from_counts(
            module.tables.len() as u32,
            module.memories.len() as u32,
            module.num_imported_globals,
            module.globals.len() as u32 - module.num_imported_globals,
            module.functions.len() as u32,
        )
    }

    /// Lays out a VMContext from its counts.
    pub fn from_counts(
        num_tables: u32,
        num_memories: u32,
        num_imported_globals: u32,
        num_defined_globals: u32,
        num_funcs: u32,
    ) -> VMOffsets {
        let tables = VMOffsets::HEADER_SIZE;
        let memories = tables + num_tables * PTR;
        let imported_globals = memories + num_memories * PTR;
        let defined_globals = (imported_globals + num_imported_globals * PTR).next_multiple_of(16);
        let func_refs = defined_globals + num_defined_globals * GLOBAL_DEF;
        let size = (func_refs + num_funcs * FUNC_REF).next_multiple_of(16);
        VMOffsets {
            num_tables,
            num_memories,
            num_imported_globals,
            num_defined_globals,
            num_funcs,
            tables,
            memories,
            imported_globals,
            defined_globals,
            func_refs,
            size,
        }
    }

    /// Total size of the VMContext in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }

    pub fn magic(&self) -> u32 {
        0
    }

    pub fn store_ctx(&self) -> u32 {
        PTR
    }

    pub fn builtins(&self) -> u32 {
        VMOffsets::BUILTINS
    }

    /// The builtins table pointer (the same for every module).
    pub const BUILTINS: u32 = 2 * PTR;

    /// The runtime's `Instance` that owns this VMContext (the same for every module).
    pub const INSTANCE: u32 = 3 * PTR;

    /// Pointer to the module's dispatch slots, `[VMFuncSlot; defined functions]`.
    pub const FUNC_SLOTS: u32 = 4 * PTR;

    /// Pointer to the module's engine-wide signature ids, `[u32; types]`, which
    /// `call_indirect` compares with the callee's: code holds no engine-wide id.
    pub const TYPE_IDS: u32 = 5 * PTR;

    /// Bytes before the first table pointer: magic, store context, builtins,
    /// instance, dispatch slots and signature ids.
    pub const HEADER_SIZE: u32 = 6 * PTR;

    /// The signature id of type `type_index`, from `TYPE_IDS`.
    pub fn type_id(type_index: u32) -> u32 {
        type_index * 4
    }

    /// Pointer to the `VMTableDefinition` of table `i` (imported or defined).
    pub fn table(&self, i: u32) -> u32 {
        self.tables + i * PTR
    }

    /// Pointer to the `VMMemoryDefinition` of memory `i` (imported or defined).
    pub fn memory(&self, i: u32) -> u32 {
        self.memories + i * PTR
    }

    /// Pointer to the `VMGlobalDefinition` of imported global `i`.
    pub fn imported_global(&self, i: u32) -> u32 {
        self.imported_globals + i * PTR
    }

    /// The `VMGlobalDefinition` of defined global `i`.
    pub fn defined_global(&self, i: u32) -> u32 {
        self.defined_globals + i * GLOBAL_DEF
    }

    /// The `VMFuncRef` of function `i` (imported or defined).
    pub fn func_ref(&self, i: u32) -> u32 {
        self.func_refs + i * FUNC_REF
    }

    /// Field offsets inside a `VMTableDefinition` / `VMMemoryDefinition`: base pointer,
    /// then current length (elements for tables, bytes for memories).
    pub const DEFINITION_BASE: u32 = 0;
    pub const DEFINITION_LENGTH: u32 = PTR;
    pub const DEFINITION_SIZE: u32 = 2 * PTR;

    /// Bytes per table element (a `*const VMFuncRef`, null for `ref.null`); a
    /// power of two, so indices scale by a shift.
    pub const TABLE_ELEMENT_SIZE: u32 = PTR;

    /// Bytes per defined global's storage (`VMGlobalDefinition`), 16-aligned.
    pub const GLOBAL_SIZE: u32 = GLOBAL_DEF;

    /// Bytes per value slot (`ValRaw`, 16-aligned) in the arrays that carry
    /// arguments and results between the host and the trampolines.
    pub const VAL_RAW_SIZE: u32 = 16;

    /// Bytes per dispatch slot (`VMFuncSlot`): the code address every call reaches,
    /// read with a plain aligned load, and the function's tier-up budget.
    pub const FUNC_SLOT_SIZE: u32 = FUNC_SLOT;

    /// Field offsets inside a dispatch slot: the code address, and the `i32` of
    /// calls and loop iterations the function may still run before it asks to be
    /// optimised (counted down only by code compiled with tier-up counters).
    pub const FUNC_SLOT_CODE: u32 = 0;
    pub const FUNC_SLOT_BUDGET: u32 = PTR;

    /// The dispatch slot of defined function `defined`, from `FUNC_SLOTS`.
    pub fn func_slot(defined: u32) -> u32 {
        defined * FUNC_SLOT
    }

    /// Field offsets inside a `VMFuncRef`: the function's dispatch slot (a pointer
    /// to the word holding its code), the callee vmctx, the signature id, the index.
    pub const FUNC_REF_SLOT: u32 = 0;
    pub const FUNC_REF_VMCTX: u32 = PTR;
    pub const FUNC_REF_TYPE: u32 = 2 * PTR;
    pub const FUNC_REF_INDEX: u32 = 2 * PTR + 4;
    pub const FUNC_REF_SIZE: u32 = FUNC_REF;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_follow_each_other_without_overlap() {
        let o = VMOffsets::from_counts(1, 1, 3, 2, 5);
        assert_eq!(o.table(0), 48);
        assert_eq!(o.memory(0), o.table(0) + 8);
        assert_eq!(o.imported_global(2), o.memory(0) + 8 + 16);
        assert_eq!(o.defined_global(0) % 16, 0);
        assert!(o.defined_global(0) >= o.imported_global(2) + 8);
        assert_eq!(o.func_ref(0), o.defined_global(1) + 16);
        assert_eq!(o.size() % 16, 0);
        assert!(o.size() >= o.func_ref(4) + 24);
    }
}
