//! The `repr(C)` records generated code reads, laid out as `lazuli_environ::VMOffsets`
//! and `store_ctx` describe (the tests below check that they agree).

use crate::memory::MemoryError;
use crate::table::TableError;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};

/// Opaque type of a VMContext pointer; see `VMOffsets` for its layout.
#[repr(C)]
pub struct VMContext {
    _private: [u8; 0],
    _pinned: PhantomData<std::marker::PhantomPinned>,
}

/// Per-store state that generated code reads through every VMContext.
#[repr(C)]
#[derive(Default)]
pub struct VMStoreContext {
    /// Lowest address the Wasm stack may reach; 0 while no Wasm runs on this store.
    pub stack_limit: usize,
    /// Asked before any memory or table of the store grows while Wasm runs. Set
    /// by the store on every entry into Wasm to a pointer derived from that
    /// entry's exclusive borrow of the store, restored when the entry returns;
    /// `None` while no Wasm of this store runs.
    pub limiter: Option<NonNull<dyn GrowthLimiter>>,
    /// Fuel used so far, counted up from minus the fuel the store has
    /// (`store_ctx::FUEL_CONSUMED`); generated code that consumes fuel keeps
    /// it in a register between calls and writes it back before each call
    /// and return.
    pub fuel_consumed: i64,
    /// Written and read only by generated code: the locals fast-tier code hands
    /// to an OSR entry, which loads them before it does anything else (so a
    /// nested activation of the same store cannot overwrite them first).
    osr_locals: OsrLocals,
    /// The engine epoch at which Wasm of this store runs the store's deadline
    /// behaviour (`store_ctx::EPOCH_DEADLINE`).
    pub epoch_deadline: u64,
    /// The engine's epoch counter, set when the store is made if the engine
    /// interrupts on epochs (`None` otherwise); generated code that checks
    /// epochs reads it with plain loads.
    pub epoch_counter: Option<NonNull<AtomicU64>>,
}

/// `store_ctx::OSR_MAX_LOCALS` slots of `store_ctx::OSR_LOCAL_SIZE` bytes.
#[repr(C, align(16))]
struct OsrLocals([u8; 4096]);

impl Default for OsrLocals {
    fn default() -> Self {
        OsrLocals([0; 4096])
    }
}

/// Decides whether a memory or table may grow (sizes in bytes for memories and in
/// elements for tables), and hears of growths that failed for another reason.
/// Also the store's answer when the engine's epoch reaches the store's
/// deadline ([`GrowthLimiter::epoch_deadline_reached`]): both are store
/// callbacks that builtins reach through the entry into Wasm that is running.
/// `Err` fails the growth with an error of the limiter's own, which the limiter
/// keeps for its embedder: the growth's caller fails, and Wasm traps.
pub trait GrowthLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError>;
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError>;
    /// A memory growth failed for `why`, a reason other than the limiter's refusal.
    fn memory_grow_failed(&mut self, why: &MemoryError) -> Result<(), LimiterError>;
    /// A table growth failed for `why`, a reason other than the limiter's refusal.
    fn table_grow_failed(&mut self, why: &TableError) -> Result<(), LimiterError>;
    /// Runs the store's deadline behaviour; on [`EpochOutcome::Continue`] the
    /// store has set a deadline after the current epoch. Limiters that only
    /// judge growth (the store's own) keep the default, `Interrupt`: only the
    /// limiter an entry into Wasm publishes reaches the store's behaviour.
    fn epoch_deadline_reached(&mut self) -> EpochOutcome {
        EpochOutcome::Interrupt
    }
}

/// What Wasm does after its store's epoch deadline was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochOutcome {
    /// Go on: the deadline was moved on.
    Continue,
    /// Trap with `Interrupt`.
    Interrupt,
    /// The deadline callback failed; its error was recorded as a host failure.
    Failed,
}

/// A [`GrowthLimiter`] failed a growth with an error that it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterError;

impl VMStoreContext {
    /// The limiter of the store context at `this`, as published by the entry into
    /// Wasm that is running. Read through a raw pointer, creating no reference
    /// to the context: generated code and other builtins share it.
    ///
    /// # Safety
    /// `this` must point at a live store context.
    pub unsafe fn limiter(this: *const VMStoreContext) -> Option<NonNull<dyn GrowthLimiter>> {
        // SAFETY: per the contract; a place read of a `Copy` field.
        unsafe { (*this).limiter }
    }
}

/// One 16-byte value slot passed between host and Wasm.
#[repr(C, align(16))]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ValRaw(pub u128);

impl ValRaw {
    pub fn i32(v: i32) -> ValRaw {
        ValRaw(v as u32 as u128)
    }
    pub fn i64(v: i64) -> ValRaw {
        ValRaw(v as u64 as u128)
    }
    pub fn f32(bits: u32) -> ValRaw {
        ValRaw(bits as u128)
    }
    pub fn f64(bits: u64) -> ValRaw {
        ValRaw(bits as u128)
    }
    pub fn get_i32(self) -> i32 {
        self.0 as u32 as i32
    }
    pub fn get_i64(self) -> i64 {
        self.0 as u64 as i64
    }
    pub fn get_f32(self) -> u32 {
        self.0 as u32
    }
    pub fn get_f64(self) -> u64 {
        self.0 as u64
    }
}

/// A linear memory's base and current length in bytes. The base never changes
/// once the memory exists; the length only grows, and is atomic because a shared
/// memory grows while other threads read it (generated code reads it with a plain
/// aligned load, which is atomic on the targets Lazuli supports).
#[repr(C)]
#[derive(Debug)]
pub struct VMMemoryDefinition {
    pub base: *mut u8,
    pub current_length: AtomicUsize,
}

/// A table's element array and current length in elements.
#[repr(C)]
#[derive(Debug)]
pub struct VMTableDefinition {
    pub base: *mut *const VMFuncRef,
    pub current_elements: usize,
}

/// Storage of one global; every value type fits in 16 bytes.
#[repr(C, align(16))]
#[derive(Debug, Default, Clone, Copy)]
pub struct VMGlobalDefinition(pub ValRaw);

/// A function's dispatch slot: the address of the code every call to it reaches,
/// with the Wasm calling convention. One per defined function and module (shared by
/// all its instances and whoever imports them), or per host function. It holds a
/// lazy-compile stub until the function is compiled and may be replaced later
/// (tier-up); generated code reads it with a plain aligned load, which is atomic on
/// the 64-bit targets Lazuli supports.
///
/// Beside it is the function's tier-up budget, which fast-tier code compiled with
/// counters decrements (plain loads and stores: concurrent callers may lose a
/// decrement, which only delays tier-up) and which the runtime resets with atomic
/// stores.
#[repr(C)]
#[derive(Debug)]
pub struct VMFuncSlot {
    code: AtomicUsize,
    budget: AtomicI32,
    _pad: u32,
}

impl VMFuncSlot {
    pub fn new(code: usize) -> VMFuncSlot {
        VMFuncSlot {
            code: AtomicUsize::new(code),
            budget: AtomicI32::new(i32::MAX),
            _pad: 0,
        }
    }

    /// The code calls reach now.
    pub fn code(&self) -> usize {
        self.code.load(Ordering::Acquire)
    }

    /// Makes later calls reach `code`, which must be published executable code with
    /// the function's signature; calls already running finish where they are.
    pub fn set(&self, code: usize) {
        self.code.store(code, Ordering::Release);
    }

    /// How many calls and loop iterations the function's counting code may still
    /// run before it calls the `TierUp` builtin (at 0 or below).
    pub fn budget(&self) -> i32 {
        self.budget.load(Ordering::Relaxed)
    }

    /// Sets the budget counted down by the function's counting code.
    pub fn set_budget(&self, budget: i32) {
        self.budget.store(budget, Ordering::Relaxed);
    }
}

/// What a funcref points at: the slot holding the function's code, the vmctx to
/// pass as callee, and the engine-wide signature id `call_indirect` checks.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VMFuncRef {
    /// The function's dispatch slot; never null.
    pub slot: *const VMFuncSlot,
    pub vmctx: *mut VMContext,
    pub type_id: u32,
    /// The function's index in the module of `vmctx`.
    pub func_index: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::BUILTINS;
    use crate::instance::{Instance, ModuleCode};
    use lazuli_environ::{VMCONTEXT_MAGIC, VMOffsets, store_ctx};
    use std::mem::{align_of, offset_of, size_of};

    /// `offset` from `lazuli_environ` as a `usize`.
    fn at(offset: u32) -> usize {
        offset as usize
    }

    #[test]
    fn store_context_matches_store_ctx() {
        assert_eq!(
            offset_of!(VMStoreContext, stack_limit),
            at(store_ctx::STACK_LIMIT)
        );
        assert_eq!(offset_of!(VMStoreContext, limiter), at(store_ctx::LIMITER));
        assert_eq!(
            offset_of!(VMStoreContext, osr_locals),
            at(store_ctx::OSR_LOCALS)
        );
        assert_eq!(
            size_of::<OsrLocals>(),
            at(store_ctx::OSR_MAX_LOCALS * store_ctx::OSR_LOCAL_SIZE)
        );
        assert_eq!(
            offset_of!(VMStoreContext, fuel_consumed),
            at(store_ctx::FUEL_CONSUMED)
        );
        assert_eq!(
            offset_of!(VMStoreContext, epoch_deadline),
            at(store_ctx::EPOCH_DEADLINE)
        );
        assert_eq!(
            offset_of!(VMStoreContext, epoch_counter),
            at(store_ctx::EPOCH_COUNTER)
        );
        assert_eq!(size_of::<VMStoreContext>(), at(store_ctx::SIZE));
    }

    #[test]
    fn memory_and_table_definitions_match_the_definition_offsets() {
        assert_eq!(
            offset_of!(VMMemoryDefinition, base),
            at(VMOffsets::DEFINITION_BASE)
        );
        assert_eq!(
            offset_of!(VMMemoryDefinition, current_length),
            at(VMOffsets::DEFINITION_LENGTH)
        );
        assert_eq!(
            size_of::<VMMemoryDefinition>(),
            at(VMOffsets::DEFINITION_SIZE)
        );
        assert_eq!(
            offset_of!(VMTableDefinition, base),
            at(VMOffsets::DEFINITION_BASE)
        );
        assert_eq!(
            offset_of!(VMTableDefinition, current_elements),
            at(VMOffsets::DEFINITION_LENGTH)
        );
        assert_eq!(
            size_of::<VMTableDefinition>(),
            at(VMOffsets::DEFINITION_SIZE)
        );
    }

    #[test]
    fn table_elements_are_funcref_pointers() {
        assert_eq!(
            size_of::<*const VMFuncRef>(),
            at(VMOffsets::TABLE_ELEMENT_SIZE)
        );
        assert!(VMOffsets::TABLE_ELEMENT_SIZE.is_power_of_two());
    }

    #[test]
    fn func_ref_matches_every_func_ref_offset() {
        assert_eq!(offset_of!(VMFuncRef, slot), at(VMOffsets::FUNC_REF_SLOT));
        assert_eq!(offset_of!(VMFuncRef, vmctx), at(VMOffsets::FUNC_REF_VMCTX));
        assert_eq!(offset_of!(VMFuncRef, type_id), at(VMOffsets::FUNC_REF_TYPE));
        assert_eq!(
            offset_of!(VMFuncRef, func_index),
            at(VMOffsets::FUNC_REF_INDEX)
        );
        assert_eq!(size_of::<VMFuncRef>(), at(VMOffsets::FUNC_REF_SIZE));
    }

    #[test]
    fn dispatch_slots_hold_code_then_budget() {
        assert_eq!(size_of::<VMFuncSlot>(), at(VMOffsets::FUNC_SLOT_SIZE));
        assert_eq!(offset_of!(VMFuncSlot, code), at(VMOffsets::FUNC_SLOT_CODE));
        assert_eq!(
            offset_of!(VMFuncSlot, budget),
            at(VMOffsets::FUNC_SLOT_BUDGET)
        );
        assert_eq!(align_of::<VMFuncSlot>(), size_of::<usize>());
        assert_eq!(
            at(VMOffsets::func_slot(3)),
            3 * size_of::<VMFuncSlot>(),
            "slots are an array"
        );
    }

    #[test]
    fn globals_and_value_slots_match_their_sizes() {
        assert_eq!(size_of::<VMGlobalDefinition>(), at(VMOffsets::GLOBAL_SIZE));
        assert_eq!(align_of::<VMGlobalDefinition>(), 16);
        assert_eq!(size_of::<ValRaw>(), at(VMOffsets::VAL_RAW_SIZE));
        assert_eq!(align_of::<ValRaw>(), 16);
    }

    /// Every region of the VMContext has the stride and alignment of the
    /// runtime type stored there.
    #[test]
    fn vmcontext_regions_hold_the_runtime_types() {
        let o = VMOffsets::from_counts(2, 2, 2, 2, 2);
        let stride = |a: u32, b: u32| at(b - a);
        assert_eq!(
            stride(o.table(0), o.table(1)),
            size_of::<*mut VMTableDefinition>()
        );
        assert_eq!(
            stride(o.memory(0), o.memory(1)),
            size_of::<*mut VMMemoryDefinition>()
        );
        assert_eq!(
            stride(o.imported_global(0), o.imported_global(1)),
            size_of::<*mut VMGlobalDefinition>()
        );
        assert_eq!(
            stride(o.defined_global(0), o.defined_global(1)),
            size_of::<VMGlobalDefinition>()
        );
        assert_eq!(stride(o.func_ref(0), o.func_ref(1)), size_of::<VMFuncRef>());
        assert_eq!(
            at(o.defined_global(0)) % align_of::<VMGlobalDefinition>(),
            0
        );
        assert_eq!(at(o.func_ref(0)) % align_of::<VMFuncRef>(), 0);
        assert!(at(o.size()) >= at(o.func_ref(1)) + size_of::<VMFuncRef>());
    }

    struct NoCode([VMFuncSlot; 1], [u32; 1]);

    impl ModuleCode for NoCode {
        fn compile(&self, _: u32) -> Result<usize, Box<dyn std::any::Any + Send>> {
            Err(Box::new("no code"))
        }
        fn tier_up(&self, _: u32) {}
        fn osr_entry(&self, _: u32, _: u32) -> usize {
            0
        }
        fn func_slots(&self) -> *const VMFuncSlot {
            self.0.as_ptr()
        }
        fn type_ids(&self) -> *const u32 {
            self.1.as_ptr()
        }
        fn data_segment(&self, _: u32) -> &[u8] {
            &[]
        }
    }

    /// Reads a `T` at `offset` in `instance`'s VMContext.
    fn header_field<T: Copy>(instance: &Instance, offset: u32) -> T {
        let size = at(instance.offsets().size());
        assert!(at(offset) + size_of::<T>() <= size);
        assert_eq!(at(offset) % align_of::<T>(), 0);
        // SAFETY: in bounds and aligned (checked above) in the live, initialised
        // VMContext allocation of `instance`.
        unsafe {
            instance
                .vmctx()
                .cast::<u8>()
                .add(at(offset))
                .cast::<T>()
                .read()
        }
    }

    /// The runtime writes the header where `VMOffsets` says the compiler reads it,
    /// and the header ends where the tables begin.
    #[test]
    fn vmcontext_header_is_where_the_offsets_say() {
        let offsets = VMOffsets::from_counts(1, 0, 0, 0, 0);
        let mut store = VMStoreContext::default();
        let store_ptr: *mut VMStoreContext = &mut store;
        let code = std::sync::Arc::new(NoCode([VMFuncSlot::new(0)], [7]));
        let slots = code.func_slots();
        let type_ids = code.type_ids();
        let instance = Instance::new(offsets, store_ptr, code);
        assert_eq!(
            header_field::<u32>(&instance, offsets.magic()),
            VMCONTEXT_MAGIC
        );
        assert_eq!(
            header_field::<*mut VMStoreContext>(&instance, offsets.store_ctx()),
            store_ptr
        );
        assert_eq!(
            header_field::<*const *const ()>(&instance, offsets.builtins()),
            BUILTINS.as_ptr()
        );
        assert_eq!(
            header_field::<*const Instance>(&instance, VMOffsets::INSTANCE),
            &*instance as *const Instance
        );
        assert_eq!(
            header_field::<*const VMFuncSlot>(&instance, VMOffsets::FUNC_SLOTS),
            slots
        );
        assert_eq!(
            header_field::<*const u32>(&instance, VMOffsets::TYPE_IDS),
            type_ids
        );
        assert_eq!(
            at(VMOffsets::TYPE_IDS) + size_of::<*const u32>(),
            at(VMOffsets::HEADER_SIZE)
        );
        assert_eq!(offsets.table(0), VMOffsets::HEADER_SIZE);
    }
}
