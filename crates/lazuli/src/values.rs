//! [`Val`]: a Wasm value as the host sees it.

use crate::Func;
use crate::store::{AsContextMut, StoreContext, StoreOpaque, Stored};
use crate::types::{HeapType, RefType, ValType};
use anyhow::Result;
use lazuli_runtime::{VMFuncRef, ValRaw};
use std::any::Any;

/// A dynamically typed Wasm value. Floats are kept as bits so NaN payloads survive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    I32(i32),
    I64(i64),
    /// An `f32`, as its bits.
    F32(u32),
    /// An `f64`, as its bits.
    F64(u64),
    V128(u128),
    FuncRef(Option<Func>),
    ExternRef(Option<ExternRef>),
}

/// A reference to host data that Wasm can hold and pass around but not inspect.
/// It lives as long as the store that created it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExternRef(pub(crate) Stored);

/// The storage behind an [`ExternRef`]; its address is the reference's raw value.
pub(crate) struct ExternRefData(pub(crate) Box<dyn Any + Send + Sync>);

impl ExternRef {
    /// Wraps `data` in a new reference owned by `store`.
    pub fn new(mut store: impl AsContextMut, data: impl Any + Send + Sync) -> ExternRef {
        let store = store.as_context_mut();
        let opaque = &mut store.0.opaque;
        let boxed = Box::new(ExternRefData(Box::new(data)));
        let r = ExternRef(opaque.stored(opaque.externrefs.len()));
        opaque
            .externref_by_addr
            .insert(&*boxed as *const ExternRefData as usize, r);
        opaque.externrefs.push(boxed);
        r
    }

    /// The host data this reference wraps.
    pub fn data<'a, T: 'a>(
        &self,
        store: impl Into<StoreContext<'a, T>>,
    ) -> &'a (dyn Any + Send + Sync) {
        let store = store.into();
        let opaque = &store.0.opaque;
        &*opaque.externrefs[opaque.check(self.0)].0
    }

    /// The raw value generated code holds: the data's address.
    fn checked_raw(self, store: &StoreOpaque) -> Result<usize> {
        let data = &*store.externrefs[store.owned(self.0)?];
        Ok(data as *const ExternRefData as usize)
    }
}

/// A reference value: what tables hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref {
    Func(Option<Func>),
    Extern(Option<ExternRef>),
}

impl Ref {
    /// The raw pointer generated code uses (0 for null), or an error if the
    /// reference belongs to another store.
    pub(crate) fn checked_raw(self, store: &StoreOpaque) -> Result<usize> {
        Ok(match self {
            Ref::Func(None) | Ref::Extern(None) => 0,
            Ref::Func(Some(f)) => store.funcs[store.owned(f.0)?].func_ref as usize,
            Ref::Extern(Some(e)) => e.checked_raw(store)?,
        })
    }

    /// The reference behind a raw pointer of type `ty`.
    pub(crate) fn from_raw(store: &mut StoreOpaque, raw: usize, ty: &RefType) -> Ref {
        match ty.heap_type().top() {
            HeapType::Extern => Ref::Extern(store.externref_by_addr.get(&raw).copied()),
            _ => Ref::Func(store.func_from_ref(raw as *const VMFuncRef)),
        }
    }

    /// Whether this reference has type `ty` (a null one only if `ty` is nullable),
    /// or an error if it belongs to another store.
    pub(crate) fn matches_ty(&self, store: &StoreOpaque, ty: &RefType) -> Result<bool> {
        let heap = ty.heap_type();
        Ok(match self {
            Ref::Func(None) => ty.is_nullable() && heap.top() == HeapType::Func,
            Ref::Extern(None) => ty.is_nullable() && heap.top() == HeapType::Extern,
            Ref::Extern(Some(e)) => {
                e.checked_raw(store)?;
                heap.is_extern()
            }
            Ref::Func(Some(f)) => match heap {
                HeapType::Func => {
                    store.owned(f.0)?;
                    true
                }
                HeapType::ConcreteFunc(expected) => {
                    store.funcs[store.owned(f.0)?].ty.matches(expected)
                }
                _ => false,
            },
        })
    }

    /// The type of a reference of this kind.
    ///
    /// Unlike Wasmtime's, it needs no store: without the GC proposal a
    /// reference's type is its kind.
    pub fn ty(&self) -> RefType {
        match self {
            Ref::Func(_) => RefType::FUNCREF,
            Ref::Extern(_) => RefType::EXTERNREF,
        }
    }

    /// Whether this is a null reference.
    pub fn is_null(&self) -> bool {
        matches!(self, Ref::Func(None) | Ref::Extern(None))
    }

    /// Whether this is a non-null reference.
    pub fn is_non_null(&self) -> bool {
        !self.is_null()
    }

    /// Whether this is a function reference (null or not).
    pub fn is_func(&self) -> bool {
        matches!(self, Ref::Func(_))
    }

    /// Whether this is an external reference (null or not).
    pub fn is_extern(&self) -> bool {
        matches!(self, Ref::Extern(_))
    }

    /// The function reference (`Some(None)` if null); `None` for another kind.
    pub fn as_func(&self) -> Option<Option<&Func>> {
        match self {
            Ref::Func(f) => Some(f.as_ref()),
            Ref::Extern(_) => None,
        }
    }

    /// The function reference (`None` if null).
    ///
    /// # Panics
    /// If this is another kind of reference.
    pub fn unwrap_func(&self) -> Option<&Func> {
        self.as_func()
            .unwrap_or_else(|| panic!("expected a funcref, found {}", self.ty()))
    }

    /// The external reference (`Some(None)` if null); `None` for another kind.
    pub fn as_extern(&self) -> Option<Option<&ExternRef>> {
        match self {
            Ref::Extern(e) => Some(e.as_ref()),
            Ref::Func(_) => None,
        }
    }

    /// The external reference (`None` if null).
    ///
    /// # Panics
    /// If this is another kind of reference.
    pub fn unwrap_extern(&self) -> Option<&ExternRef> {
        self.as_extern()
            .unwrap_or_else(|| panic!("expected an externref, found {}", self.ty()))
    }
}

impl From<Func> for Ref {
    fn from(f: Func) -> Ref {
        Ref::Func(Some(f))
    }
}

impl From<Option<Func>> for Ref {
    fn from(f: Option<Func>) -> Ref {
        Ref::Func(f)
    }
}

impl From<ExternRef> for Ref {
    fn from(e: ExternRef) -> Ref {
        Ref::Extern(Some(e))
    }
}

impl From<Option<ExternRef>> for Ref {
    fn from(e: Option<ExternRef>) -> Ref {
        Ref::Extern(e)
    }
}

impl From<Ref> for Val {
    fn from(r: Ref) -> Val {
        match r {
            Ref::Func(f) => Val::FuncRef(f),
            Ref::Extern(e) => Val::ExternRef(e),
        }
    }
}

/// Conversions into [`Val`] of what converts into [`Ref`].
macro_rules! val_from_ref {
    ($($t:ty),*) => {$(
        impl From<$t> for Val {
            fn from(r: $t) -> Val {
                Ref::from(r).into()
            }
        }
    )*};
}

val_from_ref!(Func, Option<Func>, ExternRef, Option<ExternRef>);

/// A typed accessor of [`Val`]: `$get` returns the value if it is a `$variant`,
/// `$unwrap` the same or panics.
macro_rules! val_accessors {
    ($($get:ident, $unwrap:ident, $variant:ident, $t:ty, |$v:ident| $conv:expr;)*) => {$(
        #[doc = concat!("The value, if this is a `Val::", stringify!($variant), "`.")]
        pub fn $get(&self) -> Option<$t> {
            match self {
                Val::$variant($v) => Some($conv),
                _ => None,
            }
        }

        #[doc = concat!("The value of a `Val::", stringify!($variant), "`.")]
        ///
        /// # Panics
        /// If the value is of another type.
        pub fn $unwrap(&self) -> $t {
            self.$get().unwrap_or_else(|| {
                panic!(concat!("expected ", stringify!($variant), ", found {}"), self.ty())
            })
        }
    )*};
}

impl Val {
    /// The type of this value.
    ///
    /// Unlike Wasmtime's, it needs no store: without the GC proposal a value's
    /// type is its kind.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FUNCREF,
            Val::ExternRef(_) => ValType::EXTERNREF,
        }
    }

    /// The zero (or null) value of `ty`; for a non-nullable reference type, which
    /// has no default, the null its storage starts from (see
    /// [`Val::default_for_ty`]).
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::Ref(r) => match r.heap_type().top() {
                HeapType::Extern => Val::ExternRef(None),
                _ => Val::FuncRef(None),
            },
        }
    }

    /// The zero (or null) value of `ty`, as [`Val::default_for`]; Wasmtime's
    /// shape: `None` for a non-nullable reference type, which has no default.
    pub fn default_for_ty(ty: &ValType) -> Option<Val> {
        match ty {
            ValType::Ref(r) if !r.is_nullable() => None,
            _ => Some(Val::default_for(ty.clone())),
        }
    }

    /// The value's type for error messages, saying when it is a null reference.
    pub(crate) fn describe(&self) -> String {
        match self.ref_() {
            Some(r) if r.is_null() => format!("a null {}", self.ty()),
            _ => format!("of type {}", self.ty()),
        }
    }

    /// Whether this value has type `ty` (a function reference is checked
    /// against a concrete function type, a null against non-nullable types), or
    /// an error if it is a reference into another store.
    pub(crate) fn matches_ty(&self, store: &StoreOpaque, ty: &ValType) -> Result<bool> {
        match (self.ref_(), ty) {
            (Some(r), ValType::Ref(expected)) => r.matches_ty(store, expected),
            (Some(_), _) => Ok(false),
            (None, _) => Ok(self.ty() == *ty),
        }
    }

    /// A null `funcref`.
    pub fn null_func_ref() -> Val {
        Val::FuncRef(None)
    }

    /// A null `externref`.
    pub fn null_extern_ref() -> Val {
        Val::ExternRef(None)
    }

    val_accessors! {
        i32, unwrap_i32, I32, i32, |v| *v;
        i64, unwrap_i64, I64, i64, |v| *v;
        f32, unwrap_f32, F32, f32, |v| f32::from_bits(*v);
        f64, unwrap_f64, F64, f64, |v| f64::from_bits(*v);
        v128, unwrap_v128, V128, u128, |v| *v;
        funcref, unwrap_funcref, FuncRef, Option<&Func>, |f| f.as_ref();
        externref, unwrap_externref, ExternRef, Option<&ExternRef>, |e| e.as_ref();
    }

    /// The reference, if this is one.
    pub fn ref_(self) -> Option<Ref> {
        match self {
            Val::FuncRef(f) => Some(Ref::Func(f)),
            Val::ExternRef(e) => Some(Ref::Extern(e)),
            _ => None,
        }
    }

    pub(crate) fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw> {
        Ok(match self {
            Val::I32(v) => ValRaw::i32(v),
            Val::I64(v) => ValRaw::i64(v),
            Val::F32(v) => ValRaw::f32(v),
            Val::F64(v) => ValRaw::f64(v),
            Val::V128(v) => ValRaw(v),
            Val::FuncRef(f) => ValRaw(Ref::Func(f).checked_raw(store)? as u128),
            Val::ExternRef(e) => ValRaw(Ref::Extern(e).checked_raw(store)? as u128),
        })
    }

    pub(crate) fn from_raw(store: &mut StoreOpaque, raw: ValRaw, ty: &ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw.get_i32()),
            ValType::I64 => Val::I64(raw.get_i64()),
            ValType::F32 => Val::F32(raw.get_f32()),
            ValType::F64 => Val::F64(raw.get_f64()),
            ValType::V128 => Val::V128(raw.0),
            ValType::Ref(r) => Ref::from_raw(store, raw.0 as usize, r).into(),
        }
    }
}

impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}

impl From<f32> for Val {
    fn from(v: f32) -> Val {
        Val::F32(v.to_bits())
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::F64(v.to_bits())
    }
}

impl From<u128> for Val {
    /// A `v128` (Wasmtime's `V128` is Lazuli's `u128`).
    fn from(v: u128) -> Val {
        Val::V128(v)
    }
}
