//! Wasm → Cranelift IR → machine code for Lazuli.
//!
//! [`FuncTranslator`] walks a function body's operators and builds Cranelift IR,
//! asking a [`FuncEnvironment`] for everything that depends on the runtime (VMContext
//! fields, calls, memories, tables). [`Compiler`] owns the target ISA and turns
//! functions and trampolines into [`CompiledFunction`]s: bytes, relocations and trap
//! sites. This crate emits code; it never runs it and has no `unsafe`.
#![forbid(unsafe_code)]

mod compiler;
mod func_environ;
mod heap;
mod interrupt;
mod isa;
mod tier_up;
mod trampoline;
mod translate;
mod trap;

pub use compiler::{CompileError, Compiler, CompilerOptions};
pub use cranelift_codegen::isa::OwnedTargetIsa;
pub use func_environ::{FuncEnvironment, ModuleEnvironment};
pub use isa::{Flag, IsaError, IsaSettings, Tier, check_target, host_isa, target_isa};
pub use lazuli_environ::{CompiledFunction, RelocKind, Relocation, TrapSite};
pub use translate::FuncTranslator;
pub use trap::{trap_code, trap_kind};
