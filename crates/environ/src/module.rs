//! `ModuleInfo`: what a validated module declares, with function bodies recorded as
//! byte ranges into the module's bytes (nothing is compiled here).

use crate::{ConstExpr, WasmFuncType, WasmValType};
use std::collections::HashMap;
use std::ops::Range;
use wasmparser::{FuncToValidate, ValidatorResources};

/// An index into one of the module's index spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityIndex {
    Function(u32),
    Table(u32),
    Memory(u32),
    Global(u32),
}

/// One import, in declaration order.
#[derive(Debug, Clone)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub index: EntityIndex,
}

/// One export.
#[derive(Debug, Clone)]
pub struct Export {
    pub name: String,
    pub index: EntityIndex,
}

/// A global's type and, for defined globals, its initialiser.
#[derive(Debug, Clone)]
pub struct Global {
    pub ty: WasmValType,
    pub mutable: bool,
    pub init: Option<ConstExpr>,
}

/// A linear memory's limits, in 64 KiB pages, and its index type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    pub minimum: u64,
    pub maximum: Option<u64>,
    /// Addresses, sizes and page counts are `i64` (memory64), not `i32`.
    pub memory64: bool,
    /// Whether the memory is `shared` (threads): then it has a maximum.
    pub shared: bool,
}

/// A table's element type and limits.
#[derive(Debug, Clone)]
pub struct TablePlan {
    pub element: WasmValType,
    pub minimum: u64,
    pub maximum: Option<u64>,
    pub init: Option<ConstExpr>,
    /// Element indices and sizes are `i64` (table64), not `i32`.
    pub table64: bool,
}

/// Where a data or element segment goes.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentMode {
    Active { index: u32, offset: ConstExpr },
    Passive,
    Declared,
}

/// A data segment; its bytes are a range of the module's bytes.
#[derive(Debug, Clone)]
pub struct DataSegment {
    pub mode: SegmentMode,
    pub data: Range<usize>,
}

/// The items of an element segment.
#[derive(Debug, Clone)]
pub enum ElemItems {
    Functions(Vec<u32>),
    Expressions(Vec<ConstExpr>),
}

/// An element segment.
#[derive(Debug, Clone)]
pub struct ElementSegment {
    pub mode: SegmentMode,
    pub element: WasmValType,
    pub items: ElemItems,
}

/// A defined function's body: its bytes within the module.
#[derive(Debug, Clone)]
pub struct FunctionBody {
    pub range: Range<usize>,
}

/// Everything a module declares, in the order of its index spaces (imports first).
#[derive(Debug, Default)]
pub struct ModuleInfo {
    /// The module's type section.
    pub types: Vec<WasmFuncType>,
    /// Type index of every function, imported ones first.
    pub functions: Vec<u32>,
    pub num_imported_funcs: u32,
    pub tables: Vec<TablePlan>,
    pub num_imported_tables: u32,
    pub memories: Vec<MemoryPlan>,
    pub num_imported_memories: u32,
    pub globals: Vec<Global>,
    pub num_imported_globals: u32,
    pub imports: Vec<Import>,
    pub exports: Vec<Export>,
    pub export_map: HashMap<String, EntityIndex>,
    pub start: Option<u32>,
    /// Bodies of the defined functions, by defined index.
    pub bodies: Vec<FunctionBody>,
    pub data: Vec<DataSegment>,
    pub elements: Vec<ElementSegment>,
    /// Functions named by the name section.
    pub func_names: HashMap<u32, String>,
    /// The module's own name from the name section.
    pub name: Option<String>,
    /// A validator for each defined function's body, until the bodies have been
    /// validated; while present, the compiler validates each body as it translates it.
    pub func_validators: Vec<FuncToValidate<ValidatorResources>>,
}

impl ModuleInfo {
    /// The signature of function `func` (imported or defined).
    pub fn func_type(&self, func: u32) -> &WasmFuncType {
        &self.types[self.functions[func as usize] as usize]
    }

    pub fn num_defined_funcs(&self) -> u32 {
        self.functions.len() as u32 - self.num_imported_funcs
    }

    pub fn is_imported_func(&self, func: u32) -> bool {
        func < self.num_imported_funcs
    }

    pub fn is_imported_global(&self, global: u32) -> bool {
        global < self.num_imported_globals
    }

    /// The validator for defined function `defined`'s body, if it is still pending.
    pub fn func_validator(
        &self,
        defined: u32,
    ) -> Option<wasmparser::FuncValidator<ValidatorResources>> {
        let v = self.func_validators.get(defined as usize)?;
        let to_validate = FuncToValidate {
            resources: v.resources.clone(),
            index: v.index,
            ty: v.ty,
            features: v.features,
        };
        Some(to_validate.into_validator(Default::default()))
    }

    /// Validates defined function `defined`'s body (a range of `bytes`).
    pub fn validate_body(&self, bytes: &[u8], defined: u32) -> Result<(), crate::WasmError> {
        let Some(mut validator) = self.func_validator(defined) else {
            return Ok(());
        };
        let range = self.bodies[defined as usize].range.clone();
        let reader = wasmparser::BinaryReader::new(&bytes[range.clone()], range.start as u64);
        validator.validate(&wasmparser::FunctionBody::new(reader))?;
        Ok(())
    }

    /// A readable name for a function: the name section's, or `func<N>`.
    pub fn func_name(&self, func: u32) -> Option<&str> {
        self.func_names.get(&func).map(String::as_str)
    }
}
