//! The compiler: one target ISA, and the entry points that turn a function body or a
//! signature into a [`CompiledFunction`].

use crate::func_environ::{FUNC_NAMESPACE, ModuleEnvironment, wasm_signature};
use crate::trampoline;
use crate::translate::FuncTranslator;
use crate::trap::trap_sites;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{ExternalName, Function, UserFuncName};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::{Context, FinalizedRelocTarget, binemit::Reloc};
use lazuli_environ::{
    CompiledFunction, ModuleInfo, RelocKind, Relocation, SideTables, WasmError, WasmFuncType,
};
use std::cell::Cell;
use wasmparser::{BinaryReader, FunctionBody};

/// Why a function could not be compiled.
#[derive(Debug)]
pub enum CompileError {
    /// The body is invalid or uses something unsupported.
    Wasm(WasmError),
    /// Cranelift rejected the function (a Lazuli bug or an unsupported target).
    Codegen(String),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::Wasm(e) => write!(f, "{e}"),
            CompileError::Codegen(e) => write!(f, "code generation failed: {e}"),
        }
    }
}

impl std::error::Error for CompileError {}

impl From<WasmError> for CompileError {
    fn from(e: WasmError) -> Self {
        CompileError::Wasm(e)
    }
}

impl From<wasmparser::BinaryReaderError> for CompileError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        CompileError::Wasm(e.into())
    }
}

/// Code-generation choices that change the emitted code.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompilerOptions {
    /// Memories are guarded by a large reservation, so accesses need no bounds check.
    pub guarded_memories: bool,
    /// Calls between the module's own functions go through their dispatch slots
    /// (lazy compilation, tier-up) instead of direct relocated calls.
    pub slot_calls: bool,
    /// Functions count their calls and loop iterations down from the budget in
    /// their dispatch slot and call the `TierUp` builtin when it is used up.
    pub tier_up_counters: bool,
    /// Locals live in stack slots instead of SSA variables: cheaper to compile
    /// when nothing will optimise them (`translate/locals.rs`).
    pub locals_in_frame: bool,
    /// Functions consume fuel and trap with `OutOfFuel` when the store has none
    /// left (`interrupt.rs`).
    pub consume_fuel: bool,
    /// Functions check the engine's epoch against the store's deadline at entry
    /// and at loop headers (`interrupt.rs`).
    pub epoch_interruption: bool,
    /// Relaxed SIMD operators give the same results on every platform instead of
    /// the native instruction's (`translate/relaxed_simd.rs`).
    pub relaxed_simd_deterministic: bool,
}

/// Compiles functions and trampolines for one target at one tier, which is in its
/// ISA's flags (`isa::Tier`). Tiers differ in nothing else, so tier-up can hold one
/// `Compiler` per tier; they would share each thread's scratch, which has no flags.
pub struct Compiler {
    isa: OwnedTargetIsa,
    options: CompilerOptions,
}

/// What one compilation works in: reused on a thread from one successful compilation
/// to the next to keep its allocations.
struct Scratch {
    translator: FuncTranslator,
    ctx: Context,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            translator: FuncTranslator::default(),
            ctx: Context::new(),
        }
    }
}

thread_local! {
    /// This thread's scratch while no compilation holds it; always clean. Empty
    /// before the first compilation and after a failed one.
    static SCRATCH: Cell<Option<Box<Scratch>>> = const { Cell::new(None) };
}

/// Runs `compile` in this thread's scratch, so that every compilation starts from
/// clean state whatever happened to the one before: the scratch is taken out of
/// `SCRATCH` for the duration and put back, cleared, only after a success. A
/// compilation that fails, or panics (`Module` catches code generator panics), drops
/// it, and the next one starts from a fresh scratch. A nested compilation gets its
/// own.
fn with_scratch<T>(
    compile: impl FnOnce(&mut Scratch) -> Result<T, CompileError>,
) -> Result<T, CompileError> {
    let mut scratch = SCRATCH
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_default();
    let result = compile(&mut scratch);
    if result.is_ok() {
        scratch.ctx.clear();
        // Fails only while the thread exits; the scratch is then dropped.
        let _ = SCRATCH.try_with(|slot| slot.set(Some(scratch)));
    }
    result
}

impl Compiler {
    pub fn new(isa: OwnedTargetIsa, options: CompilerOptions) -> Self {
        Compiler { isa, options }
    }

    pub fn isa(&self) -> &dyn TargetIsa {
        &*self.isa
    }

    pub fn options(&self) -> CompilerOptions {
        self.options
    }

    /// Everything about this compiler that changes the code it emits: the target,
    /// every shared and ISA flag (the host CPU's features among them) and the
    /// options. Two compilers with the same fingerprint emit the same code.
    pub fn fingerprint(&self) -> String {
        // The ISA's `Display` shows only the shared flags.
        let isa_flags: Vec<String> = self.isa.isa_flags().iter().map(|f| f.to_string()).collect();
        let options = self.options;
        format!(
            "{} {} {isa_flags:?} {options:?}",
            self.isa.triple(),
            self.isa
        )
    }

    /// Compiles defined function `defined_index` of `module`, whose bytes are
    /// `module_bytes`. The code depends on nothing engine-wide (signature ids are
    /// read from the VMContext), so it can be cached and reused. Bodies
    /// not validated yet (see `ModuleInfo::func_validators`) are validated here.
    pub fn compile_function(
        &self,
        module: &ModuleInfo,
        module_bytes: &[u8],
        defined_index: u32,
    ) -> Result<CompiledFunction, CompileError> {
        self.compile_body(module, module_bytes, defined_index, None)
    }

    /// Compiles the OSR entry of defined function `defined_index` at its loop
    /// `loop_index` (see `tier_up.rs`), for fast-tier code to continue in at that
    /// loop; fails if the loop cannot be entered that way.
    pub fn compile_osr_entry(
        &self,
        module: &ModuleInfo,
        module_bytes: &[u8],
        defined_index: u32,
        loop_index: u32,
    ) -> Result<CompiledFunction, CompileError> {
        let osr_loop = Some(loop_index);
        self.compile_body(module, module_bytes, defined_index, osr_loop)
    }

    /// Compiles the body of defined function `defined_index`, or its OSR entry at
    /// `osr_loop`.
    fn compile_body(
        &self,
        module: &ModuleInfo,
        module_bytes: &[u8],
        defined_index: u32,
        osr_loop: Option<u32>,
    ) -> Result<CompiledFunction, CompileError> {
        let func_index = module.num_imported_funcs + defined_index;
        let ty = module.func_type(func_index);
        let range = module.bodies[defined_index as usize].range.clone();
        let body = FunctionBody::new(BinaryReader::new(
            &module_bytes[range.clone()],
            range.start as u64,
        ));
        let mut validator = module.func_validator(defined_index);
        let mut env =
            ModuleEnvironment::new(module, &*self.isa, self.options).for_function(defined_index);
        with_scratch(|Scratch { translator, ctx }| {
            ctx.func = Function::with_name_signature(
                UserFuncName::user(FUNC_NAMESPACE, func_index),
                wasm_signature(ty),
            );
            let validator = validator.as_mut();
            translator.translate(&mut env, ty, &body, &mut ctx.func, validator, osr_loop)?;
            let mut compiled = self.finish(ctx)?;
            compiled.callees = env.into_callees();
            Ok(compiled)
        })
    }

    /// The host→Wasm trampoline for `ty`: `extern "C" fn(callee_vmctx, caller_vmctx,
    /// wasm_code, values: *mut ValRaw)`, which reads the arguments from `values` and
    /// writes the results back over them.
    pub fn compile_array_to_wasm(
        &self,
        ty: &WasmFuncType,
    ) -> Result<CompiledFunction, CompileError> {
        self.compile_trampoline(|ctx| trampoline::array_to_wasm(&mut ctx.func, ty, &*self.isa))
    }

    /// The Wasm→host trampoline for `ty`: a function with the Wasm signature of `ty`
    /// whose callee vmctx is a `VMHostContext`; it spills the arguments and calls the
    /// context's shim, trapping with `HostError` when the shim reports failure.
    pub fn compile_wasm_to_host(
        &self,
        ty: &WasmFuncType,
    ) -> Result<CompiledFunction, CompileError> {
        self.compile_trampoline(|ctx| trampoline::wasm_to_host(&mut ctx.func, ty, &*self.isa))
    }

    /// The lazy-compile stub template for `ty` (see `trampoline::lazy_stub`): its one
    /// relocation is to the index of the function each copy stands for.
    pub fn compile_lazy_stub(&self, ty: &WasmFuncType) -> Result<CompiledFunction, CompileError> {
        self.compile_trampoline(|ctx| trampoline::lazy_stub(&mut ctx.func, ty, &*self.isa))
    }

    fn compile_trampoline(
        &self,
        build: impl FnOnce(&mut Context),
    ) -> Result<CompiledFunction, CompileError> {
        with_scratch(|scratch| {
            build(&mut scratch.ctx);
            self.finish(&mut scratch.ctx)
        })
    }

    /// Compiles the function in `ctx` and collects its side tables.
    fn finish(&self, ctx: &mut Context) -> Result<CompiledFunction, CompileError> {
        let names = ctx.func.params.user_named_funcs().clone();
        let compiled = ctx
            .compile(&*self.isa, &mut ControlPlane::default())
            .map_err(|e| CompileError::Codegen(format!("{:?}", e.inner)))?;
        let buffer = &compiled.buffer;
        let mut relocs = Vec::new();
        for r in buffer.relocs() {
            let kind = match r.kind {
                Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4 => RelocKind::X86CallPcRel4,
                Reloc::Arm64Call => RelocKind::Arm64Call,
                Reloc::Abs8 => RelocKind::Abs8,
                other => {
                    return Err(CompileError::Codegen(format!(
                        "unexpected relocation {other:?}"
                    )));
                }
            };
            let FinalizedRelocTarget::ExternalName(ExternalName::User(name)) = &r.target else {
                return Err(CompileError::Codegen(format!(
                    "unexpected relocation target {:?}",
                    r.target
                )));
            };
            let func = names[*name].index;
            relocs.push(Relocation {
                offset: r.offset,
                kind,
                func,
                addend: r.addend,
            });
        }
        let traps = trap_sites(buffer.traps())?;
        let wasm_offsets = buffer
            .get_srclocs_sorted()
            .iter()
            .filter(|s| !s.loc.is_default())
            .map(|s| (s.start, s.loc.bits()))
            .collect();
        Ok(CompiledFunction {
            code: buffer.data().to_vec(),
            relocs,
            tables: SideTables {
                traps,
                wasm_offsets,
            },
            callees: Vec::new(),
        })
    }
}
