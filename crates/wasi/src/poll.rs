//! `poll_oneoff`: waiting for clocks and file descriptors.
//!
//! Regular files, directories and in-memory streams are always ready. Host streams
//! (terminals, pipes, sockets inherited as stdio) are waited on with `poll(2)`,
//! with the earliest clock deadline as the timeout.

use crate::ctx::{Desc, Stream, WasiP1Ctx};
use crate::errno::Errno;
use crate::memory::{GuestMemory, Regions};
use crate::misc::now;
use crate::types::{
    EVENT_FD_READWRITE_HANGUP, EVENT_SIZE, SUBSCRIPTION_CLOCK_ABSTIME, SUBSCRIPTION_SIZE, clockid,
    eventtype, filetype, rights,
};
use std::io::Seek;
use std::os::fd::AsFd;

/// One event to report.
struct Event {
    userdata: u64,
    error: Errno,
    kind: u8,
    nbytes: u64,
    flags: u16,
}

impl Event {
    fn to_bytes(&self) -> [u8; EVENT_SIZE as usize] {
        let mut b = [0u8; EVENT_SIZE as usize];
        b[0..8].copy_from_slice(&self.userdata.to_le_bytes());
        b[8..10].copy_from_slice(&self.error.0.to_le_bytes());
        b[10] = self.kind;
        b[16..24].copy_from_slice(&self.nbytes.to_le_bytes());
        b[24..26].copy_from_slice(&self.flags.to_le_bytes());
        b
    }

    fn fd(userdata: u64, kind: u8, nbytes: u64) -> Event {
        Event {
            userdata,
            error: Errno::SUCCESS,
            kind,
            nbytes,
            flags: 0,
        }
    }

    fn error(userdata: u64, kind: u8, error: Errno) -> Event {
        Event {
            userdata,
            error,
            kind,
            nbytes: 0,
            flags: 0,
        }
    }
}

/// A clock subscription: fires when the monotonic clock reaches `deadline`.
struct Timer {
    userdata: u64,
    deadline: u64,
}

/// A host descriptor to wait on.
struct Wait {
    userdata: u64,
    fd: u32,
    kind: u8,
}

impl WasiP1Ctx {
    pub(crate) fn poll_oneoff(
        &mut self,
        mem: &mut GuestMemory,
        subscriptions: u32,
        events: u32,
        nsubscriptions: u32,
        nevents: u32,
    ) -> Result<(), Errno> {
        if nsubscriptions == 0 {
            return Err(Errno::INVAL);
        }
        let in_len = nsubscriptions
            .checked_mul(SUBSCRIPTION_SIZE)
            .ok_or(Errno::FAULT)?;
        let out_len = nsubscriptions.checked_mul(EVENT_SIZE).ok_or(Errno::FAULT)?;
        Regions::new()
            .read(subscriptions, in_len)
            .write(events, out_len)
            .write(nevents, 4)
            .check(mem)?;

        let start = now(clockid::MONOTONIC)?;
        let mut ready = Vec::new();
        let mut timers = Vec::new();
        let mut waits = Vec::new();
        for i in 0..nsubscriptions {
            let sub = subscriptions + i * SUBSCRIPTION_SIZE;
            let userdata = mem.read_u64(sub)?;
            let kind = mem.read_u8(sub + 8)?;
            match kind {
                eventtype::CLOCK => {
                    let id = mem.read_u32(sub + 16)?;
                    let timeout = mem.read_u64(sub + 24)?;
                    let flags = mem.read_u16(sub + 40)?;
                    match deadline(id, timeout, flags, start) {
                        Ok(deadline) => timers.push(Timer { userdata, deadline }),
                        Err(e) => ready.push(Event::error(userdata, kind, e)),
                    }
                }
                eventtype::FD_READ | eventtype::FD_WRITE => {
                    let fd = mem.read_u32(sub + 16)?;
                    match self.fd_readiness(fd, kind) {
                        Ok(Some(nbytes)) => ready.push(Event::fd(userdata, kind, nbytes)),
                        Ok(None) => waits.push(Wait { userdata, fd, kind }),
                        Err(e) => ready.push(Event::error(userdata, kind, e)),
                    }
                }
                _ => return Err(Errno::INVAL),
            }
        }

        loop {
            let now = now(clockid::MONOTONIC)?;
            // Wait for nothing if something is already ready.
            let timeout = if ready.is_empty() {
                timers.iter().map(|t| t.deadline.saturating_sub(now)).min()
            } else {
                Some(0)
            };
            if !waits.is_empty() {
                ready.extend(self.wait(&waits, timeout)?);
            } else if let Some(ns) = timeout {
                std::thread::sleep(std::time::Duration::from_nanos(ns));
            }
            let now = now_after(now);
            for t in &timers {
                if t.deadline <= now {
                    ready.push(Event::fd(t.userdata, eventtype::CLOCK, 0));
                }
            }
            if !ready.is_empty() {
                break;
            }
        }

        let mut bytes = Vec::with_capacity(ready.len() * EVENT_SIZE as usize);
        for event in &ready {
            bytes.extend_from_slice(&event.to_bytes());
        }
        mem.write(events, &bytes)?;
        mem.write_u32(nevents, ready.len() as u32)
    }

    /// `Some(nbytes)` if `fd` is ready for `kind` without waiting, `None` if it is
    /// a host stream to wait on. Waiting to read needs the rights
    /// `poll_fd_readwrite` and `fd_read`, waiting to write `poll_fd_readwrite`
    /// and `fd_write`.
    fn fd_readiness(&mut self, fd: u32, kind: u8) -> Result<Option<u64>, Errno> {
        let reading = kind == eventtype::FD_READ;
        let entry = self.fds.get_mut(fd)?;
        let io = if reading {
            rights::FD_READ
        } else {
            rights::FD_WRITE
        };
        entry.need(rights::POLL_FD_READWRITE | io)?;
        match &mut entry.desc {
            Desc::File(f) if f.filetype == filetype::REGULAR_FILE => {
                if !reading {
                    return Ok(Some(0));
                }
                let size = f.file.metadata()?.len();
                let pos = (&f.file).stream_position().map_err(Errno::from)?;
                Ok(Some(size.saturating_sub(pos)))
            }
            Desc::File(_) => Ok(None),
            Desc::Dir(_) => Err(Errno::BADF),
            Desc::Stream(Stream::Null) => Ok(Some(0)),
            Desc::Stream(Stream::Input { data, pos }) if reading => {
                Ok(Some(data.len().saturating_sub(*pos) as u64))
            }
            Desc::Stream(Stream::Output(_)) if !reading => Ok(Some(0)),
            Desc::Stream(_) => Err(Errno::BADF),
        }
    }

    /// Polls the host descriptors of `waits` for at most `timeout` nanoseconds
    /// (forever if `None`); returns the events of those that are ready.
    fn wait(&self, waits: &[Wait], timeout: Option<u64>) -> Result<Vec<Event>, Errno> {
        use rustix::event::{PollFd, PollFlags};
        let mut fds = Vec::with_capacity(waits.len());
        for w in waits {
            let Desc::File(f) = &self.fds.get(w.fd)?.desc else {
                return Err(Errno::BADF);
            };
            let flags = if w.kind == eventtype::FD_READ {
                PollFlags::IN
            } else {
                PollFlags::OUT
            };
            fds.push(PollFd::new(&f.file, flags));
        }
        let timeout = timeout.map(|ns| rustix::event::Timespec {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_nsec: (ns % 1_000_000_000) as _,
        });
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
        let mut events = Vec::new();
        for (w, pfd) in waits.iter().zip(&fds) {
            let revents = pfd.revents();
            if revents.is_empty() {
                continue;
            }
            if revents.contains(PollFlags::NVAL) {
                events.push(Event::error(w.userdata, w.kind, Errno::BADF));
                continue;
            }
            let mut event = Event::fd(w.userdata, w.kind, 0);
            if revents.contains(PollFlags::HUP) {
                event.flags = EVENT_FD_READWRITE_HANGUP;
            }
            if w.kind == eventtype::FD_READ {
                event.nbytes = rustix::io::ioctl_fionread(pfd.as_fd()).unwrap_or(0);
            }
            events.push(event);
        }
        Ok(events)
    }
}

/// The monotonic time after a wait that began at `before` (never earlier).
fn now_after(before: u64) -> u64 {
    now(clockid::MONOTONIC).map_or(before, |t| t.max(before))
}

/// The monotonic deadline of a clock subscription made at monotonic time `start`.
fn deadline(id: u32, timeout: u64, flags: u16, start: u64) -> Result<u64, Errno> {
    if flags & !SUBSCRIPTION_CLOCK_ABSTIME != 0 {
        return Err(Errno::INVAL);
    }
    let absolute = flags & SUBSCRIPTION_CLOCK_ABSTIME != 0;
    match id {
        clockid::MONOTONIC if absolute => Ok(timeout),
        clockid::REALTIME if absolute => {
            let real = now(clockid::REALTIME)?;
            Ok(start.saturating_add(timeout.saturating_sub(real)))
        }
        clockid::MONOTONIC | clockid::REALTIME => Ok(start.saturating_add(timeout)),
        // Sleeping on a CPU-time clock is not offered.
        clockid::PROCESS_CPUTIME_ID | clockid::THREAD_CPUTIME_ID => Err(Errno::NOTSUP),
        _ => Err(Errno::INVAL),
    }
}
