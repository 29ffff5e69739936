//! The builtins table every VMContext points to, in `lazuli_environ::Builtin` order.
//! Each takes the caller's VMContext first; those that can fail return 1 on
//! success and 0 when generated code must trap.

use crate::instance::Instance;
use crate::memory::{LinearMemory, MemoryError, extent, range};
use crate::parking::{self, WaitResult};
use crate::table::{Table, TableError};
use crate::traphandlers::{HostFailure, record_host_failure};
use crate::vmcontext::{EpochOutcome, GrowthLimiter, VMContext, VMFuncRef, VMStoreContext};
use lazuli_environ::{
    ATOMIC_DEADLINE_FAILED, ATOMIC_INTERRUPTED, ATOMIC_OUT_OF_BOUNDS, ATOMIC_UNALIGNED,
    ATOMIC_UNSHARED, Builtin, BuiltinType, GROW_LIMITER_FAILED,
};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Addresses of the builtins, indexed by `Builtin as usize`.
pub struct BuiltinTable([*const (); Builtin::ALL.len()]);

// SAFETY: the table is immutable and holds only function addresses.
unsafe impl Sync for BuiltinTable {}

impl BuiltinTable {
    pub fn as_ptr(&self) -> *const *const () {
        self.0.as_ptr()
    }
}

/// Rust types that cross the builtin ABI as a [`BuiltinType`].
trait AbiType {
    const TYPE: BuiltinType;
}

macro_rules! abi_types {
    ($($ty:ty => $kind:ident),* $(,)?) => {
        $(impl AbiType for $ty { const TYPE: BuiltinType = BuiltinType::$kind; })*
    };
}

abi_types!(u32 => I32, i32 => I32, u64 => I64, i64 => I64);

impl<T> AbiType for *const T {
    const TYPE: BuiltinType = BuiltinType::Ptr;
}

impl<T> AbiType for *mut T {
    const TYPE: BuiltinType = BuiltinType::Ptr;
}

/// The function-pointer types of builtins, with the signature they have in the
/// [`BuiltinType`] terms of `lazuli_environ::for_each_builtin!`.
trait BuiltinFn {
    const PARAMS: &'static [BuiltinType];
    const RESULT: BuiltinType;
}

macro_rules! builtin_fn_arities {
    ($(($($p:ident),*))*) => {$(
        impl<R: AbiType, $($p: AbiType),*> BuiltinFn
            for unsafe extern "C" fn(*mut VMContext, $($p),*) -> R
        {
            const PARAMS: &'static [BuiltinType] = &[$($p::TYPE),*];
            const RESULT: BuiltinType = R::TYPE;
        }
    )*};
}

builtin_fn_arities!(()(A)(A, B)(A, B, C)(A, B, C, D)(A, B, C, D, E));

/// Whether the builtin function `_f` has the signature `params -> result`.
const fn has_signature<F: BuiltinFn>(_f: &F, params: &[BuiltinType], result: BuiltinType) -> bool {
    if F::PARAMS.len() != params.len() || F::RESULT as u8 != result as u8 {
        return false;
    }
    let mut i = 0;
    while i < params.len() {
        if F::PARAMS[i] as u8 != params[i] as u8 {
            return false;
        }
        i += 1;
    }
    true
}

/// `_` for each parameter of a builtin, to let its function pointer type be inferred.
macro_rules! inferred {
    ($param:ident) => {
        _
    };
}

/// The table, from the same list as the compiler's view of the builtins; fails to
/// compile if a function's Rust signature differs from the list.
macro_rules! builtin_table {
    ($( $(#[$doc:meta])* $name:ident = $function:ident($($param:ident),*) -> $result:ident; )*) => {
        $(
            const _: () = assert!(
                has_signature(
                    &($function as unsafe extern "C" fn(*mut VMContext $(, inferred!($param))*) -> _),
                    &[$(BuiltinType::$param),*],
                    BuiltinType::$result,
                ),
                concat!("`", stringify!($function), "` does not have the signature `for_each_builtin!` gives it"),
            );
        )*

        pub static BUILTINS: BuiltinTable = BuiltinTable([$($function as *const ()),*]);
    };
}

lazuli_environ::for_each_builtin!(builtin_table);

/// The instance behind the calling code's VMContext.
///
/// # Safety
/// `vmctx` must be the live VMContext generated code passes to builtins.
unsafe fn instance<'a>(vmctx: *mut VMContext) -> &'a Instance {
    // SAFETY: per the contract.
    unsafe { Instance::from_vmctx(vmctx) }
}

/// Memory `index` of `instance`, as a raw pointer: two indices may name the same
/// memory. Memory definitions a VMContext points to are the first field of a live
/// `LinearMemory` owned by the same store, and the pointer has the provenance of
/// the whole memory (`LinearMemory::definition`).
fn memory_ptr(instance: &Instance, index: u32) -> *mut LinearMemory {
    instance.memory(index).cast()
}

/// Table `index` of `instance`, as a raw pointer; as [`memory_ptr`], for tables.
fn table_ptr(instance: &Instance, index: u32) -> *mut Table {
    instance.table(index).cast()
}

/// Memory `index` of `instance`, shared: a shared memory is used by other
/// threads at the same time, and growth needs no more than `&LinearMemory`.
///
/// # Safety
/// Nothing borrows the memory mutably while the reference is used (the store
/// does not while Wasm runs, and a shared memory is never borrowed mutably).
unsafe fn memory<'a>(instance: &Instance, index: u32) -> &'a LinearMemory {
    // SAFETY: per the contract and `memory_ptr`.
    unsafe { &*memory_ptr(instance, index) }
}

/// Table `index` of `instance`; the same contract as [`memory`].
unsafe fn table<'a>(instance: &Instance, index: u32) -> &'a mut Table {
    // SAFETY: per the contract of `memory`, for tables.
    unsafe { &mut *table_ptr(instance, index) }
}

fn status(ok: bool) -> u32 {
    u32::from(ok)
}

/// `memory.grow`: the old size in pages, -1 if the memory cannot grow by `delta`,
/// or [`GROW_LIMITER_FAILED`].
unsafe extern "C" fn memory_grow(vmctx: *mut VMContext, index: u32, delta: u64) -> i64 {
    // SAFETY: called by generated code with its own VMContext.
    let instance = unsafe { instance(vmctx) };
    // SAFETY: a live memory of this store, which nothing borrows mutably while
    // Wasm runs (`memory`); growth takes only a shared reference.
    let memory = unsafe { memory(instance, index) };
    // SAFETY: see `store_limiter`.
    let limiter = unsafe { store_limiter(instance) };
    match memory.grow(delta, limiter) {
        Ok(old) => old as i64,
        Err(MemoryError::Limiter) => GROW_LIMITER_FAILED,
        Err(_) => -1,
    }
}

/// The limiter of the store running `instance`'s code.
///
/// # Safety
/// Only while Wasm of that store runs: the store context outlives its instances,
/// and its limiter pointer was derived from the exclusive borrow of the store
/// that the running entry into Wasm holds and does not use until Wasm returns,
/// so the limiter is the only live path to the store while a builtin uses it.
unsafe fn store_limiter<'a>(instance: &Instance) -> Option<&'a mut dyn GrowthLimiter> {
    // SAFETY: per the contract.
    unsafe { VMStoreContext::limiter(instance.store_context()).map(|mut l| l.as_mut()) }
}

/// Runs the deadline behaviour of the store running `instance`'s code.
///
/// # Safety
/// Only while Wasm of that store runs (`store_limiter`).
unsafe fn deadline_reached(instance: &Instance) -> EpochOutcome {
    // SAFETY: per the contract.
    unsafe { store_limiter(instance) }
        .map_or(EpochOutcome::Interrupt, |l| l.epoch_deadline_reached())
}

/// Whether the engine's epoch has reached the deadline of the store running
/// `instance`'s code; never for a store whose engine does not interrupt on
/// epochs (it has no epoch counter).
fn past_deadline(instance: &Instance) -> bool {
    let context = instance.store_context();
    // SAFETY: the store context outlives the store's instances and is only
    // written by the thread running its Wasm, which is this one.
    let (counter, deadline) = unsafe { ((*context).epoch_counter, (*context).epoch_deadline) };
    // SAFETY: the counter is the engine's, which outlives its stores.
    counter.is_some_and(|c| unsafe { c.as_ref() }.load(Ordering::Relaxed) >= deadline)
}

/// The engine's epoch reached the deadline of the store running `vmctx`'s code:
/// 1 to go on (the store moved its deadline on), 0 for an `Interrupt` trap, 2
/// for a `HostError` trap (the deadline callback's error is recorded).
unsafe extern "C" fn new_epoch(vmctx: *mut VMContext) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let instance = unsafe { instance(vmctx) };
    // SAFETY: called by Wasm of the store (`deadline_reached`).
    match unsafe { deadline_reached(instance) } {
        EpochOutcome::Interrupt => 0,
        EpochOutcome::Continue => 1,
        EpochOutcome::Failed => 2,
    }
}

/// Compiles function `func_index` of the module of `vmctx` on its first call (the
/// lazy-compile stub in its dispatch slot calls this with the callee's VMContext);
/// 0 after recording the compile error, which the stub turns into a trap.
unsafe extern "C" fn lazy_compile(vmctx: *mut VMContext, func_index: u32) -> *const u8 {
    // SAFETY: the stub passes the callee VMContext it received, a live instance's.
    match unsafe { instance(vmctx) }.compile_function(func_index) {
        Ok(address) => address as *const u8,
        Err(error) => {
            record_host_failure(HostFailure::Error(error));
            std::ptr::null()
        }
    }
}

/// Function `func_index` of the module of `vmctx` used up its tier-up budget (its
/// fast-tier code calls this with its own VMContext).
unsafe extern "C" fn tier_up(vmctx: *mut VMContext, func_index: u32) -> u32 {
    // SAFETY: called by generated code with its own VMContext, a live instance's.
    unsafe { instance(vmctx) }.tier_up(func_index);
    1
}

/// Function `func_index` of the module of `vmctx` used up its budget at loop
/// `loop_index`: the entry of its optimised code at that loop, or null.
unsafe extern "C" fn osr_entry(
    vmctx: *mut VMContext,
    func_index: u32,
    loop_index: u32,
) -> *const u8 {
    // SAFETY: called by generated code with its own VMContext, a live instance's.
    unsafe { instance(vmctx) }.osr_entry(func_index, loop_index) as *const u8
}

unsafe extern "C" fn table_grow(
    vmctx: *mut VMContext,
    index: u32,
    delta: u64,
    init: *const VMFuncRef,
) -> i64 {
    // SAFETY: called by generated code with its own VMContext.
    let instance = unsafe { instance(vmctx) };
    // SAFETY: the only reference to this table while the builtin runs (`table`).
    let table = unsafe { table(instance, index) };
    // SAFETY: see `store_limiter`.
    let limiter = unsafe { store_limiter(instance) };
    match table.grow(delta, init, limiter) {
        Ok(old) => old as i64,
        Err(TableError::Limiter) => GROW_LIMITER_FAILED,
        Err(_) => -1,
    }
}

unsafe extern "C" fn table_fill(
    vmctx: *mut VMContext,
    index: u32,
    dst: u64,
    value: *const VMFuncRef,
    len: u64,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext; the only reference
    // to this table while the builtin runs (`table`).
    let table = unsafe { table(instance(vmctx), index) };
    status(table.fill(dst, value, len).is_ok())
}

unsafe extern "C" fn table_copy(
    vmctx: *mut VMContext,
    dst_index: u32,
    src_index: u32,
    dst: u64,
    src: u64,
    len: u64,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let instance = unsafe { instance(vmctx) };
    let (dst_table, src_table) = (
        table_ptr(instance, dst_index),
        table_ptr(instance, src_index),
    );
    // SAFETY: both point at live tables of this store (see `table_ptr`), possibly
    // the same one; no reference to either exists while Wasm runs.
    let copied = unsafe { Table::copy(dst_table, dst, src_table, src, len) };
    status(copied.is_ok())
}

unsafe extern "C" fn table_init(
    vmctx: *mut VMContext,
    index: u32,
    segment: u32,
    dst: u64,
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
    // SAFETY: the only reference to this table while the builtin runs (`table`).
    let table = unsafe { table(instance, index) };
    status(table.write(dst, items).is_ok())
}

unsafe extern "C" fn elem_drop(vmctx: *mut VMContext, segment: u32) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    unsafe { instance(vmctx) }.drop_element_segment(segment);
    1
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
    let (dst_mem, src_mem) = (
        memory_ptr(instance, dst_index),
        memory_ptr(instance, src_index),
    );
    // SAFETY: both point at live memories of this store (see `memory_ptr`),
    // possibly the same one; no reference to either exists while Wasm runs.
    status(unsafe { LinearMemory::copy(dst_mem, dst, src_mem, src, len) })
}

unsafe extern "C" fn memory_fill(
    vmctx: *mut VMContext,
    index: u32,
    dst: u64,
    byte: u32,
    len: u64,
) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    let memory = memory_ptr(unsafe { instance(vmctx) }, index);
    // SAFETY: a live memory of this store (`memory_ptr`), whose bytes no
    // reference covers while Wasm runs.
    status(unsafe { LinearMemory::fill(memory, dst, byte as u8, len) })
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
    let Some(s) = range(src.into(), len.into(), bytes.len()) else {
        return 0;
    };
    let memory = memory_ptr(instance, index);
    // SAFETY: a live memory of this store (`memory_ptr`), whose bytes no
    // reference covers while Wasm runs; the segment is the module's, not in it.
    status(unsafe { LinearMemory::write(memory, dst, &bytes[s]) })
}

/// The native address of the `size`-byte atomic location at `address` of memory
/// `index`, checked as the atomic wait and notify builtins check it: the
/// failure status if it is unaligned or out of bounds.
///
/// # Safety
/// `vmctx` is the live VMContext generated code passes to builtins.
unsafe fn atomic_location(
    vmctx: *mut VMContext,
    index: u32,
    address: u64,
    size: u64,
) -> Result<(*mut u8, &'static LinearMemory), i64> {
    if !address.is_multiple_of(size) {
        return Err(ATOMIC_UNALIGNED);
    }
    // SAFETY: per the contract; memories of a running instance outlive the call
    // (`'static` only stands for that).
    let memory = unsafe { memory(instance(vmctx), index) };
    // SAFETY: a live memory.
    let (base, len) = unsafe { extent(memory) };
    if range(address, size, len).is_none() {
        return Err(ATOMIC_OUT_OF_BOUNDS);
    }
    Ok((base.wrapping_add(address as usize), memory))
}

/// `memory.atomic.wait32`/`wait64` at `location` (checked by `atomic_location`):
/// waits if `load()` still gives `expected`. A waiting thread keeps watching its
/// store's epoch deadline, as looping code does: reaching it runs the store's
/// deadline behaviour, which may let the wait go on, or end it with an
/// `Interrupt` (or `HostError`) trap, so that no wait outlives its host's timeout.
///
/// # Safety
/// Only while Wasm of `instance`'s store runs (`deadline_reached`).
unsafe fn atomic_wait<T: PartialEq>(
    instance: &Instance,
    (location, memory): (*mut u8, &LinearMemory),
    load: impl FnOnce() -> T,
    expected: T,
    timeout: i64,
) -> i64 {
    if !memory.is_shared() {
        return ATOMIC_UNSHARED;
    }
    let timeout = u64::try_from(timeout).ok().map(Duration::from_nanos);
    let mut outcome = EpochOutcome::Continue;
    let mut poll = || {
        if past_deadline(instance) {
            // SAFETY: per the contract.
            outcome = unsafe { deadline_reached(instance) };
        }
        outcome != EpochOutcome::Continue
    };
    let result = parking::wait(
        location as usize,
        || load() == expected,
        timeout,
        Some(&mut poll),
    );
    match (result, outcome) {
        (WaitResult::Stopped, EpochOutcome::Failed) => ATOMIC_DEADLINE_FAILED,
        (WaitResult::Stopped, _) => ATOMIC_INTERRUPTED,
        (result, _) => result as i64,
    }
}

unsafe extern "C" fn memory_atomic_wait32(
    vmctx: *mut VMContext,
    index: u32,
    address: u64,
    expected: u32,
    timeout: i64,
) -> i64 {
    // SAFETY: called by generated code with its own VMContext.
    match unsafe { atomic_location(vmctx, index, address, 4) } {
        Ok(found) => {
            // SAFETY: an aligned, accessible location of a live memory (checked),
            // which Wasm accesses atomically or (racing, by its own choice) not.
            let load = || unsafe { AtomicU32::from_ptr(found.0.cast()) }.load(Ordering::SeqCst);
            // SAFETY: called by Wasm of the store, with its own VMContext.
            unsafe { atomic_wait(instance(vmctx), found, load, expected, timeout) }
        }
        Err(failure) => failure,
    }
}

unsafe extern "C" fn memory_atomic_wait64(
    vmctx: *mut VMContext,
    index: u32,
    address: u64,
    expected: u64,
    timeout: i64,
) -> i64 {
    // SAFETY: called by generated code with its own VMContext.
    match unsafe { atomic_location(vmctx, index, address, 8) } {
        Ok(found) => {
            // SAFETY: as in `memory_atomic_wait32`, for 8 aligned bytes.
            let load = || unsafe { AtomicU64::from_ptr(found.0.cast()) }.load(Ordering::SeqCst);
            // SAFETY: as in `memory_atomic_wait32`.
            unsafe { atomic_wait(instance(vmctx), found, load, expected, timeout) }
        }
        Err(failure) => failure,
    }
}

unsafe extern "C" fn memory_atomic_notify(
    vmctx: *mut VMContext,
    index: u32,
    address: u64,
    count: u32,
) -> i64 {
    // SAFETY: called by generated code with its own VMContext.
    match unsafe { atomic_location(vmctx, index, address, 4) } {
        // An unshared memory has no waiters (waiting traps), so this finds none.
        Ok((location, _)) => parking::notify(location as usize, count).into(),
        Err(failure) => failure,
    }
}

unsafe extern "C" fn data_drop(vmctx: *mut VMContext, segment: u32) -> u32 {
    // SAFETY: called by generated code with its own VMContext.
    unsafe { instance(vmctx) }.drop_data_segment(segment);
    1
}

#[cfg(test)]
mod tests {
    use lazuli_environ::Builtin;

    #[test]
    fn table_has_an_entry_per_builtin() {
        assert_eq!(super::BUILTINS.0.len(), Builtin::ALL.len());
    }

    #[test]
    fn table_entries_are_where_the_compiler_loads_them() {
        assert_eq!(size_of::<*const ()>(), Builtin::TABLE_ENTRY_SIZE as usize);
        let last = *Builtin::ALL.last().unwrap();
        assert_eq!(
            last.table_offset() as usize,
            size_of_val(&super::BUILTINS.0) - size_of::<*const ()>()
        );
    }
}
