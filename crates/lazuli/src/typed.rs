//! Statically typed calls: [`TypedFunc`] for host→Wasm and [`IntoFunc`] for
//! turning Rust closures into host functions.

use crate::Func;
use crate::func::{Caller, HostCallback, enter, with_slots};
use crate::store::StoreOpaque;
use crate::store::{AsContext, AsContextMut};
use crate::types::{FuncType, HeapType, RefType, ValType};
use crate::values::{ExternRef, Ref, Val};
use anyhow::{Result, bail};
use lazuli_runtime::ValRaw;
use std::marker::PhantomData;
use std::sync::Arc;

/// A Rust type that is a Wasm value type.
pub trait WasmTy: Copy + Send + 'static {
    fn valtype() -> ValType;
    /// The raw value, or an error if it is a reference into another store than
    /// `store` (numbers cannot fail: their `Ok` compiles away).
    #[doc(hidden)]
    fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw>;
    /// The value behind a raw one of type [`WasmTy::valtype`]; an error only for
    /// a raw value no value of this type has (a null for [`Func`]).
    #[doc(hidden)]
    fn from_raw(store: &mut StoreOpaque, raw: ValRaw) -> Result<Self>;
}

macro_rules! wasm_ty {
    ($($t:ty => $vt:ident, |$v:ident| $to:expr, |$r:ident| $from:expr;)*) => {$(
        impl WasmTy for $t {
            fn valtype() -> ValType { ValType::$vt }
            #[inline]
            fn to_raw(self, _: &StoreOpaque) -> Result<ValRaw> { let $v = self; Ok($to) }
            #[inline]
            fn from_raw(_: &mut StoreOpaque, $r: ValRaw) -> Result<Self> { Ok($from) }
        }
    )*};
}

wasm_ty! {
    i32 => I32, |v| ValRaw::i32(v), |r| r.get_i32();
    u32 => I32, |v| ValRaw::i32(v as i32), |r| r.get_i32() as u32;
    i64 => I64, |v| ValRaw::i64(v), |r| r.get_i64();
    u64 => I64, |v| ValRaw::i64(v as i64), |r| r.get_i64() as u64;
    f32 => F32, |v| ValRaw::f32(v.to_bits()), |r| f32::from_bits(r.get_f32());
    f64 => F64, |v| ValRaw::f64(v.to_bits()), |r| f64::from_bits(r.get_f64());
    u128 => V128, |v| ValRaw(v), |r| r.0;
}

impl WasmTy for Option<Func> {
    fn valtype() -> ValType {
        ValType::FUNCREF
    }
    fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw> {
        Ok(ValRaw(Ref::Func(self).checked_raw(store)? as u128))
    }
    fn from_raw(store: &mut StoreOpaque, raw: ValRaw) -> Result<Self> {
        Ok(
            match Ref::from_raw(store, raw.0 as usize, &RefType::FUNCREF) {
                Ref::Func(f) => f,
                Ref::Extern(_) => None,
            },
        )
    }
}

/// A non-null function reference: `(ref func)`, which also stands for a
/// reference to a concrete function type (checked when it is passed).
impl WasmTy for Func {
    fn valtype() -> ValType {
        ValType::Ref(RefType::new(false, HeapType::Func))
    }
    fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw> {
        Some(self).to_raw(store)
    }
    fn from_raw(store: &mut StoreOpaque, raw: ValRaw) -> Result<Self> {
        match Option::<Func>::from_raw(store, raw)? {
            Some(f) => Ok(f),
            None => bail!("a null function reference where a non-null one was expected"),
        }
    }
}

impl WasmTy for Option<ExternRef> {
    fn valtype() -> ValType {
        ValType::EXTERNREF
    }
    fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw> {
        Ok(ValRaw(Ref::Extern(self).checked_raw(store)? as u128))
    }
    fn from_raw(store: &mut StoreOpaque, raw: ValRaw) -> Result<Self> {
        Ok(
            match Ref::from_raw(store, raw.0 as usize, &RefType::EXTERNREF) {
                Ref::Extern(e) => e,
                Ref::Func(_) => None,
            },
        )
    }
}

/// Parameters of a typed call: `()`, one [`WasmTy`] or a tuple of them.
pub trait WasmParams: Send {
    /// How many values.
    const COUNT: usize;
    fn types() -> Vec<ValType>;
    /// Writes the values into `slots`; an error if one is a reference into
    /// another store than `store`.
    #[doc(hidden)]
    fn store(self, store: &StoreOpaque, slots: &mut [ValRaw]) -> Result<()>;
}

/// Results of a typed call: `()`, one [`WasmTy`] or a tuple of them.
pub trait WasmResults: Sized {
    /// How many values.
    const COUNT: usize;
    fn types() -> Vec<ValType>;
    #[doc(hidden)]
    fn load(store: &mut StoreOpaque, slots: &[ValRaw]) -> Result<Self>;
}

impl<A: WasmTy> WasmParams for A {
    const COUNT: usize = 1;
    fn types() -> Vec<ValType> {
        vec![A::valtype()]
    }
    #[inline]
    fn store(self, store: &StoreOpaque, slots: &mut [ValRaw]) -> Result<()> {
        slots[0] = self.to_raw(store)?;
        Ok(())
    }
}

impl<A: WasmTy> WasmResults for A {
    const COUNT: usize = 1;
    fn types() -> Vec<ValType> {
        vec![A::valtype()]
    }
    fn load(store: &mut StoreOpaque, slots: &[ValRaw]) -> Result<Self> {
        A::from_raw(store, slots[0])
    }
}

macro_rules! tuples {
    ($(($($t:ident $i:tt),*);)*) => {$(
        impl<$($t: WasmTy),*> WasmParams for ($($t,)*) {
            const COUNT: usize = 0 $(+ { let _ = $i; 1 })*;
            fn types() -> Vec<ValType> { vec![$($t::valtype()),*] }
            #[allow(unused_variables)]
            #[inline]
            fn store(self, store: &StoreOpaque, slots: &mut [ValRaw]) -> Result<()> {
                $(slots[$i] = self.$i.to_raw(store)?;)*
                Ok(())
            }
        }
        impl<$($t: WasmTy),*> WasmResults for ($($t,)*) {
            const COUNT: usize = 0 $(+ { let _ = $i; 1 })*;
            fn types() -> Vec<ValType> { vec![$($t::valtype()),*] }
            #[allow(unused_variables, clippy::unused_unit)]
            fn load(store: &mut StoreOpaque, slots: &[ValRaw]) -> Result<Self> { Ok(($($t::from_raw(store, slots[$i])?,)*)) }
        }
    )*};
}

tuples! {
    ();
    (P0 0, P1 1);
    (P0 0, P1 1, P2 2);
    (P0 0, P1 1, P2 2, P3 3);
    (P0 0, P1 1, P2 2, P3 3, P4 4);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12, P13 13);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12, P13 13, P14 14);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12, P13 13, P14 14, P15 15);
}

/// Whether two reference types are of the same hierarchy (`func` or `extern`), so
/// that a value of one may have the other.
fn same_hierarchy(a: &ValType, b: &ValType) -> bool {
    match (a, b) {
        (ValType::Ref(a), ValType::Ref(b)) => a.heap_type().top() == b.heap_type().top(),
        _ => false,
    }
}

/// A function whose signature was checked once, called without per-call checks
/// (but for references whose Rust type is less precise than the parameter's).
pub struct TypedFunc<P, R> {
    func: Func,
    /// Whether an argument must be checked at each call: a reference whose
    /// Rust type does not prove it has the parameter's type (a [`Func`] for a
    /// concrete function type, an `Option<Func>` for a non-nullable one).
    check_args: bool,
    _marker: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P, R> Copy for TypedFunc<P, R> {}

impl<P: WasmParams, R: WasmResults> TypedFunc<P, R> {
    pub(crate) fn new(func: Func, store: impl AsContext) -> Result<Self> {
        store.as_context().0.opaque.owned(func.0)?;
        let ty = func.ty(store);
        let (params, results) = (P::types(), R::types());
        // An argument may be checked at each call; a result must be proven.
        let params_fit = params.len() == ty.param_types().len()
            && params
                .iter()
                .zip(ty.param_types())
                .all(|(rust, wasm)| rust.matches(wasm) || same_hierarchy(rust, wasm));
        let results_fit = results.len() == ty.result_types().len()
            && results
                .iter()
                .zip(ty.result_types())
                .all(|(rust, wasm)| wasm.matches(rust));
        if !params_fit || !results_fit {
            bail!(
                "type mismatch: function is {ty}, requested {}",
                FuncType::from_types(params, results)
            );
        }
        let check_args = params
            .iter()
            .zip(ty.param_types())
            .any(|(rust, wasm)| !rust.matches(wasm));
        Ok(TypedFunc {
            func,
            check_args,
            _marker: PhantomData,
        })
    }

    /// Checks the reference arguments in `slots` against the parameter types.
    fn check_args(&self, store: &mut StoreOpaque, slots: &[ValRaw]) -> Result<()> {
        let ty = store.funcs[store.owned(self.func.0)?].ty.clone();
        for (i, wasm) in ty.param_types().iter().enumerate() {
            let ValType::Ref(expected) = wasm else {
                continue;
            };
            let value = Ref::from_raw(store, slots[i].0 as usize, expected);
            if !value.matches_ty(store, expected)? {
                let value = Val::from(value).describe();
                bail!("argument {i} is {value}, expected {wasm}");
            }
        }
        Ok(())
    }

    /// The untyped function.
    pub fn func(&self) -> &Func {
        &self.func
    }

    /// Calls the function.
    pub fn call(&self, mut store: impl AsContextMut, params: P) -> Result<R> {
        let store = store.as_context_mut().0;
        with_slots(P::COUNT.max(R::COUNT), |slots| {
            params.store(&store.opaque, slots)?;
            if self.check_args {
                self.check_args(&mut store.opaque, slots)?;
            }
            // SAFETY: the signature was checked in `new`; `slots` holds the typed
            // arguments, has room for every result and is outside the store.
            unsafe { enter(store, self.func, slots.as_mut_ptr())? };
            R::load(&mut store.opaque, slots)
        })
    }
}

/// What a host closure returns: `()`, values, or a `Result` of those.
pub trait WasmRet {
    type Results: WasmResultsStore;
    fn into_result(self) -> Result<Self::Results>;
}

impl<R: WasmResultsStore> WasmRet for R {
    type Results = R;
    fn into_result(self) -> Result<R> {
        Ok(self)
    }
}

impl<R: WasmResultsStore> WasmRet for Result<R> {
    type Results = R;
    fn into_result(self) -> Result<R> {
        self
    }
}

/// Results a host function can write back into slots.
pub trait WasmResultsStore: WasmResults {
    /// Writes the results into `slots`; an error if one is a reference into
    /// another store than `store`.
    #[doc(hidden)]
    fn store_results(self, store: &StoreOpaque, slots: &mut [ValRaw]) -> Result<()>;
}

impl<A: WasmTy> WasmResultsStore for A {
    #[inline]
    fn store_results(self, store: &StoreOpaque, slots: &mut [ValRaw]) -> Result<()> {
        slots[0] = self.to_raw(store)?;
        Ok(())
    }
}

macro_rules! result_tuples {
    ($(($($t:ident $i:tt),*);)*) => {$(
        impl<$($t: WasmTy),*> WasmResultsStore for ($($t,)*) {
            #[allow(unused_variables)]
            #[inline]
            fn store_results(self, store: &StoreOpaque, slots: &mut [ValRaw]) -> Result<()> {
                $(slots[$i] = self.$i.to_raw(store)?;)*
                Ok(())
            }
        }
    )*};
}

result_tuples! {
    ();
    (P0 0, P1 1);
    (P0 0, P1 1, P2 2);
    (P0 0, P1 1, P2 2, P3 3);
    (P0 0, P1 1, P2 2, P3 3, P4 4);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12, P13 13);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12, P13 13, P14 14);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12, P13 13, P14 14, P15 15);
}

/// A Rust closure usable as a host function of a store with data `T`.
pub trait IntoFunc<T, Params, Results>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_callback(self) -> (FuncType, Arc<HostCallback<T>>);
}

macro_rules! into_func {
    ($(($($p:ident $i:tt),*);)*) => {$(
        impl<T: 'static, F, R, $($p: WasmTy),*> IntoFunc<T, ($($p,)*), R> for F
        where
            F: Fn($($p),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            fn into_callback(self) -> (FuncType, Arc<HostCallback<T>>) {
                let ty = FuncType::from_types(vec![$($p::valtype()),*], R::Results::types());
                let callback = move |caller: Caller<'_, T>, slots: &mut [ValRaw]| {
                    let store = &mut caller.store.0.opaque;
                    let r = self($($p::from_raw(store, slots[$i])?),*).into_result()?;
                    r.store_results(store, slots)
                };
                (ty, Arc::new(callback))
            }
        }

        impl<T: 'static, F, R, $($p: WasmTy),*> IntoFunc<T, (Caller<'static, T>, $($p,)*), R> for F
        where
            F: Fn(Caller<'_, T>, $($p),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            #[allow(non_snake_case)]
            fn into_callback(self) -> (FuncType, Arc<HostCallback<T>>) {
                let ty = FuncType::from_types(vec![$($p::valtype()),*], R::Results::types());
                let callback = move |mut caller: Caller<'_, T>, slots: &mut [ValRaw]| {
                    $(let $p = $p::from_raw(&mut caller.store.0.opaque, slots[$i])?;)*
                    let r = self(caller.reborrow(), $($p),*).into_result()?;
                    r.store_results(&caller.store.0.opaque, slots)
                };
                (ty, Arc::new(callback))
            }
        }
    )*};
}

into_func! {
    ();
    (P0 0);
    (P0 0, P1 1);
    (P0 0, P1 1, P2 2);
    (P0 0, P1 1, P2 2, P3 3);
    (P0 0, P1 1, P2 2, P3 3, P4 4);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12, P13 13);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12, P13 13, P14 14);
    (P0 0, P1 1, P2 2, P3 3, P4 4, P5 5, P6 6, P7 7, P8 8, P9 9, P10 10, P11 11, P12 12, P13 13, P14 14, P15 15);
}

/// Wraps a closure over [`Val`]s as a host callback of type `ty`.
pub(crate) fn dynamic_callback<T: 'static>(
    ty: FuncType,
    f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
) -> Arc<HostCallback<T>> {
    Arc::new(move |mut caller: Caller<'_, T>, slots: &mut [ValRaw]| {
        let opaque = &mut caller.store.0.opaque;
        let params: Vec<Val> = ty
            .params()
            .enumerate()
            .map(|(i, t)| Val::from_raw(opaque, slots[i], &t))
            .collect();
        let mut results: Vec<Val> = ty.results().map(Val::default_for).collect();
        f(caller.reborrow(), &params, &mut results)?;
        let opaque = &mut caller.store.0.opaque;
        for (i, (r, t)) in results.iter().zip(ty.result_types()).enumerate() {
            if !r.matches_ty(opaque, t)? {
                bail!(
                    "host function returned a value {} for a {t} result",
                    r.describe()
                );
            }
            slots[i] = r.to_raw(opaque)?;
        }
        Ok(())
    })
}
