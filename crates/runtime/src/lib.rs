//! The Lazuli runtime: what exists while Wasm runs. VMContext allocation
//! ([`Instance`]), linear memories and tables, builtins called by generated code,
//! host-function contexts, and the single trap path: signal handler → trap table →
//! unwind to the host entry ([`invoke`]).
//!
//! Most of Lazuli's `unsafe` lives here; every block says why it holds.

mod backtrace;
mod builtins;
mod entry;
mod host;
mod instance;
mod memory;
mod memory_image;
mod memory_pool;
mod parking;
mod shared_memory;
mod signals;
mod table;
mod thread_stack;
mod traphandlers;
mod vmcontext;

pub use backtrace::Backtrace;
pub use host::{HostShim, VMHostContext};
pub use instance::{Instance, ModuleCode};
pub use memory::{LinearMemory, MAX_PAGES_64, MemoryError, MemoryLimits, MemoryStyle, PAGE_SIZE};
pub use memory_image::{MemoryImage, image_range};
pub use memory_pool::MemoryPool;
pub use shared_memory::SharedMemory;
pub use table::{Table, TableError};
pub use traphandlers::{
    HostCall, HostFailure, TrapInfo, capture_backtrace, invoke, record_host_failure,
};
pub use vmcontext::{
    EpochOutcome, GrowthLimiter, LimiterError, VMContext, VMFuncRef, VMFuncSlot,
    VMGlobalDefinition, VMMemoryDefinition, VMStoreContext, VMTableDefinition, ValRaw,
};
