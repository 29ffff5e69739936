//! Linear memories. Each reserves its address range once, so its base never moves;
//! growing only makes more of the reservation accessible.

use crate::memory_pool::MemoryPool;
use crate::vmcontext::{GrowthLimiter, LimiterError, VMMemoryDefinition};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes in a Wasm page.
pub const PAGE_SIZE: usize = 64 * 1024;
/// A 32-bit memory never has more pages than this.
pub(crate) const MAX_PAGES: u64 = 65536;
/// A 64-bit memory reserves at most this many pages (16 GiB) and cannot grow
/// past them: its base never moves, so its reservation is made once, and a
/// memory without a maximum must not take a whole address space.
pub const MAX_PAGES_64: u64 = 4 * MAX_PAGES;

/// How accesses to a memory are kept in bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryStyle {
    /// 4 GiB plus a 4 GiB guard region are reserved: any 32-bit index plus any
    /// static offset lands inside the reservation, and inaccessible pages fault.
    Guarded,
    /// Only the maximum size is reserved; generated code checks every access.
    BoundsChecked,
}

impl MemoryStyle {
    /// Bytes of address space reserved for a memory of at most `max_pages` pages.
    pub(crate) fn reservation(self, max_pages: u64) -> usize {
        match self {
            // index (< 2^32) + offset (< 2^32) + access size (<= 16) stays below.
            MemoryStyle::Guarded => (8 << 30) + PAGE_SIZE,
            MemoryStyle::BoundsChecked => (max_pages as usize * PAGE_SIZE).max(PAGE_SIZE),
        }
    }
}

/// Why a memory could not be created or grown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryError {
    /// The operating system refused the reservation or the protection change.
    Os(String),
    /// More pages than the memory's maximum.
    TooLarge,
    /// The store's limiter refused the growth.
    Refused,
    /// The store's limiter failed the growth with an error, which it keeps.
    Limiter,
    /// Every reservation of the engine's memory pool is in use.
    PoolExhausted,
    /// A shared memory was declared without a maximum.
    SharedWithoutMaximum,
}

impl std::fmt::Display for MemoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemoryError::Os(e) => write!(f, "memory mapping failed: {e}"),
            MemoryError::TooLarge => f.write_str("memory size exceeds its maximum"),
            MemoryError::Refused => f.write_str("memory growth refused by the store's limits"),
            MemoryError::Limiter => f.write_str("the store's limiter failed the memory growth"),
            MemoryError::PoolExhausted => f.write_str("all memories of the pool are in use"),
            MemoryError::SharedWithoutMaximum => f.write_str("shared memory must have maximum"),
        }
    }
}

impl std::error::Error for MemoryError {}

/// A memory's declared limits, in pages, and its index type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    pub minimum: u64,
    pub maximum: Option<u64>,
    /// Addresses are `i64` (memory64).
    pub memory64: bool,
}

/// A linear memory: the definition generated code reads, then the reservation.
#[repr(C)]
pub struct LinearMemory {
    /// Must stay the first field: VMContexts point here.
    definition: VMMemoryDefinition,
    reserved: usize,
    maximum_pages: u64,
    declared_maximum: Option<u64>,
    /// Addresses are `i64`.
    memory64: bool,
    /// Bytes from the start that have ever been accessible (and so may be
    /// mapped read-write or from an image): what a pool resets on drop.
    used: AtomicUsize,
    /// The pool the reservation goes back to on drop; unmapped if none.
    pool: Option<Arc<MemoryPool>>,
    /// Held while the memory grows: growth takes `&self`, so that a shared
    /// memory can grow while other threads run Wasm in it.
    growing: Mutex<()>,
    /// Whether this is a shared memory (`SharedMemory` owns it).
    shared: bool,
}

// SAFETY: the reservation is owned by this value; the store that owns it decides
// which thread touches it (a `SharedMemory` gives out only what is thread-safe).
unsafe impl Send for LinearMemory {}

impl LinearMemory {
    /// Reserves a memory of `limits.minimum` pages that may grow to
    /// `limits.maximum`. `limiter` is asked (for a growth from 0) only if the
    /// maximum allows the minimum.
    pub fn new(
        limits: MemoryLimits,
        style: MemoryStyle,
        limiter: Option<&mut dyn GrowthLimiter>,
    ) -> Result<Box<Self>, MemoryError> {
        let limit = if limits.memory64 {
            MAX_PAGES_64
        } else {
            MAX_PAGES
        };
        let maximum_pages = limits.maximum.unwrap_or(limit).min(limit);
        check_limits(limits.minimum, limits.maximum, maximum_pages, limiter)?;
        // A guarded reservation covers 32-bit addresses; a 64-bit memory is
        // bounds-checked in any reservation, which must hold its maximum.
        let reserved = style
            .reservation(maximum_pages)
            .max(MemoryStyle::BoundsChecked.reservation(maximum_pages));
        let base = reserve(reserved)?;
        Self::at(base, reserved, limits, maximum_pages, None)
    }

    /// As [`new`](Self::new), in a reservation of `pool` (its style), and with at
    /// most the pool's maximum pages; the reservation goes back to it on drop.
    pub fn new_pooled(
        pool: &Arc<MemoryPool>,
        limits: MemoryLimits,
        limiter: Option<&mut dyn GrowthLimiter>,
    ) -> Result<Box<Self>, MemoryError> {
        let maximum_pages = limits.maximum.unwrap_or(MAX_PAGES).min(pool.max_pages());
        check_limits(limits.minimum, limits.maximum, maximum_pages, limiter)?;
        let base = pool.take()?;
        let reserved = pool.reservation();
        Self::at(base, reserved, limits, maximum_pages, Some(pool.clone()))
    }

    /// The memory in the `reserved` bytes at `base` (all inaccessible), made
    /// `limits.minimum` pages large.
    fn at(
        base: *mut u8,
        reserved: usize,
        limits: MemoryLimits,
        maximum_pages: u64,
        pool: Option<Arc<MemoryPool>>,
    ) -> Result<Box<Self>, MemoryError> {
        let memory = Box::new(LinearMemory {
            definition: VMMemoryDefinition {
                base,
                current_length: AtomicUsize::new(0),
            },
            reserved,
            maximum_pages,
            declared_maximum: limits.maximum,
            memory64: limits.memory64,
            used: AtomicUsize::new(0),
            pool,
            growing: Mutex::new(()),
            shared: false,
        });
        memory.set_accessible(limits.minimum as usize * PAGE_SIZE)?;
        Ok(memory)
    }

    /// Makes this memory a shared one; only `SharedMemory`, which owns it, does.
    pub(crate) fn mark_shared(&mut self) {
        self.shared = true;
    }

    /// Whether this is a shared memory.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// The accessible length in bytes. Acquire: whoever reads it may then touch
    /// the bytes a growth on another thread made accessible before storing it.
    pub fn byte_size(&self) -> usize {
        self.definition.current_length.load(Ordering::Acquire)
    }

    /// Makes the first `len` bytes accessible; called with `growing` held (or
    /// before anyone else can see the memory).
    fn set_accessible(&self, len: usize) -> Result<(), MemoryError> {
        if len > self.byte_size() {
            // SAFETY: `len` is within the reservation (callers check the maximum,
            // which the reservation covers).
            let r = unsafe {
                libc::mprotect(
                    self.definition.base.cast(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            self.used.fetch_max(len, Ordering::Relaxed);
            if r != 0 {
                return Err(MemoryError::Os(std::io::Error::last_os_error().to_string()));
            }
        }
        self.definition.current_length.store(len, Ordering::Release);
        Ok(())
    }

    /// The record VMContexts point to. The pointer is `this` itself (the
    /// definition is the first field), so builtins may cast it back, and it keeps
    /// whatever provenance `this` has: the owner passes the pointer it owns the
    /// memory through, not one derived from a temporary borrow.
    pub fn definition(this: *mut LinearMemory) -> *mut VMMemoryDefinition {
        this.cast()
    }

    /// Size in pages.
    pub fn pages(&self) -> u64 {
        (self.byte_size() / PAGE_SIZE) as u64
    }

    /// Whether addresses are `i64` (memory64).
    pub fn is_64(&self) -> bool {
        self.memory64
    }

    /// The maximum the memory was declared with, if any.
    pub fn declared_maximum(&self) -> Option<u64> {
        self.declared_maximum
    }

    /// Grows by `delta` pages; returns the old size in pages. `limiter` is asked
    /// only for a growth the memory's maximum allows, so it never approves (and
    /// counts) one that then fails for that reason; it is told of that failure,
    /// and of the system's refusal, instead. Growing by 0 always succeeds
    /// without asking. Growths are serialised (a shared memory may be grown by
    /// several threads at once); other threads keep running Wasm meanwhile.
    pub fn grow(
        &self,
        delta: u64,
        mut limiter: Option<&mut dyn GrowthLimiter>,
    ) -> Result<u64, MemoryError> {
        // A panic while growing poisons the lock but leaves the memory whole.
        let _growing = self.growing.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.pages();
        if delta == 0 {
            return Ok(old);
        }
        let Some(new) = old
            .checked_add(delta)
            .filter(|new| *new <= self.maximum_pages)
        else {
            return Err(grow_failed(limiter, MemoryError::TooLarge));
        };
        let desired = new as usize * PAGE_SIZE;
        let maximum = self
            .declared_maximum
            .map(|p| (p as usize).saturating_mul(PAGE_SIZE));
        let current = self.byte_size();
        if let Some(limiter) = limiter.as_mut() {
            let allowed = limiter.memory_growing(current, desired, maximum);
            if !allowed.map_err(|LimiterError| MemoryError::Limiter)? {
                return Err(MemoryError::Refused);
            }
        }
        self.set_accessible(desired)
            .map_err(|e| grow_failed(limiter, e))?;
        Ok(old)
    }

    /// Maps `len` bytes of the file `fd` from its start copy-on-write over the
    /// accessible bytes from `offset` on: they read what the file holds, and writes
    /// stay private to this memory. False if the kernel refused: the range then
    /// has fresh zero pages again (an error if even that failed; see `zero`).
    ///
    /// # Safety
    /// `fd` is a file of at least `file_offset + len` bytes that can never
    /// shrink (a read past its end would raise `SIGBUS` in whoever touches the
    /// page, host or Wasm); `file_offset` is a multiple of the host page size.
    pub(crate) unsafe fn map_private(
        &mut self,
        offset: usize,
        len: usize,
        fd: std::os::fd::RawFd,
        file_offset: u64,
    ) -> Result<bool, MemoryError> {
        // SAFETY: the caller's contract is `remap`'s.
        if unsafe { self.remap(offset, len, 0, (fd, file_offset)) }? {
            return Ok(true);
        }
        self.zero(offset, len)?;
        Ok(false)
    }

    /// Replaces the accessible bytes `offset..offset + len` with fresh zero pages,
    /// whatever a failed mapping left there. If even that is refused the memory
    /// is made empty and unable to grow, so the host sees no bytes, and Wasm's
    /// accesses are out of bounds (bounds-checked) or stay in the reservation
    /// (guarded), where whatever the failed mappings left unmapped faults into a
    /// trap.
    fn zero(&mut self, offset: usize, len: usize) -> Result<(), MemoryError> {
        // SAFETY: an anonymous mapping has no file that could shrink.
        if unsafe { self.remap(offset, len, libc::MAP_ANON, (-1, 0)) }? {
            return Ok(());
        }
        self.definition.current_length.store(0, Ordering::Release);
        self.maximum_pages = 0;
        Err(MemoryError::Os(std::io::Error::last_os_error().to_string()))
    }

    /// Maps `file`'s bytes from its offset (with `MAP_ANON` and `-1`: zero pages)
    /// read-write and private over the accessible bytes `offset..offset + len`,
    /// `flags` added to `MAP_PRIVATE | MAP_FIXED`; false if the kernel refused.
    ///
    /// # Safety
    /// A file holds at least `len` bytes from the offset and can never shrink.
    unsafe fn remap(
        &mut self,
        offset: usize,
        len: usize,
        flags: libc::c_int,
        (fd, file_offset): (std::os::fd::RawFd, u64),
    ) -> Result<bool, MemoryError> {
        let file_offset = libc::off_t::try_from(file_offset).map_err(|_| MemoryError::TooLarge)?;
        let at = self.accessible_range(offset, len)?;
        let (prot, flags) = (
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_FIXED | flags,
        );
        // SAFETY: `at..at + len` is this reservation's accessible memory (checked
        // above), no reference to it is live (`&mut self`), and every page is backed.
        let mapped = unsafe { libc::mmap(at.cast(), len, prot, flags, fd, file_offset) };
        Ok(mapped != libc::MAP_FAILED)
    }

    /// The address of the accessible bytes `offset..offset + len`.
    fn accessible_range(&self, offset: usize, len: usize) -> Result<*mut u8, MemoryError> {
        range(offset as u64, len as u64, self.byte_size()).ok_or(MemoryError::TooLarge)?;
        Ok(self.definition.base.wrapping_add(offset))
    }

    /// The accessible bytes of an unshared memory; empty for a shared one, whose
    /// bytes other threads may change at any time (no `&[u8]` may cover them).
    pub fn data(&self) -> &[u8] {
        let len = if self.shared { 0 } else { self.byte_size() };
        // SAFETY: the first `byte_size` bytes are mapped read-write, and only
        // Wasm of the store that owns this unshared memory writes them, which it
        // cannot do while the store is borrowed for this reference.
        unsafe { std::slice::from_raw_parts(self.definition.base, len) }
    }

    /// The accessible bytes of an unshared memory, mutably; empty for a shared
    /// one (see [`data`](Self::data)).
    pub fn data_mut(&mut self) -> &mut [u8] {
        let len = if self.shared { 0 } else { self.byte_size() };
        // SAFETY: as for `data`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.definition.base, len) }
    }

    /// Writes `bytes` at `start`; false (and nothing written) if out of bounds.
    /// Through raw pointers, so it may be used on a shared memory.
    ///
    /// # Safety
    /// `this` points at a live memory, and no reference to its bytes is live.
    pub unsafe fn write(this: *const LinearMemory, start: u64, bytes: &[u8]) -> bool {
        // SAFETY: per the contract.
        let (base, size) = unsafe { extent(this) };
        let Some(d) = range(start, bytes.len() as u64, size) else {
            return false;
        };
        // SAFETY: the range lies in the accessible bytes (checked above), which
        // never become inaccessible again, and `bytes` is not inside them (it is
        // a borrowed Rust slice, and nothing borrows the memory's bytes).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(d.start), d.len()) };
        true
    }

    /// Sets `len` bytes from `start` to `byte`; false (and nothing written) if
    /// out of bounds. Through raw pointers, as [`write`](Self::write).
    ///
    /// # Safety
    /// As for [`write`](Self::write).
    pub unsafe fn fill(this: *const LinearMemory, start: u64, byte: u8, len: u64) -> bool {
        // SAFETY: per the contract.
        let (base, size) = unsafe { extent(this) };
        let Some(d) = range(start, len, size) else {
            return false;
        };
        // SAFETY: the range lies in the accessible bytes (checked above).
        unsafe { std::ptr::write_bytes(base.add(d.start), byte, d.len()) };
        true
    }

    /// Copies `buf.len()` bytes from `start` into `buf`; false if out of bounds.
    /// Through raw pointers, as [`write`](Self::write).
    ///
    /// # Safety
    /// As for [`write`](Self::write).
    pub unsafe fn read(this: *const LinearMemory, start: u64, buf: &mut [u8]) -> bool {
        // SAFETY: per the contract.
        let (base, size) = unsafe { extent(this) };
        let Some(s) = range(start, buf.len() as u64, size) else {
            return false;
        };
        // SAFETY: the range lies in the accessible bytes (checked above), and
        // `buf`, a Rust borrow, is not inside them.
        unsafe { std::ptr::copy_nonoverlapping(base.add(s.start), buf.as_mut_ptr(), s.len()) };
        true
    }

    /// Copies `len` bytes of `src` from `src_start` to `dst` from `dst_start`; false
    /// (and nothing written) if either range is out of bounds. The two may be the
    /// same memory and the ranges may overlap (the copy is a memmove).
    ///
    /// # Safety
    /// `dst` and `src` point at live memories, and no reference to either (or to
    /// their bytes) is live during the call.
    pub unsafe fn copy(
        dst: *mut LinearMemory,
        dst_start: u64,
        src: *const LinearMemory,
        src_start: u64,
        len: u64,
    ) -> bool {
        // SAFETY: per the contract.
        let ((dst_base, dst_len), (src_base, src_len)) = unsafe { (extent(dst), extent(src)) };
        let (Some(d), Some(s)) = (
            range(dst_start, len, dst_len),
            range(src_start, len, src_len),
        ) else {
            return false;
        };
        // SAFETY: both ranges lie in the accessible (read-write) bytes of their
        // memories (checked above), nothing else references those bytes, and
        // `ptr::copy` allows the ranges to overlap.
        unsafe { std::ptr::copy(src_base.add(s.start), dst_base.add(d.start), d.len()) };
        true
    }
}

/// `[start, start + len)` if it lies within `size`.
pub fn range(start: u64, len: u64, size: usize) -> Option<std::ops::Range<usize>> {
    let end = start.checked_add(len)?;
    (end <= size as u64).then_some(start as usize..end as usize)
}

/// The base address and accessible length of `memory`, read without creating a
/// reference to it.
///
/// # Safety
/// `memory` points at a live memory.
pub(crate) unsafe fn extent(memory: *const LinearMemory) -> (*mut u8, usize) {
    // SAFETY: per the contract; a place read of the `Copy` base and an atomic
    // load of the length, through the pointer.
    unsafe {
        (
            (*memory).definition.base,
            (*memory).definition.current_length.load(Ordering::Acquire),
        )
    }
}

/// Checks `minimum` against the maximum, then asks `limiter` for it.
fn check_limits(
    minimum: u64,
    maximum: Option<u64>,
    maximum_pages: u64,
    limiter: Option<&mut dyn GrowthLimiter>,
) -> Result<(), MemoryError> {
    if minimum > maximum_pages {
        return Err(MemoryError::TooLarge);
    }
    let bytes = minimum as usize * PAGE_SIZE;
    let maximum_bytes = maximum.map(|p| (p as usize).saturating_mul(PAGE_SIZE));
    let allowed = limiter.map_or(Ok(true), |l| l.memory_growing(0, bytes, maximum_bytes));
    if !allowed.map_err(|LimiterError| MemoryError::Limiter)? {
        return Err(MemoryError::Refused);
    }
    Ok(())
}

/// Tells `limiter` that a growth failed for `why`; what the growth fails with.
fn grow_failed(limiter: Option<&mut dyn GrowthLimiter>, why: MemoryError) -> MemoryError {
    match limiter.map(|l| l.memory_grow_failed(&why)) {
        Some(Err(LimiterError)) => MemoryError::Limiter,
        _ => why,
    }
}

/// A new inaccessible reservation of `len` bytes.
pub(crate) fn reserve(len: usize) -> Result<*mut u8, MemoryError> {
    // SAFETY: an anonymous PROT_NONE mapping; nothing else refers to it.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANON | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(MemoryError::Os(std::io::Error::last_os_error().to_string()));
    }
    Ok(base.cast())
}

impl Drop for LinearMemory {
    fn drop(&mut self) {
        let base = self.definition.base;
        match self.pool.take() {
            // SAFETY: the reservation is `pool`'s, this memory used only its first
            // `used` bytes, and nothing refers to them any more.
            Some(pool) => unsafe { pool.give_back(base, *self.used.get_mut()) },
            None => {
                // SAFETY: unmapping exactly the reservation made in `new`.
                unsafe { libc::munmap(base.cast(), self.reserved) };
            }
        }
    }
}
