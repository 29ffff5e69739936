//! Linear-memory addressing: a Wasm address becomes a host address, with the
//! bounds check the memory's index type and reservation call for.
//!
//! A guarded 32-bit memory needs none: any 32-bit index plus any 32-bit offset
//! lands in its reservation, whose inaccessible pages fault. Every other access
//! (bounds-checked 32-bit memories, and all 64-bit ones, whose addresses no
//! reservation covers) compares `index + offset + size` with the current length
//! and, out of bounds, replaces the address with null through
//! `select_spectre_guard`: the access then faults on the unmapped page 0 and the
//! fault becomes `MemoryOutOfBounds` through the access's trap code, and a
//! mispredicted branch can never read past the memory speculatively, because
//! there is no branch.

use crate::func_environ::{readonly, to_i64, trusted};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, condcodes::IntCC, types};
use cranelift_frontend::FunctionBuilder;
use lazuli_environ::VMOffsets;

/// How one memory is reached.
#[derive(Clone, Copy)]
pub(crate) struct Heap {
    /// The memory's `VMMemoryDefinition`.
    pub definition: Value,
    /// Addresses are `i64`.
    pub memory64: bool,
    /// The reservation covers every address: no explicit check.
    pub guarded: bool,
}

impl Heap {
    /// The host address of the `size`-byte access at Wasm address `index` plus
    /// `offset`, or null if any of its bytes is out of bounds.
    pub fn address(
        self,
        b: &mut FunctionBuilder<'_>,
        index: Value,
        offset: u64,
        size: u8,
    ) -> Value {
        let index = to_i64(b, index);
        // With a guarded memory the base never moves, so its load may be hoisted.
        let base_flags = if self.guarded { readonly() } else { trusted() };
        let base = self.field(b, base_flags, VMOffsets::DEFINITION_BASE);
        let addr = b.ins().iadd(base, index);
        // The sum may wrap only when the check below sends it to null.
        let addr = if offset == 0 {
            addr
        } else {
            b.ins().iadd_imm_u(addr, offset as i64)
        };
        if self.guarded {
            return addr;
        }
        let oob = self.out_of_bounds(b, index, offset, size);
        let null = b.ins().iconst(types::I64, 0);
        b.ins().select_spectre_guard(oob, null, addr)
    }

    /// Whether `index + offset + size` exceeds the current length.
    fn out_of_bounds(
        self,
        b: &mut FunctionBuilder<'_>,
        index: Value,
        offset: u64,
        size: u8,
    ) -> Value {
        let Some(extent) = offset.checked_add(u64::from(size)) else {
            // Past 2^64 whatever the index.
            return b.ins().iconst(types::I8, 1);
        };
        let len = self.field(b, trusted(), VMOffsets::DEFINITION_LENGTH);
        if !self.memory64 {
            // Both operands are below 2^33: the sum cannot wrap.
            let end = b.ins().iadd_imm_u(index, extent as i64);
            return b.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
        }
        let extent = b.ins().iconst(types::I64, extent as i64);
        let (end, wrapped) = b.ins().uadd_overflow(index, extent);
        let past = b.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
        b.ins().bor(past, wrapped)
    }

    /// The pointer-sized field at `offset` of the memory's definition.
    fn field(self, b: &mut FunctionBuilder<'_>, flags: MemFlagsData, offset: u32) -> Value {
        b.ins()
            .load(types::I64, flags, self.definition, offset as i32)
    }
}
