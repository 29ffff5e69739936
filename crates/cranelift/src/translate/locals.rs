//! Where a function's locals live while it runs.
//!
//! Optimised code keeps them as SSA variables, which the optimiser and the
//! backtracking allocator keep in registers. Fast-tier code keeps them in one
//! stack slot, local `i` at `i * OSR_LOCAL_SIZE`: the single-pass allocator spills
//! every value live across a block boundary anyway, and a local that is a variable
//! also becomes a parameter of every join it reaches with different definitions,
//! each edge then moving all of them (bzip2's fast code halved in size without).
//! In memory a local costs a load or a store where it is used and nothing at
//! branches, translation needs no SSA construction, and the slot has the layout of
//! the store context's `OSR_LOCALS` buffer, so handing the locals to an OSR entry
//! is one block copy.

use crate::func_environ::trusted;
use cranelift_codegen::ir::{
    self, InstBuilder, StackSlot, StackSlotData, StackSlotKind, Value, condcodes::IntCC, types,
};
use cranelift_frontend::{FunctionBuilder, Variable};
use lazuli_environ::store_ctx::OSR_LOCAL_SIZE;

/// A function's locals (parameters first), with their Cranelift types.
pub struct Locals {
    storage: Storage,
    types: Vec<ir::Type>,
}

enum Storage {
    Variables(Vec<Variable>),
    /// The slot, and the type of its address.
    Frame(StackSlot, ir::Type),
}

impl Locals {
    /// Declares locals of `types`, in the frame (addressed as `pointer`) if
    /// `in_frame` is given, else as variables. Each must be [`set`](Self::set)
    /// before it is read.
    pub(crate) fn declare(
        b: &mut FunctionBuilder<'_>,
        types: Vec<ir::Type>,
        in_frame: Option<ir::Type>,
    ) -> Self {
        let storage = match in_frame {
            Some(pointer) => {
                let size = types.len() as u32 * OSR_LOCAL_SIZE;
                let align = OSR_LOCAL_SIZE.trailing_zeros() as u8;
                let data = StackSlotData::new(StackSlotKind::ExplicitSlot, size, align);
                Storage::Frame(b.create_sized_stack_slot(data), pointer)
            }
            None => Storage::Variables(types.iter().map(|t| b.declare_var(*t)).collect()),
        };
        Locals { storage, types }
    }

    /// The value of local `index` here.
    pub fn get(&self, b: &mut FunctionBuilder<'_>, index: usize) -> Value {
        let ty = self.types[index];
        match &self.storage {
            Storage::Variables(vars) => b.use_var(vars[index]),
            Storage::Frame(slot, pointer) => {
                b.ins().stack_load(*pointer, ty, *slot, frame_offset(index))
            }
        }
    }

    /// Sets local `index` to `value`.
    pub(crate) fn set(&self, b: &mut FunctionBuilder<'_>, index: usize, value: Value) {
        match &self.storage {
            Storage::Variables(vars) => b.def_var(vars[index], value),
            Storage::Frame(slot, pointer) => {
                b.ins()
                    .stack_store(*pointer, value, *slot, frame_offset(index));
            }
        }
    }

    /// The Cranelift type of each local.
    pub fn types(&self) -> &[ir::Type] {
        &self.types
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether the locals are in the frame, where [`copy_to`](Self::copy_to)
    /// can copy them from.
    pub fn in_frame(&self) -> bool {
        matches!(self.storage, Storage::Frame(..))
    }

    /// Copies every local, `OSR_LOCAL_SIZE` bytes each, to the buffer at `to`
    /// (a loop of 16-byte moves); leaves the builder in a new block after it.
    /// Only for locals [`in_frame`](Self::in_frame), the condition of every OSR
    /// site; does nothing if there are none.
    pub fn copy_to(&self, b: &mut FunctionBuilder<'_>, to: Value) {
        let Storage::Frame(slot, pointer) = self.storage else {
            unreachable!("OSR sites are only emitted for locals in the frame")
        };
        if self.types.is_empty() {
            return;
        }
        let from = b.ins().stack_addr(pointer, slot, 0);
        let end = b
            .ins()
            .iadd_imm_s(from, i64::from(frame_offset(self.len())));
        let (step, done) = (b.create_block(), b.create_block());
        let (src, dst) = (
            b.append_block_param(step, pointer),
            b.append_block_param(step, pointer),
        );
        b.ins().jump(step, &[from.into(), to.into()]);
        b.switch_to_block(step);
        let bytes = b.ins().load(types::I8X16, trusted(), src, 0);
        b.ins().store(trusted(), bytes, dst, 0);
        let size = i64::from(OSR_LOCAL_SIZE);
        let (src, dst) = (b.ins().iadd_imm_s(src, size), b.ins().iadd_imm_s(dst, size));
        let more = b.ins().icmp(IntCC::UnsignedLessThan, src, end);
        b.ins()
            .brif(more, step, &[src.into(), dst.into()], done, &[]);
        b.seal_block(step);
        b.seal_block(done);
        b.switch_to_block(done);
    }
}

/// Where local `index` is in the frame slot.
fn frame_offset(index: usize) -> i32 {
    (index as u32 * OSR_LOCAL_SIZE) as i32
}
