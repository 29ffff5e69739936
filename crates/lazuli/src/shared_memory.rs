//! [`SharedMemory`]: a linear memory shared between threads, each running its own
//! store with instances that import it (threads proposal).
//!
//! It belongs to an engine rather than to a store: every store of that engine
//! may import it, and each instance that does keeps it alive. Its bytes are never
//! lent out as `&[u8]` or `&mut [u8]` (other threads may write them at any time):
//! [`SharedMemory::data`] gives `UnsafeCell<u8>`s, and [`read`](SharedMemory::read)
//! and [`write`](SharedMemory::write) copy through raw pointers.

use crate::{Engine, MemoryType};
use anyhow::{Result, anyhow, bail};
use lazuli_runtime::{GrowthLimiter, MemoryLimits, SharedMemory as RuntimeSharedMemory};
use std::cell::UnsafeCell;
use wasmparser::WasmFeatures;

/// A shared linear memory; clones are handles to the same memory, and may be sent
/// to and used from any thread.
#[derive(Clone)]
pub struct SharedMemory {
    engine: Engine,
    memory: RuntimeSharedMemory,
}

impl SharedMemory {
    /// A shared memory of type `ty` (made with [`MemoryType::shared`]) for
    /// instances of `engine`'s stores. An error if `ty` is not shared, if the
    /// engine has `Config::wasm_threads` off, or if it cannot be reserved.
    pub fn new(engine: &Engine, ty: MemoryType) -> Result<SharedMemory> {
        if !ty.is_shared() {
            bail!("SharedMemory::new needs a shared memory type (MemoryType::shared)");
        }
        Self::create(engine, ty.limits(), None)
    }

    /// A shared memory of `limits`, its creation asked of `limiter`
    /// (instantiation passes the store's).
    pub(crate) fn create(
        engine: &Engine,
        limits: MemoryLimits,
        limiter: Option<&mut dyn GrowthLimiter>,
    ) -> Result<SharedMemory> {
        if !engine.config().features.contains(WasmFeatures::THREADS) {
            bail!("shared memories need Config::wasm_threads, which is off");
        }
        let style = engine.config().effective_memory_style();
        let minimum = limits.minimum;
        let memory = RuntimeSharedMemory::new(limits, style, limiter)
            .map_err(|e| anyhow!("cannot create shared memory of {minimum} pages: {e}"))?;
        Ok(SharedMemory {
            engine: engine.clone(),
            memory,
        })
    }

    /// The engine whose stores may import this memory.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The memory's type: its current size as minimum, and its maximum.
    pub fn ty(&self) -> MemoryType {
        let (pages, memory) = (self.memory.pages(), &self.memory);
        let maximum = memory.declared_maximum().unwrap_or(pages);
        match memory.is_64() {
            true => MemoryType::shared64(pages, maximum),
            false => MemoryType::shared(pages as u32, maximum as u32),
        }
    }

    /// Size in 64 KiB pages.
    pub fn size(&self) -> u64 {
        self.memory.pages()
    }

    /// Size in bytes.
    pub fn data_size(&self) -> usize {
        self.memory.byte_size()
    }

    /// Grows by `delta` pages; returns the old size in pages. Threads running
    /// Wasm in the memory meanwhile see the new size from then on.
    pub fn grow(&self, delta: u64) -> Result<u64> {
        self.memory
            .grow(delta, None)
            .map_err(|e| anyhow!("shared memory cannot grow by {delta} pages: {e}"))
    }

    /// The memory's bytes, as cells: other threads may read and write them at any
    /// time, so reading or writing through a cell is a race unless the program
    /// in the memory agrees on who owns which bytes when.
    pub fn data(&self) -> &[UnsafeCell<u8>] {
        self.memory.data()
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        if !self.memory.read(offset as u64, buf) {
            bail!("out of bounds memory access");
        }
        Ok(())
    }

    /// Copies `buf` to `offset`.
    pub fn write(&self, offset: usize, buf: &[u8]) -> Result<()> {
        if !self.memory.write(offset as u64, buf) {
            bail!("out of bounds memory access");
        }
        Ok(())
    }

    /// The runtime's memory, for instantiation.
    pub(crate) fn runtime(&self) -> &RuntimeSharedMemory {
        &self.memory
    }
}

impl PartialEq for SharedMemory {
    fn eq(&self, other: &SharedMemory) -> bool {
        self.memory.same(&other.memory)
    }
}

impl Eq for SharedMemory {}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.memory.fmt(f)
    }
}
