//! Store resource limits: a hook asked before any memory or table grows, told
//! of growths that failed, and the counts of instances, memories and tables a
//! store may create.

use crate::externals::table_error;
use crate::store::{Store, StoreInner, StoreOpaque};
use anyhow::{Result, anyhow, bail};
use lazuli_environ::ModuleInfo;
use lazuli_runtime::{
    GrowthLimiter, HostFailure, LimiterError, MemoryError, TableError, record_host_failure,
};

/// How many instances a store may create unless its limiter says otherwise.
pub const DEFAULT_INSTANCE_LIMIT: usize = 10_000;
/// How many tables a store's instances may define unless its limiter says otherwise.
pub const DEFAULT_TABLE_LIMIT: usize = 10_000;
/// How many memories a store's instances may define unless its limiter says otherwise.
pub const DEFAULT_MEMORY_LIMIT: usize = 10_000;

/// Decides whether the memories and tables of a store may grow, and how many
/// instances, tables and memories it may create.
///
/// The growth hooks are asked only for growths the memory's or table's
/// declared maximum allows (Wasmtime asks for those too, then fails them), so
/// a growth they approve fails only when the system refuses the memory; both
/// kinds of failure are reported to `memory_grow_failed` / `table_grow_failed`.
/// Growing a memory by 0 pages always succeeds and does not ask.
///
/// Returning `Ok(false)` makes the growth fail (`memory.grow` returns -1,
/// instantiation fails); returning `Err` makes it an error: Wasm traps with it
/// and the host's call fails with it.
pub trait ResourceLimiter {
    /// A memory wants to grow from `current` to `desired` bytes (its declared
    /// maximum, if any, is `maximum`).
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool>;

    /// A memory growth failed with `error` for a reason other than this
    /// limiter's refusal. `Err` turns the failure into that error; the
    /// default lets the growth just fail.
    fn memory_grow_failed(&mut self, error: anyhow::Error) -> Result<()> {
        let _ = error;
        Ok(())
    }

    /// A table wants to grow from `current` to `desired` elements. Unlike
    /// Wasmtime's, it has a default (allow) so that a limiter of memories
    /// alone need not write it.
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool> {
        let _ = (current, desired, maximum);
        Ok(true)
    }

    /// A table growth failed with `error`; as [`Self::memory_grow_failed`].
    fn table_grow_failed(&mut self, error: anyhow::Error) -> Result<()> {
        let _ = error;
        Ok(())
    }

    /// How many instances the store may create, read when the limiter is set.
    fn instances(&self) -> usize {
        DEFAULT_INSTANCE_LIMIT
    }

    /// How many tables the store's instances may define, read when the limiter is set.
    fn tables(&self) -> usize {
        DEFAULT_TABLE_LIMIT
    }

    /// How many memories the store's instances may define, read when the limiter is set.
    fn memories(&self) -> usize {
        DEFAULT_MEMORY_LIMIT
    }
}

/// Limits on the size of each of a store's memories and tables and on how
/// many the store may create; built with [`StoreLimitsBuilder`].
#[derive(Debug, Clone)]
pub struct StoreLimits {
    memory_size: Option<usize>,
    table_elements: Option<usize>,
    instances: usize,
    tables: usize,
    memories: usize,
    trap_on_grow_failure: bool,
}

impl Default for StoreLimits {
    /// No size limits, and the default count limits.
    fn default() -> Self {
        StoreLimits {
            memory_size: None,
            table_elements: None,
            instances: DEFAULT_INSTANCE_LIMIT,
            tables: DEFAULT_TABLE_LIMIT,
            memories: DEFAULT_MEMORY_LIMIT,
            trap_on_grow_failure: false,
        }
    }
}

/// Builds [`StoreLimits`].
#[derive(Debug, Clone, Default)]
pub struct StoreLimitsBuilder(StoreLimits);

impl StoreLimitsBuilder {
    /// No size limits and the default count limits, until set.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `bytes` of linear memory in any one memory.
    pub fn memory_size(mut self, bytes: usize) -> Self {
        self.0.memory_size = Some(bytes);
        self
    }

    /// At most `elements` in any one table.
    pub fn table_elements(mut self, elements: usize) -> Self {
        self.0.table_elements = Some(elements);
        self
    }

    /// At most `count` instances in the store.
    pub fn instances(mut self, count: usize) -> Self {
        self.0.instances = count;
        self
    }

    /// At most `count` tables defined by the store's instances.
    pub fn tables(mut self, count: usize) -> Self {
        self.0.tables = count;
        self
    }

    /// At most `count` memories defined by the store's instances.
    pub fn memories(mut self, count: usize) -> Self {
        self.0.memories = count;
        self
    }

    /// Whether a growth that fails (refused by these limits, or past the
    /// maximum, or refused by the system) is an error, so that Wasm traps,
    /// rather than `memory.grow` / `table.grow` returning -1.
    pub fn trap_on_grow_failure(mut self, trap: bool) -> Self {
        self.0.trap_on_grow_failure = trap;
        self
    }

    /// The limits.
    pub fn build(self) -> StoreLimits {
        self.0
    }
}

impl StoreLimits {
    /// Whether a growth to `desired` within `limit` is allowed, or an error
    /// when refusals trap.
    fn allow(&self, what: &str, desired: usize, limit: Option<usize>) -> Result<bool> {
        let allowed = limit.is_none_or(|limit| desired <= limit);
        if !allowed && self.trap_on_grow_failure {
            bail!("forcing a trap when growing {what} to {desired}");
        }
        Ok(allowed)
    }

    /// What a failed growth becomes.
    fn failed(&self, error: anyhow::Error) -> Result<()> {
        if self.trap_on_grow_failure {
            return Err(error.context("forcing a growth failure to be a trap"));
        }
        Ok(())
    }
}

impl ResourceLimiter for StoreLimits {
    fn memory_growing(&mut self, _: usize, desired: usize, _: Option<usize>) -> Result<bool> {
        self.allow("memory (bytes)", desired, self.memory_size)
    }

    fn memory_grow_failed(&mut self, error: anyhow::Error) -> Result<()> {
        self.failed(error)
    }

    fn table_growing(&mut self, _: usize, desired: usize, _: Option<usize>) -> Result<bool> {
        self.allow("a table (elements)", desired, self.table_elements)
    }

    fn table_grow_failed(&mut self, error: anyhow::Error) -> Result<()> {
        self.failed(error)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

/// How a store finds its limiter inside its data.
pub(crate) type LimiterAccessor<T> =
    Box<dyn (FnMut(&mut T) -> &mut dyn ResourceLimiter) + Send + Sync>;

/// How many of each counted object a store has made and may make.
#[derive(Debug, Clone, Copy)]
struct Count {
    made: usize,
    limit: usize,
}

impl Count {
    fn new(limit: usize) -> Count {
        Count { made: 0, limit }
    }

    fn bump(&mut self, by: usize, what: &str) -> Result<()> {
        let made = self.made.saturating_add(by);
        if made > self.limit {
            bail!("resource limit exceeded: {what} count too high at {made}");
        }
        self.made = made;
        Ok(())
    }
}

/// A store's limiter and its counts.
pub(crate) struct Limits<T> {
    accessor: Option<LimiterAccessor<T>>,
    instances: Count,
    tables: Count,
    memories: Count,
}

impl<T> Limits<T> {
    /// No limiter, and the default count limits.
    pub(crate) fn new() -> Self {
        Limits {
            accessor: None,
            instances: Count::new(DEFAULT_INSTANCE_LIMIT),
            tables: Count::new(DEFAULT_TABLE_LIMIT),
            memories: Count::new(DEFAULT_MEMORY_LIMIT),
        }
    }

    /// Counts an instance of `module` and the tables and memories it defines,
    /// failing (counting nothing more) past a limit.
    pub(crate) fn count_instance(&mut self, module: &ModuleInfo) -> Result<()> {
        let tables = module.tables.len() - module.num_imported_tables as usize;
        let memories = module.memories.len() - module.num_imported_memories as usize;
        self.instances.bump(1, "instance")?;
        self.memories.bump(memories, "memory")?;
        self.tables.bump(tables, "table")
    }
}

/// A question for a store's limiter.
enum Ask<'a> {
    MemoryGrowing(usize, usize, Option<usize>),
    TableGrowing(usize, usize, Option<usize>),
    MemoryGrowFailed(&'a MemoryError),
    TableGrowFailed(&'a TableError),
}

/// The limiter of a store, borrowed apart from the store's objects.
pub(crate) struct StoreLimiter<'a, T> {
    data: &'a mut T,
    limits: &'a mut Limits<T>,
    /// The error the limiter failed the latest growth with.
    error: Option<anyhow::Error>,
}

impl<T> StoreLimiter<'_, T> {
    /// Asks the configured limiter, if any; an answer of `Err` is kept in `error`.
    fn ask(&mut self, ask: Ask<'_>) -> Result<bool, LimiterError> {
        let Some(accessor) = self.limits.accessor.as_mut() else {
            return Ok(true);
        };
        let limiter = accessor(self.data);
        let answer = match ask {
            Ask::MemoryGrowing(current, desired, max) => {
                limiter.memory_growing(current, desired, max)
            }
            Ask::TableGrowing(current, desired, max) => {
                limiter.table_growing(current, desired, max)
            }
            Ask::MemoryGrowFailed(why) => limiter
                .memory_grow_failed(anyhow::Error::new(why.clone()))
                .map(|()| true),
            Ask::TableGrowFailed(why) => limiter
                .table_grow_failed(anyhow!("table growth failed: {}", table_error(why)))
                .map(|()| true),
        };
        answer.map_err(|error| {
            self.error = Some(error);
            LimiterError
        })
    }

    /// The error the limiter failed the latest growth with, if it did; else
    /// `otherwise`, the error of the operation that failed.
    pub(crate) fn explain(&mut self, otherwise: anyhow::Error) -> anyhow::Error {
        self.error.take().unwrap_or(otherwise)
    }
}

impl<T> GrowthLimiter for StoreLimiter<'_, T> {
    fn memory_growing(
        &mut self,
        c: usize,
        d: usize,
        m: Option<usize>,
    ) -> Result<bool, LimiterError> {
        self.ask(Ask::MemoryGrowing(c, d, m))
    }

    fn table_growing(
        &mut self,
        c: usize,
        d: usize,
        m: Option<usize>,
    ) -> Result<bool, LimiterError> {
        self.ask(Ask::TableGrowing(c, d, m))
    }

    fn memory_grow_failed(&mut self, why: &MemoryError) -> Result<(), LimiterError> {
        self.ask(Ask::MemoryGrowFailed(why)).map(drop)
    }

    fn table_grow_failed(&mut self, why: &TableError) -> Result<(), LimiterError> {
        self.ask(Ask::TableGrowFailed(why)).map(drop)
    }
}

impl<T> StoreInner<T> {
    /// The store's objects and its limiter, borrowed apart, for growing a memory
    /// or table of the store from the host.
    pub(crate) fn opaque_and_limiter(&mut self) -> (&mut StoreOpaque, StoreLimiter<'_, T>) {
        let limiter = StoreLimiter {
            data: &mut self.data,
            limits: &mut self.limits,
            error: None,
        };
        (&mut self.opaque, limiter)
    }
}

/// The limiter an entry into Wasm publishes for the builtins that grow memories
/// and tables: the entry's store, its data type erased into `ask`.
pub(crate) struct EntryLimiter {
    store: *mut (),
    ask: unsafe fn(*mut (), Ask<'_>) -> Result<bool, LimiterError>,
    epoch_deadline_reached: unsafe fn(*mut ()) -> lazuli_runtime::EpochOutcome,
}

impl EntryLimiter {
    pub(crate) fn new<T>(store: *mut StoreInner<T>) -> EntryLimiter {
        EntryLimiter {
            store: store.cast(),
            ask: ask_entered::<T>,
            epoch_deadline_reached: crate::interrupt::epoch_deadline_reached::<T>,
        }
    }

    fn ask(&mut self, ask: Ask<'_>) -> Result<bool, LimiterError> {
        // SAFETY: the limiter is published only while its entry runs, when
        // `store` is the live store of that entry and a builtin is its only user.
        unsafe { (self.ask)(self.store, ask) }
    }
}

impl GrowthLimiter for EntryLimiter {
    fn memory_growing(
        &mut self,
        c: usize,
        d: usize,
        m: Option<usize>,
    ) -> Result<bool, LimiterError> {
        self.ask(Ask::MemoryGrowing(c, d, m))
    }

    fn table_growing(
        &mut self,
        c: usize,
        d: usize,
        m: Option<usize>,
    ) -> Result<bool, LimiterError> {
        self.ask(Ask::TableGrowing(c, d, m))
    }

    fn memory_grow_failed(&mut self, why: &MemoryError) -> Result<(), LimiterError> {
        self.ask(Ask::MemoryGrowFailed(why)).map(drop)
    }

    fn table_grow_failed(&mut self, why: &TableError) -> Result<(), LimiterError> {
        self.ask(Ask::TableGrowFailed(why)).map(drop)
    }

    fn epoch_deadline_reached(&mut self) -> lazuli_runtime::EpochOutcome {
        // SAFETY: as in `ask`.
        unsafe { (self.epoch_deadline_reached)(self.store) }
    }
}

/// Asks the limiter of the store at `store` from a builtin. An error it fails
/// the growth with becomes the host failure of the running entry, which the
/// builtin's caller traps with.
///
/// # Safety
/// `store` must be a live `StoreInner<T>` that nothing else uses during the call.
unsafe fn ask_entered<T>(store: *mut (), ask: Ask<'_>) -> Result<bool, LimiterError> {
    // SAFETY: per the contract.
    let store = unsafe { &mut *store.cast::<StoreInner<T>>() };
    let (_, mut limiter) = store.opaque_and_limiter();
    let answer = limiter.ask(ask);
    if let Some(error) = limiter.error.take() {
        record_host_failure(HostFailure::Error(Box::new(error)));
    }
    answer
}

impl<T: 'static> Store<T> {
    /// Makes `limiter` (which finds a [`ResourceLimiter`] in the store's data) decide
    /// every memory and table growth in this store, including instantiation, and
    /// sets the store's count limits from its `instances`, `tables` and `memories`.
    pub fn limiter(
        &mut self,
        mut limiter: impl (FnMut(&mut T) -> &mut dyn ResourceLimiter) + Send + Sync + 'static,
    ) {
        let inner = &mut *self.inner;
        let found = limiter(&mut inner.data);
        let (instances, tables, memories) = (found.instances(), found.tables(), found.memories());
        let limits = &mut inner.limits;
        limits.instances.limit = instances;
        limits.tables.limit = tables;
        limits.memories.limit = memories;
        limits.accessor = Some(Box::new(limiter));
    }
}
