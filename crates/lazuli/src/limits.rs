//! Store resource limits: a hook asked before any memory or table grows.

use crate::store::{Store, StoreInner, StoreOpaque};
use lazuli_runtime::GrowthLimiter;

/// Decides whether the memories and tables of a store may grow.
///
/// It is asked only for growths the memory's or table's declared maximum allows,
/// so a growth it approves fails only when the system refuses the memory. Growing
/// a memory by 0 pages always succeeds and does not ask.
pub trait ResourceLimiter {
    /// A memory wants to grow from `current` to `desired` bytes (its declared
    /// maximum, if any, is `maximum`). Returning false makes the growth fail
    /// (`memory.grow` returns -1; instantiation fails).
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> bool;

    /// A table wants to grow from `current` to `desired` elements.
    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> bool {
        let _ = (current, desired, maximum);
        true
    }
}

/// Limits on the size of each of a store's memories and of each table.
#[derive(Debug, Clone, Default)]
pub struct StoreLimits {
    memory_size: Option<usize>,
    table_elements: Option<usize>,
}

impl StoreLimits {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `bytes` of linear memory in any one memory.
    pub fn memory_size(mut self, bytes: usize) -> Self {
        self.memory_size = Some(bytes);
        self
    }

    /// At most `elements` in any one table.
    pub fn table_elements(mut self, elements: usize) -> Self {
        self.table_elements = Some(elements);
        self
    }
}

impl ResourceLimiter for StoreLimits {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> bool {
        self.memory_size.is_none_or(|limit| desired <= limit)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> bool {
        self.table_elements.is_none_or(|limit| desired <= limit)
    }
}

/// How a store finds its limiter inside its data.
pub(crate) type LimiterAccessor<T> =
    Box<dyn (FnMut(&mut T) -> &mut dyn ResourceLimiter) + Send + Sync>;

/// The limiter of a store, borrowed apart from the store's objects.
pub(crate) struct StoreLimiter<'a, T> {
    data: &'a mut T,
    accessor: &'a mut Option<LimiterAccessor<T>>,
}

impl<T> StoreLimiter<'_, T> {
    /// The configured limiter, if any.
    fn get(&mut self) -> Option<&mut dyn ResourceLimiter> {
        Some(self.accessor.as_mut()?(self.data))
    }
}

impl<T> GrowthLimiter for StoreLimiter<'_, T> {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> bool {
        self.get()
            .is_none_or(|l| l.memory_growing(current, desired, maximum))
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> bool {
        self.get()
            .is_none_or(|l| l.table_growing(current, desired, maximum))
    }
}

impl<T> StoreInner<T> {
    /// The store's objects and its limiter, borrowed apart, for growing a memory
    /// or table of the store from the host.
    pub(crate) fn opaque_and_limiter(&mut self) -> (&mut StoreOpaque, StoreLimiter<'_, T>) {
        let limiter = StoreLimiter {
            data: &mut self.data,
            accessor: &mut self.limiter,
        };
        (&mut self.opaque, limiter)
    }
}

impl<T: 'static> Store<T> {
    /// Makes `limiter` (which finds a [`ResourceLimiter`] in the store's data) decide
    /// every memory and table growth in this store, including instantiation.
    pub fn limiter(
        &mut self,
        limiter: impl (FnMut(&mut T) -> &mut dyn ResourceLimiter) + Send + Sync + 'static,
    ) {
        self.inner.limiter = Some(Box::new(limiter));
    }
}
