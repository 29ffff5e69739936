//! What fast-tier code does for tier-up: count calls and loop iterations down
//! from the budget in the function's dispatch slot, and, at a loop that can be
//! entered from elsewhere, leave for optimised code compiled to start at that
//! loop (on-stack replacement, OSR).
//!
//! An *OSR entry* of function `f` at loop `n` is `f` compiled by the optimising
//! tier with the signature [`osr_signature`]: `(callee_vmctx, caller_vmctx) ->
//! results of f`. Its entry block loads every local from the store context's
//! `OSR_LOCALS` buffer and jumps to loop `n`'s header; the code from `f`'s own
//! start is unreachable and removed. The fast code, whose state at that header
//! is its locals alone (kept in its frame with that buffer's layout,
//! `translate/locals.rs`), copies them there and tail-calls it: the optimised code
//! finishes the activation and returns to `f`'s caller. (Passing the locals as
//! arguments instead made every frame of such a function larger by their size,
//! since a tail call's stack arguments live in its caller's frame: python3.11's
//! interpreter loop recursed 12% less deep before the stack limit.)

use crate::func_environ::{call_builtin, readonly, trusted};
use crate::interrupt::Interrupts;
use crate::translate::Locals;
use cranelift_codegen::ir::{
    self, AbiParam, ArgumentPurpose, Block, InstBuilder, Signature, Value, condcodes::IntCC, types,
};
use cranelift_codegen::isa::{CallConv, TargetIsa};
use cranelift_frontend::FunctionBuilder;
use lazuli_environ::{Builtin, VMOffsets, WasmFuncType, store_ctx};

use crate::func_environ::ir_type;

/// Loops of functions with more locals than the store context's buffer holds are
/// not entered from the fast code; such functions still tier up for their next
/// call.
pub const MAX_OSR_LOCALS: usize = store_ctx::OSR_MAX_LOCALS as usize;

/// How far past its budget a function runs in an innermost loop nested in
/// another loop before that loop asks for an OSR entry. Entered at its own
/// header, such a loop shares it with the loops around it (the OSR entry reaches
/// their headers only through it), so the optimiser sees one loop and cannot
/// hoist what the inner loop computes once per outer iteration out of it:
/// entered at nbody's inner loop the run took 1.5 times the optimising tier's
/// time, at matmul's 1.4 times. A loop with a loop inside it, entered instead,
/// keeps the inner loop a loop of its own. Only an innermost loop that runs this
/// long without the loop around it coming round again is entered itself.
pub const NESTED_OSR_LAG: i32 = 50_000;

/// Decrements the budget of defined function `defined` in its dispatch slot and
/// branches once it is at or below `floor` (0, or `-NESTED_OSR_LAG`): returns the
/// (cold, sealed) block entered when it is used up and the
/// block where the function goes on, which the caller seals once the cold path
/// has branched to it; the builder is left at neither.
/// The decrement is a plain load and store: threads running the function at once
/// may lose a count, which only delays tier-up.
pub fn count_down(
    b: &mut FunctionBuilder<'_>,
    vmctx: Value,
    defined: u32,
    floor: i32,
) -> (Block, Block) {
    let slots = b
        .ins()
        .load(types::I64, readonly(), vmctx, VMOffsets::FUNC_SLOTS as i32);
    let offset = (VMOffsets::func_slot(defined) + VMOffsets::FUNC_SLOT_BUDGET) as i32;
    let budget = b.ins().load(types::I32, trusted(), slots, offset);
    let left = b.ins().iadd_imm_s(budget, -1);
    b.ins().store(trusted(), left, slots, offset);
    let used_up = b
        .ins()
        .icmp_imm_s(IntCC::SignedLessThanOrEqual, left, i64::from(floor));
    let (cold, go_on) = (b.create_block(), b.create_block());
    b.ins().brif(used_up, cold, &[], go_on, &[]);
    b.set_cold_block(cold);
    b.seal_block(cold);
    (cold, go_on)
}

/// A loop the fast code may leave for an OSR entry.
pub struct OsrSite<'a, 'i> {
    pub func_index: u32,
    pub loop_index: u32,
    /// Whether the loop is an innermost loop inside another (see
    /// [`NESTED_OSR_LAG`]).
    pub nested: bool,
    /// The function's locals, in the frame.
    pub locals: &'a Locals,
    /// [`osr_signature`] of the function.
    pub signature: Signature,
    /// Where the VMContext holds its store context pointer.
    pub store_ctx: u32,
    /// The function's fuel and epoch checks: the fuel count is written back
    /// before the OSR entry takes over.
    pub interrupts: &'a mut Interrupts<'i>,
}

/// Counts one iteration of the loop at `site`; when the budget is used up, asks
/// the `OsrEntry` builtin for the function's OSR entry at this loop and, if it
/// has one, copies the locals (which must be in the frame) to the `OSR_LOCALS`
/// buffer and tail-calls it. Without one (not compiled yet) the
/// loop goes on, and the builtin has set a budget after which it asks again.
pub fn count_then_enter(
    b: &mut FunctionBuilder<'_>,
    isa: &dyn TargetIsa,
    vmctx: Value,
    defined: u32,
    site: &mut OsrSite<'_, '_>,
) {
    let floor = if site.nested { -NESTED_OSR_LAG } else { 0 };
    let (used_up, go_on) = count_down(b, vmctx, defined, floor);
    b.switch_to_block(used_up);
    let func = b.ins().iconst(types::I32, i64::from(site.func_index));
    let loop_index = b.ins().iconst(types::I32, i64::from(site.loop_index));
    let code = call_builtin(b, isa, vmctx, Builtin::OsrEntry, &[func, loop_index]);
    let enter = b.create_block();
    b.set_cold_block(enter);
    b.ins().brif(code, enter, &[], go_on, &[]);
    b.seal_block(enter);
    b.switch_to_block(enter);
    let buffer = osr_locals(b, vmctx, site.store_ctx);
    site.locals.copy_to(b, buffer);
    site.interrupts.before_leaving(b, vmctx);
    let sig = b.import_signature(site.signature.clone());
    b.ins().return_call_indirect(sig, code, &[vmctx, vmctx]);
    b.switch_to_block(go_on);
    b.seal_block(go_on);
}

/// The address of the `OSR_LOCALS` buffer of the store of `vmctx`, whose store
/// context pointer is at `store_ctx` in it.
pub fn osr_locals(b: &mut FunctionBuilder<'_>, vmctx: Value, store_ctx: u32) -> Value {
    let store = b
        .ins()
        .load(types::I64, readonly(), vmctx, store_ctx as i32);
    b.ins().iadd_imm_s(store, i64::from(store_ctx::OSR_LOCALS))
}

/// Loads local `slot` (of type `ty`) from the `OSR_LOCALS` buffer at `buffer`.
pub fn load_osr_local(
    b: &mut FunctionBuilder<'_>,
    buffer: Value,
    slot: u32,
    ty: ir::Type,
) -> Value {
    let offset = (slot * store_ctx::OSR_LOCAL_SIZE) as i32;
    b.ins().load(ty, trusted(), buffer, offset)
}

/// The signature of an OSR entry of a function of type `ty`.
pub fn osr_signature(ty: &WasmFuncType) -> Signature {
    let mut sig = Signature::new(CallConv::Tail);
    sig.params
        .push(AbiParam::special(types::I64, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(types::I64));
    sig.returns
        .extend(ty.results.iter().map(|t| AbiParam::new(ir_type(*t))));
    sig
}
