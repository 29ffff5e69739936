//! The pooling instance allocator's settings ([`InstanceAllocationStrategy`]).

use lazuli_runtime::PAGE_SIZE;

/// Where the memories an instance defines come from ([`crate::Config::allocation_strategy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceAllocationStrategy {
    /// Each memory reserves its address space when created and unmaps it when its
    /// store drops.
    OnDemand,
    /// Memories take their reservations from a pool the engine keeps: a dropped
    /// memory's reservation is reset (one `mmap` over the bytes it used) and kept
    /// for the next one, which saves reserving and unmapping address space per
    /// instance. Host-created memories (`Memory::new`) are not pooled. The pool's
    /// limits on instances and tables hold over all the engine's stores.
    Pooling(PoolingAllocationConfig),
}

/// The limits of [`InstanceAllocationStrategy::Pooling`], over all the stores of
/// an engine; instantiating past one of them is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolingAllocationConfig {
    pub(crate) total_memories: u32,
    pub(crate) max_memory_pages: u64,
    pub(crate) total_tables: u32,
    pub(crate) table_elements: usize,
    pub(crate) total_core_instances: u32,
}

impl Default for PoolingAllocationConfig {
    /// 1,000 memories of at most 160 pages (10 MiB) each, 1,000 tables of at
    /// most 20,000 elements, 1,000 instances.
    fn default() -> Self {
        PoolingAllocationConfig {
            total_memories: 1000,
            max_memory_pages: 160,
            total_tables: 1000,
            table_elements: 20_000,
            total_core_instances: 1000,
        }
    }
}

impl PoolingAllocationConfig {
    /// The default limits (see [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// How many pooled memories may be live at once.
    pub fn total_memories(&mut self, count: u32) -> &mut Self {
        self.total_memories = count;
        self
    }

    /// The most bytes a pooled memory may have, rounded down to whole Wasm pages:
    /// a module asking for more at instantiation fails, and growth past it fails
    /// as past a declared maximum. With bounds-checked memories this is also each
    /// reservation's size.
    pub fn max_memory_size(&mut self, bytes: usize) -> &mut Self {
        self.max_memory_pages = (bytes / PAGE_SIZE) as u64;
        self
    }

    /// How many tables defined by instances may be live at once.
    pub fn total_tables(&mut self, count: u32) -> &mut Self {
        self.total_tables = count;
        self
    }

    /// The most elements a table defined by an instance may have: a module
    /// asking for more at instantiation fails, and growth past it fails as past
    /// a declared maximum. Host-created tables (`Table::new`) are not limited.
    pub fn table_elements(&mut self, elements: usize) -> &mut Self {
        self.table_elements = elements;
        self
    }

    /// How many instances may be live at once.
    pub fn total_core_instances(&mut self, count: u32) -> &mut Self {
        self.total_core_instances = count;
        self
    }
}
