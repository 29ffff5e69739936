//! `path_*`: operations on paths beneath a directory descriptor.
//!
//! Every path is resolved by cap-std relative to the directory handle the guest
//! names, which refuses to leave it: `..` past the directory, absolute paths and
//! symlinks leading outside (absolute or relative) fail with `EPERM`, a symlink
//! loop with `ELOOP`. `path_symlink` also refuses (`EPERM`) a target that reads
//! as leading out of the directory (see [`check_symlink_target`] for what that
//! does and does not cover). This module never joins or inspects host paths
//! itself: the symlink check reads the guest's own strings and asks cap-std which
//! of the names they contain are symlinks.

use crate::ctx::{Desc, DirDesc, Entry, FileDesc, WasiP1Ctx, filetype_of};
use crate::errno::Errno;
use crate::fd::{filestat, time_specs};
use crate::memory::{GuestMemory, Regions};
use crate::types::{FILESTAT_SIZE, LOOKUP_SYMLINK_FOLLOW, fdflags, filetype, oflags, rights};
use cap_fs_ext::{
    DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt, OpenOptionsSyncExt,
};
use cap_std::fs::Dir;
use std::path::{Component, Path, PathBuf};

/// Refuses (`EPERM`) to make `link -> target` in `dir` if the target, read from
/// the link's directory, is absolute or climbs above `dir` at any point. Inside
/// the guest cap-std would refuse to follow such a link anyway; the check is for
/// host programs that later follow links the guest made.
///
/// Positions are counted in directories below `dir`, lexically, except that a
/// name that is a symlink when the link is made puts the position back to 0 (the
/// safe lower bound: where it leads is not known). So when it is made, no link
/// of the guest's leads out of the directory it was made through. Later changes
/// to the tree can still change where it leads: the guest may move the link (or
/// a directory holding it) closer to the root, or replace a name its target goes
/// through with a symlink. A host program must therefore not follow links in a
/// directory a guest could write without confining itself to that directory.
fn check_symlink_target(dir: &Dir, link: &str, target: &str) -> Result<(), Errno> {
    let mut walk = Walk {
        dir,
        path: PathBuf::new(),
        depth: 0,
    };
    let link_dir = Path::new(link).parent().unwrap_or(Path::new(""));
    for component in link_dir.components().chain(Path::new(target).components()) {
        walk.step(component)?;
    }
    Ok(())
}

/// A lexical walk beneath `dir` that keeps a lower bound of its depth.
struct Walk<'a> {
    dir: &'a Dir,
    /// The path walked so far, relative to `dir`.
    path: PathBuf,
    /// How many directories below `dir` the walk is, at least.
    depth: usize,
}

impl Walk<'_> {
    /// Takes one step; `EPERM` if it would leave `dir` (or start at a root).
    fn step(&mut self, component: Component<'_>) -> Result<(), Errno> {
        match component {
            Component::CurDir => {}
            Component::Normal(name) => {
                self.path.push(name);
                self.depth = if self.at_symlink() { 0 } else { self.depth + 1 };
            }
            Component::ParentDir => {
                self.path.push("..");
                self.depth = self.depth.checked_sub(1).ok_or(Errno::PERM)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(Errno::PERM),
        }
        Ok(())
    }

    /// Whether the walk's path names a symlink now (cap-std resolves it beneath
    /// `dir`; a missing name is not one).
    fn at_symlink(&self) -> bool {
        self.dir
            .symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_symlink())
    }
}

/// `lookupflags` → whether to follow a final symlink (`EINVAL` for unknown bits).
fn follow(flags: u32) -> Result<bool, Errno> {
    if flags & !LOOKUP_SYMLINK_FOLLOW != 0 {
        return Err(Errno::INVAL);
    }
    Ok(flags & LOOKUP_SYMLINK_FOLLOW != 0)
}

impl WasiP1Ctx {
    pub(crate) fn path_create_directory(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        path: u32,
        path_len: u32,
    ) -> Result<(), Errno> {
        let path = mem.path(path, path_len)?;
        let path: &str = &path;
        let dir = self.fds.dir(fd, rights::PATH_CREATE_DIRECTORY)?;
        Ok(dir.dir.create_dir(path)?)
    }

    pub(crate) fn path_remove_directory(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        path: u32,
        path_len: u32,
    ) -> Result<(), Errno> {
        let path = mem.path(path, path_len)?;
        let path: &str = &path;
        let dir = self.fds.dir(fd, rights::PATH_REMOVE_DIRECTORY)?;
        Ok(dir.dir.remove_dir(path)?)
    }

    pub(crate) fn path_unlink_file(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        path: u32,
        path_len: u32,
    ) -> Result<(), Errno> {
        let path = mem.path(path, path_len)?;
        let path: &str = &path;
        let dir = self.fds.dir(fd, rights::PATH_UNLINK_FILE)?;
        Ok(dir.dir.remove_file(path)?)
    }

    pub(crate) fn path_filestat_get(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        flags: u32,
        path: u32,
        path_len: u32,
        buf: u32,
    ) -> Result<(), Errno> {
        Regions::new()
            .read(path, path_len)
            .write(buf, FILESTAT_SIZE)
            .check(mem)?;
        let follow = follow(flags)?;
        let path = mem.path(path, path_len)?;
        let path: &str = &path;
        let dir = &self.fds.dir(fd, rights::PATH_FILESTAT_GET)?.dir;
        let meta = if follow {
            dir.metadata(path)?
        } else {
            dir.symlink_metadata(path)?
        };
        mem.write(buf, &filestat(&meta).to_bytes())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_filestat_set_times(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        flags: u32,
        path: u32,
        path_len: u32,
        atim: u64,
        mtim: u64,
        fst_flags: u32,
    ) -> Result<(), Errno> {
        let follow = follow(flags)?;
        let path = mem.path(path, path_len)?;
        let path: &str = &path;
        let (atime, mtime) = time_specs(atim, mtim, fst_flags)?;
        let atime = atime.map(|t| t.to_cap()).transpose()?;
        let mtime = mtime.map(|t| t.to_cap()).transpose()?;
        let dir = &self.fds.dir(fd, rights::PATH_FILESTAT_SET_TIMES)?.dir;
        if follow {
            dir.set_times(path, atime, mtime)?;
        } else {
            dir.set_symlink_times(path, atime, mtime)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_link(
        &mut self,
        mem: &mut GuestMemory,
        old_fd: u32,
        old_flags: u32,
        old_path: u32,
        old_len: u32,
        new_fd: u32,
        new_path: u32,
        new_len: u32,
    ) -> Result<(), Errno> {
        let old_path = mem.path(old_path, old_len)?;
        let old_path: &str = &old_path;
        let new_path = mem.path(new_path, new_len)?;
        let new_path: &str = &new_path;
        // Linking through a symlink to its target is not offered (as in `link(2)`
        // on Linux, the link itself is linked).
        if follow(old_flags)? {
            return Err(Errno::INVAL);
        }
        // Linking out of a directory needs a right there too (`DirPerms::MUTATE`):
        // a link from a read-only tree into a writable one would make a file the
        // guest may only read one it may write.
        let old_dir = &self.fds.dir(old_fd, rights::PATH_LINK_SOURCE)?.dir;
        let new_dir = &self.fds.dir(new_fd, rights::PATH_LINK_TARGET)?.dir;
        Ok(old_dir.hard_link(old_path, new_dir, new_path)?)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_rename(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        old_path: u32,
        old_len: u32,
        new_fd: u32,
        new_path: u32,
        new_len: u32,
    ) -> Result<(), Errno> {
        let old_path = mem.path(old_path, old_len)?;
        let old_path: &str = &old_path;
        let new_path = mem.path(new_path, new_len)?;
        let new_path: &str = &new_path;
        let old_dir = &self.fds.dir(fd, rights::PATH_RENAME_SOURCE)?.dir;
        let new_dir = &self.fds.dir(new_fd, rights::PATH_RENAME_TARGET)?.dir;
        Ok(old_dir.rename(old_path, new_dir, new_path)?)
    }

    pub(crate) fn path_symlink(
        &mut self,
        mem: &mut GuestMemory,
        old_path: u32,
        old_len: u32,
        fd: u32,
        new_path: u32,
        new_len: u32,
    ) -> Result<(), Errno> {
        let target = mem.path(old_path, old_len)?;
        let target: &str = &target;
        let link = mem.path(new_path, new_len)?;
        let link: &str = &link;
        let dir = &self.fds.dir(fd, rights::PATH_SYMLINK)?.dir;
        check_symlink_target(dir, link, target)?;
        Ok(DirExt::symlink(dir, target, link)?)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_readlink(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        path: u32,
        path_len: u32,
        buf: u32,
        buf_len: u32,
        bufused: u32,
    ) -> Result<(), Errno> {
        use std::os::unix::ffi::OsStrExt;
        Regions::new()
            .read(path, path_len)
            .write(buf, buf_len)
            .write(bufused, 4)
            .check(mem)?;
        let path = mem.path(path, path_len)?;
        let path: &str = &path;
        // cap-std reports an absolute target as an escape (`EPERM`) rather than
        // telling the guest a host path.
        let target = self
            .fds
            .dir(fd, rights::PATH_READLINK)?
            .dir
            .read_link(path)?;
        let bytes = target.as_os_str().as_bytes();
        // Like `readlink(2)`: cut to the buffer, no terminating NUL.
        let n = bytes.len().min(buf_len as usize);
        let bytes = bytes[..n].to_vec();
        mem.write(buf, &bytes)?;
        mem.write_u32(bufused, n as u32)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_open(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        dirflags: u32,
        path: u32,
        path_len: u32,
        open_flags: u32,
        base: u64,
        inheriting: u64,
        fd_flags: u32,
        opened: u32,
    ) -> Result<(), Errno> {
        Regions::new()
            .read(path, path_len)
            .write(opened, 4)
            .check(mem)?;
        let path = mem.path(path, path_len)?;
        let path: &str = &path;
        let follow = follow(dirflags)?;
        let oflags = u16::try_from(open_flags).map_err(|_| Errno::INVAL)?;
        let fdflags = u16::try_from(fd_flags).map_err(|_| Errno::INVAL)?;
        if oflags & !oflags::ALL != 0 || fdflags & !fdflags::ALL != 0 {
            return Err(Errno::INVAL);
        }
        let allowed = self.fds.get(fd)?.inheriting;
        let parent = self.fds.dir(fd, open_rights(oflags))?;
        check_open_access(oflags, fdflags, base, allowed)?;
        let create = oflags & oflags::CREAT != 0;
        let truncate = oflags & oflags::TRUNC != 0;
        let append = fdflags & fdflags::APPEND != 0;
        // Asked to write it, not merely for rights that do not apply to a directory.
        let asks_to_write = base & rights::FD_WRITE != 0 || append;
        // The new descriptor holds what was asked for that the directory can pass
        // on. Asking for more is not an error: Rust's standard library asks for
        // every right that might apply.
        let (base, inheriting) = (base & allowed, inheriting & allowed);
        let read = base & rights::READING != 0;
        let write = base & rights::WRITING != 0 || append;

        let entry = if oflags & oflags::DIRECTORY != 0 {
            if create || truncate || oflags & oflags::EXCL != 0 {
                return Err(Errno::INVAL);
            }
            if asks_to_write {
                return Err(Errno::ISDIR);
            }
            let dir = if follow {
                parent.dir.open_dir(path)?
            } else {
                parent.dir.open_dir_nofollow(path)?
            };
            dir_entry(dir, base, inheriting)
        } else {
            let mut options = cap_std::fs::OpenOptions::new();
            // The host needs write access to create or truncate even when the guest
            // asked only to read (POSIX allows `O_RDONLY | O_CREAT`); the guest's
            // rights still say what it may do with the descriptor.
            options
                .read(read || !write)
                .write(write || create || truncate)
                // cap-std (as Rust's `std`) refuses append with truncate, which
                // POSIX allows: truncate on opening, then turn append mode on.
                .append(append && !truncate)
                .truncate(truncate)
                .follow(if follow {
                    FollowSymlinks::Yes
                } else {
                    FollowSymlinks::No
                })
                .maybe_dir(true)
                .sync(fdflags & fdflags::SYNC != 0)
                .dsync(fdflags & fdflags::DSYNC != 0)
                .rsync(fdflags & fdflags::RSYNC != 0)
                .nonblock(fdflags & fdflags::NONBLOCK != 0);
            if create && oflags & oflags::EXCL != 0 {
                options.create_new(true);
            } else if create {
                options.create(true);
            }
            let file = parent.dir.open_with(path, &options)?;
            if append && truncate {
                let flags = rustix::fs::fcntl_getfl(&file)?;
                rustix::fs::fcntl_setfl(&file, flags | rustix::fs::OFlags::APPEND)?;
            }
            let ty = filetype_of(&file.metadata()?.file_type());
            if ty == filetype::DIRECTORY {
                if write {
                    return Err(Errno::ISDIR);
                }
                let dir = cap_std::fs::Dir::from_std_file(file.into_std());
                dir_entry(dir, base, inheriting)
            } else {
                let mut kind = rights::FILE;
                if ty != filetype::REGULAR_FILE {
                    kind &= !rights::SEEKING;
                }
                Entry {
                    desc: Desc::File(FileDesc {
                        file,
                        filetype: ty,
                        shared: false,
                    }),
                    base: base & kind,
                    inheriting,
                }
            }
        };
        let new_fd = self.fds.push(entry)?;
        mem.write_u32(opened, new_fd)
    }
}

/// The rights `path_open` needs on the directory for `oflags`.
fn open_rights(oflags: u16) -> u64 {
    let mut needed = rights::PATH_OPEN;
    if oflags & oflags::CREAT != 0 {
        needed |= rights::PATH_CREATE_FILE;
    }
    if oflags & oflags::TRUNC != 0 {
        needed |= rights::PATH_FILESTAT_SET_SIZE;
    }
    needed
}

/// `ENOTCAPABLE` if `path_open` asks for something the directory cannot pass on
/// (its inheriting rights are `allowed`): to read or write (or append to) a file,
/// or a sync flag without the sync right it stands for (`fd_sync` covers every
/// sync flag, `fd_datasync` only `dsync`).
fn check_open_access(oflags: u16, fdflags: u16, base: u64, allowed: u64) -> Result<(), Errno> {
    let mut access = base & (rights::FD_READ | rights::FD_WRITE);
    if fdflags & fdflags::APPEND != 0 {
        access |= rights::FD_WRITE;
    }
    // A directory is neither read nor written: those rights just do not apply.
    if oflags & oflags::DIRECTORY == 0 && access & !allowed != 0 {
        return Err(Errno::NOTCAPABLE);
    }
    let sync = if fdflags & (fdflags::RSYNC | fdflags::SYNC) != 0 {
        rights::FD_SYNC
    } else if fdflags & fdflags::DSYNC != 0 {
        rights::FD_SYNC | rights::FD_DATASYNC
    } else {
        return Ok(());
    };
    if allowed & sync == 0 {
        return Err(Errno::NOTCAPABLE);
    }
    Ok(())
}

fn dir_entry(dir: cap_std::fs::Dir, base: u64, inheriting: u64) -> Entry {
    Entry {
        desc: Desc::Dir(DirDesc {
            dir,
            preopen: None,
            listing: None,
        }),
        base: base & rights::DIRECTORY,
        inheriting,
    }
}
