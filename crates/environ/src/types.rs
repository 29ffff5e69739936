//! Value and function types, owned and hashable so they can be shared engine-wide.

use wasmparser::{AbstractHeapType, HeapType, RefType, UnpackedIndex, ValType};

/// A WebAssembly value type as Lazuli handles it.
///
/// `funcref` and `externref` (the nullable abstract references of Wasm 2.0) have
/// variants of their own; every other reference type of the function-references
/// proposal is a [`WasmValType::Ref`], never one that means `funcref` or
/// `externref` (build them with [`WasmValType::reference`]), so equal types are
/// equal values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasmValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    FuncRef,
    ExternRef,
    Ref(WasmRefType),
}

/// A reference type other than `funcref` and `externref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WasmRefType {
    pub nullable: bool,
    pub heap: WasmHeapType,
}

/// What a reference points to.
///
/// [`WasmHeapType::Concrete`] names a function type: in a module's own types
/// (`ModuleInfo::types`, and what the translator sees) by the module's type index;
/// in a type registered with an engine ([`crate::SignatureRegistry`]) by the
/// engine's [`crate::SignatureId`], so that two structurally equal types are equal
/// there in every module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasmHeapType {
    Func,
    NoFunc,
    Extern,
    NoExtern,
    Concrete(u32),
}

impl WasmHeapType {
    /// Whether references to this heap type point to functions (or are null).
    pub fn is_func(self) -> bool {
        !matches!(self, WasmHeapType::Extern | WasmHeapType::NoExtern)
    }
}

impl WasmValType {
    /// The reference type `(ref null? heap)`, as `funcref` or `externref` when it is
    /// one of them.
    pub fn reference(nullable: bool, heap: WasmHeapType) -> WasmValType {
        match (nullable, heap) {
            (true, WasmHeapType::Func) => WasmValType::FuncRef,
            (true, WasmHeapType::Extern) => WasmValType::ExternRef,
            _ => WasmValType::Ref(WasmRefType { nullable, heap }),
        }
    }

    /// The reference type, split into nullability and heap type, if this is one.
    pub fn as_reference(self) -> Option<WasmRefType> {
        match self {
            WasmValType::FuncRef => Some(WasmRefType {
                nullable: true,
                heap: WasmHeapType::Func,
            }),
            WasmValType::ExternRef => Some(WasmRefType {
                nullable: true,
                heap: WasmHeapType::Extern,
            }),
            WasmValType::Ref(r) => Some(r),
            _ => None,
        }
    }

    /// Whether this is a reference type.
    pub fn is_ref(self) -> bool {
        self.as_reference().is_some()
    }

    /// This type with its concrete heap type's index mapped through `f`.
    pub fn map_concrete(self, f: impl FnOnce(u32) -> WasmHeapType) -> WasmValType {
        match self {
            WasmValType::Ref(WasmRefType {
                nullable,
                heap: WasmHeapType::Concrete(i),
            }) => WasmValType::reference(nullable, f(i)),
            other => other,
        }
    }
}

impl std::fmt::Display for WasmHeapType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WasmHeapType::Func => f.write_str("func"),
            WasmHeapType::NoFunc => f.write_str("nofunc"),
            WasmHeapType::Extern => f.write_str("extern"),
            WasmHeapType::NoExtern => f.write_str("noextern"),
            WasmHeapType::Concrete(i) => write!(f, "{i}"),
        }
    }
}

impl std::fmt::Display for WasmValType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WasmValType::I32 => "i32",
            WasmValType::I64 => "i64",
            WasmValType::F32 => "f32",
            WasmValType::F64 => "f64",
            WasmValType::V128 => "v128",
            WasmValType::FuncRef => "funcref",
            WasmValType::ExternRef => "externref",
            WasmValType::Ref(r) if r.nullable => return write!(f, "(ref null {})", r.heap),
            WasmValType::Ref(r) => return write!(f, "(ref {})", r.heap),
        })
    }
}

/// Converts a validated wasmparser type. The validator's feature set admits only
/// the function-references proposal's heap types (no GC, exceptions or shared
/// references), and concrete types by module index; anything else cannot reach
/// here and is read as the nearest type Lazuli has.
pub fn wasm_val_type(ty: ValType) -> WasmValType {
    match ty {
        ValType::I32 => WasmValType::I32,
        ValType::I64 => WasmValType::I64,
        ValType::F32 => WasmValType::F32,
        ValType::F64 => WasmValType::F64,
        ValType::V128 => WasmValType::V128,
        ValType::Ref(r) => wasm_ref_type(r),
    }
}

fn wasm_ref_type(r: RefType) -> WasmValType {
    let heap = match r.heap_type() {
        HeapType::Concrete(UnpackedIndex::Module(i))
        | HeapType::Exact(UnpackedIndex::Module(i)) => WasmHeapType::Concrete(i),
        HeapType::Abstract { ty, .. } => match ty {
            AbstractHeapType::Func => WasmHeapType::Func,
            AbstractHeapType::NoFunc => WasmHeapType::NoFunc,
            AbstractHeapType::NoExtern => WasmHeapType::NoExtern,
            _ => WasmHeapType::Extern,
        },
        _ => WasmHeapType::Func,
    };
    WasmValType::reference(r.is_nullable(), heap)
}

/// A function signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct WasmFuncType {
    pub params: Box<[WasmValType]>,
    pub results: Box<[WasmValType]>,
}

impl WasmFuncType {
    pub fn new(
        params: impl IntoIterator<Item = WasmValType>,
        results: impl IntoIterator<Item = WasmValType>,
    ) -> Self {
        WasmFuncType {
            params: params.into_iter().collect(),
            results: results.into_iter().collect(),
        }
    }
}

impl WasmFuncType {
    /// This type with every concrete reference's index mapped through `f`.
    pub fn map_concrete(&self, mut f: impl FnMut(u32) -> WasmHeapType) -> WasmFuncType {
        let mut map = |t: &WasmValType| t.map_concrete(&mut f);
        WasmFuncType {
            params: self.params.iter().map(&mut map).collect(),
            results: self.results.iter().map(&mut map).collect(),
        }
    }

    /// This type as far as the calling convention sees it: every reference is a
    /// `funcref` or an `externref` (all are pointers).
    pub fn erased(&self) -> WasmFuncType {
        let erase = |t: &WasmValType| match t.as_reference() {
            Some(r) if r.heap.is_func() => WasmValType::FuncRef,
            Some(_) => WasmValType::ExternRef,
            None => *t,
        };
        WasmFuncType {
            params: self.params.iter().map(erase).collect(),
            results: self.results.iter().map(erase).collect(),
        }
    }
}

impl std::fmt::Display for WasmFuncType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |tys: &[WasmValType]| {
            tys.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({}) -> ({})", list(&self.params), list(&self.results))
    }
}
