//! The function translator: a Wasm operator stream in, Cranelift IR out.
//!
//! Operators are split by family, one file each; this file owns the walk over the
//! body, the locals and the dispatch.

mod atomics;
mod calls;
mod control;
mod conversions;
mod locals;
mod memory;
mod numeric;
mod relaxed_simd;
mod simd;
mod state;
mod tables;
mod variables;

use crate::func_environ::{FuncEnvironment, ir_type};
use crate::tier_up::{load_osr_local, osr_signature};
use cranelift_codegen::ir::{self, Block, Function, InstBuilder, SourceLoc, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use lazuli_environ::{WasmError, WasmFuncType, WasmValType, wasm_val_type};
pub use locals::Locals;
use state::{ControlFrame, FrameKind, FuncState};
use wasmparser::{FuncValidator, FunctionBody, Operator, ValidatorResources};

/// Translates function bodies; reuse one per thread to keep its allocations.
///
/// Every translation starts from clean state, however the previous one ended: a
/// translation takes the scratch out of the translator and only a finished one gives
/// it back, emptied. An error or a panic mid-body drops it instead, and the next
/// translation starts from a fresh one.
#[derive(Default)]
pub struct FuncTranslator {
    scratch: Scratch,
}

/// What one translation works in; empty whenever it is inside a [`FuncTranslator`].
#[derive(Default)]
struct Scratch {
    builder: FunctionBuilderContext,
    state: FuncState,
}

impl Scratch {
    /// The scratch, emptied, after a translation that finished: the builder context
    /// was emptied by `FunctionBuilder::finalize`.
    fn into_reset(mut self) -> Scratch {
        self.state.clear();
        self
    }
}

/// What operator handlers need besides the builder and the stacks.
pub(crate) struct Ctx<'e, E: FuncEnvironment> {
    pub env: &'e mut E,
    /// The callee VMContext: the function's first parameter.
    pub vmctx: Value,
    pub locals: Locals,
    /// `loop`s translated so far (reachable or not).
    pub loops: u32,
    /// For each loop of the body in order, whether another loop is inside it
    /// (empty unless the environment needs loop nesting).
    pub outer_loops: Vec<bool>,
    /// When translating an OSR entry: the loop it starts at, and that loop's
    /// header block, which the entry block already jumps to.
    pub osr: Option<(u32, Block)>,
}

impl FuncTranslator {
    /// Translates `body` (of type `ty`) into `func`, which must have the Wasm
    /// signature of `ty`. With a `validator`, each operator is validated just before
    /// it is translated. With `osr_loop`, `func` becomes the OSR entry at that loop
    /// instead (`tier_up.rs`), and its signature is set here.
    pub fn translate<E: FuncEnvironment>(
        &mut self,
        env: &mut E,
        ty: &WasmFuncType,
        body: &FunctionBody<'_>,
        func: &mut Function,
        validator: Option<&mut FuncValidator<ValidatorResources>>,
        osr_loop: Option<u32>,
    ) -> Result<(), WasmError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        env.begin_function(func);
        let mut b = FunctionBuilder::new(func, &mut scratch.builder);
        let start = Start { ty, osr_loop };
        translate_body(&mut b, &mut scratch.state, env, start, body, validator)?;
        b.finalize(env.isa().frontend_config());
        self.scratch = scratch.into_reset();
        Ok(())
    }
}

/// How a translation starts: the function's type, and the loop an OSR entry
/// starts at.
#[derive(Clone, Copy)]
struct Start<'a> {
    ty: &'a WasmFuncType,
    osr_loop: Option<u32>,
}

/// Reads the types of the body's locals (parameters first), validating their
/// declarations.
fn local_types(
    ty: &WasmFuncType,
    body: &FunctionBody<'_>,
    mut validator: Option<&mut FuncValidator<ValidatorResources>>,
) -> Result<Vec<WasmValType>, WasmError> {
    let mut types = ty.params.to_vec();
    let mut reader = body.get_locals_reader()?;
    for _ in 0..reader.get_count() {
        let offset = reader.original_position();
        let (count, val_ty) = reader.read()?;
        if let Some(v) = validator.as_deref_mut() {
            v.define_locals(offset, count, val_ty)?;
        }
        let wasm_ty = wasm_val_type(val_ty);
        types.extend(std::iter::repeat_n(wasm_ty, count as usize));
    }
    Ok(types)
}

/// Builds the IR of `body` with `b`, from an empty `state`, up to (not including)
/// `finalize`.
fn translate_body<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    env: &mut E,
    start: Start<'_>,
    body: &FunctionBody<'_>,
    mut validator: Option<&mut FuncValidator<ValidatorResources>>,
) -> Result<(), WasmError> {
    let ty = start.ty;
    let types = local_types(ty, body, validator.as_deref_mut())?;
    let ir_types: Vec<ir::Type> = types.iter().map(|t| ir_type(*t)).collect();
    if start.osr_loop.is_some() {
        b.func.signature = osr_signature(ty);
    }
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let params = b.block_params(entry).to_vec();
    let in_frame = env.locals_in_frame().then(|| env.isa().pointer_type());
    let locals = Locals::declare(b, ir_types, in_frame);
    let osr = match start.osr_loop {
        Some(loop_index) => {
            let buffer = env.osr_locals(b, params[0]);
            Some((
                loop_index,
                enter_at_loop(b, env, params[0], &locals, buffer),
            ))
        }
        None => None,
    };
    // The function's own start (unreachable in an OSR entry, whose entry block
    // jumped to the loop): parameters, then zeroed locals.
    for (i, wasm_ty) in types.iter().enumerate() {
        let value = match osr {
            None if i < ty.params.len() => params[i + 2],
            _ => zero_value(b, *wasm_ty),
        };
        locals.set(b, i, value);
    }

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

    env.function_entry(b, params[0]);
    let outer_loops = match env.needs_loop_nesting() {
        true => loops_with_inner_loops(body)?,
        false => Vec::new(),
    };
    let mut cx = Ctx {
        env,
        vmctx: params[0],
        locals,
        loops: 0,
        outer_loops,
        osr,
    };
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        let (op, offset) = ops.read_with_offset()?;
        if let Some(v) = validator.as_deref_mut() {
            v.op(offset, &op)?;
        }
        b.set_srcloc(SourceLoc::new(offset as u32));
        if state.reachable {
            cx.env.before_operator(b, cx.vmctx, &op);
        }
        translate_operator(&op, b, state, &mut cx)
            .map_err(|message| WasmError::new(message, offset))?;
        if state.reachable {
            cx.env.after_operator(b, cx.vmctx, &op);
        }
    }
    ops.finish()?;
    if let Some((loop_index, _)) = cx.osr.filter(|&(index, _)| index >= cx.loops) {
        return Err(WasmError::new(
            format!("no loop {loop_index} to start an OSR entry at"),
            body.range().end,
        ));
    }
    // The final `end` closed the function frame and switched to `exit`.
    if state.reachable {
        let results = state.peekn(ty.results.len()).to_vec();
        cx.env.function_exit(b, cx.vmctx);
        b.ins().return_(&results);
    }
    Ok(())
}

/// For each `loop` of `body` in order, whether another loop is inside it.
fn loops_with_inner_loops(body: &FunctionBody<'_>) -> Result<Vec<bool>, WasmError> {
    let mut outer = Vec::new();
    // The open frames: the index of each open loop, `None` for other frames.
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        match ops.read()? {
            Operator::Loop { .. } => {
                if let Some(enclosing) = open.iter().rev().find_map(|frame| *frame) {
                    outer[enclosing] = true;
                }
                open.push(Some(outer.len()));
                outer.push(false);
            }
            Operator::Block { .. } | Operator::If { .. } => open.push(None),
            Operator::End => {
                open.pop();
            }
            _ => {}
        }
    }
    Ok(outer)
}

/// The entry block of an OSR entry: defines every local (with its type) from the
/// OSR buffer at `buffer`, lets `env` load what it keeps in variables, and jumps
/// to the header of the loop it starts at, which it creates and returns. Leaves
/// the builder in a new block without predecessors, where the function's own
/// start is translated (and later removed).
fn enter_at_loop<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    env: &mut E,
    vmctx: Value,
    locals: &Locals,
    buffer: Value,
) -> Block {
    for (i, ty) in locals.types().iter().enumerate() {
        let value = load_osr_local(b, buffer, i as u32, *ty);
        locals.set(b, i, value);
    }
    env.enter_at_loop(b, vmctx);
    let header = b.create_block();
    b.ins().jump(header, &[]);
    let unreachable_start = b.create_block();
    b.switch_to_block(unreachable_start);
    b.seal_block(unreachable_start);
    header
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
    let handled = control::translate(op, b, state, cx)?
        || variables::translate(op, b, state, cx)
        || calls::translate(op, b, state, cx)
        || numeric::translate(op, b, state)
        || conversions::translate(op, b, state)
        || memory::translate(op, b, state, cx)
        || atomics::translate(op, b, state, cx)
        || tables::translate(op, b, state, cx)
        || simd::translate(op, b, state, cx)
        || relaxed_simd::translate(op, b, state, cx);
    if handled {
        Ok(())
    } else {
        Err(format!("unsupported operator {op:?}"))
    }
}

/// The zero value of a Wasm type, used to initialise locals: null for references,
/// non-nullable ones included, which validation proves are set before they are
/// read (and the OSR buffer carries the value they have, set or not).
fn zero_value(b: &mut FunctionBuilder<'_>, ty: WasmValType) -> Value {
    use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
    use cranelift_codegen::ir::types;
    match ty {
        WasmValType::I32 => b.ins().iconst(types::I32, 0),
        WasmValType::I64 | WasmValType::FuncRef | WasmValType::ExternRef | WasmValType::Ref(_) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CompilerOptions;
    use crate::func_environ::{ModuleEnvironment, wasm_signature};
    use cranelift_codegen::ir::UserFuncName;
    use lazuli_environ::{ModuleInfo, WasmFuncType, translate_module};
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use wasmparser::{BinaryReader, WasmFeatures};

    /// Function 0 is invalid inside a block and a loop, function 1 is valid, and
    /// function 2 reaches a `call_indirect` inside open frames:
    ///
    /// ```wat
    /// (module (table 1 funcref)
    ///   (func (result i32)
    ///     (block (result i32) (loop (result i32)
    ///       (i32.const 1) (i32.const 2) (i32.add) (i64.add))))
    ///   (func (param i32) (result i32) (local i32)
    ///     (local.set 1 (i32.const 40))
    ///     (if (result i32) (local.get 0)
    ///       (then (i32.add (local.get 1) (i32.const 2)))
    ///       (else (i32.const 7))))
    ///   (func (result i32)
    ///     (block (result i32) (loop (result i32)
    ///       (call_indirect (result i32) (i32.const 0))))))
    /// ```
    const MODULE: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
        0x01, 0x0a, 0x02, 0x60, 0x00, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, // types
        0x03, 0x04, 0x03, 0x00, 0x01, 0x00, // functions
        0x04, 0x04, 0x01, 0x70, 0x00, 0x01, // table
        0x0a, 0x34, 0x03, // code
        0x0e, 0x00, 0x02, 0x7f, 0x03, 0x7f, 0x41, 0x01, 0x41, 0x02, 0x6a, 0x7c, 0x0b, 0x0b,
        0x0b, // function 0
        0x15, 0x01, 0x01, 0x7f, 0x41, 0x28, 0x21, 0x01, 0x20, 0x00, 0x04, 0x7f, 0x20, 0x01, 0x41,
        0x02, 0x6a, 0x05, 0x41, 0x07, 0x0b, 0x0b, // function 1
        0x0d, 0x00, 0x02, 0x7f, 0x03, 0x7f, 0x41, 0x00, 0x11, 0x00, 0x00, 0x0b, 0x0b,
        0x0b, // function 2
    ];

    /// Translates defined function `defined` of `info` (with lazy validation) and
    /// prints its IR.
    fn translate(
        translator: &mut FuncTranslator,
        bytes: &[u8],
        info: &ModuleInfo,
        defined: u32,
    ) -> Result<String, WasmError> {
        translate_as(translator, bytes, info, defined, info.func_type(defined))
    }

    /// [`translate`] with the function's type `ty` given, so that `info` may lack
    /// types the body uses, to make the translator panic.
    fn translate_as(
        translator: &mut FuncTranslator,
        bytes: &[u8],
        info: &ModuleInfo,
        defined: u32,
        ty: &WasmFuncType,
    ) -> Result<String, WasmError> {
        let isa = crate::host_isa(crate::Tier::Optimized, &crate::IsaSettings::new(true))
            .expect("host ISA");
        let options = CompilerOptions::default();
        let mut env = ModuleEnvironment::new(info, &*isa, options);
        let range = info.bodies[defined as usize].range.clone();
        let body = FunctionBody::new(BinaryReader::new(&bytes[range.clone()], range.start as u64));
        let name = UserFuncName::user(0, defined);
        let mut func = Function::with_name_signature(name, wasm_signature(ty));
        let mut validator = info.func_validator(defined);
        translator.translate(&mut env, ty, &body, &mut func, validator.as_mut(), None)?;
        Ok(func.display().to_string())
    }

    fn module() -> (&'static [u8], ModuleInfo) {
        let info = translate_module(MODULE, WasmFeatures::WASM2).expect("valid module");
        (MODULE, info)
    }

    #[test]
    fn a_translation_after_a_failed_one_starts_from_clean_state() {
        let (bytes, info) = module();
        let fresh = translate(&mut FuncTranslator::default(), bytes, &info, 1);
        let mut translator = FuncTranslator::default();
        let err = translate(&mut translator, bytes, &info, 0).unwrap_err();
        assert!(err.to_string().contains("type mismatch"), "{err}");
        let after = translate(&mut translator, bytes, &info, 1);
        assert_eq!(after.unwrap(), fresh.unwrap());
    }

    #[test]
    fn a_translation_after_a_panic_starts_from_clean_state() {
        let (bytes, info) = module();
        let fresh = translate(&mut FuncTranslator::default(), bytes, &info, 1);
        let mut translator = FuncTranslator::default();
        let ty = info.func_type(2).clone();
        let (_, mut without_types) = module();
        without_types.types.clear();
        let panic = catch_unwind(AssertUnwindSafe(|| {
            translate_as(&mut translator, bytes, &without_types, 2, &ty)
        }));
        assert!(panic.is_err(), "no type for the call_indirect");
        let after = translate(&mut translator, bytes, &info, 1);
        assert_eq!(after.unwrap(), fresh.unwrap());
    }
}
