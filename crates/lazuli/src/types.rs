//! Types of values and of the things a module imports and exports.

pub use lazuli_environ::WasmValType as ValType;
use lazuli_environ::{EntityIndex, ModuleInfo, WasmFuncType};

/// A function signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FuncType(pub(crate) WasmFuncType);

impl FuncType {
    pub fn new(
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> FuncType {
        FuncType(WasmFuncType::new(params, results))
    }

    pub fn params(&self) -> impl ExactSizeIterator<Item = ValType> + '_ {
        self.0.params.iter().copied()
    }

    pub fn results(&self) -> impl ExactSizeIterator<Item = ValType> + '_ {
        self.0.results.iter().copied()
    }
}

impl std::fmt::Display for FuncType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
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

    pub fn content(&self) -> ValType {
        self.content
    }

    pub fn mutability(&self) -> Mutability {
        self.mutability
    }
}

/// A linear memory's limits, in 64 KiB pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryType {
    minimum: u64,
    maximum: Option<u64>,
}

impl MemoryType {
    pub fn new(minimum: u32, maximum: Option<u32>) -> MemoryType {
        MemoryType {
            minimum: minimum.into(),
            maximum: maximum.map(Into::into),
        }
    }

    pub fn minimum(&self) -> u64 {
        self.minimum
    }

    pub fn maximum(&self) -> Option<u64> {
        self.maximum
    }
}

/// A table's element type and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableType {
    element: ValType,
    minimum: u64,
    maximum: Option<u64>,
}

impl TableType {
    pub fn new(element: ValType, minimum: u32, maximum: Option<u32>) -> TableType {
        TableType {
            element,
            minimum: minimum.into(),
            maximum: maximum.map(Into::into),
        }
    }

    pub fn element(&self) -> ValType {
        self.element
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
                ExternType::Global(GlobalType::new(g.ty, m))
            }
            EntityIndex::Memory(m) => {
                let m = &module.memories[m as usize];
                ExternType::Memory(MemoryType {
                    minimum: m.minimum,
                    maximum: m.maximum,
                })
            }
            EntityIndex::Table(t) => {
                let t = &module.tables[t as usize];
                ExternType::Table(TableType {
                    element: t.element,
                    minimum: t.minimum,
                    maximum: t.maximum,
                })
            }
        }
    }

    /// A short description for error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            ExternType::Func(f) => format!("function {f}"),
            ExternType::Global(g) => format!("global {:?} {}", g.mutability, g.content),
            ExternType::Memory(m) => format!("memory {}..{:?}", m.minimum, m.maximum),
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
