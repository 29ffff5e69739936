//! Lazuli: a WebAssembly runtime for Rust hosts that compiles Wasm to native code
//! with Cranelift.
//!
//! The API follows Wasmtime's shapes: an [`Engine`] compiles [`Module`]s, a
//! [`Store`] owns instances and the host's data, a [`Linker`] resolves imports,
//! and exported functions are called through [`Func`] or [`TypedFunc`]. Traps come
//! back as errors that downcast to [`Trap`], with a [`WasmBacktrace`] attached.
//!
//! ```
//! use lazuli::{Engine, Linker, Module, Store};
//!
//! # fn main() -> lazuli::Result<()> {
//! let engine = Engine::default();
//! let module = Module::new(&engine, r#"
//!     (module
//!       (import "host" "double" (func $double (param i32) (result i32)))
//!       (func (export "quadruple") (param i32) (result i32)
//!         (call $double (call $double (local.get 0)))))
//! "#)?;
//! let mut linker = Linker::new(&engine);
//! linker.func_wrap("host", "double", |x: i32| x * 2)?;
//! let mut store = Store::new(&engine, ());
//! let instance = linker.instantiate(&mut store, &module)?;
//! let quadruple = instance.get_typed_func::<i32, i32>(&mut store, "quadruple")?;
//! assert_eq!(quadruple.call(&mut store, 5)?, 20);
//! # Ok(())
//! # }
//! ```

mod background;
mod cache;
mod codec;
mod commands;
mod config;
mod coredump;
mod engine;
mod externals;
mod func;
mod instance;
mod instance_pool;
mod instance_pre;
mod interrupt;
mod limits;
mod linker;
mod module;
mod module_bytes;
mod profiling;
mod segments;
mod serialize;
mod shared_memory;
mod store;
mod trap;
mod typed;
mod types;
mod values;

pub use anyhow::{Error, Result, bail, ensure, format_err};
pub use cache::{Cache, CacheConfig};
pub use config::{
    Compilation, Config, DEFAULT_MAX_WASM_STACK, DEFAULT_SMALL_FUNCTION_BYTES,
    DEFAULT_TIER_UP_BUDGET, InstanceAllocationStrategy, MemoryStyle, OptLevel,
    PoolingAllocationConfig, Strategy, Tiering, Validation,
};
pub use coredump::WasmCoreDump;
pub use engine::Engine;
pub use externals::{Extern, Global, Memory, Table};
pub use func::{Caller, Func};
pub use instance::{Export, Instance};
pub use instance_pre::InstancePre;
pub use interrupt::UpdateDeadline;
pub use limits::{
    DEFAULT_INSTANCE_LIMIT, DEFAULT_MEMORY_LIMIT, DEFAULT_TABLE_LIMIT, ResourceLimiter,
    StoreLimits, StoreLimitsBuilder,
};
pub use linker::Linker;
pub use module::{CompileStats, Module};
pub use profiling::ProfilingStrategy;
pub use shared_memory::SharedMemory;
pub use store::{AsContext, AsContextMut, Store, StoreContext, StoreContextMut};
pub use trap::{FrameInfo, Trap, WasmBacktrace};
pub use typed::{IntoFunc, TypedFunc, WasmParams, WasmResults, WasmRet, WasmTy};
pub use types::{
    ExportType, ExternType, FuncType, GlobalType, HeapType, ImportType, MemoryType, Mutability,
    RefType, TableType, ValType,
};
pub use values::{ExternRef, Ref, Val};
