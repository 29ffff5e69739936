//! The embedding API — builder, captured stdio, exit status, preopen permissions
//! and rights — and the behaviour of individual calls, driven from a Wasm guest.

mod support;

use lazuli::{Engine, Linker, Module, Store, Val};
use lazuli_wasi::p1::{self, WasiP1Ctx};
use lazuli_wasi::{DirPerms, Errno, FilePerms, I32Exit, OutputBuffer, WasiCtx, WasiCtxBuilder};
use support::{Guest, TempDir, ctx_with_dir};

const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/wasi/programs");

/// Runs a command module's `_start`; returns its exit status.
fn run_command(path: &str, ctx: WasiP1Ctx) -> anyhow::Result<i32> {
    let engine = Engine::default();
    let module = Module::from_file(&engine, path)?;
    let mut linker = Linker::new(&engine);
    p1::add_to_linker_sync(&mut linker, |ctx: &mut WasiP1Ctx| ctx)?;
    let mut store = Store::new(&engine, ctx);
    let instance = linker.instantiate(&mut store, &module)?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    match start.call(&mut store, ()) {
        Ok(()) => Ok(0),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => Ok(*code),
            None => Err(e),
        },
    }
}

fn errno(e: Errno) -> i32 {
    i32::from(e.0)
}

#[test]
fn captured_stdout_and_arguments() {
    let out = OutputBuffer::new();
    let ctx = WasiCtxBuilder::new()
        .args(["echo", "a b", "c"])
        .env("X", "1")
        .envs(&[("Y", "2"), ("X", "3")])
        .stdout_buffer(&out)
        .build_p1();
    assert_eq!(
        run_command(&format!("{PROGRAMS}/echo.wasm"), ctx).unwrap(),
        0
    );
    assert_eq!(
        String::from_utf8(out.take()).unwrap(),
        "arg 0: echo\narg 1: a b\narg 2: c\nenv: X=3\nenv: Y=2\n"
    );
}

#[test]
fn stdin_bytes_and_captured_stderr() {
    let (out, err) = (OutputBuffer::new(), OutputBuffer::new());
    let ctx = WasiCtxBuilder::new()
        .args(["exit", "trap"])
        .stdin_bytes("ignored")
        .stdout_buffer(&out)
        .stderr_buffer(&err)
        .build_p1();
    let trap = run_command(&format!("{PROGRAMS}/exit.wasm"), ctx).unwrap_err();
    assert_eq!(
        trap.downcast_ref::<lazuli::Trap>(),
        Some(&lazuli::Trap::UnreachableCodeReached)
    );

    let ctx = WasiCtxBuilder::new()
        .stdin_bytes("hello\nworld\n")
        .stdout_buffer(&out)
        .build_p1();
    assert_eq!(
        run_command(&format!("{PROGRAMS}/stdin.wasm"), ctx).unwrap(),
        0
    );
    let text = String::from_utf8(out.take()).unwrap();
    assert!(text.starts_with("bytes 12 lines 2 "), "{text}");
    assert!(text.ends_with("first: HELLO\n"), "{text}");
}

#[test]
fn proc_exit_is_an_i32_exit_error() {
    let ctx = WasiCtxBuilder::new().args(["exit", "7"]).build_p1();
    assert_eq!(
        run_command(&format!("{PROGRAMS}/exit.wasm"), ctx).unwrap(),
        7
    );
    let mut guest = Guest::new(WasiP1Ctx::default());
    let exit = guest
        .instance
        .get_func(&mut guest.store, "proc_exit")
        .unwrap();
    let err = exit
        .call(&mut guest.store, &[Val::I32(-3)], &mut [])
        .unwrap_err();
    assert_eq!(err.downcast_ref::<I32Exit>(), Some(&I32Exit(-3)));
    // Under the backtrace of the Wasm frames the exit crossed, as in Wasmtime.
    assert_eq!(
        err.root_cause().to_string(),
        "exited with i32 exit status -3"
    );
}

/// Wasmtime's `wasip1` example with `wasmtime` renamed: `WasiCtx::builder()`,
/// `inherit_stdio`, `inherit_args`, `build_p1`, `p1::add_to_linker_sync` with the
/// identity closure (stdout is captured here to check it).
#[test]
fn wasmtimes_wasip1_example_after_the_rename() {
    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    lazuli_wasi::p1::add_to_linker_sync(&mut linker, |s| s).unwrap();
    let out = OutputBuffer::new();
    let wasi = WasiCtx::builder()
        .inherit_stdio()
        .inherit_args()
        .stdout_buffer(&out)
        .build_p1();
    let mut store = Store::new(&engine, wasi);
    let module = Module::from_file(&engine, format!("{PROGRAMS}/hello.wasm")).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .unwrap();
    start.call(&mut store, ()).unwrap();
    assert_eq!(out.take(), b"Hello, world!\n");
}

#[test]
fn inherited_arguments_are_the_host_processes() {
    let out = OutputBuffer::new();
    let ctx = WasiCtxBuilder::new()
        .inherit_args()
        .stdout_buffer(&out)
        .build_p1();
    assert_eq!(
        run_command(&format!("{PROGRAMS}/echo.wasm"), ctx).unwrap(),
        0
    );
    let expected: String = std::env::args()
        .enumerate()
        .map(|(i, arg)| format!("arg {i}: {arg}\n"))
        .collect();
    assert_eq!(String::from_utf8(out.take()).unwrap(), expected);
}

// Preview-1 rights, by bit.
const FD_READ: i64 = 1 << 1;
const FD_SEEK: i64 = 1 << 2;
const FD_TELL: i64 = 1 << 5;
const FD_WRITE: i64 = 1 << 6;
const FD_READDIR: i64 = 1 << 14;
const PATH_CREATE_FILE: i64 = 1 << 10;
const PATH_OPEN: i64 = 1 << 13;

/// The (base, inheriting) rights `fd_fdstat_get` reports for `fd`.
fn rights_of(guest: &mut Guest, fd: i64) -> (u64, u64) {
    assert_eq!(guest.errno("fd_fdstat_get", &[fd, 200]), 0);
    (guest.u64_at(208), guest.u64_at(216))
}

#[test]
fn preopen_rights_follow_the_permissions() {
    let dir = TempDir::new();
    let mut rights = Vec::new();
    for (d, f) in [
        (DirPerms::all(), FilePerms::all()),
        (DirPerms::READ, FilePerms::READ),
        (DirPerms::READ, FilePerms::WRITE),
        (DirPerms::MUTATE, FilePerms::empty()),
    ] {
        let ctx = WasiCtxBuilder::new()
            .preopened_dir(&dir.0, "/d", d, f)
            .unwrap()
            .build_p1();
        rights.push(rights_of(&mut Guest::new(ctx), 3));
    }
    let has = |rights: u64, right: i64| rights & right as u64 != 0;
    let [
        (all, all_inh),
        (ro, ro_inh),
        (wo, wo_inh),
        (mutate, mutate_inh),
    ] = rights[..]
    else {
        unreachable!()
    };
    // Full permissions: every directory right, and every file right beneath.
    assert_eq!(all, 0x7bf_fe19);
    assert_eq!(all_inh, 0xfff_ffff);
    assert!(has(ro, PATH_OPEN) && has(ro, FD_READDIR) && !has(ro, PATH_CREATE_FILE));
    assert!(has(ro_inh, FD_READ) && !has(ro_inh, FD_WRITE));
    assert_eq!(ro, wo);
    assert!(!has(wo_inh, FD_READ) && has(wo_inh, FD_WRITE) && has(wo_inh, FD_SEEK));
    assert!(has(mutate, PATH_CREATE_FILE) && !has(mutate, PATH_OPEN));
    assert_eq!(mutate, mutate_inh, "no file rights to pass on");
    assert_eq!(all, ro | mutate);
}

#[test]
fn read_only_preopen() {
    let dir = TempDir::new();
    std::fs::write(dir.0.join("f.txt"), "data").unwrap();
    std::fs::create_dir(dir.0.join("sub")).unwrap();
    let ctx = WasiCtxBuilder::new()
        .preopened_dir(&dir.0, "/ro", DirPerms::READ, FilePerms::READ)
        .unwrap()
        .build_p1();
    let mut guest = Guest::new(ctx);
    let (f, f_len) = guest.string(4000, "f.txt");
    let (new, new_len) = guest.string(4100, "new");
    let (sub, sub_len) = guest.string(4200, "sub");
    let read = FD_READ | FD_SEEK;
    let notcapable = errno(Errno::NOTCAPABLE);

    // Writing, appending, creating or truncating a file.
    for (path, oflags, rights, fdflags) in [
        ((f, f_len), 0, FD_WRITE, 0),
        ((f, f_len), 0, read, 1),
        ((new, new_len), 1, read, 0),
        ((f, f_len), 8, read, 0),
    ] {
        assert_eq!(
            guest.errno(
                "path_open",
                &[3, 1, path.0, path.1, oflags, rights, 0, fdflags, 100]
            ),
            notcapable,
            "oflags {oflags} rights {rights:#x} fdflags {fdflags}"
        );
    }
    assert_eq!(
        guest.errno("path_create_directory", &[3, new, new_len]),
        notcapable
    );
    assert_eq!(guest.errno("path_unlink_file", &[3, f, f_len]), notcapable);
    assert_eq!(
        guest.errno("path_remove_directory", &[3, sub, sub_len]),
        notcapable
    );
    assert_eq!(
        guest.errno("path_rename", &[3, f, f_len, 3, new, new_len]),
        notcapable
    );
    assert_eq!(
        guest.errno("path_link", &[3, 0, f, f_len, 3, new, new_len]),
        notcapable
    );
    assert_eq!(
        guest.errno("path_symlink", &[f, f_len, 3, new, new_len]),
        notcapable
    );
    assert_eq!(
        guest.errno("path_filestat_set_times", &[3, 1, f, f_len, 0, 0, 2]),
        notcapable
    );
    assert_eq!(
        guest.errno("fd_filestat_set_times", &[3, 0, 0, 2]),
        notcapable
    );

    // Reading works, and what is opened beneath stays read-only, whatever it
    // asks for.
    assert_eq!(
        guest.errno("path_open", &[3, 1, f, f_len, 0, read, -1, 0, 100]),
        0
    );
    let fd = guest.u32_at(100) as i64;
    let (base, inheriting) = rights_of(&mut guest, fd);
    assert_eq!(base, read as u64);
    assert_eq!(inheriting & FD_WRITE as u64, 0);
    guest.iovecs(2000, &[(1000, 10)]);
    assert_eq!(guest.errno("fd_read", &[fd, 2000, 1, 3000]), 0);
    assert_eq!(guest.read(1000, 4), b"data");
    assert_eq!(guest.errno("fd_filestat_set_size", &[fd, 0]), notcapable);
    assert_eq!(
        guest.errno("fd_filestat_set_times", &[fd, 0, 0, 2]),
        notcapable
    );
    // Asking to write a directory is EISDIR, whether or not writing is allowed;
    // asking for every other right opens it with the rights it can have.
    assert_eq!(
        guest.errno("path_open", &[3, 1, sub, sub_len, 2, FD_WRITE, 0, 0, 100]),
        errno(Errno::ISDIR)
    );
    assert_eq!(
        guest.errno("path_open", &[3, 1, sub, sub_len, 2, !FD_WRITE, -1, 0, 100]),
        0
    );
    let subfd = guest.u32_at(100) as i64;
    assert_eq!(rights_of(&mut guest, subfd), rights_of(&mut guest, 3));
    assert_eq!(
        guest.errno("path_create_directory", &[subfd, new, new_len]),
        notcapable
    );
    assert_eq!(
        std::fs::read_to_string(dir.0.join("f.txt")).unwrap(),
        "data"
    );
    assert!(!dir.0.join("new").exists());
}

#[test]
fn write_only_files() {
    let dir = TempDir::new();
    std::fs::write(dir.0.join("f.txt"), "data").unwrap();
    let ctx = WasiCtxBuilder::new()
        .preopened_dir(&dir.0, "/wo", DirPerms::READ, FilePerms::WRITE)
        .unwrap()
        .build_p1();
    let mut guest = Guest::new(ctx);
    let (f, f_len) = guest.string(4000, "f.txt");
    assert_eq!(
        guest.errno("path_open", &[3, 1, f, f_len, 0, FD_READ, 0, 0, 100]),
        errno(Errno::NOTCAPABLE)
    );
    assert_eq!(
        guest.errno(
            "path_open",
            &[3, 1, f, f_len, 0, FD_WRITE | FD_TELL, 0, 0, 100]
        ),
        0
    );
    let fd = guest.u32_at(100) as i64;
    guest.write(1000, b"DA");
    guest.iovecs(2000, &[(1000, 2)]);
    assert_eq!(guest.errno("fd_write", &[fd, 2000, 1, 3000]), 0);
    assert_eq!(guest.errno("fd_tell", &[fd, 3000]), 0);
    assert_eq!(guest.u64_at(3000), 2);
    assert_eq!(
        std::fs::read_to_string(dir.0.join("f.txt")).unwrap(),
        "DAta"
    );
}

#[test]
fn descriptors_renumber_close_and_rights() {
    let dir = TempDir::new();
    std::fs::write(dir.0.join("f.txt"), "data").unwrap();
    let mut guest = Guest::new(ctx_with_dir(&dir.0));
    let (f, f_len) = guest.string(4000, "f.txt");
    let rights = (1 << 1) | (1 << 2) | (1 << 5);
    assert_eq!(
        guest.errno("path_open", &[3, 1, f, f_len, 0, rights, 0, 0, 100]),
        0
    );
    assert_eq!(guest.u32_at(100), 4);

    // fdstat: a regular file with the rights asked for.
    assert_eq!(guest.errno("fd_fdstat_get", &[4, 200]), 0);
    assert_eq!(guest.read(200, 1), [4]);
    assert_eq!(guest.u64_at(208), rights as u64);
    // Rights can shrink, never grow; without FD_READ reading is ENOTCAPABLE.
    assert_eq!(
        guest.errno("fd_fdstat_set_rights", &[4, rights | (1 << 6), 0]),
        errno(Errno::NOTCAPABLE)
    );
    assert_eq!(guest.errno("fd_fdstat_set_rights", &[4, 1 << 2, 0]), 0);
    guest.iovecs(2000, &[(1000, 4)]);
    assert_eq!(
        guest.errno("fd_read", &[4, 2000, 1, 3000]),
        errno(Errno::NOTCAPABLE)
    );
    assert_eq!(
        guest.errno("fd_fdstat_set_rights", &[4, 1 << 5, 0]),
        errno(Errno::NOTCAPABLE),
        "a dropped right stays dropped"
    );

    // prestat only for preopens.
    assert_eq!(guest.errno("fd_prestat_get", &[4, 200]), errno(Errno::BADF));
    assert_eq!(guest.errno("fd_prestat_get", &[3, 200]), 0);
    assert_eq!(guest.u32_at(204), 4);
    assert_eq!(
        guest.errno("fd_prestat_dir_name", &[3, 200, 2]),
        errno(Errno::NAMETOOLONG)
    );

    // Renumbering onto stdin closes stdin; the old number is gone.
    assert_eq!(guest.errno("fd_renumber", &[4, 9]), errno(Errno::BADF));
    assert_eq!(guest.errno("fd_renumber", &[4, 0]), 0);
    assert_eq!(guest.errno("fd_close", &[4]), errno(Errno::BADF));
    assert_eq!(guest.errno("fd_tell", &[0, 200]), 0);
    assert_eq!(guest.errno("fd_close", &[0]), 0);
    assert_eq!(guest.errno("fd_close", &[0]), errno(Errno::BADF));
    // The lowest free number is reused.
    assert_eq!(
        guest.errno("path_open", &[3, 1, f, f_len, 0, rights, 0, 0, 100]),
        0
    );
    assert_eq!(guest.u32_at(100), 0);
}

#[test]
fn streams() {
    let out = OutputBuffer::new();
    let ctx = WasiCtxBuilder::new()
        .stdin_bytes("abc")
        .stdout_buffer(&out)
        .build_p1();
    let mut guest = Guest::new(ctx);
    assert_eq!(guest.errno("fd_seek", &[0, 0, 0, 100]), errno(Errno::SPIPE));
    assert_eq!(guest.errno("fd_tell", &[1, 100]), errno(Errno::SPIPE));
    assert_eq!(guest.errno("fd_fdstat_get", &[1, 200]), 0);
    let rights = guest.u64_at(208);
    assert_eq!(rights & (1 << 6), 1 << 6, "stdout is writable");
    assert_eq!(rights & ((1 << 2) | (1 << 5)), 0, "stdout cannot seek");
    // Writing to stdin and reading stdout are refused: they lack the rights.
    guest.write(1000, b"xyz");
    guest.iovecs(2000, &[(1000, 3)]);
    assert_eq!(
        guest.errno("fd_write", &[0, 2000, 1, 3000]),
        errno(Errno::NOTCAPABLE)
    );
    assert_eq!(
        guest.errno("fd_read", &[1, 2000, 1, 3000]),
        errno(Errno::NOTCAPABLE)
    );
    assert_eq!(guest.errno("fd_write", &[2, 2000, 1, 3000]), 0);
    assert!(out.contents().is_empty(), "stderr is not stdout");
    assert_eq!(guest.errno("fd_read", &[0, 2000, 1, 3000]), 0);
    assert_eq!(guest.u32_at(3000), 3);
    assert_eq!(guest.errno("fd_read", &[0, 2000, 1, 3000]), 0);
    assert_eq!(guest.u32_at(3000), 0);
}

#[test]
fn readdir_continues_from_a_cookie() {
    let dir = TempDir::new();
    let names: Vec<String> = (0..40).map(|i| format!("entry-{i:02}")).collect();
    for name in &names {
        std::fs::write(dir.0.join(name), "").unwrap();
    }
    let mut guest = Guest::new(ctx_with_dir(&dir.0));
    let mut seen = Vec::new();
    let mut cookie = 0u64;
    loop {
        // A buffer that holds about two entries.
        assert_eq!(
            guest.errno("fd_readdir", &[3, 1000, 70, cookie as i64, 100]),
            0
        );
        let used = guest.u32_at(100) as usize;
        let buf = guest.read(1000, used);
        let mut at = 0;
        while at + 24 <= used {
            let next = u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
            let len = u32::from_le_bytes(buf[at + 16..at + 20].try_into().unwrap()) as usize;
            if at + 24 + len > used {
                break;
            }
            seen.push(String::from_utf8(buf[at + 24..at + 24 + len].to_vec()).unwrap());
            cookie = next;
            at += 24 + len;
        }
        if used < 70 {
            break;
        }
    }
    let mut expected: Vec<String> = vec![".".into(), "..".into()];
    expected.extend(names);
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn unsupported_calls_and_bad_arguments() {
    let dir = TempDir::new();
    let mut guest = Guest::new(ctx_with_dir(&dir.0));
    assert_eq!(guest.errno("proc_raise", &[9]), errno(Errno::NOTSUP));
    assert_eq!(guest.errno("sock_shutdown", &[1, 0]), errno(Errno::NOTSOCK));
    assert_eq!(guest.errno("sock_shutdown", &[99, 0]), errno(Errno::BADF));
    assert_eq!(
        guest.errno("sock_accept", &[3, 0, 100]),
        errno(Errno::NOTSOCK)
    );
    assert_eq!(
        guest.errno("clock_time_get", &[9, 0, 100]),
        errno(Errno::INVAL)
    );
    assert_eq!(guest.errno("fd_seek", &[3, 0, 7, 100]), errno(Errno::INVAL));
    assert_eq!(
        guest.errno("poll_oneoff", &[1000, 2000, 0, 3000]),
        errno(Errno::INVAL)
    );
    assert_eq!(
        guest.errno("fd_write", &[77, 0, 0, 100]),
        errno(Errno::BADF)
    );
    let (x, x_len) = guest.string(4000, "x");
    assert_eq!(
        guest.errno("path_create_directory", &[1, x, x_len]),
        errno(Errno::NOTDIR)
    );
    assert_eq!(guest.errno("fd_advise", &[3, 0, 0, 9]), errno(Errno::INVAL));
    // An fd subscription on a closed descriptor is an event with an error.
    let mut sub = [0u8; 48];
    sub[0] = 5;
    sub[8] = 1;
    sub[16] = 42;
    guest.write(1000, &sub);
    assert_eq!(guest.errno("poll_oneoff", &[1000, 2000, 1, 3000]), 0);
    assert_eq!(guest.u32_at(3000), 1);
    assert_eq!(guest.u64_at(2000), 5);
    assert_eq!(guest.read(2008, 2), errno(Errno::BADF).to_le_bytes()[..2]);
}

#[test]
fn preopening_a_missing_directory_is_an_error() {
    let missing = std::env::temp_dir().join("lazuli-wasi-no-such-directory");
    let err = WasiCtxBuilder::new()
        .preopened_dir(&missing, "/x", DirPerms::all(), FilePerms::all())
        .err()
        .expect("preopening a missing directory fails");
    assert!(
        err.to_string().contains("lazuli-wasi-no-such-directory"),
        "{err}"
    );
}

#[test]
fn open_flags_are_reported_back() {
    let dir = TempDir::new();
    let mut guest = Guest::new(ctx_with_dir(&dir.0));
    let (f, f_len) = guest.string(4000, "f.txt");
    // Reading, writing and setting the flags (`fd_fdstat_set_flags`).
    let rw = (1 << 1) | (1 << 6) | (1 << 3);
    // CREAT | EXCL | TRUNC with APPEND | DSYNC | NONBLOCK | RSYNC | SYNC.
    let oflags = 1 | 4 | 8;
    let fdflags = 1 | 2 | 4 | 8 | 16;
    assert_eq!(
        guest.errno("path_open", &[3, 1, f, f_len, oflags, rw, 0, fdflags, 100]),
        0
    );
    let fd = guest.u32_at(100) as i64;
    assert_eq!(guest.errno("fd_fdstat_get", &[fd, 200]), 0);
    let flags = u16::from_le_bytes(guest.read(202, 2).try_into().unwrap());
    assert_eq!(flags & (1 | 4 | 16), 1 | 4 | 16, "flags {flags:#x}");
    // Append and non-blocking can be turned off; the sync flags cannot change.
    let sync_flags = i64::from(flags & (2 | 8 | 16));
    assert_eq!(guest.errno("fd_fdstat_set_flags", &[fd, sync_flags]), 0);
    assert_eq!(guest.errno("fd_fdstat_get", &[fd, 200]), 0);
    assert_eq!(
        u16::from_le_bytes(guest.read(202, 2).try_into().unwrap()) & (1 | 4),
        0
    );
    assert_eq!(
        guest.errno("fd_fdstat_set_flags", &[fd, 0]),
        errno(Errno::NOTSUP)
    );
    // EXCL: a second exclusive create fails.
    assert_eq!(
        guest.errno("path_open", &[3, 1, f, f_len, oflags, rw, 0, 0, 100]),
        errno(Errno::EXIST)
    );
    // DIRECTORY on a file, and with CREAT.
    assert_eq!(
        guest.errno("path_open", &[3, 1, f, f_len, 2, 1 << 1, 0, 0, 100]),
        errno(Errno::NOTDIR)
    );
    assert_eq!(
        guest.errno("path_open", &[3, 1, f, f_len, 2 | 1, 1 << 1, 0, 0, 100]),
        errno(Errno::INVAL)
    );
    // Unknown flag bits.
    assert_eq!(
        guest.errno("path_open", &[3, 1, f, f_len, 16, 1 << 1, 0, 0, 100]),
        errno(Errno::INVAL)
    );
    assert_eq!(
        guest.errno("path_open", &[3, 1, f, f_len, 0, 1 << 1, 0, 32, 100]),
        errno(Errno::INVAL)
    );
}

/// `path_symlink(target, 3, link)` in the preopen (fd 3).
fn symlink(guest: &mut Guest, target: &str, link: &str) -> i32 {
    let (t, t_len) = guest.string(5000, target);
    let (l, l_len) = guest.string(6000, link);
    guest.errno("path_symlink", &[t, t_len, 3, l, l_len])
}

#[test]
fn symlinks_leading_out_of_the_preopen_are_refused() {
    let root = TempDir::new();
    let sandbox = root.0.join("sandbox");
    std::fs::create_dir_all(sandbox.join("sub")).unwrap();
    std::fs::create_dir(root.0.join("outside")).unwrap();
    // Host-made symlinks inside the sandbox, leading back to its root.
    std::os::unix::fs::symlink(".", sandbox.join("here")).unwrap();
    std::os::unix::fs::symlink("..", sandbox.join("sub/up")).unwrap();
    let mut guest = Guest::new(ctx_with_dir(&sandbox));
    for (target, link) in [
        ("../outside", "gdir"),
        ("/etc/passwd", "abs"),
        ("sub/../../outside", "deep"),
        ("./../outside", "dot"),
        ("../../outside", "sub/two-up"),
        // Lexically inside, but `here` and `sub/up` are symlinks to the root.
        ("here/../outside", "through-here"),
        ("sub/up/../outside", "through-up"),
        // The link's own directory is the root, reached through a symlink.
        ("../outside", "here/gdir"),
        ("../../outside", "sub/up/sub/gdir"),
    ] {
        assert_eq!(
            symlink(&mut guest, target, link),
            errno(Errno::PERM),
            "{link} -> {target}"
        );
        assert!(
            std::fs::symlink_metadata(sandbox.join(link)).is_err(),
            "{link} was made"
        );
    }
}

#[test]
fn symlinks_inside_the_preopen_are_made() {
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.0.join("d/e")).unwrap();
    std::fs::write(dir.0.join("target.txt"), "target").unwrap();
    let mut guest = Guest::new(ctx_with_dir(&dir.0));
    for (target, link) in [
        ("target.txt", "plain"),
        ("../target.txt", "d/up"),
        ("../../target.txt", "d/e/up-two"),
        ("d/../target.txt", "down-and-up"),
        ("./d/e/../../target.txt", "dotted"),
        ("missing", "dangling"),
    ] {
        assert_eq!(symlink(&mut guest, target, link), 0, "{link} -> {target}");
        assert_eq!(
            std::fs::read_link(dir.0.join(link)).unwrap(),
            std::path::Path::new(target)
        );
    }
    for link in ["plain", "d/up", "d/e/up-two", "down-and-up", "dotted"] {
        assert_eq!(
            std::fs::read_to_string(dir.0.join(link)).unwrap(),
            "target",
            "{link}"
        );
    }
}
