//! WASI preview 1 (`wasi_snapshot_preview1`) for core modules, in the shape of
//! wasmtime-wasi's `p1` module: build a [`WasiP1Ctx`] with
//! [`WasiCtxBuilder::build_p1`](crate::WasiCtxBuilder::build_p1), then add the
//! host functions to a [`Linker`] with [`add_to_linker_sync`].

pub use crate::ctx::WasiP1Ctx;

use crate::I32Exit;
use crate::errno::Errno;
use crate::memory::GuestMemory;
use anyhow::Result;
use lazuli::{Caller, Extern, Linker};

/// The import module name of WASI preview 1.
const MODULE: &str = "wasi_snapshot_preview1";

/// Runs one WASI call: finds the caller's `memory`, takes the context out of the
/// store for the duration (the memory and the store data cannot be borrowed at
/// once otherwise), and turns the outcome into the errno the guest receives.
///
/// A module without an exported memory gets an empty one: every pointer it passes
/// is `EFAULT`, while calls without pointers work. So does a module whose memory
/// is shared (threads): WASI's checked access lends out `&mut [u8]`, which no
/// thread may hold over a shared memory's bytes (other threads write them), so
/// WASI calls with pointers into a shared memory are not supported.
fn dispatch<T>(
    caller: &mut Caller<'_, T>,
    get: impl Fn(&mut T) -> &mut WasiP1Ctx,
    f: impl FnOnce(&mut WasiP1Ctx, &mut GuestMemory<'_>) -> Result<(), Errno>,
) -> i32 {
    let memory = match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        // Not lent out as bytes: see above.
        Some(Extern::SharedMemory(_)) => None,
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

/// Adds every function of `wasi_snapshot_preview1` to `linker`, as
/// wasmtime-wasi's function of the same name does. `get` finds the
/// [`WasiP1Ctx`] in the store's data; `T` need not be `Send`, as Wasmtime
/// requires.
pub fn add_to_linker_sync<T: 'static>(
    linker: &mut Linker<T>,
    get: impl Fn(&mut T) -> &mut WasiP1Ctx + Send + Sync + Copy + 'static,
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

    wasi!(
        linker,
        get,
        "path_open",
        |c,
         m,
         fd: u32,
         dirflags: u32,
         path: u32,
         len: u32,
         oflags: u32,
         base: u64,
         inheriting: u64,
         fdflags: u32,
         opened: u32| c.path_open(
            m, fd, dirflags, path, len, oflags, base, inheriting, fdflags, opened
        )
    );
    Ok(())
}
