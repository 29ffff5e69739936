//! [`Val`]: a Wasm value as the host sees it.

use crate::Func;
use crate::store::{AsContextMut, StoreContext, StoreOpaque, Stored};
use crate::types::ValType;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    fn to_raw(self, store: &StoreOpaque) -> usize {
        &*store.externrefs[store.check(self.0)] as *const ExternRefData as usize
    }
}

/// A reference value: what tables hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref {
    Func(Option<Func>),
    Extern(Option<ExternRef>),
}

impl Ref {
    /// The raw pointer generated code uses (0 for null).
    pub(crate) fn to_raw(self, store: &StoreOpaque) -> usize {
        match self {
            Ref::Func(f) => f.map_or(0, |f| f.func_ref(store) as usize),
            Ref::Extern(e) => e.map_or(0, |e| e.to_raw(store)),
        }
    }

    /// The reference behind a raw pointer of element type `ty`.
    pub(crate) fn from_raw(store: &mut StoreOpaque, raw: usize, ty: ValType) -> Ref {
        if ty == ValType::ExternRef {
            Ref::Extern(store.externref_by_addr.get(&raw).copied())
        } else {
            Ref::Func(store.func_from_ref(raw as *const VMFuncRef))
        }
    }

    /// The value type of a reference of this kind.
    pub fn ty(&self) -> ValType {
        match self {
            Ref::Func(_) => ValType::FuncRef,
            Ref::Extern(_) => ValType::ExternRef,
        }
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

impl Val {
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The zero (or null) value of `ty`.
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::FuncRef => Val::FuncRef(None),
            ValType::ExternRef => Val::ExternRef(None),
        }
    }

    pub fn i32(&self) -> Option<i32> {
        if let Val::I32(v) = self {
            Some(*v)
        } else {
            None
        }
    }

    pub fn i64(&self) -> Option<i64> {
        if let Val::I64(v) = self {
            Some(*v)
        } else {
            None
        }
    }

    pub fn f32(&self) -> Option<f32> {
        if let Val::F32(v) = self {
            Some(f32::from_bits(*v))
        } else {
            None
        }
    }

    pub fn f64(&self) -> Option<f64> {
        if let Val::F64(v) = self {
            Some(f64::from_bits(*v))
        } else {
            None
        }
    }

    pub(crate) fn to_raw(self, store: &StoreOpaque) -> Result<ValRaw> {
        Ok(match self {
            Val::I32(v) => ValRaw::i32(v),
            Val::I64(v) => ValRaw::i64(v),
            Val::F32(v) => ValRaw::f32(v),
            Val::F64(v) => ValRaw::f64(v),
            Val::V128(v) => ValRaw(v),
            Val::FuncRef(f) => ValRaw(Ref::Func(f).to_raw(store) as u128),
            Val::ExternRef(e) => ValRaw(Ref::Extern(e).to_raw(store) as u128),
        })
    }

    pub(crate) fn from_raw(store: &mut StoreOpaque, raw: ValRaw, ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw.get_i32()),
            ValType::I64 => Val::I64(raw.get_i64()),
            ValType::F32 => Val::F32(raw.get_f32()),
            ValType::F64 => Val::F64(raw.get_f64()),
            ValType::V128 => Val::V128(raw.0),
            ValType::FuncRef | ValType::ExternRef => {
                Ref::from_raw(store, raw.0 as usize, ty).into()
            }
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
