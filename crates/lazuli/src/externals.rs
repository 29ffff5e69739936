//! What instances import and export besides functions: [`Global`], [`Memory`],
//! [`Table`], and [`Extern`] over those, functions and shared memories.

use crate::store::{AsContext, AsContextMut, OwnedPtr, StoreOpaque, Stored};
use crate::types::{ExternType, GlobalType, MemoryType, Mutability, RefType, TableType};
use crate::values::{Ref, Val};
use crate::{Func, SharedMemory};
use anyhow::{Result, anyhow, bail};
use lazuli_runtime::{
    LinearMemory, Table as RuntimeTable, TableError, VMFuncRef, VMGlobalDefinition,
    VMTableDefinition,
};

/// Anything an instance can import or export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extern {
    Func(Func),
    Global(Global),
    /// An unshared memory, which belongs to a store.
    Memory(Memory),
    /// A shared memory, which belongs to an engine and may be imported into any
    /// of its stores.
    SharedMemory(SharedMemory),
    Table(Table),
}

impl Extern {
    pub fn into_func(self) -> Option<Func> {
        if let Extern::Func(f) = self {
            Some(f)
        } else {
            None
        }
    }
    pub fn into_global(self) -> Option<Global> {
        if let Extern::Global(g) = self {
            Some(g)
        } else {
            None
        }
    }
    pub fn into_memory(self) -> Option<Memory> {
        if let Extern::Memory(m) = self {
            Some(m)
        } else {
            None
        }
    }
    pub fn into_shared_memory(self) -> Option<SharedMemory> {
        if let Extern::SharedMemory(m) = self {
            Some(m)
        } else {
            None
        }
    }
    pub fn into_table(self) -> Option<Table> {
        if let Extern::Table(t) = self {
            Some(t)
        } else {
            None
        }
    }

    /// The type of this item.
    pub fn ty(&self, store: impl AsContext) -> ExternType {
        self.ty_in(&store.as_context().0.opaque)
    }

    /// The type of this item, or an error if it belongs to another store (or,
    /// for a shared memory, to another engine).
    pub(crate) fn try_ty_in(&self, opaque: &StoreOpaque) -> Result<ExternType> {
        match self.stored() {
            Some(stored) => opaque.owned(stored).map(drop)?,
            None => {
                if let Extern::SharedMemory(m) = self
                    && !m.engine().same(&opaque.engine)
                {
                    bail!("shared memory used with a store of another engine");
                }
            }
        }
        Ok(self.ty_in(opaque))
    }

    /// The store handle of the item; `None` for a shared memory, which has none.
    fn stored(&self) -> Option<Stored> {
        Some(match self {
            Extern::Func(f) => f.0,
            Extern::Global(g) => g.0,
            Extern::Memory(m) => m.0,
            Extern::SharedMemory(_) => return None,
            Extern::Table(t) => t.0,
        })
    }

    pub(crate) fn ty_in(&self, opaque: &StoreOpaque) -> ExternType {
        match self {
            Extern::Func(f) => ExternType::Func(opaque.funcs[opaque.check(f.0)].ty.clone()),
            Extern::Global(g) => ExternType::Global(opaque.globals[opaque.check(g.0)].ty.clone()),
            Extern::Memory(m) => ExternType::Memory(m.ty_in(opaque)),
            Extern::SharedMemory(m) => ExternType::Memory(m.ty()),
            Extern::Table(t) => ExternType::Table(t.ty_in(opaque)),
        }
    }
}

impl From<Func> for Extern {
    fn from(f: Func) -> Extern {
        Extern::Func(f)
    }
}
impl From<Global> for Extern {
    fn from(g: Global) -> Extern {
        Extern::Global(g)
    }
}
impl From<Memory> for Extern {
    fn from(m: Memory) -> Extern {
        Extern::Memory(m)
    }
}
impl From<SharedMemory> for Extern {
    fn from(m: SharedMemory) -> Extern {
        Extern::SharedMemory(m)
    }
}
impl From<Table> for Extern {
    fn from(t: Table) -> Extern {
        Extern::Table(t)
    }
}

/// A global variable.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Global(pub(crate) Stored);

pub(crate) struct GlobalData {
    pub(crate) ty: GlobalType,
    pub(crate) definition: *mut VMGlobalDefinition,
    /// Storage of a host-created global.
    pub(crate) _owned: Option<Box<VMGlobalDefinition>>,
}

impl Global {
    /// A host-created global holding `value`.
    pub fn new(mut store: impl AsContextMut, ty: GlobalType, value: Val) -> Result<Global> {
        let store = store.as_context_mut();
        let opaque = &mut store.0.opaque;
        if !value.matches_ty(opaque, ty.content())? {
            bail!(
                "global of type {} cannot hold a value {}",
                ty.content(),
                value.describe()
            );
        }
        let mut owned = Box::new(VMGlobalDefinition(value.to_raw(opaque)?));
        let definition: *mut VMGlobalDefinition = &mut *owned;
        Ok(opaque.push_global(GlobalData {
            ty,
            definition,
            _owned: Some(owned),
        }))
    }

    pub fn ty(&self, store: impl AsContext) -> GlobalType {
        let store = store.as_context();
        let opaque = &store.0.opaque;
        opaque.globals[opaque.check(self.0)].ty.clone()
    }

    pub fn get(&self, mut store: impl AsContextMut) -> Val {
        let store = store.as_context_mut();
        let opaque = &mut store.0.opaque;
        let data = &opaque.globals[opaque.check(self.0)];
        let ty = data.ty.content().clone();
        // SAFETY: global definitions live as long as their store.
        let raw = unsafe { (*data.definition).0 };
        Val::from_raw(opaque, raw, &ty)
    }

    pub fn set(&self, mut store: impl AsContextMut, value: Val) -> Result<()> {
        let store = store.as_context_mut();
        let opaque = &mut store.0.opaque;
        let data = &opaque.globals[opaque.owned(self.0)?];
        if data.ty.mutability() != Mutability::Var {
            bail!("immutable global cannot be set");
        }
        if !value.matches_ty(opaque, data.ty.content())? {
            bail!(
                "global of type {} cannot hold a value {}",
                data.ty.content(),
                value.describe()
            );
        }
        let definition = data.definition;
        let raw = value.to_raw(opaque)?;
        // SAFETY: as in `get`; the store is borrowed exclusively.
        unsafe { (*definition).0 = raw };
        Ok(())
    }
}

impl StoreOpaque {
    pub(crate) fn push_global(&mut self, data: GlobalData) -> Global {
        self.globals.push(data);
        Global(self.stored(self.globals.len() - 1))
    }

    pub(crate) fn push_memory(&mut self, memory: Box<LinearMemory>) -> Memory {
        self.memories.push(OwnedPtr::new(memory));
        Memory(self.stored(self.memories.len() - 1))
    }

    pub(crate) fn push_table(&mut self, data: TableData) -> Table {
        self.tables.push(data);
        Table(self.stored(self.tables.len() - 1))
    }
}

/// A linear memory.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Memory(pub(crate) Stored);

impl Memory {
    /// A host-created memory. A shared memory is made with
    /// [`SharedMemory::new`] instead.
    pub fn new(mut store: impl AsContextMut, ty: MemoryType) -> Result<Memory> {
        if ty.is_shared() {
            bail!("a shared memory is made with SharedMemory::new, not Memory::new");
        }
        let store = store.as_context_mut();
        let (opaque, mut limiter) = store.0.opaque_and_limiter();
        let style = opaque.engine.config().effective_memory_style();
        let memory = LinearMemory::new(ty.limits(), style, Some(&mut limiter)).map_err(|e| {
            limiter.explain(anyhow!(
                "cannot create memory of {} pages: {e}",
                ty.minimum()
            ))
        })?;
        Ok(opaque.push_memory(memory))
    }

    fn get<'a>(&self, opaque: &'a StoreOpaque) -> &'a LinearMemory {
        opaque.memory(opaque.check(self.0))
    }

    pub(crate) fn ty_in(&self, opaque: &StoreOpaque) -> MemoryType {
        let m = self.get(opaque);
        match m.is_64() {
            true => MemoryType::new64(m.pages(), m.declared_maximum()),
            false => MemoryType::new(m.pages() as u32, m.declared_maximum().map(|p| p as u32)),
        }
    }

    pub fn ty(&self, store: impl AsContext) -> MemoryType {
        self.ty_in(&store.as_context().0.opaque)
    }

    /// The memory's bytes.
    pub fn data<'a, T: 'a>(&self, store: impl Into<crate::StoreContext<'a, T>>) -> &'a [u8] {
        let store = store.into();
        let opaque = &store.0.opaque;
        opaque.memory(opaque.check(self.0)).data()
    }

    /// The memory's bytes, mutably.
    pub fn data_mut<'a, T: 'a>(
        &self,
        store: impl Into<crate::StoreContextMut<'a, T>>,
    ) -> &'a mut [u8] {
        let store = store.into();
        let opaque = &mut store.0.opaque;
        let index = opaque.check(self.0);
        opaque.memory_mut(index).data_mut()
    }

    /// The memory's bytes and the store's data, both mutably, e.g. for a host
    /// function that copies guest memory into its own state.
    ///
    /// No `unsafe` is needed: the bytes are reached through the store's objects
    /// and the data is another field of the store, so the two borrows are split
    /// by the compiler (and the bytes themselves live in the memory's own
    /// mapping, never inside `T`). Panics if the memory belongs to another
    /// store, as [`Memory::data_mut`] does.
    pub fn data_and_store_mut<'a, T: 'a>(
        &self,
        store: impl Into<crate::StoreContextMut<'a, T>>,
    ) -> (&'a mut [u8], &'a mut T) {
        let inner = store.into().0;
        let opaque = &mut inner.opaque;
        let index = opaque.check(self.0);
        (opaque.memory_mut(index).data_mut(), &mut inner.data)
    }

    /// Size in 64 KiB pages.
    pub fn size(&self, store: impl AsContext) -> u64 {
        self.get(&store.as_context().0.opaque).pages()
    }

    /// Size in bytes.
    pub fn data_size(&self, store: impl AsContext) -> usize {
        self.get(&store.as_context().0.opaque).data().len()
    }

    /// Grows by `delta` pages; returns the old size in pages.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64) -> Result<u64> {
        let store = store.as_context_mut();
        let (opaque, mut limiter) = store.0.opaque_and_limiter();
        let index = opaque.owned(self.0)?;
        let grown = opaque.memory_mut(index).grow(delta, Some(&mut limiter));
        grown.map_err(|e| limiter.explain(e.into()))
    }

    /// Copies `buf.len()` bytes from `offset`.
    pub fn read(&self, store: impl AsContext, offset: usize, buf: &mut [u8]) -> Result<()> {
        let opaque = &store.as_context().0.opaque;
        let data = opaque.memory(opaque.owned(self.0)?).data();
        let end = offset.checked_add(buf.len()).filter(|e| *e <= data.len());
        let Some(end) = end else {
            bail!("out of bounds memory access");
        };
        buf.copy_from_slice(&data[offset..end]);
        Ok(())
    }

    /// Copies `buf` to `offset`.
    pub fn write(&self, mut store: impl AsContextMut, offset: usize, buf: &[u8]) -> Result<()> {
        let store = store.as_context_mut();
        let opaque = &mut store.0.opaque;
        let index = opaque.owned(self.0)?;
        let data = opaque.memory_mut(index).data_mut();
        let end = offset.checked_add(buf.len()).filter(|e| *e <= data.len());
        let Some(end) = end else {
            bail!("out of bounds memory access");
        };
        data[offset..end].copy_from_slice(buf);
        Ok(())
    }
}

/// A table of references.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table(pub(crate) Stored);

pub(crate) struct TableData {
    pub(crate) element: RefType,
    /// Element indices are `i64`.
    table64: bool,
    /// Owned through a raw pointer: VMContexts point into it.
    table: OwnedPtr<RuntimeTable>,
}

impl TableData {
    pub(crate) fn new(element: RefType, table64: bool, table: Box<RuntimeTable>) -> TableData {
        TableData {
            element,
            table64,
            table: OwnedPtr::new(table),
        }
    }

    pub(crate) fn table(&self) -> &RuntimeTable {
        // SAFETY: the table lives as long as its store. Builtins, the only other
        // users of its pointer, run only while an entry into Wasm has given up its
        // borrow of the store, so none runs while this borrow is live.
        unsafe { &*self.table.as_ptr() }
    }

    pub(crate) fn table_mut(&mut self) -> &mut RuntimeTable {
        // SAFETY: as in `table`; `&mut self` makes the access exclusive.
        unsafe { &mut *self.table.as_ptr() }
    }

    /// The definition for VMContexts, with the provenance of the owning pointer.
    pub(crate) fn definition(&self) -> *mut VMTableDefinition {
        RuntimeTable::definition(self.table.as_ptr())
    }
}

impl Table {
    /// A host-created table with every element set to `init`.
    pub fn new(mut store: impl AsContextMut, ty: TableType, init: Ref) -> Result<Table> {
        let store = store.as_context_mut();
        let (opaque, mut limiter) = store.0.opaque_and_limiter();
        if !init.matches_ty(opaque, ty.element())? {
            bail!(
                "a {} table cannot hold {}",
                ty.element(),
                Val::from(init).describe()
            );
        }
        let init = init.checked_raw(opaque)? as *const VMFuncRef;
        let mut table =
            RuntimeTable::new(ty.minimum(), ty.maximum(), Some(&mut limiter)).map_err(|e| {
                let why = table_error(&e);
                limiter.explain(anyhow!(
                    "cannot create table of {} elements: {why}",
                    ty.minimum()
                ))
            })?;
        table
            .fill(0, init, ty.minimum())
            .map_err(|e| anyhow!("{}", table_error(&e)))?;
        Ok(opaque.push_table(TableData::new(ty.element().clone(), ty.is_64(), table)))
    }

    pub(crate) fn ty_in(&self, opaque: &StoreOpaque) -> TableType {
        let data = &opaque.tables[opaque.check(self.0)];
        let (size, maximum) = (data.table().size(), data.table().maximum());
        match data.table64 {
            true => TableType::new64(data.element.clone(), size, maximum),
            false => TableType::new(data.element.clone(), size as u32, maximum.map(|m| m as u32)),
        }
    }

    pub fn ty(&self, store: impl AsContext) -> TableType {
        self.ty_in(&store.as_context().0.opaque)
    }

    pub fn size(&self, store: impl AsContext) -> u64 {
        let store = store.as_context();
        let opaque = &store.0.opaque;
        opaque.tables[opaque.check(self.0)].table().size()
    }

    /// The element at `index`; `None` if out of bounds.
    pub fn get(&self, mut store: impl AsContextMut, index: u64) -> Option<Ref> {
        let store = store.as_context_mut();
        let opaque = &mut store.0.opaque;
        let data = &opaque.tables[opaque.check(self.0)];
        let element = data.element.clone();
        let raw = data.table().get(index).ok()?;
        Some(Ref::from_raw(opaque, raw as usize, &element))
    }

    /// Checks that `value` fits this table and returns its raw form.
    /// An error if the table or `value` belongs to another store.
    fn raw(&self, opaque: &StoreOpaque, value: Ref) -> Result<*const VMFuncRef> {
        let element = &opaque.tables[opaque.owned(self.0)?].element;
        if !value.matches_ty(opaque, element)? {
            bail!(
                "a {element} table cannot hold {}",
                Val::from(value).describe()
            );
        }
        Ok(value.checked_raw(opaque)? as *const VMFuncRef)
    }

    /// Sets the element at `index`.
    pub fn set(&self, mut store: impl AsContextMut, index: u64, value: Ref) -> Result<()> {
        let store = store.as_context_mut();
        let opaque = &mut store.0.opaque;
        let raw = self.raw(opaque, value)?;
        let i = opaque.owned(self.0)?;
        opaque.tables[i]
            .table_mut()
            .set(index, raw)
            .map_err(|_| anyhow::anyhow!("table index {index} out of bounds"))
    }

    /// Grows by `delta` elements set to `init`; returns the old size.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64, init: Ref) -> Result<u64> {
        let store = store.as_context_mut();
        let (opaque, mut limiter) = store.0.opaque_and_limiter();
        let raw = self.raw(opaque, init)?;
        let i = opaque.owned(self.0)?;
        opaque.tables[i]
            .table_mut()
            .grow(delta, raw, Some(&mut limiter))
            .map_err(|e| {
                limiter.explain(anyhow!("table cannot grow by {delta}: {}", table_error(&e)))
            })
    }
}

/// What a table error means, for error messages.
pub(crate) fn table_error(error: &TableError) -> &'static str {
    match error {
        TableError::OutOfBounds => "out of bounds",
        TableError::TooLarge => "size exceeds the table's maximum",
        TableError::Refused => "refused by the store's limits",
        TableError::Limiter => "the store's limiter failed the growth",
    }
}
