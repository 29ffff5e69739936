//! Value and function types, owned and hashable so they can be shared engine-wide.

use wasmparser::{RefType, ValType};

/// A WebAssembly value type as Lazuli handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasmValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    FuncRef,
    ExternRef,
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
        })
    }
}

/// Converts a validated wasmparser type. Only the Wasm 2.0 reference types are
/// accepted by the validator's feature set, so any other reference is an externref
/// look-alike we reject upstream.
pub fn wasm_val_type(ty: ValType) -> WasmValType {
    match ty {
        ValType::I32 => WasmValType::I32,
        ValType::I64 => WasmValType::I64,
        ValType::F32 => WasmValType::F32,
        ValType::F64 => WasmValType::F64,
        ValType::V128 => WasmValType::V128,
        ValType::Ref(r) if r == RefType::FUNCREF => WasmValType::FuncRef,
        ValType::Ref(_) => WasmValType::ExternRef,
    }
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
