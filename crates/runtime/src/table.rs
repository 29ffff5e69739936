//! Tables of function references.

use crate::vmcontext::{VMFuncRef, VMTableDefinition};

/// Why a table operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    OutOfBounds,
    TooLarge,
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
    pub fn new(minimum: u64, maximum: Option<u64>) -> Result<Box<Table>, TableError> {
        if minimum > MAX_ELEMENTS {
            return Err(TableError::TooLarge);
        }
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

    pub fn definition(&mut self) -> *mut VMTableDefinition {
        &mut self.definition
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

    /// Copies `len` elements from `src` to `dst` within this table.
    pub fn copy_within(&mut self, dst: u64, src: u64, len: u64) -> Result<(), TableError> {
        let src = self.range(src, len)?;
        let dst = self.range(dst, len)?;
        self.elements.copy_within(src, dst.start);
        Ok(())
    }

    /// Writes `items` from `dst` on.
    pub fn write(&mut self, dst: u64, items: &[*const VMFuncRef]) -> Result<(), TableError> {
        let range = self.range(dst, items.len() as u64)?;
        self.elements[range].copy_from_slice(items);
        Ok(())
    }

    /// Elements `[start, start + len)`.
    pub fn elements(&self, start: u64, len: u64) -> Result<&[*const VMFuncRef], TableError> {
        Ok(&self.elements[self.range(start, len)?])
    }

    fn range(&self, start: u64, len: u64) -> Result<std::ops::Range<usize>, TableError> {
        let end = start.checked_add(len).ok_or(TableError::OutOfBounds)?;
        if end > self.size() {
            return Err(TableError::OutOfBounds);
        }
        Ok(start as usize..end as usize)
    }

    /// Grows by `delta` elements set to `init`; returns the old size.
    pub fn grow(&mut self, delta: u64, init: *const VMFuncRef) -> Result<u64, TableError> {
        let old = self.size();
        let new = old.checked_add(delta).ok_or(TableError::TooLarge)?;
        if new > self.maximum.unwrap_or(u64::from(u32::MAX)) || new > MAX_ELEMENTS {
            return Err(TableError::TooLarge);
        }
        self.elements.resize(new as usize, init);
        self.sync();
        Ok(old)
    }
}
