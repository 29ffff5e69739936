//! Reference and table operators: `ref.null`, `ref.is_null`, `ref.as_non_null`,
//! `ref.func`, `table.get/set/size/grow/fill/copy/init` and `elem.drop`. References are
//! pointers (funcref: the address of a `VMFuncRef`), null is 0.

use super::Ctx;
use super::state::FuncState;
use crate::func_environ::{FuncEnvironment, to_i64, trap_if_limiter_failed};
use crate::trap::trap_code;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, condcodes::IntCC, types};
use cranelift_frontend::FunctionBuilder;
use lazuli_environ::{Builtin, TrapKind};
use wasmparser::Operator;

/// Translates reference and table operators; false for other operators.
pub(super) fn translate<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> bool {
    let vmctx = cx.vmctx;
    match op {
        Operator::RefNull { .. } => state.push1(b.ins().iconst(types::I64, 0)),
        Operator::RefIsNull => {
            let r = state.pop1();
            let is_null = b.ins().icmp_imm_u(IntCC::Equal, r, 0);
            state.push1(b.ins().uextend(types::I32, is_null));
        }
        Operator::RefAsNonNull => {
            let r = state.pop1();
            b.ins().trapz(r, trap_code(TrapKind::NullReference));
            state.push1(r);
        }
        Operator::RefFunc { function_index } => {
            let r = cx.env.func_ref(b, vmctx, *function_index);
            state.push1(r);
        }
        Operator::TableGet { table } => {
            let index = state.pop1();
            let addr = cx.env.table_element(b, vmctx, *table, index);
            state.push1(b.ins().load(types::I64, MemFlagsData::trusted(), addr, 0));
        }
        Operator::TableSet { table } => {
            let (index, value) = state.pop2();
            let addr = cx.env.table_element(b, vmctx, *table, index);
            b.ins().store(MemFlagsData::trusted(), value, addr, 0);
        }
        Operator::TableSize { table } => {
            let size = cx.env.table_size(b, vmctx, *table);
            state.push1(size);
        }
        Operator::TableGrow { table } => {
            let (init, delta) = state.pop2();
            let t = b.ins().iconst(types::I32, i64::from(*table));
            let delta = to_i64(b, delta);
            let old = cx
                .env
                .builtin(b, vmctx, Builtin::TableGrow, &[t, delta, init]);
            trap_if_limiter_failed(b, old);
            let old = match cx.env.module().tables[*table as usize].table64 {
                true => old,
                false => b.ins().ireduce(types::I32, old),
            };
            state.push1(old);
        }
        Operator::TableFill { table } => {
            let (dst, value, len) = state.pop3();
            let t = b.ins().iconst(types::I32, i64::from(*table));
            let args = [t, to_i64(b, dst), value, to_i64(b, len)];
            checked(b, cx, Builtin::TableFill, &args, TrapKind::TableOutOfBounds);
        }
        Operator::TableCopy {
            dst_table,
            src_table,
        } => {
            let (dst, src, len) = state.pop3();
            let d = b.ins().iconst(types::I32, i64::from(*dst_table));
            let s = b.ins().iconst(types::I32, i64::from(*src_table));
            let args = [d, s, to_i64(b, dst), to_i64(b, src), to_i64(b, len)];
            checked(b, cx, Builtin::TableCopy, &args, TrapKind::TableOutOfBounds);
        }
        Operator::TableInit { elem_index, table } => {
            let (dst, src, len) = state.pop3();
            let t = b.ins().iconst(types::I32, i64::from(*table));
            let e = b.ins().iconst(types::I32, i64::from(*elem_index));
            let dst = to_i64(b, dst);
            checked(
                b,
                cx,
                Builtin::TableInit,
                &[t, e, dst, src, len],
                TrapKind::TableOutOfBounds,
            );
        }
        Operator::ElemDrop { elem_index } => {
            let e = b.ins().iconst(types::I32, i64::from(*elem_index));
            cx.env.builtin(b, vmctx, Builtin::ElemDrop, &[e]);
        }
        _ => return false,
    }
    true
}

/// Calls a builtin that returns 0 when the operation must trap with `kind`.
pub(super) fn checked<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    cx: &mut Ctx<'_, E>,
    builtin: Builtin,
    args: &[Value],
    kind: TrapKind,
) {
    let ok = cx.env.builtin(b, cx.vmctx, builtin, args);
    b.ins().trapz(ok, trap_code(kind));
}
