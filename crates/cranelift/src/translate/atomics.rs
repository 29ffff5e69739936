//! The threads proposal's operators: atomic loads, stores, read-modify-writes and
//! compare-exchanges (Cranelift's `atomic_*` instructions, sequentially
//! consistent), `atomic.fence`, and `memory.atomic.wait32/64` and `notify`
//! (builtins over the runtime's parking table).
//!
//! Every access checks first that its effective address (index + offset) is a
//! multiple of its size, trapping with `UnalignedAtomic`, and is then bounds
//! checked as any access is (`FuncEnvironment::memory_address`). Narrow forms
//! (`rmw8`, `load16_u`, …) work on the narrow type and zero-extend the result.
//! Atomics are valid on unshared memories too, and work the same there.

use super::Ctx;
use super::state::FuncState;
use crate::func_environ::{FuncEnvironment, to_i64};
use crate::trap::trap_code;
use cranelift_codegen::ir::{AtomicRmwOp, InstBuilder, Type, Value, condcodes::IntCC, types::*};
use cranelift_frontend::FunctionBuilder;
use lazuli_environ::{
    ATOMIC_DEADLINE_FAILED, ATOMIC_INTERRUPTED, ATOMIC_OUT_OF_BOUNDS, ATOMIC_UNALIGNED,
    ATOMIC_UNSHARED, Builtin, TrapKind,
};
use wasmparser::{MemArg, MemArgTarget, Operator};

/// Translates atomic operators; false for other operators.
pub(super) fn translate<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> bool {
    use AtomicRmwOp::{Add, And, Or, Sub, Xchg, Xor};
    use Operator as O;
    match op {
        O::AtomicFence { .. } => {
            b.ins().fence();
        }
        O::I32AtomicLoad { memarg } => load(b, state, cx, memarg, I32, I32),
        O::I64AtomicLoad { memarg } => load(b, state, cx, memarg, I64, I64),
        O::I32AtomicLoad8U { memarg } => load(b, state, cx, memarg, I8, I32),
        O::I32AtomicLoad16U { memarg } => load(b, state, cx, memarg, I16, I32),
        O::I64AtomicLoad8U { memarg } => load(b, state, cx, memarg, I8, I64),
        O::I64AtomicLoad16U { memarg } => load(b, state, cx, memarg, I16, I64),
        O::I64AtomicLoad32U { memarg } => load(b, state, cx, memarg, I32, I64),
        O::I32AtomicStore { memarg } | O::I64AtomicStore { memarg } => {
            store(b, state, cx, memarg, None)
        }
        O::I32AtomicStore8 { memarg } | O::I64AtomicStore8 { memarg } => {
            store(b, state, cx, memarg, Some(I8))
        }
        O::I32AtomicStore16 { memarg } | O::I64AtomicStore16 { memarg } => {
            store(b, state, cx, memarg, Some(I16))
        }
        O::I64AtomicStore32 { memarg } => store(b, state, cx, memarg, Some(I32)),

        O::I32AtomicRmwAdd { memarg } | O::I64AtomicRmwAdd { memarg } => {
            rmw(b, state, cx, memarg, None, Add)
        }
        O::I32AtomicRmw8AddU { memarg } | O::I64AtomicRmw8AddU { memarg } => {
            rmw(b, state, cx, memarg, Some(I8), Add)
        }
        O::I32AtomicRmw16AddU { memarg } | O::I64AtomicRmw16AddU { memarg } => {
            rmw(b, state, cx, memarg, Some(I16), Add)
        }
        O::I64AtomicRmw32AddU { memarg } => rmw(b, state, cx, memarg, Some(I32), Add),

        O::I32AtomicRmwSub { memarg } | O::I64AtomicRmwSub { memarg } => {
            rmw(b, state, cx, memarg, None, Sub)
        }
        O::I32AtomicRmw8SubU { memarg } | O::I64AtomicRmw8SubU { memarg } => {
            rmw(b, state, cx, memarg, Some(I8), Sub)
        }
        O::I32AtomicRmw16SubU { memarg } | O::I64AtomicRmw16SubU { memarg } => {
            rmw(b, state, cx, memarg, Some(I16), Sub)
        }
        O::I64AtomicRmw32SubU { memarg } => rmw(b, state, cx, memarg, Some(I32), Sub),

        O::I32AtomicRmwAnd { memarg } | O::I64AtomicRmwAnd { memarg } => {
            rmw(b, state, cx, memarg, None, And)
        }
        O::I32AtomicRmw8AndU { memarg } | O::I64AtomicRmw8AndU { memarg } => {
            rmw(b, state, cx, memarg, Some(I8), And)
        }
        O::I32AtomicRmw16AndU { memarg } | O::I64AtomicRmw16AndU { memarg } => {
            rmw(b, state, cx, memarg, Some(I16), And)
        }
        O::I64AtomicRmw32AndU { memarg } => rmw(b, state, cx, memarg, Some(I32), And),

        O::I32AtomicRmwOr { memarg } | O::I64AtomicRmwOr { memarg } => {
            rmw(b, state, cx, memarg, None, Or)
        }
        O::I32AtomicRmw8OrU { memarg } | O::I64AtomicRmw8OrU { memarg } => {
            rmw(b, state, cx, memarg, Some(I8), Or)
        }
        O::I32AtomicRmw16OrU { memarg } | O::I64AtomicRmw16OrU { memarg } => {
            rmw(b, state, cx, memarg, Some(I16), Or)
        }
        O::I64AtomicRmw32OrU { memarg } => rmw(b, state, cx, memarg, Some(I32), Or),

        O::I32AtomicRmwXor { memarg } | O::I64AtomicRmwXor { memarg } => {
            rmw(b, state, cx, memarg, None, Xor)
        }
        O::I32AtomicRmw8XorU { memarg } | O::I64AtomicRmw8XorU { memarg } => {
            rmw(b, state, cx, memarg, Some(I8), Xor)
        }
        O::I32AtomicRmw16XorU { memarg } | O::I64AtomicRmw16XorU { memarg } => {
            rmw(b, state, cx, memarg, Some(I16), Xor)
        }
        O::I64AtomicRmw32XorU { memarg } => rmw(b, state, cx, memarg, Some(I32), Xor),

        O::I32AtomicRmwXchg { memarg } | O::I64AtomicRmwXchg { memarg } => {
            rmw(b, state, cx, memarg, None, Xchg)
        }
        O::I32AtomicRmw8XchgU { memarg } | O::I64AtomicRmw8XchgU { memarg } => {
            rmw(b, state, cx, memarg, Some(I8), Xchg)
        }
        O::I32AtomicRmw16XchgU { memarg } | O::I64AtomicRmw16XchgU { memarg } => {
            rmw(b, state, cx, memarg, Some(I16), Xchg)
        }
        O::I64AtomicRmw32XchgU { memarg } => rmw(b, state, cx, memarg, Some(I32), Xchg),

        O::I32AtomicRmwCmpxchg { memarg } | O::I64AtomicRmwCmpxchg { memarg } => {
            cmpxchg(b, state, cx, memarg, None)
        }
        O::I32AtomicRmw8CmpxchgU { memarg } | O::I64AtomicRmw8CmpxchgU { memarg } => {
            cmpxchg(b, state, cx, memarg, Some(I8))
        }
        O::I32AtomicRmw16CmpxchgU { memarg } | O::I64AtomicRmw16CmpxchgU { memarg } => {
            cmpxchg(b, state, cx, memarg, Some(I16))
        }
        O::I64AtomicRmw32CmpxchgU { memarg } => cmpxchg(b, state, cx, memarg, Some(I32)),

        O::MemoryAtomicWait32 { memarg } => wait(b, state, cx, memarg, Builtin::MemoryAtomicWait32),
        O::MemoryAtomicWait64 { memarg } => wait(b, state, cx, memarg, Builtin::MemoryAtomicWait64),
        O::MemoryAtomicNotify { memarg } => notify(b, state, cx, memarg),
        _ => return false,
    }
    true
}

/// The checked native address of a `mem_ty` access at `index` + `memarg.offset`,
/// with its flags: traps with `UnalignedAtomic` unless the effective address is
/// a multiple of the access size, then as any access out of bounds does.
fn atomic_address<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    cx: &mut Ctx<'_, E>,
    memarg: &MemArg,
    index: Value,
    mem_ty: Type,
) -> (Value, cranelift_codegen::ir::MemFlagsData) {
    let size = mem_ty.bytes();
    if size > 1 {
        // The low bits of index + offset are those of index + (offset's low
        // bits), whatever the index's width and however the sum wraps.
        let mask = i64::from(size - 1);
        let low = b.ins().iadd_imm_u(index, memarg.offset as i64 & mask);
        let misaligned = b.ins().band_imm_u(low, mask);
        b.ins()
            .trapnz(misaligned, trap_code(TrapKind::UnalignedAtomic));
    }
    cx.env
        .memory_address(b, cx.vmctx, memarg, index, size as u8)
}

/// `value`, of a Wasm type, narrowed to `narrow` if given.
fn narrowed(b: &mut FunctionBuilder<'_>, value: Value, narrow: Option<Type>) -> Value {
    match narrow {
        Some(ty) => b.ins().ireduce(ty, value),
        None => value,
    }
}

/// `value`, read from memory as `mem_ty`, zero-extended to `ty`.
fn widened(b: &mut FunctionBuilder<'_>, value: Value, mem_ty: Type, ty: Type) -> Value {
    if mem_ty == ty {
        value
    } else {
        b.ins().uextend(ty, value)
    }
}

fn load<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
    memarg: &MemArg,
    mem_ty: Type,
    ty: Type,
) {
    let index = state.pop1();
    let (addr, flags) = atomic_address(b, cx, memarg, index, mem_ty);
    let loaded = b.ins().atomic_load(mem_ty, flags, addr);
    let v = widened(b, loaded, mem_ty, ty);
    state.push1(v);
}

fn store<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
    memarg: &MemArg,
    narrow: Option<Type>,
) {
    let (index, value) = state.pop2();
    let mem_ty = narrow.unwrap_or(b.func.dfg.value_type(value));
    let (addr, flags) = atomic_address(b, cx, memarg, index, mem_ty);
    let value = narrowed(b, value, narrow);
    b.ins().atomic_store(flags, value, addr);
}

fn rmw<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
    memarg: &MemArg,
    narrow: Option<Type>,
    op: AtomicRmwOp,
) {
    let (index, value) = state.pop2();
    let ty = b.func.dfg.value_type(value);
    let mem_ty = narrow.unwrap_or(ty);
    let (addr, flags) = atomic_address(b, cx, memarg, index, mem_ty);
    let value = narrowed(b, value, narrow);
    let old = b.ins().atomic_rmw(mem_ty, flags, op, addr, value);
    let v = widened(b, old, mem_ty, ty);
    state.push1(v);
}

fn cmpxchg<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
    memarg: &MemArg,
    narrow: Option<Type>,
) {
    let (index, expected, replacement) = state.pop3();
    let ty = b.func.dfg.value_type(expected);
    let mem_ty = narrow.unwrap_or(ty);
    let (addr, flags) = atomic_address(b, cx, memarg, index, mem_ty);
    // The narrow forms compare the expected value's low bits only: the spec
    // wraps it to the access size first.
    let expected = narrowed(b, expected, narrow);
    let replacement = narrowed(b, replacement, narrow);
    let old = b.ins().atomic_cas(flags, addr, expected, replacement);
    let v = widened(b, old, mem_ty, ty);
    state.push1(v);
}

/// The memory `memarg` accesses.
fn memory_index(memarg: &MemArg) -> u32 {
    match memarg.target {
        MemArgTarget::Memory(m) => m,
        MemArgTarget::Array(_) => 0,
    }
}

/// The effective address `index` + `memarg.offset` as an i64, trapping if the sum
/// overflows (only a 64-bit index can make it); the builtins check it against
/// the memory's bounds and alignment.
fn effective_address(b: &mut FunctionBuilder<'_>, memarg: &MemArg, index: Value) -> Value {
    let index = to_i64(b, index);
    if memarg.offset == 0 {
        return index;
    }
    let offset = b.ins().iconst(I64, memarg.offset as i64);
    b.ins()
        .uadd_overflow_trap(index, offset, trap_code(TrapKind::MemoryOutOfBounds))
}

/// Traps with `kind` if the builtin's `result` is `failure`.
fn trap_on(b: &mut FunctionBuilder<'_>, result: Value, failure: i64, kind: TrapKind) {
    let failed = b.ins().icmp_imm_s(IntCC::Equal, result, failure);
    b.ins().trapnz(failed, trap_code(kind));
}

/// `memory.atomic.wait32` / `wait64` through `builtin`.
fn wait<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
    memarg: &MemArg,
    builtin: Builtin,
) {
    let (index, expected, timeout) = state.pop3();
    let memory = b.ins().iconst(I32, i64::from(memory_index(memarg)));
    let address = effective_address(b, memarg, index);
    let result = cx
        .env
        .builtin(b, cx.vmctx, builtin, &[memory, address, expected, timeout]);
    trap_on(b, result, ATOMIC_UNALIGNED, TrapKind::UnalignedAtomic);
    trap_on(b, result, ATOMIC_OUT_OF_BOUNDS, TrapKind::MemoryOutOfBounds);
    trap_on(b, result, ATOMIC_UNSHARED, TrapKind::ExpectedSharedMemory);
    trap_on(b, result, ATOMIC_INTERRUPTED, TrapKind::Interrupt);
    trap_on(b, result, ATOMIC_DEADLINE_FAILED, TrapKind::HostError);
    let v = b.ins().ireduce(I32, result);
    state.push1(v);
}

/// `memory.atomic.notify`.
fn notify<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
    memarg: &MemArg,
) {
    let (index, count) = state.pop2();
    let memory = b.ins().iconst(I32, i64::from(memory_index(memarg)));
    let address = effective_address(b, memarg, index);
    let result = cx.env.builtin(
        b,
        cx.vmctx,
        Builtin::MemoryAtomicNotify,
        &[memory, address, count],
    );
    trap_on(b, result, ATOMIC_UNALIGNED, TrapKind::UnalignedAtomic);
    trap_on(b, result, ATOMIC_OUT_OF_BOUNDS, TrapKind::MemoryOutOfBounds);
    let v = b.ins().ireduce(I32, result);
    state.push1(v);
}
