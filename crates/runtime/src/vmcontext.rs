//! The `repr(C)` records generated code reads, laid out as `lazuli_environ::VMOffsets`
//! and `store_ctx` describe (the tests below check that they agree).

use std::marker::PhantomData;
use std::ptr::NonNull;

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
    /// Asked before any memory or table of the store grows.
    pub limiter: Option<NonNull<dyn GrowthLimiter>>,
}

/// Decides whether a memory or table may grow (sizes in bytes for memories and in
/// elements for tables).
pub trait GrowthLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> bool;
    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> bool;
}

impl VMStoreContext {
    /// The store's growth limiter, if it has one.
    ///
    /// # Safety
    /// `limiter`, if set, must point at a live limiter that nothing else borrows
    /// while the returned reference is used.
    // The limiter is another object (the store), not part of `self`.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn limiter(&self) -> Option<&mut dyn GrowthLimiter> {
        // SAFETY: per the contract.
        self.limiter.map(|mut l| unsafe { l.as_mut() })
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

/// A linear memory's base and current length in bytes.
#[repr(C)]
#[derive(Debug)]
pub struct VMMemoryDefinition {
    pub base: *mut u8,
    pub current_length: usize,
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

/// What a funcref points at: code with the Wasm calling convention, the vmctx to
/// pass as callee, and the engine-wide signature id `call_indirect` checks.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VMFuncRef {
    /// Null while the function is not compiled yet.
    pub wasm_call: *const u8,
    pub vmctx: *mut VMContext,
    pub type_id: u32,
    /// The function's index in the module of `vmctx`.
    pub func_index: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use lazuli_environ::{VMOffsets, store_ctx};
    use std::mem::{offset_of, size_of};

    #[test]
    fn records_match_the_environ_layout() {
        assert_eq!(
            offset_of!(VMStoreContext, stack_limit),
            store_ctx::STACK_LIMIT as usize
        );
        assert_eq!(
            offset_of!(VMMemoryDefinition, base),
            VMOffsets::DEFINITION_BASE as usize
        );
        assert_eq!(
            offset_of!(VMMemoryDefinition, current_length),
            VMOffsets::DEFINITION_LENGTH as usize
        );
        assert_eq!(
            offset_of!(VMTableDefinition, base),
            VMOffsets::DEFINITION_BASE as usize
        );
        assert_eq!(
            offset_of!(VMTableDefinition, current_elements),
            VMOffsets::DEFINITION_LENGTH as usize
        );
        assert_eq!(
            offset_of!(VMFuncRef, wasm_call),
            VMOffsets::FUNC_REF_WASM_CALL as usize
        );
        assert_eq!(
            offset_of!(VMFuncRef, vmctx),
            VMOffsets::FUNC_REF_VMCTX as usize
        );
        assert_eq!(
            offset_of!(VMFuncRef, type_id),
            VMOffsets::FUNC_REF_TYPE as usize
        );
        assert_eq!(size_of::<VMFuncRef>(), VMOffsets::FUNC_REF_SIZE as usize);
        assert_eq!(size_of::<VMGlobalDefinition>(), 16);
        assert_eq!(size_of::<ValRaw>(), 16);
    }
}
