//! WASI preview 1 (`wasi_snapshot_preview1`) for Lazuli: the host functions that
//! let command-line programs compiled for `wasm32-wasi` run, sandboxed. The
//! surface is wasmtime-wasi's preview-1 one: [`WasiCtxBuilder`] (also reached
//! as [`WasiCtx::builder`]), [`p1::WasiP1Ctx`], [`p1::add_to_linker_sync`],
//! [`I32Exit`].
//!
//! The guest sees only what the embedder gives it in a [`p1::WasiP1Ctx`]: its
//! arguments and environment, its standard streams (inherited from the host,
//! captured in memory, or empty), and preopened directories. Files are reached
//! only through those directories, by cap-std, which resolves every path beneath
//! a directory handle and refuses `..` past it, absolute paths and symlinks
//! leading out.
//!
//! Every descriptor carries preview-1 rights, and every call checks the right it
//! needs (`ENOTCAPABLE` without it): a preopen's rights come from its
//! [`DirPerms`] and [`FilePerms`]; a descriptor `path_open` makes holds at most
//! the inheriting rights of its directory; `fd_fdstat_set_rights` can only drop
//! rights. Unlike Wasmtime, whose preview-1 layer no longer enforces rights
//! (its `fd_fdstat_set_rights` is `ENOTSUP`), Lazuli keeps the rights model
//! preview 1 defines, as Wasmtime's earlier preview-1 layer (wasi-common) did.
//! There are no sockets, so the rights `sock_shutdown` and `sock_accept` are
//! never held.
//!
//! Guest pointers are offsets into the guest's exported `memory`; every one is
//! bounds-checked and a bad one is `EFAULT` (see `memory.rs`). The memory may be
//! shared (threads): it is then reached only by copies, never borrowed. Nothing
//! here uses `unsafe`.
//!
//! ```no_run
//! use lazuli::{Engine, Linker, Module, Store};
//! use lazuli_wasi::p1::{self, WasiP1Ctx};
//! use lazuli_wasi::{DirPerms, FilePerms, I32Exit, WasiCtxBuilder};
//!
//! # fn main() -> anyhow::Result<()> {
//! let engine = Engine::default();
//! let module = Module::from_file(&engine, "hello.wasm")?;
//! let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
//! p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
//! let ctx = WasiCtxBuilder::new()
//!     .inherit_args()
//!     .inherit_stdio()
//!     .preopened_dir(".", ".", DirPerms::all(), FilePerms::all())?
//!     .build_p1();
//! let mut store = Store::new(&engine, ctx);
//! let instance = linker.instantiate(&mut store, &module)?;
//! let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
//! match start.call(&mut store, ()) {
//!     Ok(()) => {}
//!     Err(e) => match e.downcast_ref::<I32Exit>() {
//!         Some(exit) => println!("exited with {}", exit.0),
//!         None => return Err(e),
//!     },
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod ctx;
mod errno;
mod fd;
mod memory;
mod misc;
pub mod p1;
mod path;
mod perms;
mod poll;
mod types;

pub use ctx::{OutputBuffer, WasiCtx, WasiCtxBuilder};
pub use errno::Errno;
pub use perms::{DirPerms, FilePerms};

use std::fmt;

/// The error a call returns when the guest calls `proc_exit`: the program ended
/// with this exit status. Downcast the call's error to find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct I32Exit(pub i32);

impl fmt::Display for I32Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exited with i32 exit status {}", self.0)
    }
}

impl std::error::Error for I32Exit {}
