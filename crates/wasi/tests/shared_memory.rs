//! WASI on a module whose exported memory is shared (threads): the host reaches
//! it only by copies, and every call must give the same results as on an
//! unshared memory, writing nothing but what the call reports it wrote.

mod support;

use lazuli_wasi::{DirPerms, FilePerms, OutputBuffer, WasiCtxBuilder};
use support::{Guest, GuestMemory, SHARED, TempDir, UNSHARED};

/// Where the scenario writes a sentinel, and how much of the memory it compares.
const SENTINEL: (usize, usize) = (4096, 4096);
const COMPARED: usize = 8192;
const RANDOM: (usize, usize) = (6000, 32);

/// What one run of the scenario leaves behind.
#[derive(Debug, PartialEq)]
struct Outcome {
    errnos: Vec<(&'static str, i32)>,
    memory: Vec<u8>,
    stdout: Vec<u8>,
    written_file: Vec<u8>,
}

/// Calls args/environ, fd_write to stdout and to a new file, path_open, fd_read
/// and fd_pread from a file, fd_prestat_dir_name and random_get on a guest with
/// memory `memory`.
fn scenario(memory: &str) -> Outcome {
    let dir = TempDir::new();
    std::fs::write(dir.0.join("in.txt"), "hello shared world").unwrap();
    let out = OutputBuffer::new();
    let ctx = WasiCtxBuilder::new()
        .args(["prog", "arg"])
        .env("KEY", "value")
        .stdout_buffer(&out)
        .preopened_dir(&dir.0, "/dir", DirPerms::all(), FilePerms::all())
        .unwrap()
        .build_p1();
    let mut guest = Guest::with_memory(ctx, memory);
    // Bytes a call does not write must keep this.
    guest.write(SENTINEL.0, &[0xee; SENTINEL.1]);
    let mut errnos = Vec::new();
    let mut call = |guest: &mut Guest, name: &'static str, args: &[i64]| {
        errnos.push((name, guest.errno(name, args)));
    };

    call(&mut guest, "args_sizes_get", &[100, 104]);
    call(&mut guest, "args_get", &[200, 1000]);
    call(&mut guest, "environ_sizes_get", &[108, 112]);
    call(&mut guest, "environ_get", &[300, 1100]);

    let text = guest.string(2000, "to stdout\n");
    guest.iovecs(2100, &[(2000, 3), (2003, 7)]);
    call(&mut guest, "fd_write", &[1, 2100, 2, 2200]);

    let (path, len) = guest.string(1200, "in.txt");
    call(
        &mut guest,
        "path_open",
        &[3, 1, path, len, 0, -1, -1, 0, 2300],
    );
    let fd = i64::from(guest.u32_at(2300));
    // Into the sentinel: 5 bytes, an empty buffer, then the 13 bytes left.
    guest.iovecs(2400, &[(4096, 5), (4200, 0), (4300, 100)]);
    call(&mut guest, "fd_read", &[fd, 2400, 3, 2500]);
    guest.iovecs(2600, &[(4500, 6)]);
    call(&mut guest, "fd_pread", &[fd, 2600, 1, 6, 2700]);

    let (path, len) = guest.string(1300, "out.txt");
    call(
        &mut guest,
        "path_open",
        &[3, 1, path, len, 1, -1, -1, 0, 2800],
    );
    let out_fd = i64::from(guest.u32_at(2800));
    guest.iovecs(2100, &[(text.0 as u32, text.1 as u32)]);
    call(&mut guest, "fd_write", &[out_fd, 2100, 1, 2900]);

    call(&mut guest, "fd_prestat_dir_name", &[3, 3100, 4]);
    call(
        &mut guest,
        "random_get",
        &[RANDOM.0 as i64, RANDOM.1 as i64],
    );

    let mut memory = guest.mem();
    memory.truncate(COMPARED);
    // Random bytes differ from run to run: they must have been written, and only
    // they.
    let random = &mut memory[RANDOM.0..RANDOM.0 + RANDOM.1];
    assert_ne!(random, &[0xee; RANDOM.1][..], "random_get wrote nothing");
    random.fill(0);
    Outcome {
        errnos,
        memory,
        stdout: out.take(),
        written_file: std::fs::read(dir.0.join("out.txt")).unwrap_or_default(),
    }
}

#[test]
fn a_shared_memory_gives_the_same_results_as_an_unshared_one() {
    let unshared = scenario(UNSHARED);
    let shared = scenario(SHARED);
    assert!(
        unshared.errnos.iter().all(|&(_, errno)| errno == 0),
        "{:?}",
        unshared.errnos
    );
    assert_eq!(unshared.stdout, b"to stdout\n");
    assert_eq!(unshared.written_file, b"to stdout\n");
    let mem = &unshared.memory;
    let u32_at = |at: usize| u32::from_le_bytes(mem[at..at + 4].try_into().unwrap());
    assert_eq!(&mem[1000..1010], b"prog\0arg\0\0");
    assert_eq!((u32_at(200), u32_at(204)), (1000, 1005));
    assert_eq!(&mem[1100..1110], b"KEY=value\0");
    assert_eq!((u32_at(2200), u32_at(2500), u32_at(2700)), (10, 18, 6));
    assert_eq!(&mem[4096..4102], b"hello\xee");
    assert_eq!(&mem[4299..4314], b"\xee shared world\xee");
    assert_eq!(&mem[4500..4507], b"shared\xee");
    assert_eq!(&mem[3100..3104], b"/dir");
    assert_eq!(shared, unshared);
}

#[test]
fn the_guest_memory_is_shared() {
    let dir = TempDir::new();
    let guest = Guest::with_memory(support::ctx_with_dir(&dir.0), SHARED);
    assert!(matches!(guest.memory, Some(GuestMemory::Shared(_))));
}

/// Another thread holding the memory sees what a WASI call wrote, and a WASI
/// call reads what another thread wrote.
#[test]
fn other_threads_see_wasi_writes() {
    let dir = TempDir::new();
    let mut guest = Guest::with_memory(support::ctx_with_dir(&dir.0), SHARED);
    let Some(GuestMemory::Shared(memory)) = guest.memory.clone() else {
        panic!("not a shared memory");
    };
    std::thread::spawn(move || memory.write(500, b"from a thread\n").unwrap())
        .join()
        .unwrap();
    guest.iovecs(100, &[(500, 14)]);
    // fd 4 is a new file in the preopen, then read back.
    let (path, len) = guest.string(200, "t.txt");
    assert_eq!(
        guest.errno("path_open", &[3, 1, path, len, 1, -1, -1, 0, 300]),
        0
    );
    let fd = i64::from(guest.u32_at(300));
    assert_eq!(guest.errno("fd_write", &[fd, 100, 1, 304]), 0);
    assert_eq!(
        std::fs::read(dir.0.join("t.txt")).unwrap(),
        b"from a thread\n"
    );
    let Some(GuestMemory::Shared(memory)) = guest.memory.clone() else {
        unreachable!()
    };
    let (stdin, len) = (900, 5);
    guest.iovecs(100, &[(stdin, len)]);
    assert_eq!(guest.errno("fd_read", &[0, 100, 1, 304]), 0);
    let seen = std::thread::spawn(move || {
        let mut buf = [0u8; 5];
        memory.read(stdin as usize, &mut buf).unwrap();
        buf
    })
    .join()
    .unwrap();
    assert_eq!(&seen, b"input");
}
