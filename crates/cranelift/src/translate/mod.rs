//! The function translator: a Wasm operator stream in, Cranelift IR out.
//!
//! Operators are split by family, one file each; this file owns the walk over the
//! body, the locals and the dispatch.

mod calls;
mod control;
mod conversions;
mod memory;
mod numeric;
mod simd;
mod state;
mod tables;
mod variables;

use crate::func_environ::{FuncEnvironment, ir_type};
use cranelift_codegen::ir::{Function, InstBuilder, SourceLoc, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use lazuli_environ::{WasmError, WasmFuncType, WasmValType, wasm_val_type};
use state::{ControlFrame, FrameKind, FuncState};
use wasmparser::{FuncValidator, FunctionBody, Operator, ValidatorResources};

/// Translates function bodies; reuse one per thread to keep its allocations.
#[derive(Default)]
pub struct FuncTranslator {
    ctx: FunctionBuilderContext,
    state: FuncState,
}

/// What operator handlers need besides the builder and the stacks.
pub(crate) struct Ctx<'e, E: FuncEnvironment> {
    pub env: &'e mut E,
    /// The callee VMContext: the function's first parameter.
    pub vmctx: Value,
    pub locals: Vec<Variable>,
}

impl FuncTranslator {
    /// Translates `body` (of type `ty`) into `func`, which must have the Wasm
    /// signature of `ty`. With a `validator`, each operator is validated just before
    /// it is translated.
    pub fn translate<E: FuncEnvironment>(
        &mut self,
        env: &mut E,
        ty: &WasmFuncType,
        body: &FunctionBody<'_>,
        func: &mut Function,
        mut validator: Option<&mut FuncValidator<ValidatorResources>>,
    ) -> Result<(), WasmError> {
        env.begin_function(func);
        let mut b = FunctionBuilder::new(func, &mut self.ctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();

        let mut locals = Vec::new();
        for (i, wasm_ty) in ty.params.iter().enumerate() {
            let var = b.declare_var(ir_type(*wasm_ty));
            b.def_var(var, params[i + 2]);
            locals.push(var);
        }
        let mut reader = body.get_locals_reader()?;
        for _ in 0..reader.get_count() {
            let offset = reader.original_position();
            let (count, val_ty) = reader.read()?;
            if let Some(v) = validator.as_deref_mut() {
                v.define_locals(offset, count, val_ty)?;
            }
            let wasm_ty = wasm_val_type(val_ty);
            for _ in 0..count {
                let var = b.declare_var(ir_type(wasm_ty));
                let zero = zero_value(&mut b, wasm_ty);
                b.def_var(var, zero);
                locals.push(var);
            }
        }

        let state = &mut self.state;
        state.stack.clear();
        state.control.clear();
        state.reachable = true;
        let exit = b.create_block();
        for result in ty.results.iter() {
            b.append_block_param(exit, ir_type(*result));
        }
        state.control.push(ControlFrame {
            kind: FrameKind::Block,
            next: exit,
            num_params: 0,
            num_results: ty.results.len(),
            stack_base: 0,
            next_branched_to: false,
        });

        let mut cx = Ctx {
            env,
            vmctx: params[0],
            locals,
        };
        let mut ops = body.get_operators_reader()?;
        while !ops.eof() {
            let (op, offset) = ops.read_with_offset()?;
            if let Some(v) = validator.as_deref_mut() {
                v.op(offset, &op)?;
            }
            b.set_srcloc(SourceLoc::new(offset as u32));
            translate_operator(&op, &mut b, state, &mut cx)
                .map_err(|message| WasmError::new(message, offset))?;
        }
        ops.finish()?;
        // The final `end` closed the function frame and switched to `exit`.
        if state.reachable {
            let results = state.peekn(ty.results.len()).to_vec();
            b.ins().return_(&results);
        }
        b.finalize(cx.env.isa().frontend_config());
        Ok(())
    }
}

/// Translates one operator; the error names an operator Lazuli cannot compile.
fn translate_operator<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> Result<(), String> {
    if !state.reachable {
        control::translate_unreachable(op, b, state, cx);
        return Ok(());
    }
    let handled = control::translate(op, b, state, cx)
        || variables::translate(op, b, state, cx)
        || calls::translate(op, b, state, cx)
        || numeric::translate(op, b, state)
        || conversions::translate(op, b, state)
        || memory::translate(op, b, state, cx)
        || tables::translate(op, b, state, cx)
        || simd::translate(op, b, state, cx);
    if handled {
        Ok(())
    } else {
        Err(format!("unsupported operator {op:?}"))
    }
}

/// The zero value of a Wasm type, used to initialise locals.
fn zero_value(b: &mut FunctionBuilder<'_>, ty: WasmValType) -> Value {
    use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
    use cranelift_codegen::ir::types;
    match ty {
        WasmValType::I32 => b.ins().iconst(types::I32, 0),
        WasmValType::I64 | WasmValType::FuncRef | WasmValType::ExternRef => {
            b.ins().iconst(types::I64, 0)
        }
        WasmValType::F32 => b.ins().f32const(Ieee32::with_bits(0)),
        WasmValType::F64 => b.ins().f64const(Ieee64::with_bits(0)),
        WasmValType::V128 => {
            let zero = b.ins().iconst(types::I64, 0);
            let v = b.ins().splat(types::I64X2, zero);
            b.ins().bitcast(
                types::I8X16,
                cranelift_codegen::ir::MemFlagsData::new()
                    .with_endianness(cranelift_codegen::ir::Endianness::Little),
                v,
            )
        }
    }
}
