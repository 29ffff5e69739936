//! Executable memory for Lazuli: [`CodeMemory`] copies compiled functions into
//! mmap'd pages, patches their relocations and flips the pages to read+execute (never
//! writable and executable at once); the process-wide [`registry`] maps code addresses
//! back to functions and trap sites for the signal handler and for backtraces;
//! [`Mapping`] maps a precompiled module, whose code then runs where it lies.

mod code_memory;
mod mapping;
pub mod registry;
mod tables;

pub use code_memory::{Batch, CodeMemory, JitError, RelocTarget, relocatable_image};
pub use mapping::Mapping;
pub use registry::{FrameInfo, FunctionInfo};
pub use tables::{InPlaceTables, OFFSET_RECORD, TRAP_RECORD, Tables};
