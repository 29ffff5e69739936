//! Engine-wide canonical signature ids: two structurally equal function types get the
//! same id in every module of an engine, so `call_indirect` compares one integer.

use crate::WasmFuncType;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// An engine-wide signature id; an array of them reads as an array of `u32`
/// (generated code reads the module's through `VMOffsets::TYPE_IDS`).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignatureId(pub u32);

/// Interns function types; ids are never reused while the registry lives.
#[derive(Debug, Default)]
pub struct SignatureRegistry {
    inner: Mutex<Interned>,
}

#[derive(Debug, Default)]
struct Interned {
    ids: HashMap<WasmFuncType, SignatureId>,
}

impl SignatureRegistry {
    /// The id of `ty`, interning it on first sight.
    pub fn register(&self, ty: &WasmFuncType) -> SignatureId {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = inner.ids.get(ty) {
            return *id;
        }
        let id = SignatureId(inner.ids.len() as u32);
        inner.ids.insert(ty.clone(), id);
        id
    }
}
