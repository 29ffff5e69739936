//! WASI preview 1 (`wasi_snapshot_preview1`) for Lazuli: the host functions that
//! let command-line programs compiled for `wasm32-wasi` run, sandboxed.
//!
//! The guest sees only what the embedder gives it in a [`WasiCtx`]: its arguments
//! and environment, its standard streams (inherited from the host, captured in
//! memory, or empty), and preopened directories. Files are reached only through
//! those directories, by cap-std, which resolves every path beneath a directory
//! handle and refuses `..` past it, absolute paths and symlinks leading out.
//!
//! Guest pointers are offsets into the guest's exported `memory`; every one is
//! bounds-checked and a bad one is `EFAULT` (see `memory.rs`). Nothing here uses
//! `unsafe`.
//!
//! ```no_run
//! use lazuli::{Engine, Linker, Module, Store};
//! use lazuli_wasi::{I32Exit, WasiCtx, WasiCtxBuilder};
//!
//! # fn main() -> anyhow::Result<()> {
//! let engine = Engine::default();
//! let module = Module::from_file(&engine, "hello.wasm")?;
//! let mut linker = Linker::new(&engine);
//! lazuli_wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx)?;
//! let ctx = WasiCtxBuilder::new()
//!     .arg("hello.wasm")
//!     .inherit_stdio()
//!     .preopened_dir(".", ".")?
//!     .build();
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
mod path;
mod poll;
mod types;

pub use ctx::{OutputBuffer, WasiCtx, WasiCtxBuilder};
pub use errno::Errno;

use anyhow::Result;
use lazuli::{Caller, Extern, FuncType, Linker, Val, ValType};
use memory::GuestMemory;
use std::fmt;

/// The import module name of WASI preview 1.
pub const MODULE: &str = "wasi_snapshot_preview1";

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

/// Runs one WASI call: finds the caller's `memory`, takes the context out of the
/// store for the duration (the memory and the store data cannot be borrowed at
/// once otherwise), and turns the outcome into the errno the guest receives.
///
/// A module without an exported memory gets an empty one: every pointer it passes
/// is `EFAULT`, while calls without pointers work.
fn dispatch<T>(
    caller: &mut Caller<'_, T>,
    get: impl Fn(&mut T) -> &mut WasiCtx,
    f: impl FnOnce(&mut WasiCtx, &mut GuestMemory<'_>) -> Result<(), Errno>,
) -> i32 {
    let memory = match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        _ => None,
    };
    let mut ctx = std::mem::take(get(caller.data_mut()));
    let result = {
        let data: &mut [u8] = match memory {
            Some(m) => m.data_mut(&mut *caller),
            None => &mut [],
        };
        f(&mut ctx, &mut GuestMemory::new(data))
    };
    *get(caller.data_mut()) = ctx;
    match result {
        Ok(()) => 0,
        Err(errno) => i32::from(errno.0),
    }
}

/// Defines a WASI function taking `u32`/`u64` arguments and returning an errno.
macro_rules! wasi {
    ($linker:ident, $get:ident, $name:literal, |$ctx:ident, $mem:ident $(, $arg:ident : $ty:ty)*| $body:expr) => {
        $linker.func_wrap(
            MODULE,
            $name,
            move |mut caller: Caller<'_, T>, $($arg: $ty),*| -> i32 {
                #[allow(unused_variables)]
                dispatch(&mut caller, $get, |$ctx, $mem| $body)
            },
        )?;
    };
}

/// Adds every function of `wasi_snapshot_preview1` to `linker`. `get` finds the
/// [`WasiCtx`] in the store's data.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: impl Fn(&mut T) -> &mut WasiCtx + Send + Sync + Copy + 'static,
) -> Result<()> {
    wasi!(linker, get, "args_get", |c, m, argv: u32, buf: u32| c
        .args_get(m, argv, buf));
    wasi!(
        linker,
        get,
        "args_sizes_get",
        |c, m, argc: u32, size: u32| c.args_sizes_get(m, argc, size)
    );
    wasi!(linker, get, "environ_get", |c, m, env: u32, buf: u32| c
        .environ_get(m, env, buf));
    wasi!(
        linker,
        get,
        "environ_sizes_get",
        |c, m, count: u32, size: u32| c.environ_sizes_get(m, count, size)
    );
    wasi!(linker, get, "clock_res_get", |c, m, id: u32, res: u32| c
        .clock_res_get(m, id, res));
    wasi!(
        linker,
        get,
        "clock_time_get",
        |c, m, id: u32, precision: u64, time: u32| c.clock_time_get(m, id, precision, time)
    );
    wasi!(
        linker,
        get,
        "fd_advise",
        |c, m, fd: u32, offset: u64, len: u64, advice: u32| c.fd_advise(fd, offset, len, advice)
    );
    wasi!(
        linker,
        get,
        "fd_allocate",
        |c, m, fd: u32, offset: u64, len: u64| c.fd_allocate(fd, offset, len)
    );
    wasi!(linker, get, "fd_close", |c, m, fd: u32| c.fd_close(fd));
    wasi!(linker, get, "fd_datasync", |c, m, fd: u32| c
        .fd_datasync(fd));
    wasi!(linker, get, "fd_fdstat_get", |c, m, fd: u32, buf: u32| c
        .fd_fdstat_get(m, fd, buf));
    wasi!(
        linker,
        get,
        "fd_fdstat_set_flags",
        |c, m, fd: u32, flags: u32| c.fd_fdstat_set_flags(fd, flags)
    );
    wasi!(
        linker,
        get,
        "fd_fdstat_set_rights",
        |c, m, fd: u32, base: u64, inh: u64| c.fd_fdstat_set_rights(fd, base, inh)
    );
    wasi!(linker, get, "fd_filestat_get", |c, m, fd: u32, buf: u32| c
        .fd_filestat_get(m, fd, buf));
    wasi!(
        linker,
        get,
        "fd_filestat_set_size",
        |c, m, fd: u32, size: u64| c.fd_filestat_set_size(fd, size)
    );
    wasi!(
        linker,
        get,
        "fd_filestat_set_times",
        |c, m, fd: u32, atim: u64, mtim: u64, flags: u32| c
            .fd_filestat_set_times(fd, atim, mtim, flags)
    );
    wasi!(
        linker,
        get,
        "fd_pread",
        |c, m, fd: u32, iovs: u32, len: u32, offset: u64, nread: u32| c
            .fd_pread(m, fd, iovs, len, offset, nread)
    );
    wasi!(linker, get, "fd_prestat_get", |c, m, fd: u32, buf: u32| c
        .fd_prestat_get(m, fd, buf));
    wasi!(
        linker,
        get,
        "fd_prestat_dir_name",
        |c, m, fd: u32, path: u32, len: u32| c.fd_prestat_dir_name(m, fd, path, len)
    );
    wasi!(
        linker,
        get,
        "fd_pwrite",
        |c, m, fd: u32, iovs: u32, len: u32, offset: u64, nwritten: u32| c
            .fd_pwrite(m, fd, iovs, len, offset, nwritten)
    );
    wasi!(
        linker,
        get,
        "fd_read",
        |c, m, fd: u32, iovs: u32, len: u32, nread: u32| c.fd_read(m, fd, iovs, len, nread)
    );
    wasi!(
        linker,
        get,
        "fd_readdir",
        |c, m, fd: u32, buf: u32, len: u32, cookie: u64, used: u32| c
            .fd_readdir(m, fd, buf, len, cookie, used)
    );
    wasi!(linker, get, "fd_renumber", |c, m, fd: u32, to: u32| c
        .fd_renumber(fd, to));
    wasi!(
        linker,
        get,
        "fd_seek",
        |c, m, fd: u32, offset: i64, whence: u32, new: u32| c.fd_seek(m, fd, offset, whence, new)
    );
    wasi!(linker, get, "fd_sync", |c, m, fd: u32| c.fd_sync(fd));
    wasi!(linker, get, "fd_tell", |c, m, fd: u32, offset: u32| c
        .fd_tell(m, fd, offset));
    wasi!(
        linker,
        get,
        "fd_write",
        |c, m, fd: u32, iovs: u32, len: u32, nwritten: u32| c.fd_write(m, fd, iovs, len, nwritten)
    );
    wasi!(
        linker,
        get,
        "path_create_directory",
        |c, m, fd: u32, path: u32, len: u32| c.path_create_directory(m, fd, path, len)
    );
    wasi!(
        linker,
        get,
        "path_filestat_get",
        |c, m, fd: u32, flags: u32, path: u32, len: u32, buf: u32| c
            .path_filestat_get(m, fd, flags, path, len, buf)
    );
    wasi!(
        linker,
        get,
        "path_filestat_set_times",
        |c, m, fd: u32, flags: u32, path: u32, len: u32, atim: u64, mtim: u64, fst: u32| c
            .path_filestat_set_times(m, fd, flags, path, len, atim, mtim, fst)
    );
    wasi!(
        linker,
        get,
        "path_link",
        |c,
         m,
         old_fd: u32,
         old_flags: u32,
         old: u32,
         old_len: u32,
         new_fd: u32,
         new: u32,
         new_len: u32| c
            .path_link(m, old_fd, old_flags, old, old_len, new_fd, new, new_len)
    );
    wasi!(
        linker,
        get,
        "path_readlink",
        |c, m, fd: u32, path: u32, len: u32, buf: u32, buf_len: u32, used: u32| c
            .path_readlink(m, fd, path, len, buf, buf_len, used)
    );
    wasi!(
        linker,
        get,
        "path_remove_directory",
        |c, m, fd: u32, path: u32, len: u32| c.path_remove_directory(m, fd, path, len)
    );
    wasi!(
        linker,
        get,
        "path_rename",
        |c, m, fd: u32, old: u32, old_len: u32, new_fd: u32, new: u32, new_len: u32| c
            .path_rename(m, fd, old, old_len, new_fd, new, new_len)
    );
    wasi!(
        linker,
        get,
        "path_symlink",
        |c, m, old: u32, old_len: u32, fd: u32, new: u32, new_len: u32| c
            .path_symlink(m, old, old_len, fd, new, new_len)
    );
    wasi!(
        linker,
        get,
        "path_unlink_file",
        |c, m, fd: u32, path: u32, len: u32| c.path_unlink_file(m, fd, path, len)
    );
    wasi!(
        linker,
        get,
        "poll_oneoff",
        |c, m, subs: u32, events: u32, n: u32, nevents: u32| c
            .poll_oneoff(m, subs, events, n, nevents)
    );
    wasi!(linker, get, "proc_raise", |c, m, signal: u32| c
        .proc_raise(signal));
    wasi!(linker, get, "sched_yield", |c, m| c.sched_yield());
    wasi!(linker, get, "random_get", |c, m, buf: u32, len: u32| c
        .random_get(m, buf, len));
    wasi!(
        linker,
        get,
        "sock_accept",
        |c, m, fd: u32, flags: u32, opened: u32| c.sock_accept(m, fd, flags, opened)
    );
    wasi!(
        linker,
        get,
        "sock_recv",
        |c, m, fd: u32, data: u32, len: u32, flags: u32, datalen: u32, oflags: u32| c
            .sock_recv(m, fd, data, len, flags, datalen, oflags)
    );
    wasi!(
        linker,
        get,
        "sock_send",
        |c, m, fd: u32, data: u32, len: u32, flags: u32, datalen: u32| c
            .sock_send(m, fd, data, len, flags, datalen)
    );
    wasi!(linker, get, "sock_shutdown", |c, m, fd: u32, how: u32| c
        .sock_shutdown(fd, how));

    linker.func_wrap(
        MODULE,
        "proc_exit",
        |_caller: Caller<'_, T>, code: i32| -> Result<()> { Err(I32Exit(code).into()) },
    )?;

    // Nine parameters, through `func_new` (written when `func_wrap` took eight).
    use ValType::{I32, I64};
    let path_open = FuncType::new(
        linker.engine(),
        [I32, I32, I32, I32, I32, I64, I64, I32, I32],
        [I32],
    );
    linker.func_new(
        MODULE,
        "path_open",
        path_open,
        move |mut caller, params, results| {
            let [
                fd,
                dirflags,
                path,
                len,
                oflags,
                base,
                inheriting,
                fdflags,
                opened,
            ] = params
            else {
                anyhow::bail!("path_open: wrong number of arguments");
            };
            let (i32_, i64_) = (
                |v: &Val| v.i32().map_or(0, |v| v as u32),
                |v: &Val| v.i64().map_or(0, |v| v as u64),
            );
            let errno = dispatch(&mut caller, get, |c, m| {
                c.path_open(
                    m,
                    i32_(fd),
                    i32_(dirflags),
                    i32_(path),
                    i32_(len),
                    i32_(oflags),
                    i64_(base),
                    i64_(inheriting),
                    i32_(fdflags),
                    i32_(opened),
                )
            });
            if let Some(result) = results.first_mut() {
                *result = Val::I32(errno);
            }
            Ok(())
        },
    )?;
    Ok(())
}
