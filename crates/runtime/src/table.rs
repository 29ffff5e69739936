//! Tables of function references.

use crate::vmcontext::{GrowthLimiter, LimiterError, VMFuncRef, VMTableDefinition};

/// Why a table operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    OutOfBounds,
    TooLarge,
    /// The store's limiter refused the growth.
    Refused,
    /// The store's limiter failed the growth with an error, which it keeps.
    Limiter,
}

/// A table: the definition generated code reads, followed by the elements.
#[repr(C)]
pub struct Table {
    /// Must stay the first field: VMContexts point here.
    definition: VMTableDefinition,
    elements: Vec<*const VMFuncRef>,
    maximum: Option<u64>,
}

// SAFETY: elements point at funcrefs owned by the same store, which decides which
// thread uses the table.
unsafe impl Send for Table {}

/// Tables never exceed this many elements, whatever their declared maximum.
const MAX_ELEMENTS: u64 = 10_000_000;

impl Table {
    /// `limiter` is asked (for a growth from 0) only if the maximum allows `minimum`.
    pub fn new(
        minimum: u64,
        maximum: Option<u64>,
        limiter: Option<&mut dyn GrowthLimiter>,
    ) -> Result<Box<Table>, TableError> {
        if minimum > MAX_ELEMENTS || maximum.is_some_and(|max| minimum > max) {
            return Err(TableError::TooLarge);
        }
        let maximum_elements = maximum.map(|m| m as usize);
        ask(limiter, 0, minimum, maximum_elements)?;
        let mut table = Box::new(Table {
            definition: VMTableDefinition {
                base: std::ptr::null_mut(),
                current_elements: 0,
            },
            elements: vec![std::ptr::null(); minimum as usize],
            maximum,
        });
        table.sync();
        Ok(table)
    }

    fn sync(&mut self) {
        self.definition.base = self.elements.as_mut_ptr();
        self.definition.current_elements = self.elements.len();
    }

    /// The record VMContexts point to; as for `LinearMemory::definition`.
    pub fn definition(this: *mut Table) -> *mut VMTableDefinition {
        this.cast()
    }

    pub fn size(&self) -> u64 {
        self.elements.len() as u64
    }

    pub fn maximum(&self) -> Option<u64> {
        self.maximum
    }

    pub fn get(&self, index: u64) -> Result<*const VMFuncRef, TableError> {
        self.elements
            .get(index as usize)
            .copied()
            .ok_or(TableError::OutOfBounds)
    }

    pub fn set(&mut self, index: u64, value: *const VMFuncRef) -> Result<(), TableError> {
        let slot = self
            .elements
            .get_mut(index as usize)
            .ok_or(TableError::OutOfBounds)?;
        *slot = value;
        Ok(())
    }

    /// Sets `len` elements from `dst` to `value`.
    pub fn fill(&mut self, dst: u64, value: *const VMFuncRef, len: u64) -> Result<(), TableError> {
        let range = self.range(dst, len)?;
        self.elements[range].fill(value);
        Ok(())
    }

    /// Copies `len` elements of `src` from `src_start` to `dst` from `dst_start`.
    /// The two may be the same table and the ranges may overlap (the copy is a
    /// memmove); both ranges are checked before anything is written.
    ///
    /// # Safety
    /// `dst` and `src` point at live tables, and no reference to either is live
    /// during the call.
    pub unsafe fn copy(
        dst: *mut Table,
        dst_start: u64,
        src: *const Table,
        src_start: u64,
        len: u64,
    ) -> Result<(), TableError> {
        // SAFETY: per the contract, nothing else borrows the tables; each shared
        // borrow here ends with its call, before anything is written.
        let (s, d) = unsafe { ((*src).range(src_start, len)?, (*dst).range(dst_start, len)?) };
        // SAFETY: both ranges are in bounds of their element buffers (checked
        // above). `Vec::as_ptr`/`as_mut_ptr` create no reference to the buffer, so
        // `from` stays valid when `dst` is `src`, and `ptr::copy` allows overlap.
        unsafe {
            let from = (*src).elements.as_ptr().add(s.start);
            let to = (*dst).elements.as_mut_ptr().add(d.start);
            std::ptr::copy(from, to, d.len());
        }
        Ok(())
    }

    /// Writes `items` from `dst` on.
    pub fn write(&mut self, dst: u64, items: &[*const VMFuncRef]) -> Result<(), TableError> {
        let range = self.range(dst, items.len() as u64)?;
        self.elements[range].copy_from_slice(items);
        Ok(())
    }

    /// The `len` elements from `dst` on, to be written in place; checked as a
    /// whole first, so an out-of-bounds range writes nothing.
    pub fn elements_mut(
        &mut self,
        dst: u64,
        len: u64,
    ) -> Result<&mut [*const VMFuncRef], TableError> {
        let range = self.range(dst, len)?;
        Ok(&mut self.elements[range])
    }

    fn range(&self, start: u64, len: u64) -> Result<std::ops::Range<usize>, TableError> {
        let end = start.checked_add(len).ok_or(TableError::OutOfBounds)?;
        if end > self.size() {
            return Err(TableError::OutOfBounds);
        }
        Ok(start as usize..end as usize)
    }

    /// Grows by `delta` elements set to `init`; returns the old size. `limiter` is
    /// asked only for a growth the table's maximum allows.
    pub fn grow(
        &mut self,
        delta: u64,
        init: *const VMFuncRef,
        limiter: Option<&mut dyn GrowthLimiter>,
    ) -> Result<u64, TableError> {
        let old = self.size();
        let limit = self
            .maximum
            .unwrap_or(u64::from(u32::MAX))
            .min(MAX_ELEMENTS);
        let Some(new) = old.checked_add(delta).filter(|new| *new <= limit) else {
            let failed = limiter.map(|l| l.table_grow_failed(&TableError::TooLarge));
            return Err(match failed {
                Some(Err(LimiterError)) => TableError::Limiter,
                _ => TableError::TooLarge,
            });
        };
        let maximum = self.maximum.map(|m| m as usize);
        ask(limiter, old, new, maximum)?;
        self.elements.resize(new as usize, init);
        self.sync();
        Ok(old)
    }
}

/// Asks `limiter` whether a table may grow from `current` to `desired` elements.
fn ask(
    limiter: Option<&mut dyn GrowthLimiter>,
    current: u64,
    desired: u64,
    maximum: Option<usize>,
) -> Result<(), TableError> {
    let allowed = limiter.map_or(Ok(true), |l| {
        l.table_growing(current as usize, desired as usize, maximum)
    });
    match allowed {
        Ok(true) => Ok(()),
        Ok(false) => Err(TableError::Refused),
        Err(LimiterError) => Err(TableError::Limiter),
    }
}
