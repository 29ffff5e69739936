//! Traps as errors: the [`Trap`] kind, plus a [`WasmBacktrace`] as context.

pub use lazuli_environ::TrapKind as Trap;
use lazuli_runtime::{HostFailure, TrapInfo};
use std::fmt;

/// One frame of a Wasm backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    /// Index of the function in its module.
    pub func_index: u32,
    /// The function's name from the name section.
    pub func_name: Option<String>,
    /// The module's name from the name section.
    pub module_name: Option<String>,
    /// Byte offset of the executing instruction in the module.
    pub module_offset: Option<u32>,
}

/// The Wasm frames active when a trap happened, innermost first. Attached as
/// context to trap errors: `err.downcast_ref::<WasmBacktrace>()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WasmBacktrace {
    frames: Vec<FrameInfo>,
}

impl WasmBacktrace {
    pub fn frames(&self) -> &[FrameInfo] {
        &self.frames
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
            let module = frame.module_name.as_deref().unwrap_or("<unknown>");
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
/// function's own error, a resumed host panic, or a [`Trap`] with its backtrace.
pub(crate) fn trap_to_error(info: TrapInfo) -> anyhow::Error {
    match info.host_failure {
        Some(HostFailure::Panic(payload)) => std::panic::resume_unwind(payload),
        Some(HostFailure::Error(error)) => host_error(error),
        None => {
            let frames = info
                .backtrace
                .frames()
                .into_iter()
                .map(|f| FrameInfo {
                    func_index: f.func_index,
                    func_name: f
                        .module
                        .as_ref()
                        .and_then(|m| m.func_name(f.func_index).map(str::to_string)),
                    module_name: f.module.as_ref().and_then(|m| m.name.clone()),
                    module_offset: f.wasm_offset,
                })
                .collect();
            anyhow::Error::new(info.kind).context(WasmBacktrace { frames })
        }
    }
}
