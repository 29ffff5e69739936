//! Executable memory for Lazuli: [`CodeMemory`] copies compiled functions into
//! mmap'd pages, patches their relocations and flips the pages to read+execute (never
//! writable and executable at once); the process-wide [`registry`] maps code addresses
//! back to functions and trap sites for the signal handler and for backtraces.

mod code_memory;
pub mod registry;

pub use code_memory::{Batch, CodeMemory, JitError, RelocTarget};
pub use registry::{FrameInfo, FunctionInfo};
