//! Trampolines between the host's calling convention and Wasm's.
//!
//! Values cross in an array of 16-byte `ValRaw` slots: slot `i` holds argument `i`
//! on the way in and result `i` on the way out, stored little-endian at the slot's
//! start.

use crate::func_environ::{ir_type, wasm_signature};
use crate::trap::trap_code;
use cranelift_codegen::ir::{
    AbiParam, Function, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, Value,
    types,
};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use lazuli_environ::{TrapKind, VMOffsets, WasmFuncType, host_ctx};

/// Size of one `ValRaw` slot.
const SLOT: u32 = VMOffsets::VAL_RAW_SIZE;

fn slot_flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Starts the function's only block; returns its parameters.
fn entry_block(b: &mut FunctionBuilder<'_>) -> Vec<Value> {
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    b.block_params(block).to_vec()
}

/// `extern "C" fn(callee_vmctx, caller_vmctx, wasm_code, values)`.
pub fn array_to_wasm(func: &mut Function, ty: &WasmFuncType, isa: &dyn TargetIsa) {
    let mut sig = Signature::new(isa.default_call_conv());
    sig.params.extend([AbiParam::new(types::I64); 4]);
    func.signature = sig;
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(func, &mut ctx);
    let [callee_vmctx, caller_vmctx, code, values] = entry_block(&mut b)[..] else {
        unreachable!("the signature has four parameters")
    };
    let mut args = vec![callee_vmctx, caller_vmctx];
    for (i, t) in ty.params.iter().enumerate() {
        args.push(
            b.ins()
                .load(ir_type(*t), slot_flags(), values, (i as u32 * SLOT) as i32),
        );
    }
    let wasm_sig = b.import_signature(wasm_signature(ty));
    let call = b.ins().call_indirect(wasm_sig, code, &args);
    let results = b.inst_results(call).to_vec();
    for (i, r) in results.into_iter().enumerate() {
        b.ins()
            .store(slot_flags(), r, values, (i as u32 * SLOT) as i32);
    }
    b.ins().return_(&[]);
    b.finalize(isa.frontend_config());
}

/// A function with `ty`'s Wasm signature that calls the host through the shim in
/// its callee vmctx (a `VMHostContext`).
pub fn wasm_to_host(func: &mut Function, ty: &WasmFuncType, isa: &dyn TargetIsa) {
    func.signature = wasm_signature(ty);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(func, &mut ctx);
    let params = entry_block(&mut b);
    let (host_vmctx, caller_vmctx) = (params[0], params[1]);
    let len = ty.params.len().max(ty.results.len()).max(1) as u32;
    let slot = b.create_sized_stack_slot(StackSlotData::new(
        StackSlotKind::ExplicitSlot,
        len * SLOT,
        4,
    ));
    let values = b.ins().stack_addr(types::I64, slot, 0);
    for (i, v) in params[2..].iter().enumerate() {
        b.ins()
            .store(slot_flags(), *v, values, (i as u32 * SLOT) as i32);
    }
    let mut shim_sig = Signature::new(isa.default_call_conv());
    shim_sig.params.extend([AbiParam::new(types::I64); 4]);
    shim_sig.returns.push(AbiParam::new(types::I32));
    let shim_sig = b.import_signature(shim_sig);
    let shim = b.ins().load(
        types::I64,
        MemFlagsData::trusted().with_readonly(),
        host_vmctx,
        host_ctx::SHIM as i32,
    );
    let len = b.ins().iconst(types::I64, i64::from(len));
    let call = b
        .ins()
        .call_indirect(shim_sig, shim, &[host_vmctx, caller_vmctx, values, len]);
    let ok = b.inst_results(call)[0];
    b.ins().trapz(ok, trap_code(TrapKind::HostError));
    let results: Vec<_> = ty
        .results
        .iter()
        .enumerate()
        .map(|(i, t)| {
            b.ins()
                .load(ir_type(*t), slot_flags(), values, (i as u32 * SLOT) as i32)
        })
        .collect();
    b.ins().return_(&results);
    b.finalize(isa.frontend_config());
}
