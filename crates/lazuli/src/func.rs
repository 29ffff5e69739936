//! [`Func`]: a Wasm or host function in a store, and calling it from the host.

use crate::engine::Trampolines;
use crate::store::{AsContext, AsContextMut, StoreContextMut, StoreInner, StoreOpaque, Stored};
use crate::trap::{host_error, trap_to_error};
use crate::types::FuncType;
use crate::values::Val;
use anyhow::{Result, bail};
use lazuli_runtime::{
    HostFailure, VMContext, VMFuncRef, VMHostContext, ValRaw, ensure_compiled, invoke,
    record_host_failure,
};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// A function that can be called from the host or stored in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Func(pub(crate) Stored);

/// What a store knows about one of its functions.
pub(crate) struct FuncData {
    pub(crate) ty: FuncType,
    /// Stable address: inside an instance's VMContext, or inside `host` below.
    pub(crate) func_ref: *const VMFuncRef,
    pub(crate) trampolines: Arc<Trampolines>,
    /// Keeps a host function's context alive.
    pub(crate) _host: Option<Box<dyn Any>>,
}

/// A host function's body, type-erased over its parameter and result types: it
/// reads its arguments from and writes its results to the slots.
pub(crate) type HostCallback<T> = dyn Fn(Caller<'_, T>, &mut [ValRaw]) -> Result<()> + Send + Sync;

/// Everything a host function needs when Wasm calls it; `vmctx` is what the
/// Wasm→host trampoline receives.
struct HostFuncState<T> {
    vmctx: VMHostContext,
    func_ref: VMFuncRef,
    store: *mut StoreInner<T>,
    callback: Arc<HostCallback<T>>,
}

/// The shim the Wasm→host trampoline calls for host functions of stores with data `T`.
unsafe extern "C" fn host_shim<T: 'static>(
    ctx: *mut VMHostContext,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
    len: usize,
) -> u32 {
    // The callback is cloned out so that no borrow of the state is held while the
    // callback has the store exclusively.
    // SAFETY: `ctx` is the `vmctx` of a live `HostFuncState<T>`, whose store outlives it.
    let (callback, store) = unsafe {
        let state = &*((*ctx).data as *const HostFuncState<T>);
        (state.callback.clone(), &mut *state.store)
    };
    // SAFETY: the trampoline passes a slot array of `len` elements.
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
    pub fn new<T: 'static>(
        mut store: impl AsContextMut<Data = T>,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Result<Func> {
        let callback = crate::typed::dynamic_callback(ty.clone(), f);
        Func::from_callback(store.as_context_mut().0, ty, callback)
    }

    /// A host function whose signature comes from the closure's types.
    pub fn wrap<T: 'static, Params, Results>(
        mut store: impl AsContextMut<Data = T>,
        f: impl crate::IntoFunc<T, Params, Results>,
    ) -> Result<Func> {
        let (ty, callback) = f.into_callback();
        Func::from_callback(store.as_context_mut().0, ty, callback)
    }

    pub(crate) fn from_callback<T: 'static>(
        store: &mut StoreInner<T>,
        ty: FuncType,
        callback: Arc<HostCallback<T>>,
    ) -> Result<Func> {
        let engine = store.opaque.engine.clone();
        let trampolines = engine.trampolines(&ty.0)?;
        let mut state = Box::new(HostFuncState {
            vmctx: VMHostContext {
                shim: host_shim::<T>,
                data: std::ptr::null_mut(),
            },
            func_ref: VMFuncRef {
                wasm_call: trampolines.wasm_to_host as *const u8,
                vmctx: std::ptr::null_mut(),
                type_id: engine.signature(&ty.0).0,
                func_index: 0,
            },
            store: store as *mut StoreInner<T>,
            callback,
        });
        let state_ptr: *mut HostFuncState<T> = &mut *state;
        state.vmctx.data = state_ptr.cast();
        state.func_ref.vmctx = (&mut state.vmctx as *mut VMHostContext).cast();
        let func_ref = &state.func_ref as *const VMFuncRef;
        Ok(store.opaque.push_func(FuncData {
            ty,
            func_ref,
            trampolines,
            _host: Some(state),
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
        let store = store.as_context_mut();
        let opaque = &mut store.0.opaque;
        let index = opaque.check(self.0);
        let ty = &opaque.funcs[index].ty.0;
        if params.len() != ty.params.len() {
            bail!(
                "expected {} arguments, got {}",
                ty.params.len(),
                params.len()
            );
        }
        if results.len() != ty.results.len() {
            bail!(
                "expected {} results, got {}",
                ty.results.len(),
                results.len()
            );
        }
        with_slots(params.len().max(results.len()), |values| {
            for (i, p) in params.iter().enumerate() {
                let expected = opaque.funcs[index].ty.0.params[i];
                if p.ty() != expected {
                    bail!("argument {i} has type {}, expected {expected}", p.ty());
                }
                values[i] = p.to_raw(opaque)?;
            }
            // SAFETY: `values` has a slot per argument and result.
            unsafe { self.call_raw(opaque, values)? };
            for (i, r) in results.iter_mut().enumerate() {
                let ty = opaque.funcs[index].ty.0.results[i];
                *r = Val::from_raw(opaque, values[i], ty);
            }
            Ok(())
        })
    }

    /// Calls with arguments and results in `values`.
    ///
    /// # Safety
    /// `values` must hold the function's arguments, correctly typed, and have room
    /// for its results.
    pub(crate) unsafe fn call_raw(
        &self,
        opaque: &mut StoreOpaque,
        values: &mut [ValRaw],
    ) -> Result<()> {
        let data = &opaque.funcs[opaque.check(self.0)];
        // SAFETY: a store's funcrefs stay valid as long as the store, and only this
        // thread (which holds the store exclusively) touches them.
        let func_ref = unsafe {
            if (*data.func_ref).wasm_call.is_null() {
                ensure_compiled(data.func_ref.cast_mut()).map_err(host_error)?;
            }
            *data.func_ref
        };
        let trampoline = data.trampolines.array_to_wasm;
        let max_stack = opaque.engine.config().max_wasm_stack;
        // SAFETY: the trampoline matches the function's signature, the funcref's
        // vmctx belongs to this store, and `values` is sized by the caller.
        unsafe {
            invoke(
                &mut *opaque.vm,
                max_stack,
                trampoline,
                func_ref.vmctx,
                std::ptr::null_mut(),
                func_ref.wasm_call as usize,
                values.as_mut_ptr(),
            )
        }
        .map_err(|trap| trap_to_error(*trap))
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

/// Calls with inline slots of this many values live on the stack.
const INLINE_SLOTS: usize = 8;

/// Runs `f` on `n` zeroed value slots, on the stack when they are few.
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
