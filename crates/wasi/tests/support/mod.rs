//! A guest that calls WASI functions directly: every import of
//! `wasi_snapshot_preview1`, wrapped in an exported Wasm function of the same name
//! and type (host functions see the calling instance's memory only when a Wasm
//! function calls them), plus one page of exported memory.

#![allow(dead_code)]

use lazuli::{Engine, Instance, Linker, Memory, Module, SharedMemory, Store, Val};
use lazuli_wasi::p1::{self, WasiP1Ctx};
use lazuli_wasi::{DirPerms, FilePerms, WasiCtxBuilder};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Every preview-1 function: name, parameter types (`i` = i32, `I` = i64), and
/// whether it returns an errno.
pub const FUNCTIONS: &[(&str, &str, bool)] = &[
    ("args_get", "ii", true),
    ("args_sizes_get", "ii", true),
    ("environ_get", "ii", true),
    ("environ_sizes_get", "ii", true),
    ("clock_res_get", "ii", true),
    ("clock_time_get", "iIi", true),
    ("fd_advise", "iIIi", true),
    ("fd_allocate", "iII", true),
    ("fd_close", "i", true),
    ("fd_datasync", "i", true),
    ("fd_fdstat_get", "ii", true),
    ("fd_fdstat_set_flags", "ii", true),
    ("fd_fdstat_set_rights", "iII", true),
    ("fd_filestat_get", "ii", true),
    ("fd_filestat_set_size", "iI", true),
    ("fd_filestat_set_times", "iIIi", true),
    ("fd_pread", "iiiIi", true),
    ("fd_prestat_get", "ii", true),
    ("fd_prestat_dir_name", "iii", true),
    ("fd_pwrite", "iiiIi", true),
    ("fd_read", "iiii", true),
    ("fd_readdir", "iiiIi", true),
    ("fd_renumber", "ii", true),
    ("fd_seek", "iIii", true),
    ("fd_sync", "i", true),
    ("fd_tell", "ii", true),
    ("fd_write", "iiii", true),
    ("path_create_directory", "iii", true),
    ("path_filestat_get", "iiiii", true),
    ("path_filestat_set_times", "iiiiIIi", true),
    ("path_link", "iiiiiii", true),
    ("path_open", "iiiiiIIii", true),
    ("path_readlink", "iiiiii", true),
    ("path_remove_directory", "iii", true),
    ("path_rename", "iiiiii", true),
    ("path_symlink", "iiiii", true),
    ("path_unlink_file", "iii", true),
    ("poll_oneoff", "iiii", true),
    ("proc_exit", "i", false),
    ("proc_raise", "i", true),
    ("sched_yield", "", true),
    ("random_get", "ii", true),
    ("sock_accept", "iii", true),
    ("sock_recv", "iiiiii", true),
    ("sock_send", "iiiii", true),
    ("sock_shutdown", "ii", true),
];

/// One page of unshared memory.
pub const UNSHARED: &str = r#"(memory (export "memory") 1)"#;
/// One page of shared memory (threads).
pub const SHARED: &str = r#"(memory (export "memory") 1 1 shared)"#;

/// The guest module's text; `memory` is [`UNSHARED`], [`SHARED`] or empty.
pub fn guest_wat(memory: &str) -> String {
    let (mut imports, mut wrappers) = (String::new(), String::new());
    for (name, params, errno) in FUNCTIONS {
        let types: Vec<&str> = params
            .chars()
            .map(|c| if c == 'I' { "i64" } else { "i32" })
            .collect();
        let types = types.join(" ");
        let result = if *errno { "(result i32)" } else { "" };
        imports += &format!(
            "  (import \"wasi_snapshot_preview1\" \"{name}\" (func ${name} (param {types}) {result}))\n"
        );
        let gets: String = (0..params.len())
            .map(|i| format!("local.get {i} "))
            .collect();
        wrappers +=
            &format!("  (func (export \"{name}\") (param {types}) {result} {gets} call ${name})\n");
    }
    format!("(module\n{imports}{wrappers}{memory})")
}

/// A fresh directory under the temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lazuli-wasi-crate-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A guest's exported memory.
#[derive(Clone)]
pub enum GuestMemory {
    Unshared(Memory),
    Shared(SharedMemory),
}

/// An instantiated guest.
pub struct Guest {
    pub store: Store<WasiP1Ctx>,
    pub instance: Instance,
    pub memory: Option<GuestMemory>,
}

impl Guest {
    /// A guest with one page of memory and the context `ctx`.
    pub fn new(ctx: WasiP1Ctx) -> Guest {
        Guest::with_memory(ctx, UNSHARED)
    }

    /// A guest with one page of shared memory and the context `ctx`.
    pub fn shared(ctx: WasiP1Ctx) -> Guest {
        Guest::with_memory(ctx, SHARED)
    }

    pub fn with_memory(ctx: WasiP1Ctx, memory: &str) -> Guest {
        let engine = Engine::default();
        let module = Module::new(&engine, guest_wat(memory)).unwrap();
        let mut linker = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |ctx: &mut WasiP1Ctx| ctx).unwrap();
        let mut store = Store::new(&engine, ctx);
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let memory = match instance.get_memory(&mut store, "memory") {
            Some(m) => Some(GuestMemory::Unshared(m)),
            None => instance
                .get_shared_memory(&mut store, "memory")
                .map(GuestMemory::Shared),
        };
        Guest {
            store,
            instance,
            memory,
        }
    }

    /// Calls `name` with `args` (i32 for `u32`/`i32`, i64 given as `Val::I64`).
    pub fn call(&mut self, name: &str, args: &[Val]) -> anyhow::Result<i32> {
        let func = self.instance.get_func(&mut self.store, name).unwrap();
        let mut results = [Val::I32(0)];
        func.call(&mut self.store, args, &mut results)?;
        Ok(results[0].i32().unwrap())
    }

    /// Calls a function that returns an errno, with i32 arguments only.
    pub fn errno(&mut self, name: &str, args: &[i64]) -> i32 {
        let (_, params, _) = FUNCTIONS.iter().find(|f| f.0 == name).unwrap();
        let vals: Vec<Val> = params
            .chars()
            .zip(args)
            .map(|(c, &a)| {
                if c == 'I' {
                    Val::I64(a)
                } else {
                    Val::I32(a as i32)
                }
            })
            .collect();
        assert_eq!(vals.len(), params.len(), "{name} takes {}", params.len());
        self.call(name, &vals).unwrap()
    }

    /// A copy of the whole memory.
    pub fn mem(&mut self) -> Vec<u8> {
        match self.memory.clone().unwrap() {
            GuestMemory::Unshared(m) => m.data(&self.store).to_vec(),
            GuestMemory::Shared(m) => {
                let mut out = vec![0; m.data_size()];
                m.read(0, &mut out).unwrap();
                out
            }
        }
    }

    pub fn write(&mut self, at: usize, bytes: &[u8]) {
        match self.memory.clone().unwrap() {
            GuestMemory::Unshared(m) => m.write(&mut self.store, at, bytes).unwrap(),
            GuestMemory::Shared(m) => m.write(at, bytes).unwrap(),
        }
    }

    pub fn read(&mut self, at: usize, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        match self.memory.clone().unwrap() {
            GuestMemory::Unshared(m) => m.read(&self.store, at, &mut out).unwrap(),
            GuestMemory::Shared(m) => m.read(at, &mut out).unwrap(),
        }
        out
    }

    pub fn u32_at(&mut self, at: usize) -> u32 {
        u32::from_le_bytes(self.read(at, 4).try_into().unwrap())
    }

    pub fn u64_at(&mut self, at: usize) -> u64 {
        u64::from_le_bytes(self.read(at, 8).try_into().unwrap())
    }

    /// Writes the NUL-free string `s` at `at`; returns (ptr, len) as arguments.
    pub fn string(&mut self, at: usize, s: &str) -> (i64, i64) {
        self.write(at, s.as_bytes());
        (at as i64, s.len() as i64)
    }

    /// Writes an iovec array of (ptr, len) pairs at `at`.
    pub fn iovecs(&mut self, at: usize, iovs: &[(u32, u32)]) {
        for (i, (ptr, len)) in iovs.iter().enumerate() {
            self.write(at + 8 * i, &ptr.to_le_bytes());
            self.write(at + 8 * i + 4, &len.to_le_bytes());
        }
    }
}

/// A context with a captured stdout, a few arguments and variables, and `dir`
/// preopened as `/dir` (fd 3).
pub fn ctx_with_dir(dir: &std::path::Path) -> WasiP1Ctx {
    WasiCtxBuilder::new()
        .args(["prog", "arg"])
        .env("KEY", "value")
        .stdin_bytes("input")
        .preopened_dir(dir, "/dir", DirPerms::all(), FilePerms::all())
        .unwrap()
        .build_p1()
}
