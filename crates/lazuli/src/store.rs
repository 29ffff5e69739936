//! [`Store`]: owner of everything instantiated — instances, functions, globals,
//! memories, tables — plus the embedder's data `T`. Handles (`Func`, `Memory`, …)
//! are indices into a store and are checked against its id on every use.

use crate::Engine;
use crate::externals::{GlobalData, TableData};
use crate::func::FuncData;
use crate::instance::InstanceData;
use lazuli_runtime::{LinearMemory, VMMemoryDefinition, VMStoreContext};
use std::any::Any;
use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// An index into one store's tables of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Stored {
    pub(crate) store: u64,
    pub(crate) index: usize,
}

/// A heap allocation owned through a raw pointer rather than a `Box`, for objects
/// that raw pointers elsewhere (VMContexts, funcrefs, trampolines) keep referring to
/// while the store lives. Using or moving a `Box` asserts unique access to its
/// contents, which would invalidate those pointers; every pointer handed out here
/// is a copy of the one the allocation started with, so all stay valid until drop.
pub(crate) struct OwnedPtr<T: ?Sized>(*mut T);

impl<T: ?Sized> OwnedPtr<T> {
    pub(crate) fn new(value: Box<T>) -> Self {
        OwnedPtr(Box::into_raw(value))
    }

    /// The allocation; valid until `self` is dropped.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.0
    }
}

impl<T: Any> OwnedPtr<T> {
    /// The same allocation, its type forgotten (it is still dropped as a `T`).
    pub(crate) fn erase(self) -> OwnedPtr<dyn Any> {
        let ptr = std::mem::ManuallyDrop::new(self).0;
        OwnedPtr(ptr as *mut dyn Any)
    }
}

impl<T: ?Sized> Drop for OwnedPtr<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::into_raw` in `new` and is freed only
        // here; whoever still holds copies of it is dropped with the same store.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// The non-generic part of a store (public only so that the typed-call traits can
/// name it; it is not reachable from outside the crate).
#[doc(hidden)]
pub struct StoreOpaque {
    pub(crate) id: u64,
    pub(crate) engine: Engine,
    /// Owned through a raw pointer: every VMContext keeps a copy of it.
    vm: OwnedPtr<VMStoreContext>,
    pub(crate) funcs: Vec<FuncData>,
    pub(crate) instances: Vec<InstanceData>,
    pub(crate) globals: Vec<GlobalData>,
    /// Owned through raw pointers: VMContexts point into them.
    pub(crate) memories: Vec<OwnedPtr<LinearMemory>>,
    pub(crate) tables: Vec<TableData>,
    /// Funcref address → handle, to turn raw references back into `Func`s.
    pub(crate) func_by_ref: HashMap<usize, crate::Func>,
    /// Boxed: an externref's raw value is its data's address.
    #[allow(clippy::vec_box)]
    pub(crate) externrefs: Vec<Box<crate::values::ExternRefData>>,
    /// Externref address → handle.
    pub(crate) externref_by_addr: HashMap<usize, crate::ExternRef>,
}

impl StoreOpaque {
    pub(crate) fn stored(&self, index: usize) -> Stored {
        Stored {
            store: self.id,
            index,
        }
    }

    /// The store context every VMContext of this store points to.
    pub(crate) fn vm(&self) -> *mut VMStoreContext {
        self.vm.as_ptr()
    }

    /// Memory `index` of this store.
    pub(crate) fn memory(&self, index: usize) -> &LinearMemory {
        // SAFETY: the memory lives as long as the store. Builtins, the only other
        // users of its pointer, run only while an entry into Wasm has given up its
        // borrow of the store, so none runs while this borrow is live.
        unsafe { &*self.memories[index].as_ptr() }
    }

    /// Memory `index` of this store, mutably.
    pub(crate) fn memory_mut(&mut self, index: usize) -> &mut LinearMemory {
        // SAFETY: as in `memory`; `&mut self` makes the access exclusive.
        unsafe { &mut *self.memories[index].as_ptr() }
    }

    /// The definition of memory `index` for VMContexts, with the provenance of
    /// the pointer the store owns it through.
    pub(crate) fn memory_definition(&self, index: usize) -> *mut VMMemoryDefinition {
        LinearMemory::definition(self.memories[index].as_ptr())
    }

    /// Panics if `s` belongs to another store: mixing stores is a host bug.
    pub(crate) fn check(&self, s: Stored) -> usize {
        assert_eq!(s.store, self.id, "object used with a different store");
        s.index
    }

    /// The index of `s`, or an error if it belongs to another store: for the
    /// operations that can report the host's mistake rather than panic.
    pub(crate) fn owned(&self, s: Stored) -> anyhow::Result<usize> {
        if s.store != self.id {
            anyhow::bail!("object used with a different store");
        }
        Ok(s.index)
    }
}

// SAFETY: everything a store's raw pointers point to (VMContexts, memories, tables,
// funcrefs, host-function states) is owned by the store itself and moves with it,
// but for the engine's epoch counter, which the store's engine keeps alive and
// which is atomic, and shared memories, which its instances hold through `Arc`s and
// which are `Sync`; host callbacks are `Send + Sync`. A store is used by one
// thread at a time.
unsafe impl Send for StoreOpaque {}

pub(crate) struct StoreInner<T> {
    pub(crate) opaque: StoreOpaque,
    pub(crate) data: T,
    pub(crate) limits: crate::limits::Limits<T>,
    /// What reaching the epoch deadline does: trap when `None`.
    pub(crate) epoch_callback: Option<crate::interrupt::EpochCallback<T>>,
}

/// A collection of instances and host objects, with host data `T`.
pub struct Store<T> {
    pub(crate) inner: Box<StoreInner<T>>,
}

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

impl<T> Store<T> {
    pub fn new(engine: &Engine, data: T) -> Store<T> {
        let mut vm = Box::<VMStoreContext>::default();
        vm.epoch_counter = engine
            .config()
            .epoch_interruption
            .then(|| NonNull::from(engine.epoch_counter()));
        Store {
            inner: Box::new(StoreInner {
                opaque: StoreOpaque {
                    id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
                    engine: engine.clone(),
                    vm: OwnedPtr::new(vm),
                    funcs: Vec::new(),
                    instances: Vec::new(),
                    globals: Vec::new(),
                    memories: Vec::new(),
                    tables: Vec::new(),
                    func_by_ref: HashMap::new(),
                    externrefs: Vec::new(),
                    externref_by_addr: HashMap::new(),
                },
                data,
                limits: crate::limits::Limits::new(),
                epoch_callback: None,
            }),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.opaque.engine
    }

    pub fn data(&self) -> &T {
        &self.inner.data
    }

    pub fn data_mut(&mut self) -> &mut T {
        &mut self.inner.data
    }

    pub fn into_data(self) -> T {
        self.inner.data
    }
}

impl<T: Default> Default for Store<T> {
    /// A store of a default [`Engine`] with default data.
    fn default() -> Store<T> {
        Store::new(&Engine::default(), T::default())
    }
}

/// Shared access to a store.
pub struct StoreContext<'a, T>(pub(crate) &'a StoreInner<T>);

/// Exclusive access to a store.
pub struct StoreContextMut<'a, T>(pub(crate) &'a mut StoreInner<T>);

impl<T> StoreContext<'_, T> {
    pub fn data(&self) -> &T {
        &self.0.data
    }
    pub fn engine(&self) -> &Engine {
        &self.0.opaque.engine
    }
}

impl<T> StoreContextMut<'_, T> {
    pub fn data(&self) -> &T {
        &self.0.data
    }
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.0.data
    }
    pub fn engine(&self) -> &Engine {
        &self.0.opaque.engine
    }
}

/// Anything that gives shared access to a store.
pub trait AsContext {
    type Data;
    fn as_context(&self) -> StoreContext<'_, Self::Data>;
}

/// Anything that gives exclusive access to a store.
pub trait AsContextMut: AsContext {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, Self::Data>;
}

impl<T> AsContext for Store<T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(&self.inner)
    }
}

impl<T> AsContextMut for Store<T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(&mut self.inner)
    }
}

impl<T> AsContext for StoreContext<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}

impl<T> AsContext for StoreContextMut<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}

impl<T> AsContextMut for StoreContextMut<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.0)
    }
}

impl<C: AsContext + ?Sized> AsContext for &C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}

impl<C: AsContext + ?Sized> AsContext for &mut C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}

impl<C: AsContextMut + ?Sized> AsContextMut for &mut C {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, C::Data> {
        (**self).as_context_mut()
    }
}

impl<'a, T> From<&'a Store<T>> for StoreContext<'a, T> {
    fn from(store: &'a Store<T>) -> Self {
        StoreContext(&store.inner)
    }
}

impl<'a, T> From<&'a mut Store<T>> for StoreContext<'a, T> {
    fn from(store: &'a mut Store<T>) -> Self {
        StoreContext(&store.inner)
    }
}

impl<'a, T> From<&'a mut Store<T>> for StoreContextMut<'a, T> {
    fn from(store: &'a mut Store<T>) -> Self {
        StoreContextMut(&mut store.inner)
    }
}

impl<'a, T> From<&'a crate::Caller<'_, T>> for StoreContext<'a, T> {
    fn from(caller: &'a crate::Caller<'_, T>) -> Self {
        StoreContext(caller.store.0)
    }
}

impl<'a, T> From<&'a mut crate::Caller<'_, T>> for StoreContext<'a, T> {
    fn from(caller: &'a mut crate::Caller<'_, T>) -> Self {
        StoreContext(caller.store.0)
    }
}

impl<'a, T> From<&'a mut crate::Caller<'_, T>> for StoreContextMut<'a, T> {
    fn from(caller: &'a mut crate::Caller<'_, T>) -> Self {
        StoreContextMut(caller.store.0)
    }
}

impl<'a, T> From<StoreContextMut<'a, T>> for StoreContext<'a, T> {
    fn from(store: StoreContextMut<'a, T>) -> Self {
        StoreContext(store.0)
    }
}

/// `Debug` of handles: the kind, the store and the index, without the name of
/// the type that holds the last two.
macro_rules! handle_debug {
    ($($t:ident),*) => {$(
        impl std::fmt::Debug for crate::$t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("store", &self.0.store)
                    .field("index", &self.0.index)
                    .finish()
            }
        }
    )*};
}

handle_debug!(Func, Global, Memory, Table, Instance, ExternRef);
