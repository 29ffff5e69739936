//! Structured control flow: `block`, `loop`, `if`/`else`, `end`, branches (with
//! `br_on_null` and `br_on_non_null`), `return`, `unreachable`, `nop`, `drop` and
//! `select`.

use super::Ctx;
use super::state::{ControlFrame, FrameKind, FuncState};
use crate::func_environ::{FuncEnvironment, LoopHeader, ir_type};
use crate::trap::trap_code;
use cranelift_codegen::ir::{Block, BlockArg, BlockCall, InstBuilder, JumpTableData, Value};
use cranelift_frontend::FunctionBuilder;
use lazuli_environ::{TrapKind, wasm_val_type};
use wasmparser::{BlockType, Operator};

/// Branch arguments from plain values.
pub(super) fn block_args(values: &[Value]) -> Vec<BlockArg> {
    values.iter().map(|v| BlockArg::Value(*v)).collect()
}

/// Parameter and result types of a block type.
fn block_signature<E: FuncEnvironment>(
    env: &E,
    ty: BlockType,
) -> (
    Vec<cranelift_codegen::ir::Type>,
    Vec<cranelift_codegen::ir::Type>,
) {
    match ty {
        BlockType::Empty => (vec![], vec![]),
        BlockType::Type(t) => (vec![], vec![ir_type(wasm_val_type(t))]),
        BlockType::FuncType(i) => {
            let ty = &env.module().types[i as usize];
            (
                ty.params.iter().map(|t| ir_type(*t)).collect(),
                ty.results.iter().map(|t| ir_type(*t)).collect(),
            )
        }
    }
}

fn block_with_params(b: &mut FunctionBuilder<'_>, types: &[cranelift_codegen::ir::Type]) -> Block {
    let block = b.create_block();
    for ty in types {
        b.append_block_param(block, *ty);
    }
    block
}

/// Translates a control operator in reachable code; false for other operators. The
/// error is a `br_table` whose targets cannot be read.
pub(super) fn translate<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> Result<bool, String> {
    match op {
        Operator::Nop => {}
        Operator::Unreachable => {
            b.ins().trap(trap_code(TrapKind::UnreachableCodeReached));
            state.reachable = false;
        }
        Operator::Drop => {
            state.pop1();
        }
        Operator::Select | Operator::TypedSelect { .. } | Operator::TypedSelectMulti { .. } => {
            let (a, c, cond) = state.pop3();
            let v = b.ins().select(cond, a, c);
            state.push1(v);
        }
        Operator::Block { blockty } => {
            let (params, results) = block_signature(cx.env, *blockty);
            let next = block_with_params(b, &results);
            state.control.push(ControlFrame {
                kind: FrameKind::Block,
                next,
                num_params: params.len(),
                num_results: results.len(),
                stack_base: state.stack.len() - params.len(),
                next_branched_to: false,
            });
        }
        Operator::Loop { blockty } => {
            let (params, results) = block_signature(cx.env, *blockty);
            let index = cx.loops;
            cx.loops += 1;
            // Only the locals are live at a loop without parameters entered with
            // an empty operand stack: one that other code can start at.
            let enterable = params.is_empty() && state.stack.is_empty();
            let header = match cx.osr {
                Some((osr_loop, header)) if osr_loop == index => {
                    if !enterable {
                        return Err(format!("an OSR entry cannot start at loop {index}"));
                    }
                    header
                }
                _ => block_with_params(b, &params),
            };
            let next = block_with_params(b, &results);
            let args = block_args(state.peekn(params.len()));
            b.ins().jump(header, &args);
            state.popn(params.len());
            b.switch_to_block(header);
            state.stack.extend_from_slice(b.block_params(header));
            let locals = enterable.then_some(&cx.locals);
            let nested = state
                .control
                .iter()
                .any(|frame| matches!(frame.kind, FrameKind::Loop { .. }));
            let innermost = !cx.outer_loops.get(index as usize).copied().unwrap_or(false);
            let at = LoopHeader {
                index,
                nested,
                innermost,
                locals,
            };
            cx.env.loop_header(b, cx.vmctx, at);
            state.control.push(ControlFrame {
                kind: FrameKind::Loop { header },
                next,
                num_params: params.len(),
                num_results: results.len(),
                stack_base: state.stack.len() - params.len(),
                next_branched_to: false,
            });
        }
        Operator::If { blockty } => {
            let cond = state.pop1();
            let (params, results) = block_signature(cx.env, *blockty);
            let next = block_with_params(b, &results);
            let then_block = block_with_params(b, &params);
            let else_block = block_with_params(b, &params);
            let args = block_args(state.peekn(params.len()));
            b.ins().brif(cond, then_block, &args, else_block, &args);
            state.popn(params.len());
            b.seal_block(then_block);
            b.seal_block(else_block);
            b.switch_to_block(then_block);
            state.stack.extend_from_slice(b.block_params(then_block));
            state.control.push(ControlFrame {
                kind: FrameKind::If {
                    else_block,
                    else_seen: false,
                    head_reachable: true,
                },
                next,
                num_params: params.len(),
                num_results: results.len(),
                stack_base: state.stack.len() - params.len(),
                next_branched_to: false,
            });
        }
        Operator::Else => {
            let frame = state.frame(0);
            let (next, n) = (frame.next, frame.num_results);
            frame.next_branched_to = true;
            let args = block_args(state.peekn(n));
            b.ins().jump(next, &args);
            enter_else(b, state);
        }
        Operator::End => {
            let frame = state.frame(0);
            let (next, n) = (frame.next, frame.num_results);
            frame.next_branched_to = true;
            let args = block_args(state.peekn(n));
            b.ins().jump(next, &args);
            end_frame(b, state);
        }
        Operator::Br { relative_depth } => {
            branch(b, state, *relative_depth);
            state.reachable = false;
        }
        Operator::BrIf { relative_depth } => {
            let cond = state.pop1();
            let (target, n) = branch_target(state, *relative_depth);
            let args = block_args(state.peekn(n));
            let fallthrough = b.create_block();
            b.ins().brif(cond, target, &args, fallthrough, &[]);
            b.seal_block(fallthrough);
            b.switch_to_block(fallthrough);
        }
        Operator::BrOnNull { relative_depth } => {
            // Taken on null, without the reference; falls through with it.
            let r = state.pop1();
            let (target, n) = branch_target(state, *relative_depth);
            let args = block_args(state.peekn(n));
            let fallthrough = b.create_block();
            b.ins().brif(r, fallthrough, &[], target, &args);
            b.seal_block(fallthrough);
            b.switch_to_block(fallthrough);
            state.push1(r);
        }
        Operator::BrOnNonNull { relative_depth } => {
            // Taken with the reference (the last of the target's values) unless
            // it is null; falls through without it.
            let (target, n) = branch_target(state, *relative_depth);
            let args = block_args(state.peekn(n));
            let r = state.pop1();
            let fallthrough = b.create_block();
            b.ins().brif(r, target, &args, fallthrough, &[]);
            b.seal_block(fallthrough);
            b.switch_to_block(fallthrough);
        }
        Operator::BrTable { targets } => {
            let index = state.pop1();
            let depths = targets
                .targets()
                .collect::<Result<Vec<u32>, _>>()
                .map_err(|e| format!("br_table targets: {}", e.message()))?;
            let calls: Vec<BlockCall> = depths
                .into_iter()
                .map(|depth| branch_call(b, state, depth))
                .collect();
            let default = branch_call(b, state, targets.default());
            let jt = b.create_jump_table(JumpTableData::new(default, &calls));
            b.ins().br_table(index, jt);
            state.reachable = false;
        }
        Operator::Return => {
            branch(b, state, state.control.len() as u32 - 1);
            state.reachable = false;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The block a branch to `depth` jumps to and its argument count; marks it taken.
fn branch_target(state: &mut FuncState, depth: u32) -> (Block, usize) {
    let frame = state.frame(depth);
    if !matches!(frame.kind, FrameKind::Loop { .. }) {
        frame.next_branched_to = true;
    }
    frame.branch_target()
}

/// The jump-table entry for a branch to the frame `depth` levels out.
fn branch_call(b: &mut FunctionBuilder<'_>, state: &mut FuncState, depth: u32) -> BlockCall {
    let (target, n) = branch_target(state, depth);
    let args = block_args(state.peekn(n));
    BlockCall::new(target, args, &mut b.func.dfg.value_lists)
}

/// An unconditional branch to the frame `depth` levels out.
fn branch(b: &mut FunctionBuilder<'_>, state: &mut FuncState, depth: u32) {
    let (target, n) = branch_target(state, depth);
    let args = block_args(state.peekn(n));
    b.ins().jump(target, &args);
}

/// Starts the false arm of the innermost `if`.
fn enter_else(b: &mut FunctionBuilder<'_>, state: &mut FuncState) {
    let frame = state.frame(0);
    let stack_base = frame.stack_base;
    let FrameKind::If {
        else_block,
        else_seen,
        head_reachable,
    } = &mut frame.kind
    else {
        unreachable!("validated: `else` closes an `if`")
    };
    *else_seen = true;
    let (else_block, head_reachable) = (*else_block, *head_reachable);
    state.stack.truncate(stack_base);
    b.switch_to_block(else_block);
    state.stack.extend_from_slice(b.block_params(else_block));
    state.reachable = head_reachable;
}

/// Closes the innermost frame after its fall-through edge (if any) was emitted.
fn end_frame(b: &mut FunctionBuilder<'_>, state: &mut FuncState) {
    let frame = state
        .control
        .pop()
        .expect("validated: `end` closes a frame");
    match frame.kind {
        FrameKind::Loop { header } => b.seal_block(header),
        FrameKind::If {
            else_block,
            else_seen: false,
            head_reachable,
            ..
        } => {
            // No `else`: the false arm passes the parameters straight through.
            b.switch_to_block(else_block);
            if head_reachable {
                let params = block_args(b.block_params(else_block));
                b.ins().jump(frame.next, &params);
            }
        }
        _ => {}
    }
    let reachable = frame.next_branched_to
        || matches!(
            frame.kind,
            FrameKind::If {
                else_seen: false,
                head_reachable: true,
                ..
            }
        );
    state.stack.truncate(frame.stack_base);
    b.switch_to_block(frame.next);
    b.seal_block(frame.next);
    state.stack.extend_from_slice(b.block_params(frame.next));
    state.reachable = reachable;
}

/// Keeps the control stack in step while skipping unreachable code.
pub(super) fn translate_unreachable<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) {
    if matches!(op, Operator::Loop { .. }) {
        // Loops are numbered in body order, reachable or not.
        cx.loops += 1;
    }
    match op {
        Operator::Block { blockty } | Operator::Loop { blockty } | Operator::If { blockty } => {
            // A frame nobody can enter: it only has to pair with its `end`.
            let (_, results) = block_signature(cx.env, *blockty);
            let next = block_with_params(b, &results);
            let placeholder = b.create_block();
            state.control.push(ControlFrame {
                kind: FrameKind::If {
                    else_block: placeholder,
                    else_seen: false,
                    head_reachable: false,
                },
                next,
                num_params: 0,
                num_results: results.len(),
                stack_base: state.stack.len(),
                next_branched_to: false,
            });
        }
        Operator::Else => {
            let head_reachable = matches!(
                state.frame(0).kind,
                FrameKind::If {
                    head_reachable: true,
                    ..
                }
            );
            if head_reachable {
                enter_else(b, state);
            }
        }
        Operator::End => end_frame(b, state),
        _ => {}
    }
}
