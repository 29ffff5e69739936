//! Linear-memory loads and stores, `memory.size` and `memory.grow`.

use super::Ctx;
use super::state::FuncState;
use super::tables::checked;
use crate::func_environ::{FuncEnvironment, to_i64};
use cranelift_codegen::ir::{InstBuilder, Type, types::*};
use cranelift_frontend::FunctionBuilder;
use lazuli_environ::{Builtin, TrapKind};
use wasmparser::{MemArg, Operator};

/// How a load widens its value.
#[derive(Clone, Copy)]
enum Widen {
    Keep,
    Signed,
    Unsigned,
}

/// Translates memory operators; false for other operators.
pub(super) fn translate<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> bool {
    use Widen::{Keep, Signed, Unsigned};
    match op {
        Operator::I32Load { memarg } => load(b, state, cx, memarg, I32, I32, Keep),
        Operator::I64Load { memarg } => load(b, state, cx, memarg, I64, I64, Keep),
        Operator::F32Load { memarg } => load(b, state, cx, memarg, F32, F32, Keep),
        Operator::F64Load { memarg } => load(b, state, cx, memarg, F64, F64, Keep),
        Operator::I32Load8S { memarg } => load(b, state, cx, memarg, I8, I32, Signed),
        Operator::I32Load8U { memarg } => load(b, state, cx, memarg, I8, I32, Unsigned),
        Operator::I32Load16S { memarg } => load(b, state, cx, memarg, I16, I32, Signed),
        Operator::I32Load16U { memarg } => load(b, state, cx, memarg, I16, I32, Unsigned),
        Operator::I64Load8S { memarg } => load(b, state, cx, memarg, I8, I64, Signed),
        Operator::I64Load8U { memarg } => load(b, state, cx, memarg, I8, I64, Unsigned),
        Operator::I64Load16S { memarg } => load(b, state, cx, memarg, I16, I64, Signed),
        Operator::I64Load16U { memarg } => load(b, state, cx, memarg, I16, I64, Unsigned),
        Operator::I64Load32S { memarg } => load(b, state, cx, memarg, I32, I64, Signed),
        Operator::I64Load32U { memarg } => load(b, state, cx, memarg, I32, I64, Unsigned),
        Operator::I32Store { memarg } | Operator::I64Store { memarg } => {
            store(b, state, cx, memarg, None)
        }
        Operator::F32Store { memarg } | Operator::F64Store { memarg } => {
            store(b, state, cx, memarg, None)
        }
        Operator::I32Store8 { memarg } | Operator::I64Store8 { memarg } => {
            store(b, state, cx, memarg, Some(I8))
        }
        Operator::I32Store16 { memarg } | Operator::I64Store16 { memarg } => {
            store(b, state, cx, memarg, Some(I16))
        }
        Operator::I64Store32 { memarg } => store(b, state, cx, memarg, Some(I32)),
        Operator::MemorySize { mem } => {
            let v = cx.env.memory_size(b, cx.vmctx, *mem);
            state.push1(v);
        }
        Operator::MemoryGrow { mem } => {
            let delta = state.pop1();
            let v = cx.env.memory_grow(b, cx.vmctx, *mem, delta);
            state.push1(v);
        }
        Operator::MemoryCopy { dst_mem, src_mem } => {
            let (dst, src, len) = state.pop3();
            let d = b.ins().iconst(I32, i64::from(*dst_mem));
            let s = b.ins().iconst(I32, i64::from(*src_mem));
            let args = [d, s, to_i64(b, dst), to_i64(b, src), to_i64(b, len)];
            checked(
                b,
                cx,
                Builtin::MemoryCopy,
                &args,
                TrapKind::MemoryOutOfBounds,
            );
        }
        Operator::MemoryFill { mem } => {
            let (dst, byte, len) = state.pop3();
            let m = b.ins().iconst(I32, i64::from(*mem));
            let args = [m, to_i64(b, dst), byte, to_i64(b, len)];
            checked(
                b,
                cx,
                Builtin::MemoryFill,
                &args,
                TrapKind::MemoryOutOfBounds,
            );
        }
        Operator::MemoryInit { data_index, mem } => {
            let (dst, src, len) = state.pop3();
            let m = b.ins().iconst(I32, i64::from(*mem));
            let d = b.ins().iconst(I32, i64::from(*data_index));
            let args = [m, d, to_i64(b, dst), src, len];
            checked(
                b,
                cx,
                Builtin::MemoryInit,
                &args,
                TrapKind::MemoryOutOfBounds,
            );
        }
        Operator::DataDrop { data_index } => {
            let d = b.ins().iconst(I32, i64::from(*data_index));
            cx.env.builtin(b, cx.vmctx, Builtin::DataDrop, &[d]);
        }
        _ => return false,
    }
    true
}

/// Loads `mem_ty` and widens it to `ty` as `extend` says.
fn load<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
    memarg: &MemArg,
    mem_ty: Type,
    ty: Type,
    extend: Widen,
) {
    let index = state.pop1();
    let (addr, flags) = cx
        .env
        .memory_address(b, cx.vmctx, memarg, index, mem_ty.bytes() as u8);
    let ins = b.ins();
    let v = match (extend, mem_ty) {
        (Widen::Keep, _) => ins.load(ty, flags, addr, 0),
        (Widen::Signed, I8) => ins.sload8(ty, flags, addr, 0),
        (Widen::Unsigned, I8) => ins.uload8(ty, flags, addr, 0),
        (Widen::Signed, I16) => ins.sload16(ty, flags, addr, 0),
        (Widen::Unsigned, I16) => ins.uload16(ty, flags, addr, 0),
        (Widen::Signed, _) => ins.sload32(flags, addr, 0),
        (Widen::Unsigned, _) => ins.uload32(flags, addr, 0),
    };
    state.push1(v);
}

/// Stores the top value, narrowed to `narrow` if given.
fn store<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
    memarg: &MemArg,
    narrow: Option<Type>,
) {
    let (index, value) = state.pop2();
    let value_ty = b.func.dfg.value_type(value);
    let size = narrow.unwrap_or(value_ty).bytes() as u8;
    let (addr, flags) = cx.env.memory_address(b, cx.vmctx, memarg, index, size);
    match narrow {
        Some(I8) => b.ins().istore8(flags, value, addr, 0),
        Some(I16) => b.ins().istore16(flags, value, addr, 0),
        Some(_) => b.ins().istore32(flags, value, addr, 0),
        None => b.ins().store(flags, value, addr, 0),
    };
}
