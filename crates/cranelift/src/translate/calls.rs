//! Direct and indirect calls.

use super::Ctx;
use super::state::FuncState;
use crate::func_environ::FuncEnvironment;
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator;

/// Translates `call` and `call_indirect`; false for other operators.
pub(super) fn translate<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> bool {
    match op {
        Operator::Call { function_index } => {
            let n = cx.env.module().func_type(*function_index).params.len();
            let args = state.peekn(n).to_vec();
            state.popn(n);
            let results = cx.env.call(b, cx.vmctx, *function_index, &args);
            state.stack.extend(results);
        }
        Operator::CallIndirect {
            type_index,
            table_index,
        } => {
            let callee = state.pop1();
            let n = cx.env.module().types[*type_index as usize].params.len();
            let args = state.peekn(n).to_vec();
            state.popn(n);
            let results =
                cx.env
                    .call_indirect(b, cx.vmctx, *table_index, *type_index, callee, &args);
            state.stack.extend(results);
        }
        _ => return false,
    }
    true
}
