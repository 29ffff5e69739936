//! Engine-wide canonical signature ids: two structurally equal function types get the
//! same id in every module of an engine, so `call_indirect` compares one integer.
//!
//! A function type may refer to other function types (`(ref $t)`, function
//! references). A module names them by its own type index; the registry's form of a
//! type names them by their [`SignatureId`] instead ([`crate::WasmHeapType`]), so
//! that the registered form is structural: without the GC proposal a type refers
//! only to types defined before it, and two types are equal exactly when their
//! registered forms are.

use crate::{WasmFuncType, WasmHeapType};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// An engine-wide signature id; an array of them reads as an array of `u32`
/// (generated code reads the module's through `VMOffsets::TYPE_IDS`).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignatureId(pub u32);

/// Interns function types; ids are never reused while the registry lives.
#[derive(Debug)]
pub struct SignatureRegistry {
    /// This registry's number, unique in the process.
    id: u64,
    inner: Mutex<Interned>,
}

impl Default for SignatureRegistry {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        SignatureRegistry {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            inner: Mutex::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Interned {
    ids: HashMap<WasmFuncType, SignatureId>,
}

impl SignatureRegistry {
    /// A number no other registry of this process has: ids of different
    /// registries must not be compared.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The ids of a module's types, in order: each type's references to the
    /// module's types are replaced by the ids of those types before it is
    /// interned. A reference to a type not before it (which validation without
    /// the GC proposal rejects) reads as a reference to any function.
    pub fn register_module(&self, types: &[WasmFuncType]) -> Vec<SignatureId> {
        let mut ids: Vec<SignatureId> = Vec::with_capacity(types.len());
        for ty in types {
            let canonical = ty.map_concrete(|i| match ids.get(i as usize) {
                Some(id) => WasmHeapType::Concrete(id.0),
                None => WasmHeapType::Func,
            });
            ids.push(self.register(&canonical));
        }
        ids
    }

    /// The id of `ty`, in the registry's form (its concrete references are
    /// [`SignatureId`]s of this registry), interning it on first sight.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WasmValType;

    fn func_ref_to(nullable: bool, index: u32) -> WasmValType {
        WasmValType::reference(nullable, WasmHeapType::Concrete(index))
    }

    #[test]
    fn types_referring_to_equal_types_are_equal_across_modules() {
        let registry = SignatureRegistry::default();
        let leaf = WasmFuncType::new([WasmValType::I32], []);
        let other = WasmFuncType::new([WasmValType::F32], []);
        let a = registry
            .register_module(&[leaf.clone(), WasmFuncType::new([func_ref_to(false, 0)], [])]);
        let b = registry.register_module(&[
            other.clone(),
            leaf,
            WasmFuncType::new([func_ref_to(false, 1)], []),
            WasmFuncType::new([func_ref_to(false, 0)], []),
        ]);
        assert_eq!(a[0], b[1]);
        assert_eq!(a[1], b[2], "both refer to (func (param i32))");
        assert_ne!(a[1], b[3], "this one refers to (func (param f32))");
        let nullable = registry.register_module(&[
            WasmFuncType::new([WasmValType::I32], []),
            WasmFuncType::new([func_ref_to(true, 0)], []),
        ]);
        assert_ne!(a[1], nullable[1]);
    }
}
