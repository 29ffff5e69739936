//! The boundary between the translator and the runtime: everything whose IR depends
//! on the VMContext layout, on how calls are dispatched or on how memories are
//! guarded is asked of a [`FuncEnvironment`].

use crate::compiler::CompilerOptions;
use crate::heap::Heap;
use crate::interrupt::Interrupts;
use crate::tier_up;
use crate::translate::Locals;
use crate::trap::trap_code;
use cranelift_codegen::ir::{
    self, AbiParam, ArgumentPurpose, ExtFuncData, ExternalName, Function, GlobalValue,
    GlobalValueData, InstBuilder, MemFlagsData, Signature, UserExternalName, Value,
    condcodes::IntCC, types,
};
use cranelift_codegen::isa::{CallConv, TargetIsa};
use cranelift_frontend::FunctionBuilder;
use lazuli_environ::{
    Builtin, BuiltinType, GROW_LIMITER_FAILED, ModuleInfo, TrapKind, VMOffsets, WasmFuncType,
    WasmValType, store_ctx,
};
use wasmparser::{MemArg, MemArgTarget, Operator};

/// The runtime-dependent half of translation.
pub trait FuncEnvironment {
    /// The module whose function is being translated.
    fn module(&self) -> &ModuleInfo;

    /// The target the code is for.
    fn isa(&self) -> &dyn TargetIsa;

    /// Prepares a new function: its VMContext global value and stack-limit check.
    fn begin_function(&mut self, func: &mut Function);

    /// Emits what runs once per call, after the locals are initialised and before
    /// the body: the fuel and epoch checks and the count of calls (tier-up).
    /// Must leave `b` in a block that falls through to the body.
    fn function_entry(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value);

    /// Emits what runs before the function returns (its one `return`, at the
    /// end of the body): writing the fuel count back.
    fn function_exit(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value);

    /// Emits what runs before reachable operator `op` is translated (fuel
    /// accounting).
    fn before_operator(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, op: &Operator<'_>);

    /// Emits what runs after operator `op`, when the code after it is reachable
    /// (reloading the fuel count after a call).
    fn after_operator(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, op: &Operator<'_>);

    /// Emits what an OSR entry's entry block runs once it has loaded the locals
    /// and before it jumps to its loop: loading the state the function keeps in
    /// variables (the fuel count) that the code leaving for it wrote back.
    fn enter_at_loop(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value);

    /// Emits what runs at the top of every iteration of a loop, in the loop's header
    /// block before its body (every `br` to the loop runs it): the same hook as
    /// [`FuncEnvironment::function_entry`], for loops. `header` says which loop,
    /// and whether it can be entered from other code (on-stack replacement).
    fn loop_header(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, header: LoopHeader<'_>);

    /// Whether the function's locals live in stack slots rather than SSA variables
    /// (`translate/locals.rs`).
    fn locals_in_frame(&self) -> bool;

    /// Whether relaxed SIMD operators must give the same results on every platform
    /// (`translate/relaxed_simd.rs`).
    fn relaxed_simd_deterministic(&self) -> bool;

    /// Whether [`LoopHeader::innermost`] must be known (it costs a pass over the
    /// body before translation).
    fn needs_loop_nesting(&self) -> bool;

    /// The address of the buffer (in the store context of `vmctx`) through which
    /// fast-tier code hands its locals to an OSR entry, 16 bytes per local.
    fn osr_locals(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) -> Value;

    /// Reads global `index`.
    fn global_get(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, index: u32) -> Value;

    /// Writes global `index`.
    fn global_set(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, index: u32, v: Value);

    /// Calls function `callee` directly and returns its results; a
    /// [`CallKind::Tail`] call returns its results to this function's caller
    /// instead and gives none.
    fn call(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        callee: u32,
        args: &[Value],
        kind: CallKind,
    ) -> Vec<Value>;

    /// `call_indirect` through `table` with the module's type `type_index`
    /// (`return_call_indirect` with [`CallKind::Tail`]). The null and
    /// signature checks come before this function's frame is gone.
    #[allow(clippy::too_many_arguments)]
    fn call_indirect(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        table: u32,
        type_index: u32,
        callee: Value,
        args: &[Value],
        kind: CallKind,
    ) -> Vec<Value>;

    /// `call_ref` of funcref `callee` with the module's type `type_index`
    /// (`return_call_ref` with [`CallKind::Tail`]), trapping on null before this
    /// function's frame is gone. Validation proved the callee has that type.
    fn call_ref(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        type_index: u32,
        callee: Value,
        args: &[Value],
        kind: CallKind,
    ) -> Vec<Value>;

    /// The native address of a `size`-byte access at `index` + `memarg.offset`, with
    /// the flags the access must carry (its trap code among them).
    fn memory_address(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        memarg: &MemArg,
        index: Value,
        size: u8,
    ) -> (Value, MemFlagsData);

    /// Calls a runtime builtin with the VMContext prepended to `args`.
    fn builtin(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        builtin: Builtin,
        args: &[Value],
    ) -> Value;

    /// The address of this instance's funcref for function `func` (`ref.func`).
    fn func_ref(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, func: u32) -> Value;

    /// The address of element `index` of `table`, trapping if out of bounds.
    fn table_element(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        table: u32,
        index: Value,
    ) -> Value;

    /// `table.size`.
    fn table_size(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, table: u32) -> Value;

    /// `memory.size` in pages.
    fn memory_size(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, memory: u32) -> Value;

    /// `memory.grow`: the old size in pages, or -1.
    fn memory_grow(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        memory: u32,
        delta: Value,
    ) -> Value;
}

/// A loop header, as the translator describes it to
/// [`FuncEnvironment::loop_header`].
#[derive(Clone, Copy)]
pub struct LoopHeader<'a> {
    /// The loop's index among the function's reachable loops, in body order.
    pub index: u32,
    /// Whether the loop is inside another loop.
    pub nested: bool,
    /// Whether no loop is inside it (known only when
    /// [`FuncEnvironment::needs_loop_nesting`]; true otherwise).
    pub innermost: bool,
    /// When the operand stack is empty where the loop starts and the loop has no
    /// parameters, the function's whole state at its header is its locals. Code
    /// compiled to start at this header can then take over from the code running
    /// it.
    pub locals: Option<&'a Locals>,
}

/// The Cranelift type of a Wasm value.
pub fn ir_type(ty: WasmValType) -> ir::Type {
    match ty {
        WasmValType::I32 => types::I32,
        WasmValType::I64 => types::I64,
        WasmValType::F32 => types::F32,
        WasmValType::F64 => types::F64,
        WasmValType::V128 => types::I8X16,
        WasmValType::FuncRef | WasmValType::ExternRef | WasmValType::Ref(_) => types::I64,
    }
}

/// The native signature of a Wasm function: `(callee_vmctx, caller_vmctx, params…)`.
pub fn wasm_signature(ty: &WasmFuncType) -> Signature {
    let mut sig = Signature::new(CallConv::Tail);
    sig.params
        .push(AbiParam::special(types::I64, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(types::I64));
    sig.params
        .extend(ty.params.iter().map(|t| AbiParam::new(ir_type(*t))));
    sig.returns
        .extend(ty.results.iter().map(|t| AbiParam::new(ir_type(*t))));
    sig
}

/// Flags for loads and stores of VMContext fields and runtime records, which are
/// always aligned and never trap.
pub(crate) fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Flags for VMContext fields that never change once the instance exists.
pub(crate) fn readonly() -> MemFlagsData {
    MemFlagsData::trusted().with_readonly().with_can_move()
}

/// Whether a call returns here or replaces the calling function's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `call`: the callee returns its results to the call.
    Normal,
    /// `return_call`: the callee returns its results to this function's caller,
    /// and runs in this function's stack space (a tail call).
    Tail,
}

/// The relocation namespace for calls to defined functions.
pub const FUNC_NAMESPACE: u32 = 0;

/// [`FuncEnvironment`] for Lazuli's runtime: reads the layout from [`VMOffsets`].
pub struct ModuleEnvironment<'a> {
    module: &'a ModuleInfo,
    offsets: VMOffsets,
    isa: &'a dyn TargetIsa,
    /// Whether memories are guarded by a reservation (no explicit bounds checks).
    guarded_memories: bool,
    /// Whether calls to defined functions go through the module's dispatch slots
    /// (lazy compilation, tier-up) rather than direct relocated calls.
    slot_calls: bool,
    /// Whether the function counts its calls and loop iterations for tier-up.
    tier_up_counters: bool,
    /// Whether locals live in stack slots.
    locals_in_frame: bool,
    /// Whether relaxed SIMD takes its deterministic forms.
    relaxed_simd_deterministic: bool,
    /// The defined function being translated, if known (the counters need it).
    defined: Option<u32>,
    /// The defined functions called directly so far, each once.
    callees: Vec<u32>,
    /// Fuel and epoch checks.
    interrupts: Interrupts<'a>,
}

impl<'a> ModuleEnvironment<'a> {
    pub fn new(module: &'a ModuleInfo, isa: &'a dyn TargetIsa, options: CompilerOptions) -> Self {
        let offsets = VMOffsets::new(module);
        ModuleEnvironment {
            module,
            offsets,
            interrupts: Interrupts::new(isa, &options, offsets.store_ctx()),
            isa,
            guarded_memories: options.guarded_memories,
            slot_calls: options.slot_calls,
            tier_up_counters: options.tier_up_counters,
            locals_in_frame: options.locals_in_frame,
            relaxed_simd_deterministic: options.relaxed_simd_deterministic,
            defined: None,
            callees: Vec::new(),
        }
    }

    /// The defined functions the translated function calls directly, in the order
    /// of their first call.
    pub fn into_callees(self) -> Vec<u32> {
        self.callees
    }

    /// This environment for translating defined function `defined`.
    pub fn for_function(mut self, defined: u32) -> Self {
        self.defined = Some(defined);
        self
    }

    /// The function's index and the defined index, if it counts for tier-up.
    fn counting(&self) -> Option<(u32, u32)> {
        let defined = self.defined.filter(|_| self.tier_up_counters)?;
        Some((self.module.num_imported_funcs + defined, defined))
    }

    /// Counts one call or loop iteration, calling `TierUp` when the budget is used up.
    fn count_then_tier_up(&self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        let Some((index, defined)) = self.counting() else {
            return;
        };
        let (used_up, go_on) = tier_up::count_down(b, vmctx, defined, 0);
        b.switch_to_block(used_up);
        let index = b.ins().iconst(types::I32, i64::from(index));
        self.call_builtin(b, vmctx, Builtin::TierUp, &[index]);
        b.ins().jump(go_on, &[]);
        b.switch_to_block(go_on);
        b.seal_block(go_on);
    }

    /// Calls the function behind funcref `func_ref`: the code its dispatch slot
    /// holds now, with its vmctx as callee. One indirect call, whether the function
    /// is compiled or its slot still holds the lazy-compile stub.
    fn call_func_ref(
        &self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        func_ref: Value,
        sig: ir::SigRef,
        args: &[Value],
        kind: CallKind,
    ) -> Vec<Value> {
        // A funcref record never changes once its instance exists, but may be null
        // in a table until `call_indirect` checks it: readonly, not movable.
        let fixed = MemFlagsData::trusted().with_readonly();
        let slot = b
            .ins()
            .load(types::I64, fixed, func_ref, VMOffsets::FUNC_REF_SLOT as i32);
        let code = self.load(b, types::I64, slot, 0);
        let callee_vmctx = b.ins().load(
            types::I64,
            fixed,
            func_ref,
            VMOffsets::FUNC_REF_VMCTX as i32,
        );
        self.call_code(b, code, [callee_vmctx, vmctx], sig, args, kind)
    }

    /// Calls defined function `defined` through this module's dispatch slot.
    fn call_defined_through_slot(
        &self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        defined: u32,
        sig: ir::SigRef,
        args: &[Value],
        kind: CallKind,
    ) -> Vec<Value> {
        // The slot array never moves, but loading its address next to each call
        // rather than once per function keeps it out of a callee-saved register
        // (measured: `fib30` in `steady_state`); what a slot holds may change.
        let slots = self.load(b, types::I64, vmctx, VMOffsets::FUNC_SLOTS);
        let code = self.load(b, types::I64, slots, VMOffsets::func_slot(defined));
        self.call_code(b, code, [vmctx, vmctx], sig, args, kind)
    }

    /// `call_indirect` (or `return_call_indirect`) of `code` with the Wasm
    /// signature `sig`, passing the callee's and the caller's vmctx first.
    fn call_code(
        &self,
        b: &mut FunctionBuilder<'_>,
        code: Value,
        vmctxs: [Value; 2],
        sig: ir::SigRef,
        args: &[Value],
        kind: CallKind,
    ) -> Vec<Value> {
        let call_args = with_vmctxs(vmctxs, args);
        match kind {
            CallKind::Normal => {
                let inst = b.ins().call_indirect(sig, code, &call_args);
                b.inst_results(inst).to_vec()
            }
            CallKind::Tail => {
                b.ins().return_call_indirect(sig, code, &call_args);
                Vec::new()
            }
        }
    }

    fn load(&self, b: &mut FunctionBuilder<'_>, ty: ir::Type, base: Value, offset: u32) -> Value {
        b.ins().load(ty, trusted(), base, offset as i32)
    }

    fn load_readonly(&self, b: &mut FunctionBuilder<'_>, base: Value, offset: u32) -> Value {
        b.ins().load(types::I64, readonly(), base, offset as i32)
    }

    /// The engine-wide signature id of the module's type `type_index`, read from
    /// the module's id array rather than baked in as an immediate, so that the
    /// code means the same in any engine and process (the code cache relies on it).
    fn type_id(&self, b: &mut FunctionBuilder<'_>, vmctx: Value, type_index: u32) -> Value {
        let ids = self.load_readonly(b, vmctx, VMOffsets::TYPE_IDS);
        let offset = VMOffsets::type_id(type_index) as i32;
        b.ins().load(types::I32, readonly(), ids, offset)
    }

    /// The address of global `index`'s storage.
    fn global_addr(&self, b: &mut FunctionBuilder<'_>, vmctx: Value, index: u32) -> Value {
        if self.module.is_imported_global(index) {
            self.load_readonly(b, vmctx, self.offsets.imported_global(index))
        } else {
            let defined = index - self.module.num_imported_globals;
            b.ins()
                .iadd_imm_u(vmctx, i64::from(self.offsets.defined_global(defined)))
        }
    }

    /// The address of the `VMMemoryDefinition` of `memory`.
    fn memory_definition(&self, b: &mut FunctionBuilder<'_>, vmctx: Value, memory: u32) -> Value {
        self.load_readonly(b, vmctx, self.offsets.memory(memory))
    }

    /// The address of the `VMTableDefinition` of `table`.
    fn table_definition(&self, b: &mut FunctionBuilder<'_>, vmctx: Value, table: u32) -> Value {
        self.load_readonly(b, vmctx, self.offsets.table(table))
    }

    /// A page count (or -1) as memory `memory`'s index type: `i64` for a 64-bit
    /// memory, else the low 32 bits.
    fn memory_index_value(&self, b: &mut FunctionBuilder<'_>, memory: u32, pages: Value) -> Value {
        if self.module.memories[memory as usize].memory64 {
            pages
        } else {
            b.ins().ireduce(types::I32, pages)
        }
    }

    /// Calls a builtin through the VMContext's builtins table.
    pub fn call_builtin(
        &self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        builtin: Builtin,
        args: &[Value],
    ) -> Value {
        call_builtin(b, self.isa, vmctx, builtin, args)
    }
}

/// The arguments of a Wasm call: the callee's and the caller's vmctx, then `args`.
fn with_vmctxs(vmctxs: [Value; 2], args: &[Value]) -> Vec<Value> {
    vmctxs.into_iter().chain(args.iter().copied()).collect()
}

/// Traps with `HostError` if `grown`, the result of a `MemoryGrow` or `TableGrow`
/// builtin, says that the store's limiter failed the growth with an error.
pub(crate) fn trap_if_limiter_failed(b: &mut FunctionBuilder<'_>, grown: Value) {
    let failed = b.ins().icmp_imm_s(IntCC::Equal, grown, GROW_LIMITER_FAILED);
    b.ins().trapnz(failed, trap_code(TrapKind::HostError));
}

/// Calls `builtin` with `vmctx` prepended to `args`, through the builtins table of
/// the VMContext `vmctx`.
pub(crate) fn call_builtin(
    b: &mut FunctionBuilder<'_>,
    isa: &dyn TargetIsa,
    vmctx: Value,
    builtin: Builtin,
    args: &[Value],
) -> Value {
    let ty = |t: BuiltinType| match t {
        BuiltinType::I32 => types::I32,
        BuiltinType::I64 | BuiltinType::Ptr => types::I64,
    };
    let (params, result) = builtin.signature();
    let mut sig = Signature::new(isa.default_call_conv());
    sig.params.push(AbiParam::new(types::I64));
    sig.params
        .extend(params.iter().map(|t| AbiParam::new(ty(*t))));
    sig.returns.push(AbiParam::new(ty(result)));
    let sig = b.import_signature(sig);
    let table = b
        .ins()
        .load(types::I64, readonly(), vmctx, VMOffsets::BUILTINS as i32);
    let callee = b
        .ins()
        .load(types::I64, readonly(), table, builtin.table_offset() as i32);
    let mut call_args = vec![vmctx];
    call_args.extend_from_slice(args);
    let call = b.ins().call_indirect(sig, callee, &call_args);
    b.inst_results(call)[0]
}

impl FuncEnvironment for ModuleEnvironment<'_> {
    fn module(&self) -> &ModuleInfo {
        self.module
    }

    fn isa(&self) -> &dyn TargetIsa {
        self.isa
    }

    fn begin_function(&mut self, func: &mut Function) {
        let vmctx = func.create_global_value(GlobalValueData::VMContext);
        let store = load_gv(func, vmctx, self.offsets.store_ctx(), true);
        func.stack_limit = Some(load_gv(func, store, store_ctx::STACK_LIMIT, false));
    }

    fn function_entry(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        self.interrupts.function_entry(b, vmctx);
        self.count_then_tier_up(b, vmctx);
    }

    fn function_exit(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        self.interrupts.before_leaving(b, vmctx);
    }

    fn before_operator(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, op: &Operator<'_>) {
        self.interrupts.before_operator(b, vmctx, op);
    }

    fn after_operator(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, op: &Operator<'_>) {
        self.interrupts.after_operator(b, vmctx, op);
    }

    fn enter_at_loop(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        self.interrupts.enter_at_loop(b, vmctx);
    }

    fn loop_header(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, header: LoopHeader<'_>) {
        self.interrupts.loop_header(b, vmctx);
        let Some((index, defined)) = self.counting() else {
            return;
        };
        match header.locals {
            Some(locals) if locals.in_frame() && locals.len() <= tier_up::MAX_OSR_LOCALS => {
                let ty = self.module.func_type(index);
                let mut site = tier_up::OsrSite {
                    func_index: index,
                    loop_index: header.index,
                    nested: header.nested && header.innermost,
                    locals,
                    signature: tier_up::osr_signature(ty),
                    store_ctx: self.offsets.store_ctx(),
                    interrupts: &mut self.interrupts,
                };
                tier_up::count_then_enter(b, self.isa, vmctx, defined, &mut site);
            }
            _ => self.count_then_tier_up(b, vmctx),
        }
    }

    fn osr_locals(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) -> Value {
        tier_up::osr_locals(b, vmctx, self.offsets.store_ctx())
    }

    fn needs_loop_nesting(&self) -> bool {
        self.counting().is_some()
    }

    fn locals_in_frame(&self) -> bool {
        self.locals_in_frame
    }

    fn relaxed_simd_deterministic(&self) -> bool {
        self.relaxed_simd_deterministic
    }

    fn global_get(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, index: u32) -> Value {
        let ty = ir_type(self.module.globals[index as usize].ty);
        let addr = self.global_addr(b, vmctx, index);
        self.load(b, ty, addr, 0)
    }

    fn global_set(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, index: u32, v: Value) {
        let addr = self.global_addr(b, vmctx, index);
        b.ins().store(trusted(), v, addr, 0);
    }

    fn call(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        callee: u32,
        args: &[Value],
        kind: CallKind,
    ) -> Vec<Value> {
        let sig = b.import_signature(wasm_signature(self.module.func_type(callee)));
        if self.module.is_imported_func(callee) {
            let func_ref = b
                .ins()
                .iadd_imm_u(vmctx, i64::from(self.offsets.func_ref(callee)));
            return self.call_func_ref(b, vmctx, func_ref, sig, args, kind);
        }
        let defined = callee - self.module.num_imported_funcs;
        if !self.callees.contains(&defined) {
            self.callees.push(defined);
        }
        if self.slot_calls {
            return self.call_defined_through_slot(b, vmctx, defined, sig, args, kind);
        }
        let name = b.func.declare_imported_user_function(UserExternalName {
            namespace: FUNC_NAMESPACE,
            index: callee,
        });
        let func_ref = b.import_function(ExtFuncData {
            name: ExternalName::User(name),
            signature: sig,
            colocated: true,
            patchable: false,
        });
        let call_args = with_vmctxs([vmctx, vmctx], args);
        match kind {
            CallKind::Normal => {
                let call = b.ins().call(func_ref, &call_args);
                b.inst_results(call).to_vec()
            }
            CallKind::Tail => {
                b.ins().return_call(func_ref, &call_args);
                Vec::new()
            }
        }
    }

    fn builtin(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        builtin: Builtin,
        args: &[Value],
    ) -> Value {
        self.call_builtin(b, vmctx, builtin, args)
    }

    fn func_ref(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, func: u32) -> Value {
        b.ins()
            .iadd_imm_u(vmctx, i64::from(self.offsets.func_ref(func)))
    }

    fn table_element(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        table: u32,
        index: Value,
    ) -> Value {
        let def = self.table_definition(b, vmctx, table);
        let len = self.load(b, types::I64, def, VMOffsets::DEFINITION_LENGTH);
        let index = to_i64(b, index);
        let oob = b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        b.ins().trapnz(oob, trap_code(TrapKind::TableOutOfBounds));
        let base = self.load(b, types::I64, def, VMOffsets::DEFINITION_BASE);
        let shift = VMOffsets::TABLE_ELEMENT_SIZE.trailing_zeros();
        let scaled = b.ins().ishl_imm_u(index, i64::from(shift));
        b.ins().iadd(base, scaled)
    }

    fn table_size(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, table: u32) -> Value {
        let def = self.table_definition(b, vmctx, table);
        let len = self.load(b, types::I64, def, VMOffsets::DEFINITION_LENGTH);
        if self.module.tables[table as usize].table64 {
            len
        } else {
            b.ins().ireduce(types::I32, len)
        }
    }

    fn call_indirect(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        table: u32,
        type_index: u32,
        callee: Value,
        args: &[Value],
        kind: CallKind,
    ) -> Vec<Value> {
        let slot = self.table_element(b, vmctx, table, callee);
        let func_ref = self.load(b, types::I64, slot, 0);
        b.ins()
            .trapz(func_ref, trap_code(TrapKind::IndirectCallToNull));
        let actual = self.load(b, types::I32, func_ref, VMOffsets::FUNC_REF_TYPE);
        let expected = self.type_id(b, vmctx, type_index);
        let mismatch = b.ins().icmp(IntCC::NotEqual, actual, expected);
        b.ins().trapnz(mismatch, trap_code(TrapKind::BadSignature));
        let sig = b.import_signature(wasm_signature(&self.module.types[type_index as usize]));
        self.call_func_ref(b, vmctx, func_ref, sig, args, kind)
    }

    fn call_ref(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        type_index: u32,
        callee: Value,
        args: &[Value],
        kind: CallKind,
    ) -> Vec<Value> {
        b.ins()
            .trapz(callee, trap_code(TrapKind::NullFunctionReference));
        let sig = b.import_signature(wasm_signature(&self.module.types[type_index as usize]));
        self.call_func_ref(b, vmctx, callee, sig, args, kind)
    }

    fn memory_address(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        memarg: &MemArg,
        index: Value,
        size: u8,
    ) -> (Value, MemFlagsData) {
        let memory = match memarg.target {
            MemArgTarget::Memory(m) => m,
            MemArgTarget::Array(_) => 0,
        };
        let memory64 = self.module.memories[memory as usize].memory64;
        let heap = Heap {
            definition: self.memory_definition(b, vmctx, memory),
            memory64,
            guarded: self.guarded_memories && !memory64,
        };
        let flags = MemFlagsData::new()
            .with_endianness(ir::Endianness::Little)
            .with_trap_code(Some(trap_code(TrapKind::MemoryOutOfBounds)));
        (heap.address(b, index, memarg.offset, size), flags)
    }

    fn memory_size(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, memory: u32) -> Value {
        let def = self.memory_definition(b, vmctx, memory);
        let bytes = self.load(b, types::I64, def, VMOffsets::DEFINITION_LENGTH);
        let pages = b.ins().ushr_imm_u(bytes, 16);
        self.memory_index_value(b, memory, pages)
    }

    fn memory_grow(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        vmctx: Value,
        memory: u32,
        delta: Value,
    ) -> Value {
        let index = b.ins().iconst(types::I32, i64::from(memory));
        let delta = to_i64(b, delta);
        let old = self.call_builtin(b, vmctx, Builtin::MemoryGrow, &[index, delta]);
        trap_if_limiter_failed(b, old);
        self.memory_index_value(b, memory, old)
    }
}

/// A 32-bit index, size or count widened to the `i64` builtins and address
/// arithmetic take; a 64-bit one as it is.
pub(crate) fn to_i64(b: &mut FunctionBuilder<'_>, v: Value) -> Value {
    if b.func.dfg.value_type(v) == types::I64 {
        v
    } else {
        b.ins().uextend(types::I64, v)
    }
}

/// A global value that loads a pointer-sized field at `offset` from `base`.
fn load_gv(func: &mut Function, base: GlobalValue, offset: u32, readonly: bool) -> GlobalValue {
    let data = if readonly {
        MemFlagsData::trusted().with_readonly()
    } else {
        MemFlagsData::trusted()
    };
    // Two distinct flag sets per function cannot overflow the set's capacity.
    let flags = func.dfg.mem_flags.insert_unchecked(data);
    func.create_global_value(GlobalValueData::Load {
        base,
        offset: (offset as i32).into(),
        global_type: types::I64,
        flags,
    })
}
