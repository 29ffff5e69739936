//! A pool of memory reservations, for the pooling allocation strategy: a memory
//! dropped gives its reservation back instead of unmapping it, reset to
//! inaccessible anonymous pages by one `mmap` over the bytes it used, and the next
//! memory takes it instead of reserving address space anew. That saves the
//! reservation's `mmap` at instantiation and the `munmap` of all of it at drop.

use crate::memory::{MAX_PAGES, MemoryError, MemoryStyle, reserve};
use std::sync::{Mutex, PoisonError};

/// Reservations for at most `capacity` live memories of at most `max_pages` pages
/// each, shared by all the stores of an engine.
pub struct MemoryPool {
    max_pages: u64,
    /// Bytes of each reservation.
    reservation: usize,
    capacity: usize,
    state: Mutex<PoolState>,
}

struct PoolState {
    /// The bases of the reservations no memory uses, all inaccessible.
    free: Vec<usize>,
    /// How many reservations exist, free or in use.
    made: usize,
}

impl MemoryPool {
    /// A pool that makes its reservations as they are first needed (`max_pages`
    /// is at most a 32-bit memory's 65,536).
    pub fn new(style: MemoryStyle, max_pages: u64, capacity: usize) -> MemoryPool {
        let max_pages = max_pages.min(MAX_PAGES);
        MemoryPool {
            max_pages,
            reservation: style.reservation(max_pages),
            capacity,
            state: Mutex::new(PoolState {
                free: Vec::new(),
                made: 0,
            }),
        }
    }

    pub(crate) fn max_pages(&self) -> u64 {
        self.max_pages
    }

    pub(crate) fn reservation(&self) -> usize {
        self.reservation
    }

    /// The base of a free reservation (all inaccessible), made if none is free
    /// and the pool is not at its capacity.
    pub(crate) fn take(&self) -> Result<*mut u8, MemoryError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(base) = state.free.pop() {
            return Ok(base as *mut u8);
        }
        if state.made >= self.capacity {
            return Err(MemoryError::PoolExhausted);
        }
        let base = reserve(self.reservation)?;
        state.made += 1;
        Ok(base)
    }

    /// Takes back the reservation at `base`, making its first `used` bytes
    /// inaccessible zero pages again; if the kernel refuses, the reservation is
    /// unmapped instead (and may be made again later).
    ///
    /// # Safety
    /// `base` came from [`take`](Self::take) of this pool, only its first `used`
    /// bytes were made accessible or mapped, and nothing refers to them any more.
    pub(crate) unsafe fn give_back(&self, base: *mut u8, used: usize) {
        // SAFETY: per the contract, a range of this pool's reservation that no one
        // uses; MAP_FIXED replaces whatever was mapped there (an image included).
        let reset = used == 0
            || unsafe {
                libc::mmap(
                    base.cast(),
                    used,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANON | libc::MAP_NORESERVE | libc::MAP_FIXED,
                    -1,
                    0,
                )
            } != libc::MAP_FAILED;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if reset {
            state.free.push(base as usize);
        } else {
            // SAFETY: per the contract, the whole reservation is unused.
            unsafe { libc::munmap(base.cast(), self.reservation) };
            state.made -= 1;
        }
    }
}

impl Drop for MemoryPool {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        for base in state.free.drain(..) {
            // SAFETY: a free reservation of this pool; live memories hold the pool,
            // so when it drops every reservation is free.
            unsafe { libc::munmap(base as *mut libc::c_void, self.reservation) };
        }
    }
}
