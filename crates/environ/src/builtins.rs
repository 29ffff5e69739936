//! Builtins: runtime functions that generated code calls through the table whose
//! address is in every VMContext (`VMOffsets::builtins`). Each is an
//! `extern "C"` function whose first parameter is the caller's VMContext.
//!
//! [`for_each_builtin!`](crate::for_each_builtin) is the one list of them: the
//! compiler's view ([`Builtin`] and its signatures) is generated from it here, and
//! the runtime generates its table of function addresses (and checks each
//! function's Rust signature) from the same list.
//!
//! Addresses, element indices, sizes and counts are `I64` whatever the memory's
//! or table's index type (memory64, table64); generated code widens 32-bit ones
//! (a data or element segment's own offsets and lengths stay `I32`).

use crate::vmoffsets::PTR;

/// What `MemoryGrow` and `TableGrow` return when the store's limiter failed the
/// growth with an error of its own (recorded as the host failure): generated
/// code traps with `HostError` on it. No memory or table is ever that large.
pub const GROW_LIMITER_FAILED: i64 = -2;

/// What the atomic wait and notify builtins return for an address out of the
/// memory's bounds: generated code traps with `MemoryOutOfBounds` on it.
pub const ATOMIC_OUT_OF_BOUNDS: i64 = -1;

/// What the atomic wait builtins return for a memory that is not shared:
/// generated code traps with `ExpectedSharedMemory` on it.
pub const ATOMIC_UNSHARED: i64 = -2;

/// What the atomic wait and notify builtins return for an address that is not a
/// multiple of the access size: generated code traps with `UnalignedAtomic`.
pub const ATOMIC_UNALIGNED: i64 = -3;

/// What the atomic wait builtins return when the store's epoch deadline was
/// reached during the wait and its deadline behaviour asked for an interrupt:
/// generated code traps with `Interrupt`, as at any other epoch check.
pub const ATOMIC_INTERRUPTED: i64 = -4;

/// What the atomic wait builtins return when the store's deadline callback
/// failed during the wait (its error is recorded): a `HostError` trap.
pub const ATOMIC_DEADLINE_FAILED: i64 = -5;

/// A builtin's parameter or result type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinType {
    I32,
    I64,
    Ptr,
}

/// Invokes `$m! { … }` with every builtin, in table order, as
/// `$(#[doc])* Variant = runtime_function(param types…) -> result type;`, where the
/// types are [`BuiltinType`] variants for the parameters after the leading VMContext.
#[macro_export]
macro_rules! for_each_builtin {
    ($m:ident) => {
        $m! {
            /// `(memory, delta pages) -> old size in pages, -1, or GROW_LIMITER_FAILED`.
            MemoryGrow = memory_grow(I32, I64) -> I64;
            /// `(function index) -> code address`, called by a lazy-compile stub with the
            /// callee's VMContext: compiles the function unless that is done already and
            /// publishes it in its dispatch slot; 0 (after recording the error) on failure.
            LazyCompile = lazy_compile(I32) -> Ptr;
            /// `(function index) -> 1`, called by fast-tier code (with its own VMContext)
            /// when the function has used up its tier-up budget: asks for the function
            /// to be recompiled optimised and stores a budget that is not used up again.
            TierUp = tier_up(I32) -> I32;
            /// `(function index, loop index) -> code address or 0`, called by fast-tier
            /// code (with its own VMContext) when the budget is used up at a loop it can
            /// leave: the function's OSR entry at that loop if it is compiled, else 0
            /// (after asking for it and for the function's tier-up, and storing a
            /// budget after which the loop asks again).
            OsrEntry = osr_entry(I32, I32) -> Ptr;
            /// `(table, delta, init) -> old size, -1, or GROW_LIMITER_FAILED`.
            TableGrow = table_grow(I32, I64, Ptr) -> I64;
            /// `(table, dst, value, len) -> 1, or 0 if out of bounds`.
            TableFill = table_fill(I32, I64, Ptr, I64) -> I32;
            /// `(dst table, src table, dst, src, len) -> 1, or 0 if out of bounds`.
            TableCopy = table_copy(I32, I32, I64, I64, I64) -> I32;
            /// `(table, element segment, dst, src, len) -> 1, or 0 if out of bounds`.
            TableInit = table_init(I32, I32, I64, I32, I32) -> I32;
            /// `(element segment) -> 1`.
            ElemDrop = elem_drop(I32) -> I32;
            /// `(dst memory, src memory, dst, src, len) -> 1, or 0 if out of bounds`.
            MemoryCopy = memory_copy(I32, I32, I64, I64, I64) -> I32;
            /// `(memory, dst, byte, len) -> 1, or 0 if out of bounds`.
            MemoryFill = memory_fill(I32, I64, I32, I64) -> I32;
            /// `(memory, data segment, dst, src, len) -> 1, or 0 if out of bounds`.
            MemoryInit = memory_init(I32, I32, I64, I32, I32) -> I32;
            /// `(data segment) -> 1`.
            DataDrop = data_drop(I32) -> I32;
            /// `() -> 1, 0 or 2`, called by generated code (with its own VMContext)
            /// when the engine's epoch reached the store's deadline: runs the store's
            /// deadline behaviour, which either sets a later deadline (1), asks for
            /// an `Interrupt` trap (0), or failed with an error recorded as a host
            /// failure (2, a `HostError` trap).
            NewEpoch = new_epoch() -> I32;
            /// `(memory, effective address, expected, timeout ns) -> 0 (woken), 1 (the
            /// i32 there is not `expected`), 2 (timed out; a negative timeout never
            /// does)`, or one of the `ATOMIC_*` failures, checked in the order
            /// unaligned, out of bounds, unshared, on which generated code traps.
            MemoryAtomicWait32 = memory_atomic_wait32(I32, I64, I32, I64) -> I64;
            /// `memory.atomic.wait64`: as `MemoryAtomicWait32`, for an i64.
            MemoryAtomicWait64 = memory_atomic_wait64(I32, I64, I64, I64) -> I64;
            /// `(memory, effective address, count) -> number of waiters woken`, or
            /// [`ATOMIC_UNALIGNED`] / [`ATOMIC_OUT_OF_BOUNDS`].
            MemoryAtomicNotify = memory_atomic_notify(I32, I64, I32) -> I64;
        }
    };
}

macro_rules! declare_builtins {
    ($( $(#[$doc:meta])* $name:ident = $function:ident($($param:ident),*) -> $result:ident; )*) => {
        /// The builtins, in table order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Builtin { $( $(#[$doc])* $name, )* }

        impl Builtin {
            /// Every builtin, in table order.
            pub const ALL: &'static [Builtin] = &[$(Builtin::$name),*];

            /// Parameters after the leading VMContext pointer, and the result.
            pub const fn signature(self) -> (&'static [BuiltinType], BuiltinType) {
                match self {
                    $(Builtin::$name => (&[$(BuiltinType::$param),*], BuiltinType::$result),)*
                }
            }
        }
    };
}

for_each_builtin!(declare_builtins);

impl Builtin {
    /// Bytes per entry of the builtins table: one function address.
    pub const TABLE_ENTRY_SIZE: u32 = PTR;

    /// Byte offset of this builtin's address in the builtins table.
    pub fn table_offset(self) -> u32 {
        self as u32 * Builtin::TABLE_ENTRY_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_offsets_follow_the_list_order() {
        for (i, builtin) in Builtin::ALL.iter().enumerate() {
            assert_eq!(builtin.table_offset(), i as u32 * PTR);
        }
    }
}
