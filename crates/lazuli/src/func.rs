//! [`Func`]: a Wasm or host function in a store, and calling it from the host.

use crate::engine::Trampolines;
use crate::limits::EntryLimiter;
use crate::store::{
    AsContext, AsContextMut, OwnedPtr, StoreContextMut, StoreInner, StoreOpaque, Stored,
};
use crate::trap::trap_to_error;
use crate::types::FuncType;
use crate::values::Val;
use anyhow::{Result, anyhow, bail};
use lazuli_runtime::{
    GrowthLimiter, HostCall, HostFailure, VMContext, VMFuncRef, VMFuncSlot, VMHostContext,
    VMStoreContext, ValRaw, invoke, record_host_failure,
};
use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::Arc;

/// A function that can be called from the host or stored in a table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Func(pub(crate) Stored);

/// What a store knows about one of its functions.
pub(crate) struct FuncData {
    pub(crate) ty: FuncType,
    /// Stable address: inside an instance's VMContext, or inside `_host` below.
    pub(crate) func_ref: *const VMFuncRef,
    pub(crate) trampolines: Arc<Trampolines>,
    /// Keeps a host function's context alive (owned through a raw pointer:
    /// `func_ref` and the context's own fields point into it).
    pub(crate) _host: Option<OwnedPtr<dyn Any>>,
}

/// A host function's body, type-erased over its parameter and result types: it
/// reads its arguments from and writes its results to the slots.
pub(crate) type HostCallback<T> = dyn Fn(Caller<'_, T>, &mut [ValRaw]) -> Result<()> + Send + Sync;

/// Everything a host function needs when Wasm calls it; `vmctx` is what the
/// Wasm→host trampoline receives. It holds no pointer to the store: the shim
/// takes the store from the entry into Wasm that is running.
struct HostFuncState<T> {
    vmctx: VMHostContext,
    /// The dispatch slot `func_ref` points to: always the Wasm→host trampoline.
    slot: VMFuncSlot,
    func_ref: VMFuncRef,
    store_id: u64,
    callback: Arc<HostCallback<T>>,
}

/// The store of the innermost entry into Wasm on this thread.
#[derive(Clone, Copy)]
struct Entered {
    store_id: u64,
    /// The `StoreInner<T>` of that store, derived from the entry's exclusive borrow.
    store: *mut (),
}

thread_local! {
    static ENTERED: Cell<Entered> = const {
        Cell::new(Entered { store_id: 0, store: std::ptr::null_mut() })
    };
}

/// The store of the innermost entry into Wasm on this thread, if that is the store
/// `store_id`.
///
/// # Safety
/// `T` must be the data type of store `store_id`. The borrow must end before the
/// host function that takes it returns to Wasm.
unsafe fn entered_store<'a, T>(store_id: u64) -> Option<&'a mut StoreInner<T>> {
    let entered = ENTERED.get();
    // SAFETY: `Entered::store` is live while its entry runs, which includes every
    // host function Wasm calls from it; the entry does not use its own borrow of
    // the store meanwhile, and the type is right per the contract.
    (entered.store_id == store_id).then(|| unsafe { &mut *entered.store.cast::<StoreInner<T>>() })
}

/// The shim the Wasm→host trampoline calls for host functions of stores with data `T`.
unsafe extern "C" fn host_shim<T: 'static>(
    ctx: *mut VMHostContext,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
    len: usize,
    exit_fp: usize,
) -> u32 {
    let _call = HostCall::begin(exit_fp);
    // SAFETY: `ctx` is the `vmctx` of a live `HostFuncState<T>`, which is never
    // written after its creation. The callback is cloned out so that no borrow
    // of the state is held while the callback runs.
    let (callback, store_id) = unsafe {
        let state = &*((*ctx).data as *const HostFuncState<T>);
        (state.callback.clone(), state.store_id)
    };
    // SAFETY: host functions of store `store_id` are made by `from_callback::<T>`.
    let Some(store) = (unsafe { entered_store::<T>(store_id) }) else {
        let error = anyhow!("host function called outside an entry into its store");
        record_host_failure(HostFailure::Error(Box::new(error)));
        return 0;
    };
    // SAFETY: the trampoline passes a slot array of `len` elements on its own
    // stack frame, outside the store.
    let values = unsafe { std::slice::from_raw_parts_mut(values, len) };
    let caller = Caller {
        store: StoreContextMut(store),
        caller_vmctx,
    };
    match catch_unwind(AssertUnwindSafe(|| callback(caller, values))) {
        Ok(Ok(())) => 1,
        Ok(Err(e)) => {
            record_host_failure(HostFailure::Error(Box::new(e)));
            0
        }
        Err(panic) => {
            record_host_failure(HostFailure::Panic(panic));
            0
        }
    }
}

/// The caller of a host function: access to the store and to the calling instance.
pub struct Caller<'a, T> {
    pub(crate) store: StoreContextMut<'a, T>,
    pub(crate) caller_vmctx: *mut VMContext,
}

impl<T> Caller<'_, T> {
    pub fn data(&self) -> &T {
        &self.store.0.data
    }

    pub fn data_mut(&mut self) -> &mut T {
        &mut self.store.0.data
    }

    pub fn engine(&self) -> &crate::Engine {
        &self.store.0.opaque.engine
    }

    /// A shorter-lived caller over the same store.
    pub fn reborrow(&mut self) -> Caller<'_, T> {
        Caller {
            store: StoreContextMut(self.store.0),
            caller_vmctx: self.caller_vmctx,
        }
    }

    /// An export of the calling instance (e.g. its `memory`); `None` when the
    /// caller is the host.
    pub fn get_export(&mut self, name: &str) -> Option<crate::Extern> {
        let opaque = &mut self.store.0.opaque;
        let index = opaque
            .instances
            .iter()
            .position(|i| i.handle.vmctx() == self.caller_vmctx)?;
        crate::Instance(opaque.stored(index)).export_in(opaque, name)
    }
}

impl<T> AsContext for Caller<'_, T> {
    type Data = T;
    fn as_context(&self) -> crate::StoreContext<'_, T> {
        crate::StoreContext(self.store.0)
    }
}

impl<T> AsContextMut for Caller<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.store.0)
    }
}

impl Func {
    /// A host function with a dynamic signature.
    ///
    /// # Panics
    /// If the store's engine cannot make the function's trampolines: an engine
    /// that compiles for another target runs no code, and one out of executable
    /// memory has nowhere to put them. [`Linker::func_new`](crate::Linker::func_new)
    /// reports the same failures as errors, at instantiation.
    pub fn new<T: 'static>(
        mut store: impl AsContextMut<Data = T>,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Func {
        let callback = crate::typed::dynamic_callback(ty.clone(), f);
        Func::from_callback(store.as_context_mut().0, ty, callback).unwrap_or_else(host_func_panic)
    }

    /// A host function whose signature comes from the closure's types.
    ///
    /// # Panics
    /// As [`Func::new`].
    pub fn wrap<T: 'static, Params, Results>(
        mut store: impl AsContextMut<Data = T>,
        f: impl crate::IntoFunc<T, Params, Results>,
    ) -> Func {
        let (ty, callback) = f.into_callback();
        Func::from_callback(store.as_context_mut().0, ty, callback).unwrap_or_else(host_func_panic)
    }

    pub(crate) fn from_callback<T: 'static>(
        store: &mut StoreInner<T>,
        ty: FuncType,
        callback: Arc<HostCallback<T>>,
    ) -> Result<Func> {
        let engine = store.opaque.engine.clone();
        let trampolines = engine.trampolines(&ty.abi())?;
        let type_id = engine.func_type_id(&ty).0;
        let state = OwnedPtr::new(Box::new(HostFuncState {
            vmctx: VMHostContext {
                shim: host_shim::<T>,
                data: std::ptr::null_mut(),
            },
            slot: VMFuncSlot::new(trampolines.wasm_to_host),
            func_ref: VMFuncRef {
                slot: std::ptr::null(),
                vmctx: std::ptr::null_mut(),
                type_id,
                func_index: 0,
            },
            store_id: store.opaque.id,
            callback,
        }));
        let raw = state.as_ptr();
        // SAFETY: `raw` is the fresh allocation, not yet shared. Its fields are
        // written and addressed through it (no reference), so the pointers into
        // it share its provenance and stay valid as long as `state`.
        let func_ref = unsafe {
            (*raw).vmctx.data = raw.cast();
            (*raw).func_ref.slot = &raw const (*raw).slot;
            (*raw).func_ref.vmctx = (&raw mut (*raw).vmctx).cast();
            &raw const (*raw).func_ref
        };
        Ok(store.opaque.push_func(FuncData {
            ty,
            func_ref,
            trampolines,
            _host: Some(state.erase()),
        }))
    }

    /// The function's signature.
    pub fn ty(&self, store: impl AsContext) -> FuncType {
        let store = store.as_context();
        let opaque = &store.0.opaque;
        opaque.funcs[opaque.check(self.0)].ty.clone()
    }

    /// Calls the function with `params`, writing its results into `results`.
    pub fn call(
        &self,
        mut store: impl AsContextMut,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<()> {
        let store = store.as_context_mut().0;
        let index = store.opaque.owned(self.0)?;
        // Borrowed, not cloned: a call costs no reference-count traffic on the
        // type (the store is only borrowed mutably to run Wasm).
        let ty = &store.opaque.funcs[index].ty;
        let (param_count, result_count) = (ty.param_types().len(), ty.result_types().len());
        if params.len() != param_count {
            bail!("expected {param_count} arguments, got {}", params.len());
        }
        if results.len() != result_count {
            bail!("expected {result_count} results, got {}", results.len());
        }
        with_slots(params.len().max(results.len()), |values| {
            let param_types = store.opaque.funcs[index].ty.param_types();
            for (i, (p, expected)) in params.iter().zip(param_types).enumerate() {
                if !p.matches_ty(&store.opaque, expected)? {
                    bail!("argument {i} is {}, expected {expected}", p.describe());
                }
                values[i] = p.to_raw(&store.opaque)?;
            }
            // SAFETY: `values` has a slot per argument and result, outside the store.
            unsafe { enter(store, *self, values.as_mut_ptr())? };
            // The store may have changed while Wasm ran: look the type up again.
            for (i, r) in results.iter_mut().enumerate() {
                let ty = store.opaque.funcs[index].ty.result_types()[i].clone();
                *r = Val::from_raw(&mut store.opaque, values[i], &ty);
            }
            Ok(())
        })
    }

    /// The funcref record of this function.
    pub(crate) fn func_ref(&self, opaque: &StoreOpaque) -> *const VMFuncRef {
        opaque.funcs[opaque.check(self.0)].func_ref
    }

    /// Turns a typed view of this function, checking its signature.
    pub fn typed<P: crate::WasmParams, R: crate::WasmResults>(
        &self,
        store: impl AsContext,
    ) -> Result<crate::TypedFunc<P, R>> {
        crate::TypedFunc::new(*self, store)
    }
}

/// Why `Func::new` or `Func::wrap` could not make a function, as a panic: their
/// shape (Wasmtime's) has no error to return.
fn host_func_panic(error: anyhow::Error) -> Func {
    panic!("cannot create a host function: {error:#}")
}

/// Where an entry into Wasm calls, read from the store before the entry gives up
/// its borrow of it.
struct EntryPoint {
    vm: *mut VMStoreContext,
    max_stack: usize,
    trampoline: usize,
    callee_vmctx: *mut VMContext,
    code: usize,
}

impl StoreOpaque {
    /// Where calling `func` enters Wasm: the code its dispatch slot holds now (a
    /// lazy-compile stub compiles the function inside the entry).
    /// An error if `func` belongs to another store.
    fn entry_point(&self, func: Func) -> Result<EntryPoint> {
        let data = &self.funcs[self.owned(func.0)?];
        // SAFETY: a store's funcrefs stay valid as long as the store and never
        // change once made; their slots live as long as the module or host
        // function they belong to, which the store keeps alive.
        let (callee_vmctx, code) = unsafe {
            let func_ref = *data.func_ref;
            (func_ref.vmctx, (*func_ref.slot).code())
        };
        Ok(EntryPoint {
            vm: self.vm(),
            max_stack: self.engine.config().max_wasm_stack,
            trampoline: data.trampolines.array_to_wasm,
            callee_vmctx,
            code,
        })
    }
}

/// Publishes the store of an entry into Wasm for as long as the entry runs: to
/// the host functions Wasm calls (`ENTERED`) and to the builtins (the limiter in
/// the store context). Dropping it restores what the enclosing entry published.
struct EntryScope {
    vm: *mut VMStoreContext,
    previous: Entered,
    previous_limiter: Option<NonNull<dyn GrowthLimiter>>,
}

impl EntryScope {
    /// # Safety
    /// `vm` must be the context of the store `entered` names, `limiter` must be
    /// that store's, and all three must stay live until the scope is dropped.
    unsafe fn publish(
        vm: *mut VMStoreContext,
        entered: Entered,
        limiter: *mut EntryLimiter,
    ) -> EntryScope {
        let previous = ENTERED.replace(entered);
        let limiter = NonNull::new(limiter as *mut dyn GrowthLimiter);
        // SAFETY: `vm` is live per the contract; written through the raw pointer,
        // as generated code and builtins also reach the context.
        let previous_limiter = unsafe { std::ptr::replace(&raw mut (*vm).limiter, limiter) };
        EntryScope {
            vm,
            previous,
            previous_limiter,
        }
    }
}

impl Drop for EntryScope {
    fn drop(&mut self) {
        ENTERED.set(self.previous);
        // SAFETY: `vm` is live per the contract of `publish`.
        unsafe { (*self.vm).limiter = self.previous_limiter };
    }
}

/// Calls `func` from the host, with its arguments and room for its results in
/// `values`.
///
/// `store` is turned into a raw pointer before Wasm is entered and is not used
/// again until Wasm has returned: the host functions and builtins that Wasm calls
/// reach the store only through that pointer. The caller re-derives everything it
/// reads from the store afterwards (ARCHITECTURE.md, "Aliasing across entry
/// into Wasm").
///
/// # Safety
/// `values` must hold the function's arguments, correctly typed, have room for
/// its results, and not point into the store.
pub(crate) unsafe fn enter<T>(
    store: &mut StoreInner<T>,
    func: Func,
    values: *mut ValRaw,
) -> Result<()> {
    let entry = store.opaque.entry_point(func)?;
    let store_id = store.opaque.id;
    let store: *mut StoreInner<T> = store;
    let mut limiter = EntryLimiter::new(store);
    let entered = Entered {
        store_id,
        store: store.cast(),
    };
    // SAFETY: `entry.vm` is the context of the store at `store`; the store and
    // `limiter` outlive the scope, which ends with this function.
    let _scope = unsafe { EntryScope::publish(entry.vm, entered, &raw mut limiter) };
    // SAFETY: the trampoline matches the function's signature, the funcref's
    // vmctx belongs to this store, `values` is sized by the caller, and nothing
    // reaches the store until `invoke` returns but through `store`.
    unsafe {
        invoke(
            entry.vm,
            entry.max_stack,
            entry.trampoline,
            entry.callee_vmctx,
            std::ptr::null_mut(),
            entry.code,
            values,
        )
    }
    .map_err(|trap| {
        // SAFETY: Wasm has returned, so nothing uses the pointers published for
        // the entry any more: this is the only access to the store.
        trap_to_error(*trap, unsafe { &mut *store })
    })
}

/// Calls with inline slots of this many values live on the stack.
const INLINE_SLOTS: usize = 8;

/// Runs `f` on `n` zeroed value slots, on the stack when they are few. The slots
/// are never inside the store, so nothing Wasm or a host function does to the
/// store can move them.
pub(crate) fn with_slots<R>(n: usize, f: impl FnOnce(&mut [ValRaw]) -> R) -> R {
    if n <= INLINE_SLOTS {
        f(&mut [ValRaw::default(); INLINE_SLOTS][..n])
    } else {
        f(&mut vec![ValRaw::default(); n])
    }
}

impl StoreOpaque {
    pub(crate) fn push_func(&mut self, data: FuncData) -> Func {
        let func = Func(self.stored(self.funcs.len()));
        self.func_by_ref.insert(data.func_ref as usize, func);
        self.funcs.push(data);
        func
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_store_is_entered_outside_an_entry_or_for_another_store() {
        // SAFETY: nothing is dereferenced when no store is found.
        assert!(unsafe { entered_store::<()>(1) }.is_none());
        let mut store = crate::Store::new(&crate::Engine::default(), ());
        let (id, vm) = (store.inner.opaque.id, store.inner.opaque.vm());
        // Derived last, as in `enter`: the store is not used otherwise below.
        let inner: *mut StoreInner<()> = &mut *store.inner;
        let entered = Entered {
            store_id: id,
            store: inner.cast(),
        };
        let mut limiter = EntryLimiter::new(inner);
        // SAFETY: `vm`, the store and `limiter` outlive the scope.
        let scope = unsafe { EntryScope::publish(vm, entered, &raw mut limiter) };
        // SAFETY: the store's data type is `()`; the borrow ends at once.
        assert!(unsafe { entered_store::<()>(id + 1) }.is_none());
        // SAFETY: as above.
        assert!(unsafe { entered_store::<()>(id) }.is_some());
        drop(scope);
        // SAFETY: as above.
        assert!(unsafe { entered_store::<()>(id) }.is_none());
        // SAFETY: `vm` is the live store context; nothing is published any more.
        assert!(unsafe { (*vm).limiter }.is_none());
    }
}
