//! Arguments, environment, clocks, randomness, scheduling and the socket calls
//! (which have no sockets to work on).

use crate::ctx::WasiP1Ctx;
use crate::errno::Errno;
use crate::memory::{GuestMemory, Regions};
use crate::types::clockid;
use cap_rand::TryRngCore;

/// Writes a list of strings the way `args_get` and `environ_get` return them: an
/// array of pointers at `ptrs`, the NUL-terminated strings packed at `buf`.
fn write_strings(
    mem: &mut GuestMemory,
    strings: &[Vec<u8>],
    ptrs: u32,
    buf: u32,
) -> Result<(), Errno> {
    let count = u32::try_from(strings.len()).map_err(|_| Errno::TOOBIG)?;
    let size = buf_size(strings)?;
    Regions::new()
        .write(ptrs, count.checked_mul(4).ok_or(Errno::FAULT)?)
        .write(buf, size)
        .check(mem)?;
    // Both fit: `check` proved `buf + size` and `ptrs + 4 * count` lie in memory.
    let mut packed = Vec::with_capacity(size as usize);
    let mut pointers = Vec::with_capacity(strings.len() * 4);
    for s in strings {
        pointers.extend_from_slice(&(buf + packed.len() as u32).to_le_bytes());
        packed.extend_from_slice(s);
        packed.push(0);
    }
    mem.write(ptrs, &pointers)?;
    mem.write(buf, &packed)
}

/// The bytes `strings` take with a NUL after each.
fn buf_size(strings: &[Vec<u8>]) -> Result<u32, Errno> {
    let size: usize = strings.iter().map(|s| s.len() + 1).sum();
    u32::try_from(size).map_err(|_| Errno::TOOBIG)
}

fn write_sizes(
    mem: &mut GuestMemory,
    strings: &[Vec<u8>],
    count_ptr: u32,
    size_ptr: u32,
) -> Result<(), Errno> {
    Regions::new()
        .write(count_ptr, 4)
        .write(size_ptr, 4)
        .check(mem)?;
    let count = u32::try_from(strings.len()).map_err(|_| Errno::TOOBIG)?;
    let size = buf_size(strings)?;
    mem.write_u32(count_ptr, count)?;
    mem.write_u32(size_ptr, size)
}

/// The host clock behind a WASI clock id.
fn host_clock(id: u32) -> Result<rustix::time::ClockId, Errno> {
    use rustix::time::ClockId;
    Ok(match id {
        clockid::REALTIME => ClockId::Realtime,
        clockid::MONOTONIC => ClockId::Monotonic,
        clockid::PROCESS_CPUTIME_ID => ClockId::ProcessCPUTime,
        clockid::THREAD_CPUTIME_ID => ClockId::ThreadCPUTime,
        _ => return Err(Errno::INVAL),
    })
}

fn timespec_nanos(t: rustix::time::Timespec) -> u64 {
    let ns = i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec);
    ns.clamp(0, i128::from(u64::MAX)) as u64
}

/// The current time of a WASI clock, in nanoseconds.
pub(crate) fn now(id: u32) -> Result<u64, Errno> {
    Ok(timespec_nanos(rustix::time::clock_gettime(host_clock(id)?)))
}

impl WasiP1Ctx {
    pub(crate) fn args_get(
        &mut self,
        mem: &mut GuestMemory,
        argv: u32,
        buf: u32,
    ) -> Result<(), Errno> {
        write_strings(mem, &self.args, argv, buf)
    }

    pub(crate) fn args_sizes_get(
        &mut self,
        mem: &mut GuestMemory,
        argc: u32,
        size: u32,
    ) -> Result<(), Errno> {
        write_sizes(mem, &self.args, argc, size)
    }

    pub(crate) fn environ_get(
        &mut self,
        mem: &mut GuestMemory,
        environ: u32,
        buf: u32,
    ) -> Result<(), Errno> {
        write_strings(mem, &self.env, environ, buf)
    }

    pub(crate) fn environ_sizes_get(
        &mut self,
        mem: &mut GuestMemory,
        count: u32,
        size: u32,
    ) -> Result<(), Errno> {
        write_sizes(mem, &self.env, count, size)
    }

    pub(crate) fn clock_res_get(
        &mut self,
        mem: &mut GuestMemory,
        id: u32,
        resolution: u32,
    ) -> Result<(), Errno> {
        mem.range(resolution, 8)?;
        let res = timespec_nanos(rustix::time::clock_getres(host_clock(id)?));
        mem.write_u64(resolution, res.max(1))
    }

    pub(crate) fn clock_time_get(
        &mut self,
        mem: &mut GuestMemory,
        id: u32,
        _precision: u64,
        time: u32,
    ) -> Result<(), Errno> {
        mem.range(time, 8)?;
        mem.write_u64(time, now(id)?)
    }

    pub(crate) fn random_get(
        &mut self,
        mem: &mut GuestMemory,
        buf: u32,
        len: u32,
    ) -> Result<(), Errno> {
        mem.with_bytes_mut(buf, len, |bytes| {
            cap_rand::rngs::OsRng::default(cap_rand::ambient_authority())
                .try_fill_bytes(bytes)
                .map_err(|_| Errno::IO)?;
            Ok(bytes.len())
        })?;
        Ok(())
    }

    pub(crate) fn sched_yield(&mut self) -> Result<(), Errno> {
        std::thread::yield_now();
        Ok(())
    }

    /// Signals are not part of the sandbox.
    pub(crate) fn proc_raise(&mut self, _signal: u32) -> Result<(), Errno> {
        Err(Errno::NOTSUP)
    }

    /// `EBADF` for a closed descriptor, `ENOTSOCK` for any other: the guest is
    /// never given a socket.
    fn not_a_socket(&self, fd: u32) -> Errno {
        match self.fds.get(fd) {
            Ok(_) => Errno::NOTSOCK,
            Err(e) => e,
        }
    }

    pub(crate) fn sock_accept(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        _flags: u32,
        opened: u32,
    ) -> Result<(), Errno> {
        mem.range(opened, 4)?;
        Err(self.not_a_socket(fd))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sock_recv(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        ri_data: u32,
        ri_data_len: u32,
        _ri_flags: u32,
        ro_datalen: u32,
        ro_flags: u32,
    ) -> Result<(), Errno> {
        let bufs = mem.iovecs(ri_data, ri_data_len)?;
        Regions::new()
            .read(ri_data, ri_data_len * 8)
            .write_all(&bufs)
            .write(ro_datalen, 4)
            .write(ro_flags, 2)
            .check(mem)?;
        Err(self.not_a_socket(fd))
    }

    pub(crate) fn sock_send(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        si_data: u32,
        si_data_len: u32,
        _si_flags: u32,
        so_datalen: u32,
    ) -> Result<(), Errno> {
        let bufs = mem.iovecs(si_data, si_data_len)?;
        Regions::new()
            .read(si_data, si_data_len * 8)
            .read_all(&bufs)
            .write(so_datalen, 4)
            .check(mem)?;
        Err(self.not_a_socket(fd))
    }

    pub(crate) fn sock_shutdown(&mut self, fd: u32, _how: u32) -> Result<(), Errno> {
        Err(self.not_a_socket(fd))
    }
}
