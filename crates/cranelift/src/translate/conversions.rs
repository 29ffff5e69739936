//! Conversions between value types: integer wrap and extend, trapping and saturating
//! float-to-integer truncation, integer-to-float conversion, float demote and promote,
//! and the bit-preserving reinterprets.
//!
//! Cranelift's instructions already carry the Wasm semantics: `fcvt_to_sint`/
//! `fcvt_to_uint` trap on NaN (`BAD_CONVERSION_TO_INTEGER`) and on out-of-range input
//! (`INTEGER_OVERFLOW`), and the `_sat` forms clamp and map NaN to 0.

use super::state::FuncState;
use cranelift_codegen::ir::types::{F32, F64, I32, I64};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};
use cranelift_frontend::{FuncInstBuilder, FunctionBuilder};
use wasmparser::Operator;

/// Emits one conversion of its operand.
type Convert = for<'a, 'b> fn(FuncInstBuilder<'a, 'b>, Value) -> Value;

/// Translates `op` if it is a conversion operator; returns false for any other operator.
pub(super) fn translate(
    op: &Operator<'_>,
    builder: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
) -> bool {
    use Operator::*;
    let convert: Convert = match *op {
        I32WrapI64 => |i, x| i.ireduce(I32, x),
        I64ExtendI32S => |i, x| i.sextend(I64, x),
        I64ExtendI32U => |i, x| i.uextend(I64, x),

        I32TruncF32S | I32TruncF64S => |i, x| i.fcvt_to_sint(I32, x),
        I32TruncF32U | I32TruncF64U => |i, x| i.fcvt_to_uint(I32, x),
        I64TruncF32S | I64TruncF64S => |i, x| i.fcvt_to_sint(I64, x),
        I64TruncF32U | I64TruncF64U => |i, x| i.fcvt_to_uint(I64, x),
        I32TruncSatF32S | I32TruncSatF64S => |i, x| i.fcvt_to_sint_sat(I32, x),
        I32TruncSatF32U | I32TruncSatF64U => |i, x| i.fcvt_to_uint_sat(I32, x),
        I64TruncSatF32S | I64TruncSatF64S => |i, x| i.fcvt_to_sint_sat(I64, x),
        I64TruncSatF32U | I64TruncSatF64U => |i, x| i.fcvt_to_uint_sat(I64, x),

        F32ConvertI32S | F32ConvertI64S => |i, x| i.fcvt_from_sint(F32, x),
        F32ConvertI32U | F32ConvertI64U => |i, x| i.fcvt_from_uint(F32, x),
        F64ConvertI32S | F64ConvertI64S => |i, x| i.fcvt_from_sint(F64, x),
        F64ConvertI32U | F64ConvertI64U => |i, x| i.fcvt_from_uint(F64, x),
        F32DemoteF64 => |i, x| i.fdemote(F32, x),
        F64PromoteF32 => |i, x| i.fpromote(F64, x),

        I32ReinterpretF32 => |i, x| i.bitcast(I32, MemFlagsData::new(), x),
        I64ReinterpretF64 => |i, x| i.bitcast(I64, MemFlagsData::new(), x),
        F32ReinterpretI32 => |i, x| i.bitcast(F32, MemFlagsData::new(), x),
        F64ReinterpretI64 => |i, x| i.bitcast(F64, MemFlagsData::new(), x),
        _ => return false,
    };
    let x = state.pop1();
    let value = convert(builder.ins(), x);
    state.push1(value);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn every_conversion_verifies_and_compiles() {
        use Operator::*;
        let check = |param, result, ops: &[Operator<'_>]| {
            let numeric = super::super::numeric::translate;
            super::super::numeric::tests::check(translate, numeric, &[param], result, ops);
        };
        check(I64, I32, &[I32WrapI64]);
        check(I32, I64, &[I64ExtendI32S, I64ExtendI32U]);
        check(F32, I32, &[
            I32TruncF32S, I32TruncF32U, I32TruncSatF32S, I32TruncSatF32U, I32ReinterpretF32,
        ]);
        check(F64, I32, &[I32TruncF64S, I32TruncF64U, I32TruncSatF64S, I32TruncSatF64U]);
        check(F32, I64, &[I64TruncF32S, I64TruncF32U, I64TruncSatF32S, I64TruncSatF32U]);
        check(F64, I64, &[
            I64TruncF64S, I64TruncF64U, I64TruncSatF64S, I64TruncSatF64U, I64ReinterpretF64,
        ]);
        check(I32, F32, &[F32ConvertI32S, F32ConvertI32U, F32ReinterpretI32]);
        check(I64, F32, &[F32ConvertI64S, F32ConvertI64U]);
        check(I32, F64, &[F64ConvertI32S, F64ConvertI32U]);
        check(I64, F64, &[F64ConvertI64S, F64ConvertI64U, F64ReinterpretI64]);
        check(F64, F32, &[F32DemoteF64]);
        check(F32, F64, &[F64PromoteF32]);
    }
}
