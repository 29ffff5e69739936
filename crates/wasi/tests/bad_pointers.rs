//! Every WASI call given out-of-bounds or overlapping pointers returns `EFAULT`
//! and changes nothing: not the guest's memory, not its files, not its streams.
//! (Guest memory is only ever reached through bounds-checked slices of the
//! memory's bytes, or copies of them for a shared memory, so a host access
//! outside it cannot be expressed.) Each case runs on both kinds of memory.

mod support;

use lazuli_wasi::{DirPerms, FilePerms, OutputBuffer, WasiCtxBuilder};
use std::collections::BTreeMap;
use support::{Guest, SHARED, TempDir, UNSHARED, ctx_with_dir};

/// Runs each case on an unshared memory and on a shared one (threads), which the
/// host reaches only by copies: the checks must be the same.
macro_rules! on_both_memories {
    ($($case:ident),* $(,)?) => {
        mod unshared_memory {
            $(#[test] fn $case() { super::$case(super::UNSHARED) })*
        }
        mod shared_memory {
            $(#[test] fn $case() { super::$case(super::SHARED) })*
        }
    };
}

on_both_memories!(
    the_guest_declares_every_function_with_the_right_type,
    args_and_environ,
    clocks_and_random,
    fd_write,
    fd_read,
    positioned_io_seek_and_stat,
    preopens_and_readdir,
    path_calls,
    poll_oneoff,
    sockets
);

const EFAULT: i32 = 21;
/// One page: the first address past the guest's memory.
const END: i64 = 65536;
/// `u32::MAX` as the guest passes it.
const MAX: i64 = -1;

/// Calls `name` and checks that it returns `EFAULT` and leaves memory untouched.
#[track_caller]
fn assert_fault(guest: &mut Guest, name: &str, args: &[i64]) {
    let before = guest.mem();
    let errno = guest.errno(name, args);
    assert_eq!(errno, EFAULT, "{name}{args:?} returned {errno}, not EFAULT");
    assert!(guest.mem() == before, "{name}{args:?} changed guest memory");
}

/// Everything in a host directory: relative path → contents (or "dir").
fn tree(dir: &std::path::Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let value = if meta.is_dir() {
            "dir".to_string()
        } else if meta.file_type().is_symlink() {
            format!("-> {}", std::fs::read_link(&path).unwrap().display())
        } else {
            String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned()
        };
        out.insert(name, value);
    }
    out
}

fn the_guest_declares_every_function_with_the_right_type(memory: &str) {
    // Instantiation type-checks each import against what `add_to_linker_sync` defines.
    let dir = TempDir::new();
    let mut guest = Guest::with_memory(ctx_with_dir(&dir.0), memory);
    assert_eq!(guest.errno("sched_yield", &[]), 0);
}

fn args_and_environ(memory: &str) {
    let dir = TempDir::new();
    let mut guest = Guest::with_memory(ctx_with_dir(&dir.0), memory);
    for (sizes, get) in [
        ("args_sizes_get", "args_get"),
        ("environ_sizes_get", "environ_get"),
    ] {
        assert_fault(&mut guest, sizes, &[END - 2, 0]);
        assert_fault(&mut guest, sizes, &[0, END]);
        assert_fault(&mut guest, sizes, &[MAX, 0]);
        assert_fault(&mut guest, sizes, &[100, 102]);
        assert_fault(&mut guest, sizes, &[100, 100]);
        assert_eq!(guest.errno(sizes, &[100, 104]), 0);
        let (count, size) = (guest.u32_at(100) as i64, guest.u32_at(104) as i64);

        assert_fault(&mut guest, get, &[END - 4 * count + 1, 1000]);
        assert_fault(&mut guest, get, &[200, END - size + 1]);
        assert_fault(&mut guest, get, &[200, MAX]);
        // The pointer array and the string buffer overlap.
        assert_fault(&mut guest, get, &[200, 200 + 4 * count - 1]);
        assert_fault(&mut guest, get, &[1000 + size - 1, 1000]);
        assert_eq!(guest.errno(get, &[200, 1000]), 0);
        assert_eq!(guest.u32_at(200), 1000);
    }
    assert_eq!(guest.read(1000, 10), b"KEY=value\0");
}

fn clocks_and_random(memory: &str) {
    let dir = TempDir::new();
    let mut guest = Guest::with_memory(ctx_with_dir(&dir.0), memory);
    assert_fault(&mut guest, "clock_res_get", &[1, END - 4]);
    assert_fault(&mut guest, "clock_res_get", &[1, MAX]);
    assert_fault(&mut guest, "clock_time_get", &[1, 0, END - 7]);
    assert_fault(&mut guest, "clock_time_get", &[0, 0, MAX - 3]);
    assert_eq!(guest.errno("clock_time_get", &[1, 0, END - 8]), 0);
    assert_fault(&mut guest, "random_get", &[END - 10, 11]);
    assert_fault(&mut guest, "random_get", &[MAX, 2]);
    assert_fault(&mut guest, "random_get", &[0, MAX]);
    assert_eq!(guest.errno("random_get", &[END - 16, 16]), 0);
    assert_eq!(guest.errno("random_get", &[END, 0]), 0);
}

fn fd_write(memory: &str) {
    let dir = TempDir::new();
    let out = OutputBuffer::new();
    let ctx = WasiCtxBuilder::new()
        .stdout_buffer(&out)
        .preopened_dir(&dir.0, "/dir", DirPerms::all(), FilePerms::all())
        .unwrap()
        .build_p1();
    let mut guest = Guest::with_memory(ctx, memory);
    guest.write(1000, b"0123456789");
    // The iovec array itself out of bounds, or reaching past the end.
    assert_fault(&mut guest, "fd_write", &[1, END - 4, 1, 100]);
    assert_fault(&mut guest, "fd_write", &[1, END - 800, 101, 100]);
    assert_fault(&mut guest, "fd_write", &[1, MAX, 1, 100]);
    // A buffer out of bounds.
    guest.iovecs(2000, &[(1000, 5), (END as u32 - 2, 5)]);
    assert_fault(&mut guest, "fd_write", &[1, 2000, 2, 100]);
    guest.iovecs(2000, &[(u32::MAX, 2)]);
    assert_fault(&mut guest, "fd_write", &[1, 2000, 1, 100]);
    // `nwritten` out of bounds, inside the data, or inside the iovec array.
    guest.iovecs(2000, &[(1000, 8)]);
    assert_fault(&mut guest, "fd_write", &[1, 2000, 1, END - 3]);
    assert_fault(&mut guest, "fd_write", &[1, 2000, 1, 1002]);
    assert_fault(&mut guest, "fd_write", &[1, 2000, 1, 2004]);
    assert!(out.contents().is_empty(), "a faulting write wrote");

    assert_eq!(guest.errno("fd_write", &[1, 2000, 1, 3000]), 0);
    assert_eq!(guest.u32_at(3000), 8);
    assert_eq!(out.take(), b"01234567");
    // Overlapping buffers are only read: allowed.
    guest.iovecs(2000, &[(1000, 4), (1002, 4)]);
    assert_eq!(guest.errno("fd_write", &[1, 2000, 2, 3000]), 0);
    assert_eq!(out.take(), b"01232345");
}

fn fd_read(memory: &str) {
    let dir = TempDir::new();
    let mut guest = Guest::with_memory(ctx_with_dir(&dir.0), memory);
    // A buffer overlapping the iovec array, another buffer, or `nread`.
    guest.iovecs(2000, &[(2000, 8)]);
    assert_fault(&mut guest, "fd_read", &[0, 2000, 1, 3000]);
    guest.iovecs(2000, &[(1000, 10), (1005, 10)]);
    assert_fault(&mut guest, "fd_read", &[0, 2000, 2, 3000]);
    guest.iovecs(2000, &[(1000, 10)]);
    assert_fault(&mut guest, "fd_read", &[0, 2000, 1, 1004]);
    // Out of bounds.
    assert_fault(&mut guest, "fd_read", &[0, 2000, 1, END - 1]);
    assert_fault(&mut guest, "fd_read", &[0, END - 7, 1, 3000]);
    guest.iovecs(2000, &[(END as u32 - 5, 10)]);
    assert_fault(&mut guest, "fd_read", &[0, 2000, 1, 3000]);
    // None of that consumed any input.
    guest.iovecs(2000, &[(1000, 2), (1010, 10)]);
    assert_eq!(guest.errno("fd_read", &[0, 2000, 2, 3000]), 0);
    assert_eq!(guest.u32_at(3000), 5);
    assert_eq!(guest.read(1000, 2), b"in");
    assert_eq!(guest.read(1010, 3), b"put");
}

fn positioned_io_seek_and_stat(memory: &str) {
    let dir = TempDir::new();
    std::fs::write(dir.0.join("f.txt"), "file contents").unwrap();
    let mut guest = Guest::with_memory(ctx_with_dir(&dir.0), memory);
    let (path, len) = guest.string(4000, "f.txt");
    // Read, write, seek, tell and stat (`fd_filestat_get`).
    let rw = (1 << 1) | (1 << 6) | (1 << 2) | (1 << 5) | (1 << 21);
    assert_eq!(
        guest.errno("path_open", &[3, 0, path, len, 0, rw, 0, 0, 100]),
        0
    );
    let fd = guest.u32_at(100) as i64;

    guest.iovecs(2000, &[(END as u32 - 2, 5)]);
    assert_fault(&mut guest, "fd_pread", &[fd, 2000, 1, 0, 3000]);
    assert_fault(&mut guest, "fd_pwrite", &[fd, 2000, 1, 0, 3000]);
    guest.iovecs(2000, &[(1000, 8)]);
    assert_fault(&mut guest, "fd_pread", &[fd, 2000, 1, 0, 1004]);
    assert_fault(&mut guest, "fd_pread", &[fd, 2000, 1, 0, END - 2]);
    assert_fault(&mut guest, "fd_pwrite", &[fd, 2000, 1, 0, END - 2]);
    assert_fault(&mut guest, "fd_pwrite", &[fd, END - 4, 1, 0, 3000]);
    assert_fault(&mut guest, "fd_pwrite", &[fd, 2000, 1, 0, 1004]);
    assert_eq!(
        std::fs::read_to_string(dir.0.join("f.txt")).unwrap(),
        "file contents"
    );
    assert_eq!(guest.errno("fd_pread", &[fd, 2000, 1, 5, 3000]), 0);
    assert_eq!(guest.read(1000, 8), b"contents");

    assert_fault(&mut guest, "fd_seek", &[fd, 0, 0, END - 7]);
    assert_fault(&mut guest, "fd_tell", &[fd, MAX]);
    assert_fault(&mut guest, "fd_fdstat_get", &[fd, END - 23]);
    assert_fault(&mut guest, "fd_filestat_get", &[fd, END - 63]);
    assert_fault(&mut guest, "fd_filestat_get", &[1, MAX - 10]);
    assert_eq!(guest.errno("fd_filestat_get", &[fd, END - 64]), 0);
    assert_eq!(guest.u64_at(END as usize - 64 + 32), 13);
    assert_eq!(guest.errno("fd_seek", &[fd, 0, 2, END - 8]), 0);
    assert_eq!(guest.u64_at(END as usize - 8), 13);
}

fn preopens_and_readdir(memory: &str) {
    let dir = TempDir::new();
    let mut guest = Guest::with_memory(ctx_with_dir(&dir.0), memory);
    assert_fault(&mut guest, "fd_prestat_get", &[3, END - 7]);
    assert_fault(&mut guest, "fd_prestat_dir_name", &[3, END - 3, 4]);
    assert_fault(&mut guest, "fd_prestat_dir_name", &[3, MAX, 4]);
    assert_eq!(guest.errno("fd_prestat_dir_name", &[3, END - 4, 4]), 0);
    assert_eq!(guest.read(END as usize - 4, 4), b"/dir");

    assert_fault(&mut guest, "fd_readdir", &[3, END - 10, 11, 0, 100]);
    assert_fault(&mut guest, "fd_readdir", &[3, 1000, 100, 0, 1050]);
    assert_fault(&mut guest, "fd_readdir", &[3, 1000, 100, 0, END - 1]);
    assert_eq!(guest.errno("fd_readdir", &[3, 1000, 100, 0, 100]), 0);
    // `.` and `..`: two 24-byte headers and three bytes of names.
    assert_eq!(guest.u32_at(100), 51);
}

fn path_calls(memory: &str) {
    let dir = TempDir::new();
    std::fs::write(dir.0.join("f.txt"), "file").unwrap();
    std::os::unix::fs::symlink("f.txt", dir.0.join("link")).unwrap();
    std::fs::create_dir(dir.0.join("d")).unwrap();
    let before = tree(&dir.0);
    let mut guest = Guest::with_memory(ctx_with_dir(&dir.0), memory);
    let (f, f_len) = guest.string(4000, "f.txt");
    let (new, new_len) = guest.string(4100, "new");
    let (link, link_len) = guest.string(4200, "link");
    let (d, d_len) = guest.string(4300, "d");

    for name in [
        "path_create_directory",
        "path_remove_directory",
        "path_unlink_file",
    ] {
        assert_fault(&mut guest, name, &[3, END - 2, 5]);
        assert_fault(&mut guest, name, &[3, MAX, 2]);
    }
    assert_fault(&mut guest, "path_filestat_get", &[3, 1, END - 2, 5, 100]);
    assert_fault(&mut guest, "path_filestat_get", &[3, 1, f, f_len, END - 63]);
    assert_fault(&mut guest, "path_filestat_get", &[3, 1, f, f_len, f - 10]);
    assert_fault(
        &mut guest,
        "path_filestat_set_times",
        &[3, 1, END - 1, 5, 0, 0, 0],
    );
    assert_fault(
        &mut guest,
        "path_link",
        &[3, 0, END - 1, 5, 3, new, new_len],
    );
    assert_fault(&mut guest, "path_link", &[3, 0, f, f_len, 3, MAX, 3]);
    assert_fault(&mut guest, "path_rename", &[3, END - 1, 5, 3, new, new_len]);
    assert_fault(&mut guest, "path_rename", &[3, f, f_len, 3, END - 1, 3]);
    assert_fault(&mut guest, "path_symlink", &[END - 1, 5, 3, new, new_len]);
    assert_fault(&mut guest, "path_symlink", &[f, f_len, 3, MAX, 5]);
    let all = (1i64 << 30) - 1;
    let creat = 1;
    assert_fault(
        &mut guest,
        "path_open",
        &[3, 1, END - 2, 5, creat, all, all, 0, 100],
    );
    assert_fault(
        &mut guest,
        "path_open",
        &[3, 1, new, new_len, creat, all, all, 0, END - 3],
    );
    // The result written over the path it came from.
    assert_fault(
        &mut guest,
        "path_open",
        &[3, 1, new, new_len, creat, all, all, 0, new],
    );
    assert_fault(&mut guest, "path_readlink", &[3, END - 1, 4, 100, 10, 200]);
    assert_fault(
        &mut guest,
        "path_readlink",
        &[3, link, link_len, END - 5, 10, 200],
    );
    assert_fault(
        &mut guest,
        "path_readlink",
        &[3, link, link_len, 100, 10, 104],
    );
    assert_fault(
        &mut guest,
        "path_readlink",
        &[3, link, link_len, link, 10, 200],
    );
    assert_fault(
        &mut guest,
        "path_readlink",
        &[3, link, link_len, 100, 10, MAX],
    );
    assert_eq!(
        tree(&dir.0),
        before,
        "a faulting call changed the directory"
    );

    // The same calls with good pointers work.
    assert_eq!(
        guest.errno("path_readlink", &[3, link, link_len, 100, 10, 200]),
        0
    );
    assert_eq!(guest.read(100, 5), b"f.txt");
    assert_eq!(guest.errno("path_filestat_get", &[3, 1, d, d_len, 100]), 0);
    assert_eq!(guest.read(116, 1), [3]);
    assert_eq!(
        guest.errno("path_open", &[3, 1, new, new_len, creat, all, all, 0, 100]),
        0
    );
    assert_eq!(guest.errno("path_unlink_file", &[3, new, new_len]), 0);
    assert_eq!(
        guest.errno("path_rename", &[3, f, f_len, 3, new, new_len]),
        0
    );
    assert_eq!(
        guest.errno("path_rename", &[3, new, new_len, 3, f, f_len]),
        0
    );
    assert_eq!(tree(&dir.0), before);
}

fn poll_oneoff(memory: &str) {
    let dir = TempDir::new();
    let mut guest = Guest::with_memory(ctx_with_dir(&dir.0), memory);
    // One clock subscription that is due at once: { userdata 7, tag 0, id 1, timeout 0 }.
    let mut sub = [0u8; 48];
    sub[0] = 7;
    sub[16] = 1;
    guest.write(1000, &sub);
    assert_fault(&mut guest, "poll_oneoff", &[END - 40, 2000, 1, 3000]);
    assert_fault(&mut guest, "poll_oneoff", &[1000, END - 16, 1, 3000]);
    assert_fault(&mut guest, "poll_oneoff", &[1000, 1010, 1, 3000]);
    assert_fault(&mut guest, "poll_oneoff", &[1000, 2000, 1, 2008]);
    assert_fault(&mut guest, "poll_oneoff", &[1000, 2000, 1, END - 2]);
    assert_fault(&mut guest, "poll_oneoff", &[1000, 2000, 0x1000_0000, 3000]);
    assert_eq!(guest.errno("poll_oneoff", &[1000, 2000, 1, 3000]), 0);
    assert_eq!(guest.u32_at(3000), 1);
    assert_eq!(guest.u64_at(2000), 7);
}

fn sockets(memory: &str) {
    let dir = TempDir::new();
    let mut guest = Guest::with_memory(ctx_with_dir(&dir.0), memory);
    assert_fault(&mut guest, "sock_accept", &[3, 0, END - 2]);
    guest.iovecs(2000, &[(END as u32 - 1, 4)]);
    assert_fault(&mut guest, "sock_recv", &[3, 2000, 1, 0, 100, 104]);
    assert_fault(&mut guest, "sock_send", &[3, 2000, 1, 0, 100]);
    guest.iovecs(2000, &[(1000, 4)]);
    assert_fault(&mut guest, "sock_recv", &[3, 2000, 1, 0, 100, 102]);
    assert_fault(&mut guest, "sock_recv", &[3, 2000, 1, 0, 1000, 104]);
    assert_fault(&mut guest, "sock_send", &[3, 2000, 1, 0, 2004]);
}

#[test]
fn a_module_without_memory_gets_efault_for_every_pointer() {
    let dir = TempDir::new();
    let mut guest = Guest::with_memory(ctx_with_dir(&dir.0), "");
    assert_eq!(guest.errno("args_sizes_get", &[0, 4]), EFAULT);
    assert_eq!(guest.errno("fd_write", &[1, 0, 0, 0]), EFAULT);
    assert_eq!(guest.errno("random_get", &[0, 0]), 0);
    assert_eq!(guest.errno("sched_yield", &[]), 0);
    assert_eq!(guest.errno("fd_close", &[0]), 0);
}
