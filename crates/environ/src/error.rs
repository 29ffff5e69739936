//! The error for a module that is malformed, invalid or uses something unsupported.

/// Why a module was rejected, with the byte offset where that was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmError {
    pub message: String,
    pub offset: u64,
}

impl WasmError {
    pub fn new(message: impl Into<String>, offset: u64) -> Self {
        WasmError {
            message: message.into(),
            offset,
        }
    }
}

impl From<wasmparser::BinaryReaderError> for WasmError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        WasmError::new(e.message(), e.offset())
    }
}

impl std::fmt::Display for WasmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at offset {:#x})", self.message, self.offset)
    }
}

impl std::error::Error for WasmError {}
