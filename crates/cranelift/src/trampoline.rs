//! Trampolines between the host's calling convention and Wasm's.
//!
//! Values cross in an array of 16-byte `ValRaw` slots: slot `i` holds argument `i`
//! on the way in and result `i` on the way out, stored little-endian at the slot's
//! start.

use crate::func_environ::{call_builtin, ir_type, wasm_signature};
use crate::trap::trap_code;
use cranelift_codegen::ir::{
    AbiParam, ExternalName, Function, GlobalValueData, InstBuilder, MemFlagsData, Signature,
    StackSlotData, StackSlotKind, UserExternalName, Value, types,
};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use lazuli_environ::{Builtin, TrapKind, VMOffsets, WasmFuncType, host_ctx};

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
/// its callee vmctx (a `VMHostContext`), passing it its own frame pointer.
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
    shim_sig.params.extend([AbiParam::new(types::I64); 5]);
    shim_sig.returns.push(AbiParam::new(types::I32));
    let shim_sig = b.import_signature(shim_sig);
    let shim = b.ins().load(
        types::I64,
        MemFlagsData::trusted().with_readonly(),
        host_vmctx,
        host_ctx::SHIM as i32,
    );
    let len = b.ins().iconst(types::I64, i64::from(len));
    // Where the host's backtraces start walking the Wasm frames that called it.
    let exit_fp = b.ins().get_frame_pointer(types::I64);
    let call = b.ins().call_indirect(
        shim_sig,
        shim,
        &[host_vmctx, caller_vmctx, values, len, exit_fp],
    );
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

/// The relocation namespace of the function index a lazy-compile stub carries.
pub const STUB_INDEX_NAMESPACE: u32 = 1;

/// The lazy-compile stub template for `ty`: a function with `ty`'s Wasm signature
/// that calls the `LazyCompile` builtin with its callee vmctx and its function
/// index, then tail-calls the code the builtin returns with its own arguments (or
/// traps with `HostError` if compiling failed). The index is the target of its one
/// relocation (`Abs8`, namespace [`STUB_INDEX_NAMESPACE`]): the template is copied
/// once per function with that function's index patched in, so a module gets a stub
/// per function without compiling one.
pub fn lazy_stub(func: &mut Function, ty: &WasmFuncType, isa: &dyn TargetIsa) {
    func.signature = wasm_signature(ty);
    let index_name = func.declare_imported_user_function(UserExternalName {
        namespace: STUB_INDEX_NAMESPACE,
        index: 0,
    });
    let index = func.create_global_value(GlobalValueData::Symbol {
        name: ExternalName::User(index_name),
        offset: 0.into(),
        colocated: false,
        tls: false,
    });
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(func, &mut ctx);
    let params = entry_block(&mut b);
    let index = b.ins().symbol_value(types::I64, index);
    let index = b.ins().ireduce(types::I32, index);
    let code = call_builtin(&mut b, isa, params[0], Builtin::LazyCompile, &[index]);
    b.ins().trapz(code, trap_code(TrapKind::HostError));
    let sig = b.import_signature(wasm_signature(ty));
    b.ins().return_call_indirect(sig, code, &params);
    b.finalize(isa.frontend_config());
}

#[cfg(test)]
mod tests {
    use super::*;
    use cranelift_codegen::control::ControlPlane;
    use cranelift_codegen::ir::UserFuncName;
    use cranelift_codegen::settings::{self, Configurable};
    use cranelift_codegen::{Context, FinalizedRelocTarget, binemit::Reloc};
    use lazuli_environ::WasmValType::{F32, F64, I32, I64, V128};
    use std::str::FromStr;

    fn isa(triple: &str) -> cranelift_codegen::isa::OwnedTargetIsa {
        let mut flags = settings::builder();
        flags.set("preserve_frame_pointers", "true").unwrap();
        flags.set("opt_level", "speed").unwrap();
        cranelift_codegen::isa::lookup(target_lexicon::Triple::from_str(triple).unwrap())
            .unwrap()
            .finish(settings::Flags::new(flags))
            .unwrap()
    }

    /// Compiles the stub for `ty`; returns its size after checking that its one
    /// relocation is the function index and that it has a `HostError` trap site.
    fn compiled_stub(isa: &dyn TargetIsa, ty: &WasmFuncType) -> usize {
        let mut ctx = Context::for_function(Function::with_name_signature(
            UserFuncName::default(),
            Signature::new(isa.default_call_conv()),
        ));
        lazy_stub(&mut ctx.func, ty, isa);
        assert_eq!(ctx.func.signature, wasm_signature(ty));
        let names = ctx.func.params.user_named_funcs().clone();
        let compiled = ctx.compile(isa, &mut ControlPlane::default()).unwrap();
        let relocs = compiled.buffer.relocs();
        assert_eq!(relocs.len(), 1, "{relocs:?}");
        assert_eq!(relocs[0].kind, Reloc::Abs8);
        let FinalizedRelocTarget::ExternalName(ExternalName::User(name)) = relocs[0].target else {
            panic!("unexpected target {:?}", relocs[0].target)
        };
        assert_eq!(names[name].namespace, STUB_INDEX_NAMESPACE);
        assert!(
            compiled
                .buffer
                .traps()
                .iter()
                .any(|t| t.code == trap_code(TrapKind::HostError))
        );
        compiled.buffer.data().len()
    }

    /// The stub is signature-correct and small on both targets, whatever the
    /// signature: a tail call passes every argument on, in registers or on the stack.
    #[test]
    fn lazy_stubs_carry_the_index_and_stay_small() {
        let many = WasmFuncType {
            params: [I32, I64, F32, F64, V128].repeat(4).into(),
            results: [I64, F64].into(),
        };
        for triple in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
            let isa = isa(triple);
            let empty = compiled_stub(&*isa, &WasmFuncType::default());
            let large = compiled_stub(&*isa, &many);
            assert!(empty <= 96, "{triple}: {empty} bytes for () -> ()");
            assert!(large <= 1024, "{triple}: {large} bytes for 20 parameters");
            eprintln!("{triple}: stub for () -> () {empty} bytes, for 20 parameters {large} bytes");
        }
    }
}
