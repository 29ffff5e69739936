//! The builtins table every VMContext points to, in `lazuli_environ::Builtin` order.
//! Each takes the caller's VMContext first; those that can fail return 1 on
//! success and 0 when generated code must trap.

use crate::instance::{Instance, ensure_compiled};
use crate::memory::{LinearMemory, PAGE_SIZE};
use crate::table::Table;
use crate::traphandlers::{HostFailure, record_host_failure};
use crate::vmcontext::{VMContext, VMFuncRef};

/// Addresses of the builtins, indexed by `Builtin as usize`.
pub struct BuiltinTable([*const (); 11]);

// SAFETY: the table is immutable and holds only function addresses.
unsafe impl Sync for BuiltinTable {}

impl BuiltinTable {
    pub fn as_ptr(&self) -> *const *const () {
        self.0.as_ptr()
    }
}

pub static BUILTINS: BuiltinTable = BuiltinTable([
    memory_grow as *const (),
    lazy_compile as *const (),
    table_grow as *const (),
    table_fill as *const (),
    table_copy as *const (),
    table_init as *const (),
    elem_drop as *const (),
    memory_copy as *const (),
    memory_fill as *const (),
    memory_init as *const (),
    data_drop as *const (),
]);

/// The instance behind the calling code's VMContext.
///
/// # Safety
/// `vmctx` must be the live VMContext generated code passes to builtins.
unsafe fn instance<'a>(vmctx: *mut VMContext) -> &'a Instance {
    // SAFETY: per the contract.
    unsafe { Instance::from_vmctx(vmctx) }
}

/// Memory `index` of `instance`.
///
/// # Safety
/// Memory definitions a VMContext points to are the first field of a live
/// `LinearMemory` owned by the same store, which nothing else borrows while Wasm
/// runs.
unsafe fn memory<'a>(instance: &Instance, index: u32) -> &'a mut LinearMemory {
    // SAFETY: per the contract.
    unsafe { &mut *(instance.memory(index) as *mut LinearMemory) }
}

/// Table `index` of `instance`; the same contract as [`memory`].
unsafe fn table<'a>(instance: &Instance, index: u32) -> &'a mut Table {
    // SAFETY: per the contract of `memory`, for tables.
    unsafe { &mut *(instance.table(index) as *mut Table) }
}

fn status(ok: bool) -> u32 {
    u32::from(ok)
}

/// `memory.grow`: the old size in pages, or -1 if the memory cannot grow by `delta`.
unsafe extern "C" fn memory_grow(vmctx: *mut VMContext, index: u32, delta: u64) -> i64 {
    // SAFETY: called by generated code with its own VMContext.
    let instance = unsafe { instance(vmctx) };
    // SAFETY: as above.
    let memory = unsafe { memory(instance, index) };
    let current = memory.data().len();
    let desired = (memory.pages().saturating_add(delta) as usize).saturating_mul(PAGE_SIZE);
    let maximum = memory.declared_maximum().map(|p| p as usize * PAGE_SIZE);
    // SAFETY: the store context outlives its instances; its limiter is not
    // borrowed while Wasm runs.
    let limiter = unsafe { (*instance.store_context()).limiter() };
    let allowed = limiter.is_none_or(|l| l.memory_growing(current, desired, maximum));
    if !allowed {
        return -1;
    }
    memory.grow(delta).map_or(-1, |old| old as i64)
}

/// Compiles the function behind `func_ref` on its first call; 0 after recording
/// the compile error, which the caller turns into a trap.
unsafe extern "C" fn lazy_compile(_vmctx: *mut VMContext, func_ref: *mut VMFuncRef) -> usize {
    // SAFETY: generated code passes a funcref of a live instance of this store.
    match unsafe { ensure_compiled(func_ref) } {
        Ok(address) => address,
        Err(error) => {
            record_host_failure(HostFailure::Error(error));
            0
        }
    }
}

unsafe extern "C" fn table_grow(
    vmctx: *mut VMContext,
    index: u32,
    delta: u32,
    init: *const VMFuncRef,
) -> i32 {
    // SAFETY: called by generated code with its own VMContext.
    let instance = unsafe { instance(vmctx) };
    // SAFETY: as above.
    let table = unsafe { table(instance, index) };
    let current = table.size() as usize;
    let maximum = table.maximum().map(|m| m as usize);
    // SAFETY: as in `memory_grow`.
    let limiter = unsafe { (*instance.store_context()).limiter() };
    let allowed =
        limiter.is_none_or(|l| l.table_growing(current, current + delta as usize, maximum));
    if !allowed {
        return -1;
    }
    table.grow(delta.into(), init).map_or(-1, |old| old as i32)
}

unsafe extern "C" fn table_fill(
    vmctx: *mut VMContext,
    index: u32,
    dst: u32,
    value: *const VMFuncRef,
    len: u32,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let table = unsafe { table(instance(vmctx), index) };
    status(table.fill(dst.into(), value, len.into()).is_ok())
}

unsafe extern "C" fn table_copy(
    vmctx: *mut VMContext,
    dst_index: u32,
    src_index: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let instance = unsafe { instance(vmctx) };
    if dst_index == src_index {
        // SAFETY: as above.
        let table = unsafe { table(instance, dst_index) };
        return status(
            table
                .copy_within(dst.into(), src.into(), len.into())
                .is_ok(),
        );
    }
    // SAFETY: as above; the two tables are distinct objects.
    let (dst_table, src_table) =
        unsafe { (table(instance, dst_index), table(instance, src_index)) };
    let copied = src_table
        .elements(src.into(), len.into())
        .and_then(|items| dst_table.write(dst.into(), items));
    status(copied.is_ok())
}

unsafe extern "C" fn table_init(
    vmctx: *mut VMContext,
    index: u32,
    segment: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let instance = unsafe { instance(vmctx) };
    let items = instance.element_segment(segment);
    let Some(items) = (src as usize)
        .checked_add(len as usize)
        .and_then(|end| items.get(src as usize..end))
    else {
        return 0;
    };
    // SAFETY: as above.
    let table = unsafe { table(instance, index) };
    status(table.write(dst.into(), items).is_ok())
}

unsafe extern "C" fn elem_drop(vmctx: *mut VMContext, segment: u32) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    unsafe { instance(vmctx) }.drop_element_segment(segment);
    1
}

/// `[start, start + len)` if it lies within `size`.
fn range(start: u64, len: u64, size: usize) -> Option<std::ops::Range<usize>> {
    let end = start.checked_add(len)?;
    (end <= size as u64).then_some(start as usize..end as usize)
}

unsafe extern "C" fn memory_copy(
    vmctx: *mut VMContext,
    dst_index: u32,
    src_index: u32,
    dst: u64,
    src: u64,
    len: u64,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let instance = unsafe { instance(vmctx) };
    // SAFETY: as above.
    let (dst_mem, src_mem) = unsafe { (memory(instance, dst_index), memory(instance, src_index)) };
    let (Some(d), Some(s)) = (
        range(dst, len, dst_mem.data().len()),
        range(src, len, src_mem.data().len()),
    ) else {
        return 0;
    };
    if dst_index == src_index {
        dst_mem.data_mut().copy_within(s, d.start);
    } else {
        dst_mem.data_mut()[d].copy_from_slice(&src_mem.data()[s]);
    }
    1
}

unsafe extern "C" fn memory_fill(
    vmctx: *mut VMContext,
    index: u32,
    dst: u64,
    byte: u32,
    len: u64,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let memory = unsafe { memory(instance(vmctx), index) };
    let Some(d) = range(dst, len, memory.data().len()) else {
        return 0;
    };
    memory.data_mut()[d].fill(byte as u8);
    1
}

unsafe extern "C" fn memory_init(
    vmctx: *mut VMContext,
    index: u32,
    segment: u32,
    dst: u64,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let instance = unsafe { instance(vmctx) };
    let bytes = instance.data_segment(segment);
    // SAFETY: as above.
    let memory = unsafe { memory(instance, index) };
    let (Some(d), Some(s)) = (
        range(dst, len.into(), memory.data().len()),
        range(src.into(), len.into(), bytes.len()),
    ) else {
        return 0;
    };
    memory.data_mut()[d].copy_from_slice(&bytes[s]);
    1
}

unsafe extern "C" fn data_drop(vmctx: *mut VMContext, segment: u32) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    unsafe { instance(vmctx) }.drop_data_segment(segment);
    1
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_has_an_entry_per_builtin() {
        assert_eq!(super::BUILTINS.0.len(), lazuli_environ::Builtin::ALL.len());
    }
}
