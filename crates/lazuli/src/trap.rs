//! Traps as errors: the [`Trap`] kind, plus a [`WasmBacktrace`] as context.

use crate::Module;
use crate::coredump::WasmCoreDump;
use crate::store::{AsContext, StoreContextMut, StoreInner, StoreOpaque};
pub use lazuli_environ::TrapKind as Trap;
use lazuli_runtime::{Backtrace, HostFailure, TrapInfo};
use std::fmt;
use std::sync::Arc;

/// One frame of a Wasm backtrace.
#[derive(Clone)]
pub struct FrameInfo {
    module: Module,
    func_index: u32,
    func_name: Option<String>,
    /// Where the function's body starts in the module's bytes.
    func_start: Option<usize>,
    module_offset: Option<usize>,
}

impl FrameInfo {
    /// Index of the function in its module's function index space.
    pub fn func_index(&self) -> u32 {
        self.func_index
    }

    /// The function's name from the name section.
    pub fn func_name(&self) -> Option<&str> {
        self.func_name.as_deref()
    }

    /// The module the function belongs to.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Byte offset of the executing instruction in the module's bytes.
    pub fn module_offset(&self) -> Option<usize> {
        self.module_offset
    }

    /// Byte offset of the executing instruction from the start of its
    /// function's body.
    pub fn func_offset(&self) -> Option<usize> {
        self.module_offset?.checked_sub(self.func_start?)
    }

    /// The frame of `frame` in one of the modules instantiated in `opaque`.
    fn resolve(opaque: &StoreOpaque, frame: lazuli_jit::FrameInfo) -> Option<FrameInfo> {
        let info = frame.module?;
        let module = opaque
            .instances
            .iter()
            .map(|instance| &instance.module)
            .find(|module| Arc::ptr_eq(&module.inner.info, &info))?
            .clone();
        let defined = frame.func_index.checked_sub(info.num_imported_funcs);
        Some(FrameInfo {
            func_index: frame.func_index,
            func_name: info.func_name(frame.func_index).map(str::to_string),
            func_start: defined.and_then(|d| Some(info.bodies.get(d as usize)?.range.start)),
            module_offset: frame.wasm_offset.map(|o| o as usize),
            module,
        })
    }
}

impl fmt::Debug for FrameInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameInfo")
            .field("module", &self.module.name())
            .field("func_index", &self.func_index)
            .field("func_name", &self.func_name)
            .field("module_offset", &self.module_offset)
            .finish()
    }
}

/// The Wasm frames active when a trap happened, innermost first. Attached as
/// context to trap errors and to a host function's error that crossed Wasm
/// frames: `err.downcast_ref::<WasmBacktrace>()`.
#[derive(Debug, Clone, Default)]
pub struct WasmBacktrace {
    frames: Vec<FrameInfo>,
}

impl WasmBacktrace {
    /// The Wasm frames of `store` on this thread's stack, innermost first:
    /// called from a host function that Wasm called, the frames that led to it
    /// (through every entry into that store); empty when no Wasm of the store runs.
    pub fn capture(store: impl AsContext) -> WasmBacktrace {
        let opaque = &store.as_context().0.opaque;
        Self::resolve(opaque, &lazuli_runtime::capture_backtrace(opaque.vm()))
    }

    /// The frames, innermost first.
    pub fn frames(&self) -> &[FrameInfo] {
        &self.frames
    }

    fn resolve(opaque: &StoreOpaque, backtrace: &Backtrace) -> WasmBacktrace {
        let frames = backtrace.frames().into_iter();
        WasmBacktrace {
            frames: frames
                .filter_map(|f| FrameInfo::resolve(opaque, f))
                .collect(),
        }
    }
}

impl fmt::Display for WasmBacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No newline after the last frame: `anyhow` puts a blank line between
        // this context and the trap under it, and a newline here made it two.
        write!(f, "error while executing at wasm backtrace:")?;
        for (i, frame) in self.frames.iter().enumerate() {
            writeln!(f)?;
            let offset = frame
                .module_offset
                .map_or_else(|| "?".to_string(), |o| format!("{o:#x}"));
            let module = frame.module.name().unwrap_or("<unknown>");
            match &frame.func_name {
                Some(name) => write!(f, "  {i:>3}: {offset:>8} - {module}!{name}")?,
                None => write!(
                    f,
                    "  {i:>3}: {offset:>8} - {module}!<wasm function {}>",
                    frame.func_index
                )?,
            }
        }
        Ok(())
    }
}

/// The embedder's error carried through the runtime as `Box<dyn Any>`.
pub(crate) fn host_error(error: Box<dyn std::any::Any + Send>) -> anyhow::Error {
    match error.downcast::<anyhow::Error>() {
        Ok(error) => *error,
        Err(_) => anyhow::Error::new(Trap::HostError),
    }
}

/// Converts what the runtime reports into the error the embedder sees: a host
/// function's own error (with the Wasm frames it crossed, unless an inner
/// entry attached them already), a resumed host panic, or a [`Trap`] with its
/// backtrace; under [`Config::coredump_on_trap`](crate::Config::coredump_on_trap)
/// also a [`WasmCoreDump`] of `store`, the store that ran the Wasm.
pub(crate) fn trap_to_error<T>(info: TrapInfo, store: &mut StoreInner<T>) -> anyhow::Error {
    let backtrace = WasmBacktrace::resolve(&store.opaque, &info.backtrace);
    let error = match info.host_failure {
        Some(HostFailure::Panic(payload)) => std::panic::resume_unwind(payload),
        Some(HostFailure::Error(error)) => {
            let error = host_error(error);
            if error.downcast_ref::<WasmBacktrace>().is_some() {
                return error;
            }
            match backtrace.frames.is_empty() {
                true => error,
                false => error.context(backtrace.clone()),
            }
        }
        None => anyhow::Error::new(info.kind).context(backtrace.clone()),
    };
    if !store.opaque.engine.config().coredump_on_trap {
        return error;
    }
    error.context(WasmCoreDump::capture(StoreContextMut(store), backtrace))
}
