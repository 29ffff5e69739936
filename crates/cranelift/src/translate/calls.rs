//! Direct and indirect calls, and their tail-call forms.

use super::Ctx;
use super::state::FuncState;
use crate::func_environ::{CallKind, FuncEnvironment};
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator;

/// Translates `call`, `call_indirect`, `call_ref` and their `return_call` forms;
/// false for other operators. A tail call ends the function: the code after it is
/// unreachable (the fuel count was written back before it, as before a return).
pub(super) fn translate<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> bool {
    let (kind, callee) = match *op {
        Operator::Call { function_index } => (CallKind::Normal, Callee::Direct(function_index)),
        Operator::ReturnCall { function_index } => (CallKind::Tail, Callee::Direct(function_index)),
        Operator::CallIndirect {
            type_index,
            table_index,
        } => (CallKind::Normal, Callee::Indirect(type_index, table_index)),
        Operator::ReturnCallIndirect {
            type_index,
            table_index,
        } => (CallKind::Tail, Callee::Indirect(type_index, table_index)),
        Operator::CallRef { type_index } => (CallKind::Normal, Callee::Ref(type_index)),
        Operator::ReturnCallRef { type_index } => (CallKind::Tail, Callee::Ref(type_index)),
        _ => return false,
    };
    let results = match callee {
        Callee::Direct(index) => {
            let args = pop_args(state, cx.env.module().func_type(index).params.len());
            cx.env.call(b, cx.vmctx, index, &args, kind)
        }
        Callee::Indirect(type_index, table) => {
            let callee = state.pop1();
            let n = cx.env.module().types[type_index as usize].params.len();
            let args = pop_args(state, n);
            let env = &mut *cx.env;
            env.call_indirect(b, cx.vmctx, table, type_index, callee, &args, kind)
        }
        Callee::Ref(type_index) => {
            let callee = state.pop1();
            let n = cx.env.module().types[type_index as usize].params.len();
            let args = pop_args(state, n);
            cx.env
                .call_ref(b, cx.vmctx, type_index, callee, &args, kind)
        }
    };
    state.stack.extend(results);
    if kind == CallKind::Tail {
        state.reachable = false;
    }
    true
}

/// What a call calls: function `index`, or an element of `table` of module type
/// `type_index`.
enum Callee {
    Direct(u32),
    /// (type index, table index)
    Indirect(u32, u32),
    /// A funcref operand of module type `type_index`.
    Ref(u32),
}

/// Pops the top `n` operands, in push order.
fn pop_args(state: &mut FuncState, n: usize) -> Vec<cranelift_codegen::ir::Value> {
    let args = state.peekn(n).to_vec();
    state.popn(n);
    args
}
