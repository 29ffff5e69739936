//! [`Instance`]: instantiation (imports, VMContext, segments, start function) and
//! access to exports.

use crate::externals::TableData;
use crate::func::FuncData;
use crate::instance_pool::PoolPermit;
use crate::segments::{Item, NonNullItem};
use crate::store::{AsContext, AsContextMut, StoreContextMut, StoreOpaque, Stored};
use crate::types::{ExternType, Mutability};
use crate::{
    Extern, Func, Global, Memory, Module, SharedMemory, Table, Trap, TypedFunc, WasmParams,
    WasmResults,
};
use anyhow::{Result, bail};
use lazuli_environ::{ConstExpr, ConstOp, ElemItems, EntityIndex, SegmentMode, VMOffsets};
use lazuli_runtime::{
    GrowthLimiter, Instance as RuntimeInstance, LinearMemory, Table as RuntimeTable, VMFuncRef,
    ValRaw,
};

/// An instantiated module.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instance(pub(crate) Stored);

pub(crate) struct InstanceData {
    pub(crate) handle: Box<RuntimeInstance>,
    pub(crate) module: Module,
    memories: Vec<InstanceMemory>,
    tables: Vec<Table>,
    /// Handles of the globals, by index: imported ones from the start, defined
    /// ones made on their first export lookup and reused afterwards.
    globals: Vec<Option<Global>>,
    /// Counts the instance and its tables against the engine's pooling limits
    /// for as long as it lives.
    _pool_permit: Option<PoolPermit>,
}

/// A memory of an instance: an unshared one lives in the store, a shared one is
/// kept alive by every instance that uses it.
#[derive(Clone)]
enum InstanceMemory {
    Unshared(Memory),
    Shared(SharedMemory),
}

impl InstanceMemory {
    fn to_extern(&self) -> Extern {
        match self {
            InstanceMemory::Unshared(m) => Extern::Memory(*m),
            InstanceMemory::Shared(m) => Extern::SharedMemory(m.clone()),
        }
    }

    /// Copies `bytes` to `start`; false (and nothing written) if out of bounds.
    fn write(&self, opaque: &mut StoreOpaque, start: usize, bytes: &[u8]) -> bool {
        match self {
            InstanceMemory::Unshared(m) => {
                let memory = opaque.memory_mut(m.0.index).data_mut();
                let target = start
                    .checked_add(bytes.len())
                    .and_then(|end| memory.get_mut(start..end));
                target.map(|t| t.copy_from_slice(bytes)).is_some()
            }
            InstanceMemory::Shared(m) => m.write(start, bytes).is_ok(),
        }
    }
}

/// An export of an instance: its name and the item, as
/// [`Instance::exports`] yields them.
#[derive(Debug, Clone)]
pub struct Export<'instance> {
    name: &'instance str,
    definition: Extern,
}

impl<'instance> Export<'instance> {
    /// The name it is exported under.
    pub fn name(&self) -> &'instance str {
        self.name
    }

    /// The item.
    pub fn into_extern(self) -> Extern {
        self.definition
    }

    /// The item, if it is a function.
    pub fn into_func(self) -> Option<Func> {
        self.definition.into_func()
    }

    /// The item, if it is a table.
    pub fn into_table(self) -> Option<Table> {
        self.definition.into_table()
    }

    /// The item, if it is a memory.
    pub fn into_memory(self) -> Option<Memory> {
        self.definition.into_memory()
    }

    /// The item, if it is a global.
    pub fn into_global(self) -> Option<Global> {
        self.definition.into_global()
    }
}

impl Instance {
    /// Instantiates `module` with `imports`, given in the module's import order.
    pub fn new(
        mut store: impl AsContextMut,
        module: &Module,
        imports: &[Extern],
    ) -> Result<Instance> {
        let store = store.as_context_mut().0;
        store.limits.count_instance(module.info())?;
        let (opaque, mut limiter) = store.opaque_and_limiter();
        let (instance, start) =
            instantiate(opaque, &mut limiter, module, imports).map_err(|e| limiter.explain(e))?;
        if let Some(start) = start {
            let mut slot = [ValRaw::default()];
            // SAFETY: the start function takes and returns nothing; the slot is
            // outside the store.
            unsafe { crate::func::enter(store, start, slot.as_mut_ptr())? };
        }
        Ok(instance)
    }

    /// The export `name`, if there is one.
    pub fn get_export(&self, mut store: impl AsContextMut, name: &str) -> Option<Extern> {
        let store = store.as_context_mut();
        self.export_in(&mut store.0.opaque, name)
    }

    pub fn get_func(&self, store: impl AsContextMut, name: &str) -> Option<Func> {
        self.get_export(store, name)?.into_func()
    }

    pub fn get_global(&self, store: impl AsContextMut, name: &str) -> Option<Global> {
        self.get_export(store, name)?.into_global()
    }

    pub fn get_memory(&self, store: impl AsContextMut, name: &str) -> Option<Memory> {
        self.get_export(store, name)?.into_memory()
    }

    /// The exported shared memory `name`, if there is one.
    pub fn get_shared_memory(&self, store: impl AsContextMut, name: &str) -> Option<SharedMemory> {
        self.get_export(store, name)?.into_shared_memory()
    }

    pub fn get_table(&self, store: impl AsContextMut, name: &str) -> Option<Table> {
        self.get_export(store, name)?.into_table()
    }

    /// The exported function `name`, checked against `P` and `R`.
    pub fn get_typed_func<P: WasmParams, R: WasmResults>(
        &self,
        mut store: impl AsContextMut,
        name: &str,
    ) -> Result<TypedFunc<P, R>> {
        store.as_context().0.opaque.owned(self.0)?;
        let Some(func) = self.get_func(&mut store, name) else {
            bail!("no exported function named `{name}`");
        };
        func.typed(&store)
    }

    /// All exports, in the module's order. The names borrow from the store, as
    /// in Wasmtime.
    pub fn exports<'a, T: 'a>(
        &'a self,
        store: impl Into<StoreContextMut<'a, T>>,
    ) -> impl ExactSizeIterator<Item = Export<'a>> + 'a {
        let inner = store.into().0;
        let opaque = &mut inner.opaque;
        let module = opaque.instances[opaque.check(self.0)].module.clone();
        let items: Vec<Option<Extern>> = module
            .info()
            .exports
            .iter()
            .map(|e| self.entity(opaque, e.index))
            .collect();
        // The handles are made: the names can borrow the store from now on.
        let opaque: &'a StoreOpaque = &inner.opaque;
        let info = opaque.instances[opaque.check(self.0)].module.info();
        info.exports
            .iter()
            .zip(items)
            .filter_map(|(e, definition)| {
                Some(Export {
                    name: &e.name,
                    definition: definition?,
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Every unshared memory of the instance, exported or not, by index
    /// (imported ones first); shared memories, which belong to no store, are
    /// left out. Wasmtime keeps this crate-private, for the core dumps it writes
    /// itself; `WasmCoreDump` reads them, so it is public.
    pub fn all_memories(&self, store: impl AsContext) -> Vec<Memory> {
        let store = store.as_context();
        let opaque = &store.0.opaque;
        let memories = &opaque.instances[opaque.check(self.0)].memories;
        memories
            .iter()
            .filter_map(|m| match m {
                InstanceMemory::Unshared(m) => Some(*m),
                InstanceMemory::Shared(_) => None,
            })
            .collect()
    }

    /// Every global of the instance, exported or not, by index (imported ones
    /// first); public for core dumps, as [`Instance::all_memories`].
    pub fn all_globals(&self, mut store: impl AsContextMut) -> Vec<Global> {
        let store = store.as_context_mut();
        let opaque = &mut store.0.opaque;
        let count = opaque.instances[opaque.check(self.0)].globals.len() as u32;
        (0..count).filter_map(|g| self.global(opaque, g)).collect()
    }

    /// The module this is an instance of.
    pub fn module(&self, store: impl AsContext) -> Module {
        let store = store.as_context();
        let opaque = &store.0.opaque;
        opaque.instances[opaque.check(self.0)].module.clone()
    }

    pub(crate) fn export_in(&self, opaque: &mut StoreOpaque, name: &str) -> Option<Extern> {
        let data = &opaque.instances[opaque.check(self.0)];
        let index = *data.module.info().export_map.get(name)?;
        self.entity(opaque, index)
    }

    fn entity(&self, opaque: &mut StoreOpaque, index: EntityIndex) -> Option<Extern> {
        let i = opaque.check(self.0);
        let data = &opaque.instances[i];
        Some(match index {
            EntityIndex::Function(f) => {
                let func_ref = data.handle.func_ref(f);
                Extern::Func(opaque.func_from_ref(func_ref)?)
            }
            EntityIndex::Memory(m) => data.memories.get(m as usize)?.to_extern(),
            EntityIndex::Table(t) => Extern::Table(*data.tables.get(t as usize)?),
            EntityIndex::Global(g) => Extern::Global(self.global(opaque, g)?),
        })
    }

    /// The handle of global `g`, made on first use.
    fn global(&self, opaque: &mut StoreOpaque, g: u32) -> Option<Global> {
        let i = opaque.check(self.0);
        let data = &opaque.instances[i];
        if let Some(global) = *data.globals.get(g as usize)? {
            return Some(global);
        }
        let info = &data.module.info().globals[g as usize];
        let mutability = if info.mutable {
            Mutability::Var
        } else {
            Mutability::Const
        };
        let definition = data.handle.global(g);
        let global = opaque.push_global(crate::externals::GlobalData {
            ty: crate::GlobalType::new(data.module.val_type(info.ty), mutability),
            definition,
            _owned: None,
        });
        opaque.instances[i].globals[g as usize] = Some(global);
        Some(global)
    }
}

impl StoreOpaque {
    /// The function behind a funcref address; `None` for null or unknown addresses.
    pub(crate) fn func_from_ref(&mut self, func_ref: *const VMFuncRef) -> Option<Func> {
        if func_ref.is_null() {
            return None;
        }
        if let Some(f) = self.func_by_ref.get(&(func_ref as usize)) {
            return Some(*f);
        }
        // A defined function of one of our instances that has no handle yet.
        let addr = func_ref as usize;
        let (instance, index) = self.instances.iter().find_map(|data| {
            let first = data.handle.vmctx() as usize + data.handle.offsets().func_ref(0) as usize;
            let count = data.module.info().functions.len();
            let end = first + count * VMOffsets::FUNC_REF_SIZE as usize;
            (addr >= first && addr < end)
                .then(|| (data, (addr - first) / VMOffsets::FUNC_REF_SIZE as usize))
        })?;
        let module = &instance.module;
        let ty = module.func_type(index as u32);
        let type_index = module.info().functions[index] as usize;
        let trampolines = module.inner.trampolines[type_index].clone();
        Some(self.push_func(FuncData {
            ty,
            func_ref,
            trampolines,
            _host: None,
        }))
    }
}

/// Checks that `actual` may satisfy an import declared as `expected`.
pub(crate) fn check_import(expected: &ExternType, actual: &ExternType) -> bool {
    match (expected, actual) {
        (ExternType::Func(e), ExternType::Func(a)) => a.matches(e),
        // A constant global's value may be of a subtype; a mutable one is
        // written through both types, which must then be the same.
        (ExternType::Global(e), ExternType::Global(a)) => {
            e.mutability() == a.mutability()
                && match e.mutability() {
                    Mutability::Const => a.content().matches(e.content()),
                    Mutability::Var => e.content() == a.content(),
                }
        }
        (ExternType::Memory(e), ExternType::Memory(a)) => {
            e.is_64() == a.is_64()
                && e.is_shared() == a.is_shared()
                && limits_match(e.minimum(), e.maximum(), a.minimum(), a.maximum())
        }
        (ExternType::Table(e), ExternType::Table(a)) => {
            e.element() == a.element()
                && e.is_64() == a.is_64()
                && limits_match(e.minimum(), e.maximum(), a.minimum(), a.maximum())
        }
        _ => false,
    }
}

fn limits_match(min: u64, max: Option<u64>, actual_min: u64, actual_max: Option<u64>) -> bool {
    actual_min >= min
        && match (max, actual_max) {
            (None, _) => true,
            (Some(max), Some(actual)) => actual <= max,
            (Some(_), None) => false,
        }
}

/// The runtime's view of a memory the module defines.
fn limits(plan: &lazuli_environ::MemoryPlan) -> lazuli_runtime::MemoryLimits {
    lazuli_runtime::MemoryLimits {
        minimum: plan.minimum,
        maximum: plan.maximum,
        memory64: plan.memory64,
    }
}

/// Creates the instance, applies its segments, and returns it with its start
/// function, which the caller runs.
fn instantiate(
    opaque: &mut StoreOpaque,
    limiter: &mut dyn GrowthLimiter,
    module: &Module,
    imports: &[Extern],
) -> Result<(Instance, Option<Func>)> {
    module.ensure_runnable()?;
    if !std::sync::Arc::ptr_eq(&module.engine().inner, &opaque.engine.inner) {
        bail!("module and store belong to different engines");
    }
    let info = module.info();
    if imports.len() != info.imports.len() {
        bail!(
            "expected {} imports, got {}",
            info.imports.len(),
            imports.len()
        );
    }
    let defined_tables = (info.tables.len() - info.num_imported_tables as usize) as u32;
    let pool = opaque.engine.instance_pool();
    let pool_permit = pool.map(|p| p.admit(defined_tables)).transpose()?;
    let table_limit = pool.map(|p| p.table_elements());
    let handle = RuntimeInstance::new(VMOffsets::new(info), opaque.vm(), module.inner.clone());
    let mut memories = Vec::new();
    let mut tables = Vec::new();
    let mut globals = Vec::with_capacity(info.globals.len());
    for (import, item) in info.imports.iter().zip(imports) {
        let expected = module.entity_type(import.index);
        let actual = item.try_ty_in(opaque)?;
        if !check_import(&expected, &actual) {
            bail!(
                "incompatible import type for `{}::{}`: expected {}, found {}",
                import.module,
                import.name,
                expected.describe(),
                actual.describe()
            );
        }
        match (import.index, item) {
            (EntityIndex::Function(i), Extern::Func(f)) => {
                // SAFETY: funcrefs of a store live as long as the store;
                // `func_ref(i)` points into the instance's VMContext.
                unsafe { *handle.func_ref(i) = *f.func_ref(opaque) };
            }
            (EntityIndex::Global(i), Extern::Global(g)) => {
                handle.set_imported_global(i, opaque.globals[opaque.check(g.0)].definition);
                globals.push(Some(*g));
            }
            (EntityIndex::Memory(i), Extern::Memory(m)) => {
                let index = opaque.check(m.0);
                handle.set_memory(i, opaque.memory_definition(index));
                memories.push(InstanceMemory::Unshared(*m));
            }
            (EntityIndex::Memory(i), Extern::SharedMemory(m)) => {
                // Same engine (`try_ty_in`), so the memory is guarded as the
                // module's code expects.
                handle.set_memory(i, m.runtime().definition());
                memories.push(InstanceMemory::Shared(m.clone()));
            }
            (EntityIndex::Table(i), Extern::Table(t)) => {
                let index = opaque.check(t.0);
                handle.set_table(i, opaque.tables[index].definition());
                tables.push(*t);
            }
            _ => unreachable!("check_import accepted only matching kinds"),
        }
    }
    let style = opaque.engine.config().effective_memory_style();
    for (i, plan) in info
        .memories
        .iter()
        .enumerate()
        .skip(info.num_imported_memories as usize)
    {
        let limiter = Some(&mut *limiter as &mut dyn GrowthLimiter);
        if plan.shared {
            let engine = opaque.engine.clone();
            let memory = SharedMemory::create(&engine, limits(plan), limiter)?;
            handle.set_memory(i as u32, memory.runtime().definition());
            memories.push(InstanceMemory::Shared(memory));
            continue;
        }
        let memory = match opaque.engine.memory_pool() {
            Some(pool) => LinearMemory::new_pooled(pool, limits(plan), limiter),
            None => LinearMemory::new(limits(plan), style, limiter),
        }
        .map_err(|e| anyhow::anyhow!("cannot create memory of {} pages: {e}", plan.minimum))?;
        let memory = opaque.push_memory(memory);
        handle.set_memory(i as u32, opaque.memory_definition(memory.0.index));
        memories.push(InstanceMemory::Unshared(memory));
    }
    for (i, plan) in info
        .tables
        .iter()
        .enumerate()
        .skip(info.num_imported_tables as usize)
    {
        // A pooled table grows to the pool's limit at most, as to a maximum.
        let maximum = match table_limit {
            Some(limit) => Some(plan.maximum.map_or(limit, |m| m.min(limit))),
            None => plan.maximum,
        };
        let table = RuntimeTable::new(plan.minimum, maximum, Some(&mut *limiter)).map_err(|e| {
            let why = crate::externals::table_error(&e);
            anyhow::anyhow!("cannot create table of {} elements: {why}", plan.minimum)
        })?;
        let table = opaque.push_table(TableData::new(
            crate::RefType::of_element(plan.element, &module.inner.func_types),
            plan.table64,
            table,
        ));
        handle.set_table(i as u32, opaque.tables[table.0.index].definition());
        tables.push(table);
    }
    for (i, global) in info
        .globals
        .iter()
        .enumerate()
        .skip(info.num_imported_globals as usize)
    {
        let init = match &global.init {
            Some(e) => eval(&handle, e)?,
            None => ValRaw::default(),
        };
        // SAFETY: `global(i)` points at defined global storage in the VMContext.
        unsafe { (*handle.global(i as u32)).0 = init };
    }
    let vmctx = handle.vmctx();
    for d in 0..module.defined_functions() {
        let f = info.num_imported_funcs + d as u32;
        let type_id = module.inner.signatures[info.functions[f as usize] as usize].0;
        // SAFETY: `func_ref(f)` points into the instance's VMContext.
        unsafe {
            *handle.func_ref(f) = VMFuncRef {
                slot: module.func_slot(d),
                vmctx,
                type_id,
                func_index: f,
            }
        };
    }

    fill_initialised_tables(opaque, &handle, info, &tables)?;

    globals.resize(info.globals.len(), None);
    opaque.instances.push(InstanceData {
        handle,
        module: module.clone(),
        memories,
        tables,
        globals,
        _pool_permit: pool_permit,
    });
    let instance = Instance(opaque.stored(opaque.instances.len() - 1));
    initialize(opaque, instance)?;
    let start = info.start.and_then(|start| {
        let func_ref = opaque.instances[instance.0.index].handle.func_ref(start);
        opaque.func_from_ref(func_ref)
    });
    Ok((instance, start))
}

/// Fills each defined table that declares an initialiser (`(table n (ref $t)
/// expr)`, function references) with its value, once the globals and funcrefs the
/// expression may read are in place. `tables` are the instance's tables, imported
/// ones first.
fn fill_initialised_tables(
    opaque: &mut StoreOpaque,
    handle: &RuntimeInstance,
    info: &lazuli_environ::ModuleInfo,
    tables: &[crate::Table],
) -> Result<()> {
    for (plan, table) in info.tables.iter().zip(tables) {
        let Some(init) = plan.init.as_ref() else {
            continue;
        };
        let value = eval(handle, init)?.0 as usize as *const VMFuncRef;
        let index = opaque.check(table.0);
        let table = opaque.tables[index].table_mut();
        let size = table.size();
        table
            .fill(0, value, size)
            .map_err(|_| anyhow::Error::new(Trap::TableOutOfBounds))?;
    }
    Ok(())
}

/// Applies the active element and data segments, in order; the first one out of
/// bounds traps, leaving the earlier ones applied (as the spec requires). Active
/// and declared segments are dropped afterwards; passive ones stay for
/// `table.init` / `memory.init`.
fn initialize(opaque: &mut StoreOpaque, instance: Instance) -> Result<()> {
    let module = opaque.instances[instance.0.index].module.clone();
    initialize_elements(opaque, instance, &module)?;
    initialize_data(opaque, instance, &module)
}

/// Keeps the passive element segments for `table.init` and writes the active
/// ones into their tables. Only the non-null items are evaluated; the null ones
/// are written only where the table may hold something else: a defined table
/// starts all null, until a segment writes to it.
fn initialize_elements(
    opaque: &mut StoreOpaque,
    instance: Instance,
    module: &Module,
) -> Result<()> {
    let info = module.info();
    let plans = &module.segments().elements;
    let handle = &opaque.instances[instance.0.index].handle;
    let passive = info
        .elements
        .iter()
        .zip(plans)
        .map(|(segment, plan)| match segment.mode {
            SegmentMode::Passive => {
                let mut items = vec![std::ptr::null(); segment_len(&segment.items)];
                write_elements(handle, &segment.items, plan, &mut items, false)?;
                Ok(items)
            }
            _ => Ok(Vec::new()),
        })
        .collect::<Result<_>>()?;
    handle.set_element_segments(passive);
    let mut may_hold_refs: Vec<bool> = (0..info.tables.len())
        .map(|t| t < info.num_imported_tables as usize || info.tables[t].init.is_some())
        .collect();
    for (segment, plan) in info.elements.iter().zip(plans) {
        let SegmentMode::Active { index, offset } = &segment.mode else {
            continue;
        };
        let data = &opaque.instances[instance.0.index];
        let table64 = info.tables[*index as usize].table64;
        let start = eval_offset(&data.handle, offset, table64)?;
        let len = segment_len(&segment.items);
        let table = data.tables[*index as usize];
        let slots = opaque.tables[table.0.index]
            .table_mut()
            .elements_mut(start, len as u64)
            .map_err(|_| anyhow::Error::new(Trap::TableOutOfBounds))?;
        let clear = &mut may_hold_refs[*index as usize];
        write_elements(&data.handle, &segment.items, plan, slots, *clear)?;
        *clear |= !plan.is_empty();
    }
    Ok(())
}

fn segment_len(items: &ElemItems) -> usize {
    match items {
        ElemItems::Functions(funcs) => funcs.len(),
        ElemItems::Expressions(exprs) => exprs.len(),
    }
}

/// Writes the items of a segment into `slots` (as many as the segment has): its
/// non-null items `plan`, and, if `clear`, nulls everywhere else (otherwise the
/// slots must be null already).
fn write_elements(
    handle: &RuntimeInstance,
    items: &ElemItems,
    plan: &[NonNullItem],
    slots: &mut [*const VMFuncRef],
    clear: bool,
) -> Result<()> {
    if clear && plan.len() < slots.len() {
        slots.fill(std::ptr::null());
    }
    for &NonNullItem { position, item } in plan {
        let value = match (item, items) {
            (Item::Func(f), _) => handle.func_ref(f) as *const VMFuncRef,
            (Item::Expr, ElemItems::Expressions(exprs)) => {
                let expr = exprs
                    .get(position)
                    .ok_or_else(|| anyhow::anyhow!("element item {position} out of range"))?;
                eval(handle, expr)?.0 as usize as *const VMFuncRef
            }
            (Item::Expr, ElemItems::Functions(_)) => {
                bail!("element segment of function indices with an expression item")
            }
        };
        let slot = slots
            .get_mut(position)
            .ok_or_else(|| anyhow::anyhow!("element item {position} out of range"))?;
        *slot = value;
    }
    Ok(())
}

/// Initialises the defined memory from the module's image if it has one (then
/// no segment can trap), and otherwise copies the active data segments in order.
fn initialize_data(opaque: &mut StoreOpaque, instance: Instance, module: &Module) -> Result<()> {
    let Some(image) = &module.segments().memory_image else {
        return copy_data(opaque, instance, module);
    };
    // The image exists only for a module whose one memory is defined, unshared.
    let Some(InstanceMemory::Unshared(memory)) =
        opaque.instances[instance.0.index].memories.first().cloned()
    else {
        bail!("a memory image for a module without an unshared memory");
    };
    match image.map_into(opaque.memory_mut(memory.0.index)) {
        Ok(true) => {
            drop_active_data(&opaque.instances[instance.0.index].handle, module);
            Ok(())
        }
        // The kernel refused the mapping; the memory is still all zero.
        Ok(false) => copy_data(opaque, instance, module),
        Err(e) => bail!("cannot initialise memory: {e}"),
    }
}

/// `data.drop`s the active data segments, as applying them does.
fn drop_active_data(handle: &RuntimeInstance, module: &Module) {
    for (i, segment) in module.info().data.iter().enumerate() {
        if matches!(segment.mode, SegmentMode::Active { .. }) {
            handle.drop_data_segment(i as u32);
        }
    }
}

/// Copies the active data segments into their memories, in order; the first one
/// out of bounds traps, leaving the earlier ones applied.
fn copy_data(opaque: &mut StoreOpaque, instance: Instance, module: &Module) -> Result<()> {
    for (i, segment) in module.info().data.iter().enumerate() {
        let SegmentMode::Active { index, offset } = &segment.mode else {
            continue;
        };
        let data = &opaque.instances[instance.0.index];
        data.handle.drop_data_segment(i as u32);
        let memory64 = module.info().memories[*index as usize].memory64;
        let start = usize::try_from(eval_offset(&data.handle, offset, memory64)?)
            .map_err(|_| anyhow::Error::new(Trap::MemoryOutOfBounds))?;
        let memory = data.memories[*index as usize].clone();
        let bytes = &module.inner.bytes[segment.data.clone()];
        if !memory.write(opaque, start, bytes) {
            return Err(anyhow::Error::new(Trap::MemoryOutOfBounds));
        }
    }
    Ok(())
}

/// Evaluates an active segment's offset: an `i64` for a 64-bit memory or table,
/// else an unsigned `i32`.
fn eval_offset(instance: &RuntimeInstance, expr: &ConstExpr, is_64: bool) -> Result<u64> {
    let value = eval(instance, expr)?;
    Ok(match is_64 {
        true => value.get_i64() as u64,
        false => u64::from(value.get_i32() as u32),
    })
}

/// Evaluates a validated constant expression in the context of `instance`.
fn eval(instance: &RuntimeInstance, expr: &ConstExpr) -> Result<ValRaw> {
    evaluate(
        &expr.ops,
        // SAFETY: the global's storage is initialised: validation only allows
        // reading imported or earlier globals.
        |g| unsafe { (*instance.global(g)).0 },
        |f| ValRaw(instance.func_ref(f) as usize as u128),
    )
}

/// Runs the operators of a constant expression, reading globals and function
/// references through `global` and `func_ref`. An operand missing from the stack,
/// or anything but one value left at the end, is an error: validation should
/// have rejected such an expression, and no value is made up for it.
fn evaluate(
    ops: &[ConstOp],
    global: impl Fn(u32) -> ValRaw,
    func_ref: impl Fn(u32) -> ValRaw,
) -> Result<ValRaw> {
    let mut stack: Vec<ValRaw> = Vec::with_capacity(2);
    let pop = |stack: &mut Vec<ValRaw>| {
        stack
            .pop()
            .ok_or_else(|| anyhow::anyhow!("constant expression pops an empty stack"))
    };
    for op in ops {
        let v = match *op {
            ConstOp::I32Const(v) => ValRaw::i32(v),
            ConstOp::I64Const(v) => ValRaw::i64(v),
            ConstOp::F32Const(v) => ValRaw::f32(v),
            ConstOp::F64Const(v) => ValRaw::f64(v),
            ConstOp::V128Const(v) => ValRaw(v),
            ConstOp::GlobalGet(g) => global(g),
            ConstOp::RefNull => ValRaw(0),
            ConstOp::RefFunc(f) => func_ref(f),
            ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                let (b, a) = (pop(&mut stack)?.get_i32(), pop(&mut stack)?.get_i32());
                ValRaw::i32(match op {
                    ConstOp::I32Add => a.wrapping_add(b),
                    ConstOp::I32Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
            ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                let (b, a) = (pop(&mut stack)?.get_i64(), pop(&mut stack)?.get_i64());
                ValRaw::i64(match op {
                    ConstOp::I64Add => a.wrapping_add(b),
                    ConstOp::I64Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
        };
        stack.push(v);
    }
    match stack[..] {
        [value] => Ok(value),
        _ => bail!("constant expression leaves {} values", stack.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ops: &[ConstOp]) -> Result<ValRaw> {
        evaluate(ops, |_| ValRaw::i32(5), |_| ValRaw(0))
    }

    #[test]
    fn const_expr_popping_an_empty_stack_is_an_error() {
        for op in [ConstOp::I32Add, ConstOp::I64Mul] {
            let err = run(&[op]).unwrap_err();
            assert!(err.to_string().contains("empty stack"), "{err}");
            let err = run(&[ConstOp::I32Const(1), op]).unwrap_err();
            assert!(err.to_string().contains("empty stack"), "{err}");
        }
    }

    #[test]
    fn const_expr_must_leave_exactly_one_value() {
        assert!(run(&[]).is_err());
        assert!(run(&[ConstOp::I32Const(1), ConstOp::I32Const(2)]).is_err());
        let sum = run(&[ConstOp::GlobalGet(0), ConstOp::I32Const(2), ConstOp::I32Sub]);
        assert_eq!(sum.unwrap().get_i32(), 3);
    }
}
