//! Locals and globals.

use super::Ctx;
use super::state::FuncState;
use crate::func_environ::FuncEnvironment;
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator;

/// Translates `local.*` and `global.*`; false for other operators.
pub(super) fn translate<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> bool {
    match op {
        Operator::LocalGet { local_index } => {
            let v = cx.locals.get(b, *local_index as usize);
            state.push1(v);
        }
        Operator::LocalSet { local_index } => {
            let v = state.pop1();
            cx.locals.set(b, *local_index as usize, v);
        }
        Operator::LocalTee { local_index } => {
            let v = *state
                .peekn(1)
                .first()
                .expect("validated: tee has an operand");
            cx.locals.set(b, *local_index as usize, v);
        }
        Operator::GlobalGet { global_index } => {
            let v = cx.env.global_get(b, cx.vmctx, *global_index);
            state.push1(v);
        }
        Operator::GlobalSet { global_index } => {
            let v = state.pop1();
            cx.env.global_set(b, cx.vmctx, *global_index, v);
        }
        _ => return false,
    }
    true
}
