//! Types of values and of the things a module imports and exports.

use crate::Engine;
use lazuli_environ::{
    EntityIndex, ModuleInfo, SignatureId, WasmFuncType, WasmHeapType, WasmRefType, WasmValType,
};
use std::sync::Arc;

/// The type of a Wasm value.
///
/// The reference types are [`ValType::Ref`], as in Wasmtime, so that
/// `ValType::FUNCREF` and matches on `ValType::Ref(r)` port unchanged. As in
/// Wasmtime it is `Clone` but not `Copy`: a typed function reference names the
/// [`FuncType`] it points to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// `nullfuncref`: `(ref null nofunc)`, whose only value is null.
    pub const NULLFUNCREF: ValType = ValType::Ref(RefType::NULLFUNCREF);
    /// `nullexternref`: `(ref null noextern)`, whose only value is null.
    pub const NULLEXTERNREF: ValType = ValType::Ref(RefType::NULLEXTERNREF);

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

    /// Whether a value of this type can be used where `other` is expected: the
    /// same number type, or a reference type that is a subtype of `other`'s.
    pub fn matches(&self, other: &ValType) -> bool {
        match (self, other) {
            (ValType::Ref(a), ValType::Ref(b)) => a.matches(b),
            _ => self == other,
        }
    }

    /// The type as an engine's signature registry names it, registering the
    /// function types it refers to with `engine`.
    pub(crate) fn to_registered(&self, engine: &Engine) -> WasmValType {
        match self {
            ValType::I32 => WasmValType::I32,
            ValType::I64 => WasmValType::I64,
            ValType::F32 => WasmValType::F32,
            ValType::F64 => WasmValType::F64,
            ValType::V128 => WasmValType::V128,
            ValType::Ref(r) => r.to_registered(engine),
        }
    }

    /// A module's type `ty`, whose concrete references are indices into
    /// `types`, the module's function types (see [`FuncType::of_module`]).
    pub(crate) fn of_module(ty: WasmValType, types: &[FuncType]) -> ValType {
        match ty {
            WasmValType::I32 => ValType::I32,
            WasmValType::I64 => ValType::I64,
            WasmValType::F32 => ValType::F32,
            WasmValType::F64 => ValType::F64,
            WasmValType::V128 => ValType::V128,
            WasmValType::FuncRef => ValType::FUNCREF,
            WasmValType::ExternRef => ValType::EXTERNREF,
            WasmValType::Ref(r) => ValType::Ref(RefType::of_module(r, types)),
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
        match self {
            ValType::I32 => f.write_str("i32"),
            ValType::I64 => f.write_str("i64"),
            ValType::F32 => f.write_str("f32"),
            ValType::F64 => f.write_str("f64"),
            ValType::V128 => f.write_str("v128"),
            ValType::Ref(r) => r.fmt(f),
        }
    }
}

/// The type of a reference: what it points to ([`HeapType`]) and whether it can
/// be null.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefType {
    nullable: bool,
    heap_type: HeapType,
}

impl RefType {
    /// `funcref`, that is `(ref null func)`.
    pub const FUNCREF: RefType = RefType {
        nullable: true,
        heap_type: HeapType::Func,
    };
    /// `externref`, that is `(ref null extern)`.
    pub const EXTERNREF: RefType = RefType {
        nullable: true,
        heap_type: HeapType::Extern,
    };
    /// `nullfuncref`, that is `(ref null nofunc)`.
    pub const NULLFUNCREF: RefType = RefType {
        nullable: true,
        heap_type: HeapType::NoFunc,
    };
    /// `nullexternref`, that is `(ref null noextern)`.
    pub const NULLEXTERNREF: RefType = RefType {
        nullable: true,
        heap_type: HeapType::NoExtern,
    };

    /// `(ref null heap_type)` if `nullable`, else `(ref heap_type)`.
    pub fn new(nullable: bool, heap_type: HeapType) -> RefType {
        RefType {
            nullable,
            heap_type,
        }
    }

    /// Whether the reference can be null.
    pub fn is_nullable(&self) -> bool {
        self.nullable
    }

    /// What the reference points to.
    pub fn heap_type(&self) -> &HeapType {
        &self.heap_type
    }

    /// Whether a reference of this type can be used where `other` is expected:
    /// a nullable one only where null is allowed, and its heap type a subtype of
    /// `other`'s.
    pub fn matches(&self, other: &RefType) -> bool {
        (!self.nullable || other.nullable) && self.heap_type.matches(&other.heap_type)
    }

    fn to_registered(&self, engine: &Engine) -> WasmValType {
        let heap = match &self.heap_type {
            HeapType::Func => WasmHeapType::Func,
            HeapType::NoFunc => WasmHeapType::NoFunc,
            HeapType::Extern => WasmHeapType::Extern,
            HeapType::NoExtern => WasmHeapType::NoExtern,
            HeapType::ConcreteFunc(ty) => WasmHeapType::Concrete(engine.func_type_id(ty).0),
        };
        WasmValType::reference(self.nullable, heap)
    }

    fn of_module(r: WasmRefType, types: &[FuncType]) -> RefType {
        let heap_type = match r.heap {
            WasmHeapType::Func => HeapType::Func,
            WasmHeapType::NoFunc => HeapType::NoFunc,
            WasmHeapType::Extern => HeapType::Extern,
            WasmHeapType::NoExtern => HeapType::NoExtern,
            // Validation admits only earlier types, which `types` holds.
            WasmHeapType::Concrete(i) => match types.get(i as usize) {
                Some(ty) => HeapType::ConcreteFunc(ty.clone()),
                None => HeapType::Func,
            },
        };
        RefType::new(r.nullable, heap_type)
    }

    /// The type of a validated table's or segment's elements, in a module whose
    /// function types are `types`.
    pub(crate) fn of_element(element: WasmValType, types: &[FuncType]) -> RefType {
        match ValType::of_module(element, types) {
            ValType::Ref(r) => r,
            // Validation admits only reference types for elements.
            _ => RefType::FUNCREF,
        }
    }
}

impl std::fmt::Display for RefType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.nullable, &self.heap_type) {
            (true, HeapType::Func) => f.write_str("funcref"),
            (true, HeapType::Extern) => f.write_str("externref"),
            (true, heap) => write!(f, "(ref null {heap})"),
            (false, heap) => write!(f, "(ref {heap})"),
        }
    }
}

/// What a reference points to: Wasmtime's heap types, as far as the
/// function-references proposal has them (the GC proposal's are not).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeapType {
    /// Host data: the target of an [`ExternRef`](crate::ExternRef).
    Extern,
    /// The bottom of `extern`: no value but null has it.
    NoExtern,
    /// Any function.
    Func,
    /// A function of the given type.
    ConcreteFunc(FuncType),
    /// The bottom of the function types: no value but null has it.
    NoFunc,
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

    /// Whether this is `nofunc`.
    pub fn is_no_func(&self) -> bool {
        *self == HeapType::NoFunc
    }

    /// Whether this is `noextern`.
    pub fn is_no_extern(&self) -> bool {
        *self == HeapType::NoExtern
    }

    /// Whether this is a concrete function type.
    pub fn is_concrete_func(&self) -> bool {
        self.as_concrete_func().is_some()
    }

    /// The function type, if this is a concrete one.
    pub fn as_concrete_func(&self) -> Option<&FuncType> {
        match self {
            HeapType::ConcreteFunc(ty) => Some(ty),
            _ => None,
        }
    }

    /// The function type of a concrete heap type.
    ///
    /// # Panics
    /// If this is not a concrete function type.
    pub fn unwrap_concrete_func(&self) -> &FuncType {
        self.as_concrete_func()
            .unwrap_or_else(|| panic!("`{self}` is not a concrete function type"))
    }

    /// The top of this type's hierarchy: `func` or `extern`.
    pub fn top(&self) -> HeapType {
        match self {
            HeapType::Extern | HeapType::NoExtern => HeapType::Extern,
            _ => HeapType::Func,
        }
    }

    /// Whether this is the bottom of its hierarchy (`nofunc`, `noextern`).
    pub fn is_bottom(&self) -> bool {
        matches!(self, HeapType::NoFunc | HeapType::NoExtern)
    }

    /// Whether this is a subtype of `other`. Without the GC proposal a function
    /// type has no declared supertypes: a concrete type is a subtype of itself
    /// and of `func`, and `nofunc` of every function type.
    pub fn matches(&self, other: &HeapType) -> bool {
        match (self, other) {
            (HeapType::NoFunc, other) => other.top() == HeapType::Func,
            (HeapType::NoExtern, other) => other.top() == HeapType::Extern,
            (HeapType::ConcreteFunc(_), HeapType::Func) => true,
            (a, b) => a == b,
        }
    }
}

impl std::fmt::Display for HeapType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeapType::Extern => f.write_str("extern"),
            HeapType::NoExtern => f.write_str("noextern"),
            HeapType::Func => f.write_str("func"),
            HeapType::NoFunc => f.write_str("nofunc"),
            HeapType::ConcreteFunc(ty) => write!(f, "(func {ty})"),
        }
    }
}

/// A function signature.
///
/// Function types are structural: two signatures with equal parameters and
/// results are the same type, in every module (a concrete reference in them
/// compares the type it points to). A type read from a module, or made with
/// [`FuncType::new`], also carries its id in its engine's signature registry,
/// which makes comparing and registering it cheap however deep it is.
#[derive(Clone)]
pub struct FuncType(Arc<FuncTypeData>);

struct FuncTypeData {
    params: Box<[ValType]>,
    results: Box<[ValType]>,
    /// The registry (by `SignatureRegistry::id`) and id this type has there.
    registered: Option<(u64, SignatureId)>,
}

impl FuncType {
    /// The signature taking `params` and returning `results`, registered with
    /// `engine` (as in Wasmtime, whose types belong to an engine).
    pub fn new(
        engine: &Engine,
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> FuncType {
        let ty = FuncType::from_types(params, results);
        let id = engine.func_type_id(&ty);
        ty.with_id(engine, id)
    }

    /// The signature taking `params` and returning `results`, without an engine.
    pub(crate) fn from_types(
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> FuncType {
        FuncType(Arc::new(FuncTypeData {
            params: params.into_iter().collect(),
            results: results.into_iter().collect(),
            registered: None,
        }))
    }

    fn with_id(self, engine: &Engine, id: SignatureId) -> FuncType {
        let registered = Some((engine.inner.signatures.id(), id));
        match Arc::try_unwrap(self.0) {
            Ok(data) => FuncType(Arc::new(FuncTypeData { registered, ..data })),
            Err(shared) => FuncType(Arc::new(FuncTypeData {
                params: shared.params.clone(),
                results: shared.results.clone(),
                registered,
            })),
        }
    }

    /// The function types of a module, `types`, registered with `engine` under
    /// `ids`: each refers to the ones before it (validation admits no other).
    pub(crate) fn of_module(
        engine: &Engine,
        types: &[WasmFuncType],
        ids: &[SignatureId],
    ) -> Vec<FuncType> {
        let registry = engine.inner.signatures.id();
        let mut made: Vec<FuncType> = Vec::with_capacity(types.len());
        for (ty, id) in types.iter().zip(ids) {
            let val = |t: &WasmValType| ValType::of_module(*t, &made);
            let data = FuncTypeData {
                params: ty.params.iter().map(val).collect(),
                results: ty.results.iter().map(val).collect(),
                registered: Some((registry, *id)),
            };
            made.push(FuncType(Arc::new(data)));
        }
        made
    }

    /// Its id in the registry of `registry` if it was registered there.
    pub(crate) fn id_in(&self, registry: u64) -> Option<SignatureId> {
        self.0
            .registered
            .filter(|(r, _)| *r == registry)
            .map(|(_, id)| id)
    }

    /// The parameter types, in order.
    pub fn params(&self) -> impl ExactSizeIterator<Item = ValType> + '_ {
        self.0.params.iter().cloned()
    }

    /// The result types, in order.
    pub fn results(&self) -> impl ExactSizeIterator<Item = ValType> + '_ {
        self.0.results.iter().cloned()
    }

    /// The parameter `i`.
    pub fn param(&self, i: usize) -> Option<ValType> {
        self.0.params.get(i).cloned()
    }

    /// The result `i`.
    pub fn result(&self, i: usize) -> Option<ValType> {
        self.0.results.get(i).cloned()
    }

    /// How the type is passed (what its trampolines depend on): every reference
    /// is a `funcref` or an `externref`.
    pub(crate) fn abi(&self) -> WasmFuncType {
        let erase = |t: &ValType| match t {
            ValType::I32 => WasmValType::I32,
            ValType::I64 => WasmValType::I64,
            ValType::F32 => WasmValType::F32,
            ValType::F64 => WasmValType::F64,
            ValType::V128 => WasmValType::V128,
            ValType::Ref(r) if r.heap_type().top() == HeapType::Extern => WasmValType::ExternRef,
            ValType::Ref(_) => WasmValType::FuncRef,
        };
        WasmFuncType::new(
            self.0.params.iter().map(erase),
            self.0.results.iter().map(erase),
        )
    }

    pub(crate) fn param_types(&self) -> &[ValType] {
        &self.0.params
    }

    pub(crate) fn result_types(&self) -> &[ValType] {
        &self.0.results
    }

    /// Whether a function of this type can be used where one of `other` is
    /// expected: without declared subtypes, when they are the same type.
    pub fn matches(&self, other: &FuncType) -> bool {
        self == other
    }
}

impl PartialEq for FuncType {
    fn eq(&self, other: &FuncType) -> bool {
        if Arc::ptr_eq(&self.0, &other.0) {
            return true;
        }
        match (self.0.registered, other.0.registered) {
            (Some((r, a)), Some((s, b))) if r == s => a == b,
            _ => self.0.params == other.0.params && self.0.results == other.0.results,
        }
    }
}

impl Eq for FuncType {}

impl std::hash::Hash for FuncType {
    /// Only the arity, which equal types share whatever they refer to (hashing
    /// deeper would walk every type referred to, each time).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.params.len().hash(state);
        self.0.results.len().hash(state);
    }
}

impl std::fmt::Display for FuncType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |tys: &[ValType]| {
            tys.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "({}) -> ({})",
            list(&self.0.params),
            list(&self.0.results)
        )
    }
}

impl std::fmt::Debug for FuncType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FuncType")
            .field("params", &self.0.params)
            .field("results", &self.0.results)
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// The type of entity `index` of `module`, whose function types are `types`.
    pub(crate) fn of(module: &ModuleInfo, types: &[FuncType], index: EntityIndex) -> ExternType {
        match index {
            EntityIndex::Function(f) => {
                let ty = module.functions[f as usize] as usize;
                ExternType::Func(types[ty].clone())
            }
            EntityIndex::Global(g) => {
                let g = &module.globals[g as usize];
                let m = if g.mutable {
                    Mutability::Var
                } else {
                    Mutability::Const
                };
                ExternType::Global(GlobalType::new(ValType::of_module(g.ty, types), m))
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
                    element: RefType::of_element(t.element, types),
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
