//! The WASI context a guest runs in — arguments, environment, its file descriptors
//! — and the builder that makes one.

use crate::errno::Errno;
use crate::perms::{DirPerms, FilePerms, preopen_rights};
use crate::types::{filetype, rights};
use anyhow::Context;
use cap_std::fs::Dir;
use std::collections::BTreeMap;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The state of one WASI preview-1 guest: its arguments, environment and file
/// descriptors with their rights.
///
/// Made by [`WasiCtxBuilder::build_p1`]; kept in the store's data and reached by
/// the host functions through the accessor given to
/// [`p1::add_to_linker_sync`](crate::p1::add_to_linker_sync).
#[derive(Default)]
pub struct WasiP1Ctx {
    pub(crate) args: Vec<Vec<u8>>,
    /// `KEY=VALUE` strings.
    pub(crate) env: Vec<Vec<u8>>,
    pub(crate) fds: FdTable,
}

/// Wasmtime's preview-2 WASI context. Lazuli implements preview 1 only, so this
/// type has no values: it keeps the entry point Wasmtime's preview-1 examples
/// start from, `WasiCtx::builder()`, whose
/// [`build_p1`](WasiCtxBuilder::build_p1) makes the [`WasiP1Ctx`].
pub enum WasiCtx {}

impl WasiCtx {
    /// A builder, as [`WasiCtxBuilder::new`] makes it.
    pub fn builder() -> WasiCtxBuilder {
        WasiCtxBuilder::new()
    }
}

/// Output captured in memory, shared between the host and a guest's stdout or
/// stderr.
#[derive(Clone, Default, Debug)]
pub struct OutputBuffer(Arc<Mutex<Vec<u8>>>);

impl OutputBuffer {
    /// An empty buffer.
    pub fn new() -> OutputBuffer {
        OutputBuffer::default()
    }

    /// A copy of everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// Everything written so far, leaving the buffer empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.lock())
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves only complete writes behind.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where one of the guest's standard streams goes.
enum StdioConfig {
    /// Stdin at end of file; output discarded.
    Null,
    /// The host process's own stream.
    Inherit,
    /// Stdin read from these bytes.
    Bytes(Vec<u8>),
    /// Output captured in a buffer.
    Capture(OutputBuffer),
    /// A host file (or pipe, or terminal).
    File(std::fs::File),
}

/// Builds a [`WasiP1Ctx`], as wasmtime-wasi's builder of the same name does.
///
/// Arguments and environment variables are bytes (`impl AsRef<[u8]>`, which
/// `&str` and `String` are) rather than Wasmtime's `impl AsRef<str>`: preview 1
/// passes bytes, and a host argument need not be UTF-8.
///
/// ```no_run
/// use lazuli_wasi::{DirPerms, FilePerms, WasiCtxBuilder};
/// # fn main() -> anyhow::Result<()> {
/// let ctx = WasiCtxBuilder::new()
///     .arg("prog")
///     .arg("--verbose")
///     .env("LANG", "C")
///     .inherit_stdio()
///     .preopened_dir("/srv/data", "/data", DirPerms::all(), FilePerms::all())?
///     .preopened_dir("/srv/config", "/config", DirPerms::READ, FilePerms::READ)?
///     .build_p1();
/// # Ok(()) }
/// ```
pub struct WasiCtxBuilder {
    args: Vec<Vec<u8>>,
    env: Vec<(Vec<u8>, Vec<u8>)>,
    stdin: StdioConfig,
    stdout: StdioConfig,
    stderr: StdioConfig,
    preopens: Vec<Preopen>,
}

/// A directory given to the guest, with what it may do there.
struct Preopen {
    dir: Dir,
    guest_path: String,
    dir_perms: DirPerms,
    file_perms: FilePerms,
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        WasiCtxBuilder::new()
    }
}

impl WasiCtxBuilder {
    /// A builder with no arguments, no environment, empty stdin, discarded
    /// stdout/stderr and no preopened directories.
    pub fn new() -> WasiCtxBuilder {
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            stdin: StdioConfig::Null,
            stdout: StdioConfig::Null,
            stderr: StdioConfig::Null,
            preopens: Vec::new(),
        }
    }

    /// Appends one argument; the first is the program's name (`argv[0]`).
    pub fn arg(&mut self, arg: impl AsRef<[u8]>) -> &mut Self {
        self.args.push(arg.as_ref().to_vec());
        self
    }

    /// Appends arguments: a slice as in Wasmtime (`&["a", "b"]`), or any other
    /// iterator.
    pub fn args<I: IntoIterator<Item = A>, A: AsRef<[u8]>>(&mut self, args: I) -> &mut Self {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// Appends the host process's own arguments, its name first.
    pub fn inherit_args(&mut self) -> &mut Self {
        for arg in std::env::args_os() {
            self.arg(arg.as_bytes());
        }
        self
    }

    /// Sets an environment variable, replacing an earlier value of the same name
    /// (Wasmtime would pass both; a guest's `getenv` then sees only the first).
    pub fn env(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        let (key, value) = (key.as_ref().to_vec(), value.as_ref().to_vec());
        match self.env.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.env.push((key, value)),
        }
        self
    }

    /// Sets environment variables, each as [`env`](Self::env) does.
    pub fn envs(&mut self, vars: &[(impl AsRef<[u8]>, impl AsRef<[u8]>)]) -> &mut Self {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Passes the host process's whole environment to the guest.
    pub fn inherit_env(&mut self) -> &mut Self {
        for (k, v) in std::env::vars_os() {
            self.env(k.as_bytes(), v.as_bytes());
        }
        self
    }

    /// Stdin, stdout and stderr are the host process's own.
    pub fn inherit_stdio(&mut self) -> &mut Self {
        self.inherit_stdin().inherit_stdout().inherit_stderr()
    }

    /// Stdin is the host process's own.
    pub fn inherit_stdin(&mut self) -> &mut Self {
        self.stdin = StdioConfig::Inherit;
        self
    }

    /// Stdout is the host process's own.
    pub fn inherit_stdout(&mut self) -> &mut Self {
        self.stdout = StdioConfig::Inherit;
        self
    }

    /// Stderr is the host process's own.
    pub fn inherit_stderr(&mut self) -> &mut Self {
        self.stderr = StdioConfig::Inherit;
        self
    }

    /// The guest reads `bytes` from stdin, then end of file.
    pub fn stdin_bytes(&mut self, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = StdioConfig::Bytes(bytes.into());
        self
    }

    /// The guest's stdout is captured in `buffer`.
    pub fn stdout_buffer(&mut self, buffer: &OutputBuffer) -> &mut Self {
        self.stdout = StdioConfig::Capture(buffer.clone());
        self
    }

    /// The guest's stderr is captured in `buffer`.
    pub fn stderr_buffer(&mut self, buffer: &OutputBuffer) -> &mut Self {
        self.stderr = StdioConfig::Capture(buffer.clone());
        self
    }

    /// The guest's stdin reads from a host file, pipe or terminal.
    pub fn stdin_file(&mut self, file: std::fs::File) -> &mut Self {
        self.stdin = StdioConfig::File(file);
        self
    }

    /// The guest's stdout writes to a host file, pipe or terminal.
    pub fn stdout_file(&mut self, file: std::fs::File) -> &mut Self {
        self.stdout = StdioConfig::File(file);
        self
    }

    /// The guest's stderr writes to a host file, pipe or terminal.
    pub fn stderr_file(&mut self, file: std::fs::File) -> &mut Self {
        self.stderr = StdioConfig::File(file);
        self
    }

    /// Gives the guest the host directory `host_path` under the name
    /// `guest_path`, with nothing outside it.
    ///
    /// The permissions become the preopen's preview-1 rights: its base rights
    /// are the directory rights of `dir_perms` (see [`DirPerms`]); its
    /// inheriting rights, the most that anything opened beneath it can hold,
    /// add the file rights of `file_perms` (see [`FilePerms`]). A call without
    /// the right it needs fails with `ENOTCAPABLE`, as one on a descriptor whose
    /// rights the guest dropped with `fd_fdstat_set_rights` does.
    pub fn preopened_dir(
        &mut self,
        host_path: impl AsRef<Path>,
        guest_path: impl AsRef<str>,
        dir_perms: DirPerms,
        file_perms: FilePerms,
    ) -> anyhow::Result<&mut Self> {
        let host_path = host_path.as_ref();
        // Opening a host directory is the one place this crate uses ambient
        // authority.
        let dir = Dir::open_ambient_dir(host_path, cap_std::ambient_authority())
            .with_context(|| format!("cannot open directory `{}`", host_path.display()))?;
        self.preopens.push(Preopen {
            dir,
            guest_path: guest_path.as_ref().to_owned(),
            dir_perms,
            file_perms,
        });
        Ok(self)
    }

    /// The context: fds 0–2 are the standard streams, the preopened directories
    /// follow from fd 3 in the order they were added. Leaves the builder as
    /// [`new`](Self::new) makes it (Wasmtime's panics if used again).
    pub fn build_p1(&mut self) -> WasiP1Ctx {
        let mut fds = FdTable::default();
        let stdin = std::mem::replace(&mut self.stdin, StdioConfig::Null);
        let stdout = std::mem::replace(&mut self.stdout, StdioConfig::Null);
        let stderr = std::mem::replace(&mut self.stderr, StdioConfig::Null);
        fds.insert_at(
            0,
            stdio_entry(stdin, Direction::In, || dup(io::stdin().as_fd())),
        );
        fds.insert_at(
            1,
            stdio_entry(stdout, Direction::Out, || dup(io::stdout().as_fd())),
        );
        fds.insert_at(
            2,
            stdio_entry(stderr, Direction::Out, || dup(io::stderr().as_fd())),
        );
        for (i, preopen) in std::mem::take(&mut self.preopens).into_iter().enumerate() {
            let (base, inheriting) = preopen_rights(preopen.dir_perms, preopen.file_perms);
            let entry = Entry {
                desc: Desc::Dir(DirDesc {
                    dir: preopen.dir,
                    preopen: Some(preopen.guest_path),
                    listing: None,
                }),
                base,
                inheriting,
            };
            fds.insert_at(3 + i as u32, entry);
        }
        WasiP1Ctx {
            args: std::mem::take(&mut self.args),
            env: std::mem::take(&mut self.env)
                .into_iter()
                .map(|(mut k, v)| {
                    k.push(b'=');
                    k.extend_from_slice(&v);
                    k
                })
                .collect(),
            fds,
        }
    }
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<std::fs::File> {
    Ok(std::fs::File::from(fd.try_clone_to_owned()?))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    In,
    Out,
}

fn stdio_entry(
    config: StdioConfig,
    direction: Direction,
    inherit: impl FnOnce() -> io::Result<std::fs::File>,
) -> Entry {
    let io_rights = match direction {
        Direction::In => rights::FD_READ,
        Direction::Out => rights::FD_WRITE,
    };
    let stream = |stream: Stream| Entry {
        desc: Desc::Stream(stream),
        base: io_rights
            | rights::POLL_FD_READWRITE
            | rights::FD_FILESTAT_GET
            | rights::FD_FDSTAT_SET_FLAGS,
        inheriting: 0,
    };
    let file = match config {
        StdioConfig::Null => return stream(Stream::Null),
        StdioConfig::Bytes(data) => return stream(Stream::Input { data, pos: 0 }),
        StdioConfig::Capture(buffer) => return stream(Stream::Output(buffer)),
        // A closed host stream (nothing to duplicate) reads as empty.
        StdioConfig::Inherit => match inherit() {
            Ok(file) => file,
            Err(_) => return stream(Stream::Null),
        },
        StdioConfig::File(file) => file,
    };
    let file = cap_std::fs::File::from_std(file);
    let filetype = file
        .metadata()
        .map_or(filetype::UNKNOWN, |m| filetype_of(&m.file_type()));
    let mut base = (rights::FILE & !rights::READING & !rights::WRITING) | io_rights;
    if filetype != filetype::REGULAR_FILE {
        base &= !rights::SEEKING;
    }
    Entry {
        desc: Desc::File(FileDesc {
            file,
            filetype,
            shared: true,
        }),
        base,
        inheriting: 0,
    }
}

/// The WASI file type of a host file type.
pub(crate) fn filetype_of(ty: &cap_std::fs::FileType) -> u8 {
    use cap_std::fs::FileTypeExt;
    if ty.is_dir() {
        filetype::DIRECTORY
    } else if ty.is_file() {
        filetype::REGULAR_FILE
    } else if ty.is_symlink() {
        filetype::SYMBOLIC_LINK
    } else if ty.is_char_device() {
        filetype::CHARACTER_DEVICE
    } else if ty.is_block_device() {
        filetype::BLOCK_DEVICE
    } else if ty.is_socket() {
        filetype::SOCKET_STREAM
    } else {
        filetype::UNKNOWN
    }
}

/// An open file descriptor: what it refers to and the rights it carries.
pub(crate) struct Entry {
    pub(crate) desc: Desc,
    /// The rights of calls on this descriptor.
    pub(crate) base: u64,
    /// The most rights a descriptor opened through this one can hold.
    pub(crate) inheriting: u64,
}

impl Entry {
    /// `ENOTCAPABLE` unless the descriptor holds every right in `needed`.
    pub(crate) fn need(&self, needed: u64) -> Result<(), Errno> {
        if self.base & needed != needed {
            return Err(Errno::NOTCAPABLE);
        }
        Ok(())
    }

    /// `ENOTCAPABLE` unless the descriptor holds at least one right in `any`.
    pub(crate) fn need_any(&self, any: u64) -> Result<(), Errno> {
        if self.base & any == 0 {
            return Err(Errno::NOTCAPABLE);
        }
        Ok(())
    }
}

pub(crate) enum Desc {
    /// A host file, or an inherited host stream (terminal, pipe).
    File(FileDesc),
    Dir(DirDesc),
    /// A standard stream that is not a host file.
    Stream(Stream),
}

pub(crate) struct FileDesc {
    pub(crate) file: cap_std::fs::File,
    pub(crate) filetype: u8,
    /// A standard stream shared with the host process: its flags stay as they are.
    pub(crate) shared: bool,
}

pub(crate) struct DirDesc {
    pub(crate) dir: Dir,
    /// The guest's name for a preopened directory.
    pub(crate) preopen: Option<String>,
    /// The listing `fd_readdir` continues from (taken afresh at cookie 0).
    pub(crate) listing: Option<Vec<DirRecord>>,
}

/// One entry of a directory listing.
pub(crate) struct DirRecord {
    pub(crate) name: Vec<u8>,
    pub(crate) ino: u64,
    pub(crate) filetype: u8,
}

pub(crate) enum Stream {
    /// Reads see end of file; writes are discarded.
    Null,
    Input {
        data: Vec<u8>,
        pos: usize,
    },
    Output(OutputBuffer),
}

/// The file descriptors of a guest.
#[derive(Default)]
pub(crate) struct FdTable {
    map: BTreeMap<u32, Entry>,
}

/// At most this many descriptors are open at once; beyond it `path_open` fails
/// with `EMFILE`, whatever the host's own limit.
const MAX_FDS: usize = 1 << 14;

impl FdTable {
    fn insert_at(&mut self, fd: u32, entry: Entry) {
        self.map.insert(fd, entry);
    }

    /// Adds `entry` at the lowest free number, as POSIX `open` does.
    pub(crate) fn push(&mut self, entry: Entry) -> Result<u32, Errno> {
        if self.map.len() >= MAX_FDS {
            return Err(Errno::MFILE);
        }
        let mut fd = 0u32;
        for &used in self.map.keys() {
            if used != fd {
                break;
            }
            fd += 1;
        }
        self.map.insert(fd, entry);
        Ok(fd)
    }

    pub(crate) fn get(&self, fd: u32) -> Result<&Entry, Errno> {
        self.map.get(&fd).ok_or(Errno::BADF)
    }

    pub(crate) fn get_mut(&mut self, fd: u32) -> Result<&mut Entry, Errno> {
        self.map.get_mut(&fd).ok_or(Errno::BADF)
    }

    pub(crate) fn remove(&mut self, fd: u32) -> Result<Entry, Errno> {
        self.map.remove(&fd).ok_or(Errno::BADF)
    }

    /// Moves `from` to `to`, closing what `to` was.
    pub(crate) fn renumber(&mut self, from: u32, to: u32) -> Result<(), Errno> {
        if !self.map.contains_key(&from) || !self.map.contains_key(&to) {
            return Err(Errno::BADF);
        }
        if from != to {
            let entry = self.remove(from)?;
            self.map.insert(to, entry);
        }
        Ok(())
    }

    /// The directory `fd`, for a call that needs the rights `needed`: `EBADF` if
    /// it is not open, `ENOTDIR` if it is not a directory, `ENOTCAPABLE` if it
    /// lacks one of them.
    pub(crate) fn dir(&self, fd: u32, needed: u64) -> Result<&DirDesc, Errno> {
        let entry = self.get(fd)?;
        let Desc::Dir(d) = &entry.desc else {
            return Err(Errno::NOTDIR);
        };
        entry.need(needed)?;
        Ok(d)
    }

    /// Like [`dir`](Self::dir), to change the directory's state.
    pub(crate) fn dir_mut(&mut self, fd: u32, needed: u64) -> Result<&mut DirDesc, Errno> {
        self.dir(fd, needed)?;
        match &mut self.get_mut(fd)?.desc {
            Desc::Dir(d) => Ok(d),
            _ => Err(Errno::NOTDIR),
        }
    }
}
