//! `fd_*`: operations on open file descriptors — files, directories and the
//! standard streams.

use crate::ctx::{Desc, DirRecord, Entry, FileDesc, Stream, WasiP1Ctx, filetype_of};
use crate::errno::Errno;
use crate::memory::{GuestMemory, MAX_WRITE, Regions};
use crate::types::{
    FDSTAT_SIZE, FILESTAT_SIZE, Filestat, PRESTAT_SIZE, dirent_bytes, fdflags, fdstat_bytes,
    filetype, fstflags, rights, whence,
};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::{Duration, SystemTime};

/// Repeats an operation the host interrupted with a signal (`SA_RESTART`, as a
/// native program would see it).
fn retry<R>(mut f: impl FnMut() -> io::Result<R>) -> Result<R, Errno> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other.map_err(Errno::from),
        }
    }
}

/// A byte count as the guest's 32-bit `size`.
fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `ns` since the epoch from seconds and nanoseconds; times before 1970 are 0.
fn nanos(secs: i64, nsecs: i64) -> u64 {
    let ns = i128::from(secs) * 1_000_000_000 + i128::from(nsecs);
    ns.clamp(0, i128::from(u64::MAX)) as u64
}

/// The `filestat` of host metadata.
pub(crate) fn filestat(m: &cap_std::fs::Metadata) -> Filestat {
    use cap_std::fs::MetadataExt;
    Filestat {
        dev: m.dev(),
        ino: m.ino(),
        filetype: filetype_of(&m.file_type()),
        nlink: m.nlink(),
        size: m.len(),
        atim: nanos(m.atime(), m.atime_nsec()),
        mtim: nanos(m.mtime(), m.mtime_nsec()),
        ctim: nanos(m.ctime(), m.ctime_nsec()),
    }
}

/// Checks `fst_flags` and turns them into what to set access and modification
/// times to (`None`: leave as is).
pub(crate) fn time_specs(
    atim: u64,
    mtim: u64,
    fst_flags: u32,
) -> Result<(Option<TimeSpec>, Option<TimeSpec>), Errno> {
    let flags = u16::try_from(fst_flags).map_err(|_| Errno::INVAL)?;
    if flags & !fstflags::ALL != 0 {
        return Err(Errno::INVAL);
    }
    let one = |time: u64, set: u16, now: u16| match (flags & set != 0, flags & now != 0) {
        (true, true) => Err(Errno::INVAL),
        (true, false) => Ok(Some(TimeSpec::At(time))),
        (false, true) => Ok(Some(TimeSpec::Now)),
        (false, false) => Ok(None),
    };
    Ok((
        one(atim, fstflags::ATIM, fstflags::ATIM_NOW)?,
        one(mtim, fstflags::MTIM, fstflags::MTIM_NOW)?,
    ))
}

/// A time to set on a file.
#[derive(Clone, Copy)]
pub(crate) enum TimeSpec {
    Now,
    /// Nanoseconds since the epoch.
    At(u64),
}

impl TimeSpec {
    /// `EINVAL` for a time the host cannot represent.
    pub(crate) fn to_cap(self) -> Result<cap_fs_ext::SystemTimeSpec, Errno> {
        Ok(match self {
            TimeSpec::Now => cap_fs_ext::SystemTimeSpec::SymbolicNow,
            TimeSpec::At(ns) => {
                let time = SystemTime::UNIX_EPOCH
                    .checked_add(Duration::from_nanos(ns))
                    .ok_or(Errno::INVAL)?;
                cap_fs_ext::SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(time))
            }
        })
    }

    fn to_timespec(spec: Option<TimeSpec>) -> rustix::fs::Timespec {
        match spec {
            None => rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            Some(TimeSpec::Now) => rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            },
            Some(TimeSpec::At(ns)) => rustix::fs::Timespec {
                tv_sec: (ns / 1_000_000_000) as i64,
                tv_nsec: (ns % 1_000_000_000) as _,
            },
        }
    }
}

/// The WASI `fdflags` of the host's open-file flags.
fn fdflags_of(fd: impl std::os::fd::AsFd) -> Result<u16, Errno> {
    use rustix::fs::OFlags;
    let flags = rustix::fs::fcntl_getfl(fd)?;
    let mut out = 0;
    for (host, wasi) in [
        (OFlags::APPEND, fdflags::APPEND),
        (OFlags::NONBLOCK, fdflags::NONBLOCK),
        (OFlags::DSYNC, fdflags::DSYNC),
        (OFlags::RSYNC, fdflags::RSYNC),
        (OFlags::SYNC, fdflags::SYNC),
    ] {
        if flags.contains(host) {
            out |= wasi;
        }
    }
    Ok(out)
}

/// A descriptor of `dir` itself that `fsync` accepts: cap-std opens directories
/// with `O_PATH` on Linux, which `fsync` and `futimens` refuse (`EBADF`).
/// Opening `.` beneath the handle cannot leave it.
fn syncable(dir: &cap_std::fs::Dir) -> Result<std::os::fd::OwnedFd, Errno> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(dir, ".", flags, Mode::empty())?)
}

/// Reads the listing of a directory for `fd_readdir`: `.`, `..`, then the
/// entries in the host's order.
fn read_listing(dir: &cap_std::fs::Dir) -> io::Result<Vec<DirRecord>> {
    use cap_std::fs::MetadataExt;
    use std::os::unix::ffi::OsStringExt;
    let ino = dir.dir_metadata()?.ino();
    let mut out = vec![
        DirRecord {
            name: b".".to_vec(),
            ino,
            filetype: filetype::DIRECTORY,
        },
        DirRecord {
            name: b"..".to_vec(),
            ino,
            filetype: filetype::DIRECTORY,
        },
    ];
    for entry in dir.entries()? {
        let entry = entry?;
        out.push(DirRecord {
            ino: std::os::unix::fs::DirEntryExt::ino(&entry),
            filetype: entry
                .file_type()
                .map_or(filetype::UNKNOWN, |t| filetype_of(&t)),
            name: entry.file_name().into_vec(),
        });
    }
    Ok(out)
}

impl Entry {
    fn filetype(&self) -> u8 {
        match &self.desc {
            Desc::File(f) => f.filetype,
            Desc::Dir(_) => filetype::DIRECTORY,
            Desc::Stream(_) => filetype::UNKNOWN,
        }
    }
}

impl WasiP1Ctx {
    /// The host file behind `fd`, for a call that needs the rights `needed`:
    /// `EBADF` for a directory, `stream` for a stream that is not a file,
    /// `ENOTCAPABLE` if it lacks one of the rights.
    fn file(&self, fd: u32, stream: Errno, needed: u64) -> Result<&FileDesc, Errno> {
        let entry = self.fds.get(fd)?;
        let file = match &entry.desc {
            Desc::File(f) => f,
            Desc::Dir(_) => return Err(Errno::BADF),
            Desc::Stream(_) => return Err(stream),
        };
        entry.need(needed)?;
        Ok(file)
    }

    pub(crate) fn fd_advise(
        &mut self,
        fd: u32,
        offset: u64,
        len: u64,
        advice: u32,
    ) -> Result<(), Errno> {
        if advice > 5 {
            return Err(Errno::INVAL);
        }
        let file = self.file(fd, Errno::SPIPE, rights::FD_ADVISE)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::fs::Advice;
            let advice = match advice {
                0 => Advice::Normal,
                1 => Advice::Sequential,
                2 => Advice::Random,
                3 => Advice::WillNeed,
                4 => Advice::DontNeed,
                _ => Advice::NoReuse,
            };
            rustix::fs::fadvise(&file.file, offset, std::num::NonZeroU64::new(len), advice)?;
        }
        // Advice is only advice: where the host has no `posix_fadvise`, ignore it.
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = (file, offset, len);
        Ok(())
    }

    pub(crate) fn fd_allocate(&mut self, fd: u32, offset: u64, len: u64) -> Result<(), Errno> {
        let file = self.file(fd, Errno::SPIPE, rights::FD_ALLOCATE)?;
        if file.filetype != filetype::REGULAR_FILE {
            return Err(Errno::SPIPE);
        }
        let end = offset.checked_add(len).ok_or(Errno::FBIG)?;
        if len == 0 {
            return Err(Errno::INVAL);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = end;
            retry(|| {
                rustix::fs::fallocate(&file.file, rustix::fs::FallocateFlags::empty(), offset, len)
                    .map_err(io::Error::from)
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            // Without `fallocate`, at least make the file long enough.
            let size = file.file.metadata()?.len();
            if end > size {
                file.file.set_len(end)?;
            }
            Ok(())
        }
    }

    pub(crate) fn fd_close(&mut self, fd: u32) -> Result<(), Errno> {
        self.fds.remove(fd).map(drop)
    }

    pub(crate) fn fd_datasync(&mut self, fd: u32) -> Result<(), Errno> {
        match self.file_or_dir(fd, rights::FD_DATASYNC)? {
            Desc::File(f) => retry(|| f.file.sync_data()),
            Desc::Dir(d) => Ok(rustix::fs::fdatasync(syncable(&d.dir)?)?),
            Desc::Stream(_) => Err(Errno::INVAL),
        }
    }

    pub(crate) fn fd_sync(&mut self, fd: u32) -> Result<(), Errno> {
        match self.file_or_dir(fd, rights::FD_SYNC)? {
            Desc::File(f) => retry(|| f.file.sync_all()),
            Desc::Dir(d) => Ok(rustix::fs::fsync(syncable(&d.dir)?)?),
            Desc::Stream(_) => Err(Errno::INVAL),
        }
    }

    /// What `fd` refers to, for a call on files and directories that needs the
    /// rights `needed`: `EINVAL` for a stream that is not a file, `ENOTCAPABLE`
    /// if it lacks one of the rights.
    fn file_or_dir(&self, fd: u32, needed: u64) -> Result<&Desc, Errno> {
        let entry = self.fds.get(fd)?;
        if let Desc::Stream(_) = entry.desc {
            return Err(Errno::INVAL);
        }
        entry.need(needed)?;
        Ok(&entry.desc)
    }

    pub(crate) fn fd_fdstat_get(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        buf: u32,
    ) -> Result<(), Errno> {
        mem.range(buf, u64::from(FDSTAT_SIZE))?;
        let entry = self.fds.get(fd)?;
        let flags = match &entry.desc {
            Desc::File(f) => fdflags_of(&f.file)?,
            Desc::Dir(d) => fdflags_of(&d.dir)?,
            Desc::Stream(_) => 0,
        };
        mem.write(
            buf,
            &fdstat_bytes(entry.filetype(), flags, entry.base, entry.inheriting),
        )
    }

    pub(crate) fn fd_fdstat_set_flags(&mut self, fd: u32, flags: u32) -> Result<(), Errno> {
        use rustix::fs::OFlags;
        let flags = u16::try_from(flags).map_err(|_| Errno::INVAL)?;
        if flags & !fdflags::ALL != 0 {
            return Err(Errno::INVAL);
        }
        let entry = self.fds.get(fd)?;
        entry.need(rights::FD_FDSTAT_SET_FLAGS)?;
        let fd = match &entry.desc {
            // The inherited standard streams share their open file with the host
            // process (and its parent shell), where a change would outlive the guest.
            Desc::File(f) if f.shared => {
                return if flags == fdflags_of(&f.file)? {
                    Ok(())
                } else {
                    Err(Errno::NOTSUP)
                };
            }
            Desc::File(f) => std::os::fd::AsFd::as_fd(&f.file),
            Desc::Dir(d) => std::os::fd::AsFd::as_fd(&d.dir),
            Desc::Stream(_) if flags & !fdflags::NONBLOCK == 0 => return Ok(()),
            Desc::Stream(_) => return Err(Errno::NOTSUP),
        };
        let current = fdflags_of(fd)?;
        // Only append and non-blocking mode can change after opening.
        let fixed = fdflags::DSYNC | fdflags::RSYNC | fdflags::SYNC;
        if current & fixed != flags & fixed {
            return Err(Errno::NOTSUP);
        }
        let mut host = rustix::fs::fcntl_getfl(fd)? & !(OFlags::APPEND | OFlags::NONBLOCK);
        if flags & fdflags::APPEND != 0 {
            host |= OFlags::APPEND;
        }
        if flags & fdflags::NONBLOCK != 0 {
            host |= OFlags::NONBLOCK;
        }
        rustix::fs::fcntl_setfl(fd, host)?;
        Ok(())
    }

    pub(crate) fn fd_fdstat_set_rights(
        &mut self,
        fd: u32,
        base: u64,
        inheriting: u64,
    ) -> Result<(), Errno> {
        let entry = self.fds.get_mut(fd)?;
        if base & !entry.base != 0 || inheriting & !entry.inheriting != 0 {
            return Err(Errno::NOTCAPABLE);
        }
        entry.base = base;
        entry.inheriting = inheriting;
        Ok(())
    }

    pub(crate) fn fd_filestat_get(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        buf: u32,
    ) -> Result<(), Errno> {
        mem.range(buf, u64::from(FILESTAT_SIZE))?;
        let entry = self.fds.get(fd)?;
        entry.need(rights::FD_FILESTAT_GET)?;
        let stat = match &entry.desc {
            Desc::File(f) => filestat(&f.file.metadata()?),
            Desc::Dir(d) => filestat(&d.dir.dir_metadata()?),
            Desc::Stream(_) => Filestat::default(),
        };
        mem.write(buf, &stat.to_bytes())
    }

    pub(crate) fn fd_filestat_set_size(&mut self, fd: u32, size: u64) -> Result<(), Errno> {
        let file = self.file(fd, Errno::INVAL, rights::FD_FILESTAT_SET_SIZE)?;
        retry(|| file.file.set_len(size))
    }

    pub(crate) fn fd_filestat_set_times(
        &mut self,
        fd: u32,
        atim: u64,
        mtim: u64,
        fst_flags: u32,
    ) -> Result<(), Errno> {
        let (atime, mtime) = time_specs(atim, mtim, fst_flags)?;
        let times = rustix::fs::Timestamps {
            last_access: TimeSpec::to_timespec(atime),
            last_modification: TimeSpec::to_timespec(mtime),
        };
        match self.file_or_dir(fd, rights::FD_FILESTAT_SET_TIMES)? {
            Desc::File(f) => Ok(rustix::fs::futimens(&f.file, &times)?),
            // Through the directory's own entry: see `syncable`.
            Desc::Dir(d) => Ok(rustix::fs::utimensat(
                &d.dir,
                ".",
                &times,
                rustix::fs::AtFlags::empty(),
            )?),
            Desc::Stream(_) => Err(Errno::INVAL),
        }
    }

    pub(crate) fn fd_pread(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        offset: u64,
        nread: u32,
    ) -> Result<(), Errno> {
        let bufs = mem.iovecs(iovs, iovs_len)?;
        Regions::new()
            .read(iovs, iovs_len * 8)
            .write_all(&bufs)
            .write(nread, 4)
            .check(mem)?;
        // Reading at an offset is reading and seeking (the offset stays as it is).
        let file = self.file(fd, Errno::SPIPE, rights::FD_READ | rights::FD_SEEK)?;
        let mut total: u64 = 0;
        for buf in &bufs {
            let at = offset.checked_add(total).ok_or(Errno::INVAL)?;
            let n = mem.with_bytes_mut(buf.start, buf.len, |slice| {
                retry(|| rustix::io::pread(&file.file, &mut *slice, at).map_err(io::Error::from))
            })?;
            total += n as u64;
            if n < buf.len as usize {
                break;
            }
        }
        mem.write_u32(nread, saturate(total))
    }

    pub(crate) fn fd_pwrite(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        offset: u64,
        nwritten: u32,
    ) -> Result<(), Errno> {
        let bufs = mem.iovecs(iovs, iovs_len)?;
        Regions::new()
            .read(iovs, iovs_len * 8)
            .read_all(&bufs)
            .write(nwritten, 4)
            .check(mem)?;
        let file = self.file(fd, Errno::SPIPE, rights::FD_WRITE | rights::FD_SEEK)?;
        let mut total: u64 = 0;
        for buf in &bufs {
            let slice = mem.bytes(buf.start, buf.len)?;
            let at = offset.checked_add(total).ok_or(Errno::INVAL)?;
            let n = retry(|| rustix::io::pwrite(&file.file, &slice, at).map_err(io::Error::from))?;
            total += n as u64;
            if n < slice.len() {
                break;
            }
        }
        mem.write_u32(nwritten, saturate(total))
    }

    pub(crate) fn fd_prestat_get(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        buf: u32,
    ) -> Result<(), Errno> {
        mem.range(buf, u64::from(PRESTAT_SIZE))?;
        let name = self.preopen_name(fd)?;
        let mut bytes = [0u8; PRESTAT_SIZE as usize];
        bytes[4..8].copy_from_slice(&(name.len() as u32).to_le_bytes());
        mem.write(buf, &bytes)
    }

    pub(crate) fn fd_prestat_dir_name(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        path: u32,
        path_len: u32,
    ) -> Result<(), Errno> {
        mem.range(path, u64::from(path_len))?;
        let name = self.preopen_name(fd)?;
        if (path_len as usize) < name.len() {
            return Err(Errno::NAMETOOLONG);
        }
        let name = name.as_bytes().to_vec();
        mem.write(path, &name)
    }

    fn preopen_name(&self, fd: u32) -> Result<&str, Errno> {
        match &self.fds.get(fd)?.desc {
            Desc::Dir(d) => d.preopen.as_deref().ok_or(Errno::BADF),
            _ => Err(Errno::BADF),
        }
    }

    pub(crate) fn fd_read(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        nread: u32,
    ) -> Result<(), Errno> {
        let bufs = mem.iovecs(iovs, iovs_len)?;
        Regions::new()
            .read(iovs, iovs_len * 8)
            .write_all(&bufs)
            .write(nread, 4)
            .check(mem)?;
        let entry = self.fds.get_mut(fd)?;
        entry.need(rights::FD_READ)?;
        let n = match &mut entry.desc {
            Desc::File(f) => mem.with_io_slices_mut(&bufs, |slices| {
                retry(|| (&f.file).read_vectored(&mut *slices))
            })?,
            Desc::Dir(_) => return Err(Errno::BADF),
            Desc::Stream(Stream::Input { data, pos }) => {
                let mut rest = data.get(*pos..).unwrap_or_default();
                let n = mem.with_io_slices_mut(&bufs, |slices| {
                    rest.read_vectored(slices).map_err(Errno::from)
                })?;
                *pos += n;
                n
            }
            Desc::Stream(Stream::Null) => 0,
            Desc::Stream(Stream::Output(_)) => return Err(Errno::BADF),
        };
        mem.write_u32(nread, saturate(n as u64))
    }

    pub(crate) fn fd_write(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        nwritten: u32,
    ) -> Result<(), Errno> {
        let bufs = mem.iovecs(iovs, iovs_len)?;
        Regions::new()
            .read(iovs, iovs_len * 8)
            .read_all(&bufs)
            .write(nwritten, 4)
            .check(mem)?;
        let entry = self.fds.get_mut(fd)?;
        entry.need(rights::FD_WRITE)?;
        // Like Linux, one call writes at most `MAX_WRITE` bytes (the buffers may
        // overlap, so together they can be far larger than the memory).
        let total: u64 = bufs
            .iter()
            .map(|b| u64::from(b.len))
            .sum::<u64>()
            .min(MAX_WRITE);
        let n = match &mut entry.desc {
            Desc::File(f) => mem
                .with_io_slices(&bufs, |slices| retry(|| (&f.file).write_vectored(slices)))?
                as u64,
            Desc::Dir(_) => return Err(Errno::BADF),
            Desc::Stream(Stream::Output(buffer)) => {
                let mut out = buffer.lock();
                let mut left = total;
                for b in &bufs {
                    // At most `left`, so at most `b.len`.
                    let n = u64::from(b.len).min(left) as u32;
                    out.extend_from_slice(&mem.bytes(b.start, n)?);
                    left -= u64::from(n);
                }
                total
            }
            Desc::Stream(Stream::Null) => total,
            Desc::Stream(Stream::Input { .. }) => return Err(Errno::BADF),
        };
        mem.write_u32(nwritten, saturate(n))
    }

    pub(crate) fn fd_readdir(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        buf: u32,
        buf_len: u32,
        cookie: u64,
        bufused: u32,
    ) -> Result<(), Errno> {
        Regions::new()
            .write(buf, buf_len)
            .write(bufused, 4)
            .check(mem)?;
        let dir = self.fds.dir_mut(fd, rights::FD_READDIR)?;
        if cookie == 0 || dir.listing.is_none() {
            dir.listing = Some(read_listing(&dir.dir)?);
        }
        let listing = dir.listing.as_deref().unwrap_or_default();
        let start = usize::try_from(cookie).unwrap_or(usize::MAX);
        let used = mem.with_bytes_mut(buf, buf_len, |out| {
            let mut used = 0usize;
            for (i, record) in listing.iter().enumerate().skip(start) {
                let header = dirent_bytes(
                    i as u64 + 1,
                    record.ino,
                    record.name.len() as u32,
                    record.filetype,
                );
                // The last entry may be cut short: the guest sees a full buffer and
                // asks again with a larger one.
                for part in [&header[..], &record.name[..]] {
                    let n = part.len().min(out.len() - used);
                    out[used..used + n].copy_from_slice(&part[..n]);
                    used += n;
                }
                if used == out.len() {
                    break;
                }
            }
            Ok(used)
        })?;
        mem.write_u32(bufused, used as u32)
    }

    pub(crate) fn fd_renumber(&mut self, from: u32, to: u32) -> Result<(), Errno> {
        self.fds.renumber(from, to)
    }

    pub(crate) fn fd_seek(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        offset: i64,
        whence: u32,
        newoffset: u32,
    ) -> Result<(), Errno> {
        mem.range(newoffset, 8)?;
        let from = match u8::try_from(whence).map_err(|_| Errno::INVAL)? {
            whence::SET => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::INVAL)?),
            whence::CUR => SeekFrom::Current(offset),
            whence::END => SeekFrom::End(offset),
            _ => return Err(Errno::INVAL),
        };
        // Asking where the offset is needs only `fd_tell`, which `fd_seek` implies.
        let needed = match from {
            SeekFrom::Current(0) => rights::FD_TELL | rights::FD_SEEK,
            _ => rights::FD_SEEK,
        };
        let file = self.file(fd, Errno::SPIPE, 0)?;
        self.fds.get(fd)?.need_any(needed)?;
        let pos = retry(|| (&file.file).seek(from))?;
        mem.write_u64(newoffset, pos)
    }

    pub(crate) fn fd_tell(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        offset: u32,
    ) -> Result<(), Errno> {
        mem.range(offset, 8)?;
        let file = self.file(fd, Errno::SPIPE, 0)?;
        self.fds
            .get(fd)?
            .need_any(rights::FD_TELL | rights::FD_SEEK)?;
        let pos = retry(|| (&file.file).stream_position())?;
        mem.write_u64(offset, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_saturate() {
        assert_eq!(nanos(-5, 0), 0);
        assert_eq!(nanos(1, 5), 1_000_000_005);
        assert_eq!(nanos(i64::MAX, 0), u64::MAX);
    }

    #[test]
    fn time_flags() {
        assert!(time_specs(0, 0, u32::from(fstflags::ATIM | fstflags::ATIM_NOW)).is_err());
        assert!(time_specs(0, 0, 1 << 4).is_err());
        let (a, m) = time_specs(5, 0, u32::from(fstflags::ATIM | fstflags::MTIM_NOW)).unwrap();
        assert!(matches!(a, Some(TimeSpec::At(5))));
        assert!(matches!(m, Some(TimeSpec::Now)));
    }
}
