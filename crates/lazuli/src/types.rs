//! Types of values and of the things a module imports and exports.

use crate::Engine;
use lazuli_environ::{EntityIndex, ModuleInfo, WasmFuncType, WasmValType};

/// The type of a Wasm value.
///
/// Lazuli implements Wasm 2.0's value types; the reference types are
/// [`ValType::Ref`], as in Wasmtime, so that `ValType::FUNCREF` and matches on
/// `ValType::Ref(r)` port unchanged. Unlike Wasmtime's, it is `Copy`: without the
/// GC proposal no type refers to a registered one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    Ref(RefType),
}

impl ValType {
    /// `funcref`: a nullable reference to a function.
    pub const FUNCREF: ValType = ValType::Ref(RefType::FUNCREF);
    /// `externref`: a nullable reference to host data.
    pub const EXTERNREF: ValType = ValType::Ref(RefType::EXTERNREF);

    /// Whether this is a number type (not `v128`, not a reference).
    pub fn is_num(&self) -> bool {
        matches!(
            self,
            ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64
        )
    }

    /// Whether this is `i32`.
    pub fn is_i32(&self) -> bool {
        *self == ValType::I32
    }

    /// Whether this is `i64`.
    pub fn is_i64(&self) -> bool {
        *self == ValType::I64
    }

    /// Whether this is `f32`.
    pub fn is_f32(&self) -> bool {
        *self == ValType::F32
    }

    /// Whether this is `f64`.
    pub fn is_f64(&self) -> bool {
        *self == ValType::F64
    }

    /// Whether this is `v128`.
    pub fn is_v128(&self) -> bool {
        *self == ValType::V128
    }

    /// Whether this is a reference type.
    pub fn is_ref(&self) -> bool {
        self.as_ref().is_some()
    }

    /// Whether this is `funcref`.
    pub fn is_funcref(&self) -> bool {
        *self == ValType::FUNCREF
    }

    /// Whether this is `externref`.
    pub fn is_externref(&self) -> bool {
        *self == ValType::EXTERNREF
    }

    /// The reference type, if this is one.
    pub fn as_ref(&self) -> Option<&RefType> {
        match self {
            ValType::Ref(r) => Some(r),
            _ => None,
        }
    }

    /// The reference type.
    ///
    /// # Panics
    /// If this is not a reference type.
    pub fn unwrap_ref(&self) -> &RefType {
        self.as_ref()
            .unwrap_or_else(|| panic!("`{self}` is not a reference type"))
    }

    /// Whether a value of this type can be used where `other` is expected. Wasm
    /// 2.0 has no subtyping between value types, so this is equality.
    pub fn matches(&self, other: &ValType) -> bool {
        self == other
    }

    /// The type as the compiler's layers name it.
    pub(crate) fn to_wasm(self) -> WasmValType {
        match self {
            ValType::I32 => WasmValType::I32,
            ValType::I64 => WasmValType::I64,
            ValType::F32 => WasmValType::F32,
            ValType::F64 => WasmValType::F64,
            ValType::V128 => WasmValType::V128,
            ValType::Ref(r) => r.to_wasm(),
        }
    }
}

impl From<WasmValType> for ValType {
    fn from(ty: WasmValType) -> ValType {
        match ty {
            WasmValType::I32 => ValType::I32,
            WasmValType::I64 => ValType::I64,
            WasmValType::F32 => ValType::F32,
            WasmValType::F64 => ValType::F64,
            WasmValType::V128 => ValType::V128,
            WasmValType::FuncRef => ValType::FUNCREF,
            WasmValType::ExternRef => ValType::EXTERNREF,
        }
    }
}

impl From<RefType> for ValType {
    fn from(r: RefType) -> ValType {
        ValType::Ref(r)
    }
}

impl std::fmt::Display for ValType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_wasm().fmt(f)
    }
}

/// The type of a reference: what it points to ([`HeapType`]) and whether it can
/// be null.
///
/// Every reference type of Wasm 2.0 is nullable, so unlike Wasmtime's there is
/// no `RefType::new(nullable, heap)`: the non-nullable types it could name belong
/// to the function-references proposal, which Lazuli does not implement, and no
/// module could use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefType {
    heap_type: HeapType,
}

impl RefType {
    /// `funcref`, that is `(ref null func)`.
    pub const FUNCREF: RefType = RefType {
        heap_type: HeapType::Func,
    };
    /// `externref`, that is `(ref null extern)`.
    pub const EXTERNREF: RefType = RefType {
        heap_type: HeapType::Extern,
    };

    /// Whether the reference can be null: always, in Wasm 2.0.
    pub fn is_nullable(&self) -> bool {
        true
    }

    /// What the reference points to.
    pub fn heap_type(&self) -> &HeapType {
        &self.heap_type
    }

    /// Whether a reference of this type can be used where `other` is expected:
    /// equality, as Wasm 2.0 has no subtyping.
    pub fn matches(&self, other: &RefType) -> bool {
        self == other
    }

    /// The type of a validated table's or segment's elements.
    pub(crate) fn of_element(element: WasmValType) -> RefType {
        if element == WasmValType::FuncRef {
            RefType::FUNCREF
        } else {
            RefType::EXTERNREF
        }
    }

    fn to_wasm(self) -> WasmValType {
        match self.heap_type {
            HeapType::Func => WasmValType::FuncRef,
            HeapType::Extern => WasmValType::ExternRef,
        }
    }
}

impl std::fmt::Display for RefType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_wasm().fmt(f)
    }
}

/// What a reference points to. Wasm 2.0 has two kinds, where Wasmtime's enum
/// also has the GC proposal's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeapType {
    /// Host data: the target of an [`ExternRef`](crate::ExternRef).
    Extern,
    /// Any function.
    Func,
}

impl HeapType {
    /// Whether this is `extern`.
    pub fn is_extern(&self) -> bool {
        *self == HeapType::Extern
    }

    /// Whether this is `func`.
    pub fn is_func(&self) -> bool {
        *self == HeapType::Func
    }
}

impl std::fmt::Display for HeapType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HeapType::Extern => "extern",
            HeapType::Func => "func",
        })
    }
}

/// A function signature.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FuncType(pub(crate) WasmFuncType);

impl FuncType {
    /// The signature taking `params` and returning `results`.
    ///
    /// Lazuli's function types are structural: two equal signatures are the same
    /// type in every engine. `engine` is taken to keep Wasmtime's shape, whose
    /// types belong to the engine that registered them.
    pub fn new(
        _engine: &Engine,
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> FuncType {
        FuncType::from_types(params, results)
    }

    /// The signature taking `params` and returning `results`, without an engine.
    pub(crate) fn from_types(
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> FuncType {
        FuncType(WasmFuncType::new(
            params.into_iter().map(ValType::to_wasm),
            results.into_iter().map(ValType::to_wasm),
        ))
    }

    /// The parameter types, in order.
    pub fn params(&self) -> impl ExactSizeIterator<Item = ValType> + '_ {
        self.0.params.iter().map(|&t| t.into())
    }

    /// The result types, in order.
    pub fn results(&self) -> impl ExactSizeIterator<Item = ValType> + '_ {
        self.0.results.iter().map(|&t| t.into())
    }

    /// The parameter `i`.
    pub fn param(&self, i: usize) -> Option<ValType> {
        self.0.params.get(i).map(|&t| t.into())
    }

    /// The result `i`.
    pub fn result(&self, i: usize) -> Option<ValType> {
        self.0.results.get(i).map(|&t| t.into())
    }
}

impl std::fmt::Display for FuncType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for FuncType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FuncType")
            .field("params", &self.params().collect::<Vec<_>>())
            .field("results", &self.results().collect::<Vec<_>>())
            .finish()
    }
}

/// Whether a global can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutability {
    Const,
    Var,
}

/// A global's value type and mutability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalType {
    content: ValType,
    mutability: Mutability,
}

impl GlobalType {
    pub fn new(content: ValType, mutability: Mutability) -> GlobalType {
        GlobalType {
            content,
            mutability,
        }
    }

    pub fn content(&self) -> &ValType {
        &self.content
    }

    pub fn mutability(&self) -> Mutability {
        self.mutability
    }
}

/// A linear memory's limits, in 64 KiB pages, and its index type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryType {
    minimum: u64,
    maximum: Option<u64>,
    memory64: bool,
    shared: bool,
}

impl MemoryType {
    /// A 32-bit memory.
    pub fn new(minimum: u32, maximum: Option<u32>) -> MemoryType {
        MemoryType {
            minimum: minimum.into(),
            maximum: maximum.map(Into::into),
            memory64: false,
            shared: false,
        }
    }

    /// A 64-bit memory (memory64): `i64` addresses and page counts.
    pub fn new64(minimum: u64, maximum: Option<u64>) -> MemoryType {
        MemoryType {
            minimum,
            maximum,
            memory64: true,
            shared: false,
        }
    }

    /// Whether addresses are `i64`.
    pub fn is_64(&self) -> bool {
        self.memory64
    }

    pub(crate) fn limits(&self) -> lazuli_runtime::MemoryLimits {
        lazuli_runtime::MemoryLimits {
            minimum: self.minimum,
            maximum: self.maximum,
            memory64: self.memory64,
        }
    }

    /// The type of a shared memory (threads), for [`SharedMemory::new`]: shared
    /// memories always declare a maximum.
    ///
    /// [`SharedMemory::new`]: crate::SharedMemory::new
    pub fn shared(minimum: u32, maximum: u32) -> MemoryType {
        MemoryType {
            minimum: minimum.into(),
            maximum: Some(maximum.into()),
            memory64: false,
            shared: true,
        }
    }

    /// The type of a shared 64-bit memory (threads and memory64).
    pub fn shared64(minimum: u64, maximum: u64) -> MemoryType {
        MemoryType {
            minimum,
            maximum: Some(maximum),
            memory64: true,
            shared: true,
        }
    }

    /// Whether the memory is shared between threads.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    pub fn minimum(&self) -> u64 {
        self.minimum
    }

    pub fn maximum(&self) -> Option<u64> {
        self.maximum
    }
}

/// A table's element type, limits and index type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableType {
    element: RefType,
    minimum: u64,
    maximum: Option<u64>,
    table64: bool,
}

impl TableType {
    /// A table with 32-bit indices.
    pub fn new(element: RefType, minimum: u32, maximum: Option<u32>) -> TableType {
        TableType {
            element,
            minimum: minimum.into(),
            maximum: maximum.map(Into::into),
            table64: false,
        }
    }

    /// A table with `i64` indices (table64).
    pub fn new64(element: RefType, minimum: u64, maximum: Option<u64>) -> TableType {
        TableType {
            element,
            minimum,
            maximum,
            table64: true,
        }
    }

    /// Whether element indices are `i64`.
    pub fn is_64(&self) -> bool {
        self.table64
    }

    pub fn element(&self) -> &RefType {
        &self.element
    }

    pub fn minimum(&self) -> u64 {
        self.minimum
    }

    pub fn maximum(&self) -> Option<u64> {
        self.maximum
    }
}

/// The type of an import or export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternType {
    Func(FuncType),
    Global(GlobalType),
    Memory(MemoryType),
    Table(TableType),
}

impl ExternType {
    pub(crate) fn of(module: &ModuleInfo, index: EntityIndex) -> ExternType {
        match index {
            EntityIndex::Function(f) => ExternType::Func(FuncType(module.func_type(f).clone())),
            EntityIndex::Global(g) => {
                let g = &module.globals[g as usize];
                let m = if g.mutable {
                    Mutability::Var
                } else {
                    Mutability::Const
                };
                ExternType::Global(GlobalType::new(g.ty.into(), m))
            }
            EntityIndex::Memory(m) => {
                let m = &module.memories[m as usize];
                ExternType::Memory(MemoryType {
                    minimum: m.minimum,
                    maximum: m.maximum,
                    memory64: m.memory64,
                    shared: m.shared,
                })
            }
            EntityIndex::Table(t) => {
                let t = &module.tables[t as usize];
                ExternType::Table(TableType {
                    element: RefType::of_element(t.element),
                    minimum: t.minimum,
                    maximum: t.maximum,
                    table64: t.table64,
                })
            }
        }
    }

    /// A short description for error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            ExternType::Func(f) => format!("function {f}"),
            ExternType::Global(g) => format!("global {:?} {}", g.mutability, g.content),
            ExternType::Memory(m) => {
                let shared = if m.shared { " shared" } else { "" };
                format!("memory {}..{:?}{shared}", m.minimum, m.maximum)
            }
            ExternType::Table(t) => format!("table {} {}..{:?}", t.element, t.minimum, t.maximum),
        }
    }
}

/// One import of a module.
#[derive(Debug, Clone)]
pub struct ImportType<'a> {
    pub(crate) module: &'a str,
    pub(crate) name: &'a str,
    pub(crate) ty: ExternType,
}

impl<'a> ImportType<'a> {
    pub fn module(&self) -> &'a str {
        self.module
    }
    pub fn name(&self) -> &'a str {
        self.name
    }
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}

/// One export of a module.
#[derive(Debug, Clone)]
pub struct ExportType<'a> {
    pub(crate) name: &'a str,
    pub(crate) ty: ExternType,
}

impl<'a> ExportType<'a> {
    pub fn name(&self) -> &'a str {
        self.name
    }
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}
