//! Shared linear memories (threads): one [`LinearMemory`] owned by an `Arc`, used
//! by instances of any number of stores on any number of threads at once.
//!
//! A shared memory reserves its declared maximum (or the guarded reservation) once,
//! so its base never moves; its length only grows, under the memory's own lock,
//! and is read atomically. Nothing ever forms a `&[u8]` or `&mut [u8]` over its
//! bytes: other threads may write them at any time, so Rust code touches them
//! only through raw pointers (`LinearMemory::{read, write, fill, copy}`) or
//! atomics, and the embedding API hands out `UnsafeCell<u8>`s.

use crate::memory::{LinearMemory, MemoryError, MemoryLimits, MemoryStyle, extent};
use crate::vmcontext::{GrowthLimiter, VMMemoryDefinition};
use std::cell::UnsafeCell;
use std::sync::Arc;

/// A shared linear memory; clones are handles to the same memory.
#[derive(Clone)]
pub struct SharedMemory(Arc<Shared>);

/// The memory, behind the `Arc`: a separate type so that `Sync` is claimed only
/// for what [`SharedMemory`] exposes.
struct Shared(Box<LinearMemory>);

// SAFETY: `SharedMemory` calls only `&LinearMemory` methods safe from several
// threads at once (growth locks, the length is atomic, the base fixed) and reaches
// the bytes only through raw pointers (`data`/`data_mut` are empty for it).
unsafe impl Sync for Shared {}

impl SharedMemory {
    /// A shared memory of `limits`, whose maximum a shared memory must declare.
    /// `limiter` is asked as for an unshared memory.
    pub fn new(
        limits: MemoryLimits,
        style: MemoryStyle,
        limiter: Option<&mut dyn GrowthLimiter>,
    ) -> Result<SharedMemory, MemoryError> {
        if limits.maximum.is_none() {
            return Err(MemoryError::SharedWithoutMaximum);
        }
        let mut memory = LinearMemory::new(limits, style, limiter)?;
        memory.mark_shared();
        Ok(SharedMemory(Arc::new(Shared(memory))))
    }

    fn memory(&self) -> &LinearMemory {
        &self.0.0
    }

    /// The record VMContexts point to (the memory's own, as for an unshared
    /// memory), valid as long as any clone of this handle lives.
    pub fn definition(&self) -> *mut VMMemoryDefinition {
        LinearMemory::definition((self.memory() as *const LinearMemory).cast_mut())
    }

    /// Size in pages.
    pub fn pages(&self) -> u64 {
        self.memory().pages()
    }

    /// Size in bytes.
    pub fn byte_size(&self) -> usize {
        self.memory().byte_size()
    }

    /// Whether addresses are `i64` (memory64).
    pub fn is_64(&self) -> bool {
        self.memory().is_64()
    }

    /// The declared maximum in pages.
    pub fn declared_maximum(&self) -> Option<u64> {
        self.memory().declared_maximum()
    }

    /// Grows by `delta` pages; the old size in pages. Other threads may keep
    /// running Wasm in the memory meanwhile.
    pub fn grow(
        &self,
        delta: u64,
        limiter: Option<&mut dyn GrowthLimiter>,
    ) -> Result<u64, MemoryError> {
        self.memory().grow(delta, limiter)
    }

    /// The accessible bytes, as cells other threads may write at any time.
    pub fn data(&self) -> &[UnsafeCell<u8>] {
        // SAFETY: the memory is alive while `self` is borrowed.
        let (base, len) = unsafe { extent(self.memory()) };
        // SAFETY: the first `len` bytes are mapped read-write and stay so for the
        // memory's life; `UnsafeCell` claims no exclusivity, so concurrent writes
        // through other pointers do not invalidate the slice.
        unsafe { std::slice::from_raw_parts(base.cast::<UnsafeCell<u8>>(), len) }
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`; false if out of bounds.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> bool {
        // SAFETY: the memory is alive, and no reference covers its bytes.
        unsafe { LinearMemory::read(self.memory(), offset, buf) }
    }

    /// Copies `bytes` to `offset`; false (and nothing written) if out of bounds.
    pub fn write(&self, offset: u64, bytes: &[u8]) -> bool {
        // SAFETY: as for `read`.
        unsafe { LinearMemory::write(self.memory(), offset, bytes) }
    }

    /// Whether `self` and `other` are the same memory.
    pub fn same(&self, other: &SharedMemory) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMemory")
            .field("pages", &self.pages())
            .field("maximum", &self.declared_maximum())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::PAGE_SIZE;

    /// Limits of a 32-bit memory.
    fn limits(minimum: u64, maximum: Option<u64>) -> MemoryLimits {
        MemoryLimits {
            minimum,
            maximum,
            memory64: false,
        }
    }

    #[test]
    fn a_shared_memory_needs_a_maximum() {
        let style = MemoryStyle::BoundsChecked;
        let err = SharedMemory::new(limits(1, None), style, None).unwrap_err();
        assert_eq!(err, MemoryError::SharedWithoutMaximum);
    }

    #[test]
    fn growth_from_several_threads_adds_up_and_keeps_the_base() {
        let style = MemoryStyle::BoundsChecked;
        let memory = SharedMemory::new(limits(1, Some(9)), style, None).unwrap();
        // SAFETY: reading the base field of the live definition.
        let base = unsafe { (*memory.definition()).base };
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let memory = memory.clone();
                std::thread::spawn(move || {
                    memory.grow(1, None).unwrap();
                    memory.grow(1, None).unwrap();
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(memory.pages(), 9);
        assert_eq!(memory.byte_size(), 9 * PAGE_SIZE);
        assert_eq!(memory.grow(1, None), Err(MemoryError::TooLarge));
        // SAFETY: as above.
        assert_eq!(unsafe { (*memory.definition()).base }, base);
    }

    #[test]
    fn bytes_are_read_and_written_through_raw_pointers_within_bounds() {
        let memory = SharedMemory::new(limits(1, Some(1)), MemoryStyle::Guarded, None).unwrap();
        assert!(memory.write(PAGE_SIZE as u64 - 3, b"abc"));
        assert!(!memory.write(PAGE_SIZE as u64 - 2, b"abc"));
        let mut buf = [0; 3];
        assert!(memory.read(PAGE_SIZE as u64 - 3, &mut buf));
        assert_eq!(&buf, b"abc");
        assert!(!memory.read(u64::MAX, &mut buf));
        assert_eq!(memory.data().len(), PAGE_SIZE);
        // SAFETY: no other thread uses the memory.
        assert_eq!(unsafe { *memory.data()[PAGE_SIZE - 1].get() }, b'c');
    }
}
