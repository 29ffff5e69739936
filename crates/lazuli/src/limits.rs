//! Store resource limits: a hook asked before any memory or table grows.

use crate::store::{Store, StoreInner};
use lazuli_runtime::GrowthLimiter;
use std::ptr::NonNull;

/// Decides whether the memories and tables of a store may grow.
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

/// Limits on the total size of a store's memories and on each table.
#[derive(Debug, Clone, Default)]
pub struct StoreLimits {
    memory_total: Option<usize>,
    table_elements: Option<usize>,
    /// Bytes of linear memory granted so far.
    memory_used: usize,
}

impl StoreLimits {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `bytes` of linear memory over all the store's memories.
    pub fn memory_size(mut self, bytes: usize) -> Self {
        self.memory_total = Some(bytes);
        self
    }

    /// At most `elements` in any one table.
    pub fn table_elements(mut self, elements: usize) -> Self {
        self.table_elements = Some(elements);
        self
    }
}

impl ResourceLimiter for StoreLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> bool {
        let total = self.memory_used - current.min(self.memory_used) + desired;
        if self.memory_total.is_some_and(|limit| total > limit) {
            return false;
        }
        self.memory_used = total;
        true
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> bool {
        self.table_elements.is_none_or(|limit| desired <= limit)
    }
}

/// How a store finds its limiter inside its data.
pub(crate) type LimiterAccessor<T> =
    Box<dyn (FnMut(&mut T) -> &mut dyn ResourceLimiter) + Send + Sync>;

impl<T> GrowthLimiter for StoreInner<T> {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> bool {
        match &mut self.limiter {
            Some(get) => get(&mut self.data).memory_growing(current, desired, maximum),
            None => true,
        }
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> bool {
        match &mut self.limiter {
            Some(get) => get(&mut self.data).table_growing(current, desired, maximum),
            None => true,
        }
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
        let inner: &mut StoreInner<T> = &mut self.inner;
        let hook: NonNull<dyn GrowthLimiter> = NonNull::from(inner as &mut dyn GrowthLimiter);
        self.inner.opaque.vm.limiter = Some(hook);
    }
}
