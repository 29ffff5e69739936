//! Constant expressions (global initialisers, segment offsets), kept as a short list of
//! operators that the runtime evaluates at instantiation.

use crate::WasmError;
use wasmparser::{ConstExpr as RawConstExpr, Operator};

/// One operator of a constant expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConstOp {
    I32Const(i32),
    I64Const(i64),
    F32Const(u32),
    F64Const(u64),
    V128Const(u128),
    GlobalGet(u32),
    RefNull,
    RefFunc(u32),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
}

/// A validated constant expression.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConstExpr {
    pub ops: Vec<ConstOp>,
}

impl ConstExpr {
    /// Reads a constant expression that the validator has already accepted.
    pub fn parse(raw: &RawConstExpr<'_>) -> Result<ConstExpr, WasmError> {
        let mut ops = Vec::new();
        let mut reader = raw.get_operators_reader();
        while !reader.eof() {
            let op = match reader.read()? {
                Operator::I32Const { value } => ConstOp::I32Const(value),
                Operator::I64Const { value } => ConstOp::I64Const(value),
                Operator::F32Const { value } => ConstOp::F32Const(value.bits()),
                Operator::F64Const { value } => ConstOp::F64Const(value.bits()),
                Operator::V128Const { value } => ConstOp::V128Const(value.i128() as u128),
                Operator::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
                Operator::RefNull { .. } => ConstOp::RefNull,
                Operator::RefFunc { function_index } => ConstOp::RefFunc(function_index),
                Operator::I32Add => ConstOp::I32Add,
                Operator::I32Sub => ConstOp::I32Sub,
                Operator::I32Mul => ConstOp::I32Mul,
                Operator::I64Add => ConstOp::I64Add,
                Operator::I64Sub => ConstOp::I64Sub,
                Operator::I64Mul => ConstOp::I64Mul,
                Operator::End => continue,
                other => {
                    return Err(WasmError::new(
                        format!("unsupported constant operator {other:?}"),
                        raw.get_binary_reader().original_position(),
                    ));
                }
            };
            ops.push(op);
        }
        Ok(ConstExpr { ops })
    }
}
