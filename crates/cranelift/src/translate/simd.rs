//! 128-bit SIMD: `v128` constants, loads and stores, lane access, shuffles, and the
//! lane-wise integer, float and conversion operators.
//!
//! A v128 lives on the value stack (and in locals, globals and block parameters) as an
//! `I8X16`. Each operator bitcasts its operands to the lane type it works on and its
//! result back; the bitcasts cost no machine code.
//!
//! Cranelift's vector instructions already carry the Wasm semantics: shifts take the
//! count modulo the lane width (the x64 and aarch64 lowerings mask it), `fmin`/`fmax`
//! propagate NaN and order -0 below +0, `fcvt_to_*_sat` clamp and map NaN to 0,
//! `swizzle` gives 0 for out-of-range indices, and `icmp`/`fcmp` give lane masks of the
//! operand width. pmin/pmax, dot, extadd_pairwise and the `_zero` truncations are built
//! in the shapes the x64 backend pattern-matches (to `minp*`/`maxp*`, `pmaddwd`/
//! `pmaddubsw` and short `cvttpd2dq` sequences).

use super::Ctx;
use super::state::FuncState;
use crate::func_environ::FuncEnvironment;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::*;
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Opcode, Type, Value};
use cranelift_frontend::{FuncInstBuilder, FunctionBuilder};
use wasmparser::{MemArg, Operator};

/// Translates `op` if it is a SIMD operator; returns false for any other operator.
pub(super) fn translate<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> bool {
    use Operator::*;
    if let Some((ty, lanewise)) = lanewise(op) {
        let v = match lanewise {
            Lanewise::Unary(opcode) => unary(b, state, ty, |b, x| {
                let (inst, dfg) = b.ins().Unary(opcode, ty, x);
                dfg.first_result(inst)
            }),
            Lanewise::Binary(opcode) => binary(b, state, ty, |b, x, y| {
                let (inst, dfg) = b.ins().Binary(opcode, ty, x, y);
                dfg.first_result(inst)
            }),
            Lanewise::Icmp(cc) => binary(b, state, ty, |b, x, y| b.ins().icmp(cc, x, y)),
            Lanewise::Fcmp(cc) => binary(b, state, ty, |b, x, y| b.ins().fcmp(cc, x, y)),
        };
        push(b, state, v);
        return true;
    }
    if memory(op, b, state, cx) {
        return true;
    }
    let s = state;
    let v = match *op {
        V128Const { value } => {
            let c = b.func.dfg.constants.insert(value.bytes().to_vec().into());
            b.ins().vconst(I8X16, c)
        }
        I8x16Shuffle { lanes } => binary(b, s, I8X16, |b, x, y| {
            let mask = b.func.dfg.immediates.push(lanes.to_vec().into());
            b.ins().shuffle(x, y, mask)
        }),
        I8x16Swizzle => binary(b, s, I8X16, |b, x, y| b.ins().swizzle(x, y)),
        V128AndNot => binary(b, s, I8X16, |b, x, y| b.ins().band_not(x, y)),
        V128Bitselect => {
            let (x, y, mask) = s.pop3();
            b.ins().bitselect(mask, x, y)
        }
        V128AnyTrue => unary(b, s, I8X16, |b, x| {
            let t = b.ins().vany_true(x);
            b.ins().uextend(I32, t)
        }),
        I8x16AllTrue => all_true(b, s, I8X16),
        I16x8AllTrue => all_true(b, s, I16X8),
        I32x4AllTrue => all_true(b, s, I32X4),
        I64x2AllTrue => all_true(b, s, I64X2),
        I8x16Bitmask => bitmask(b, s, I8X16),
        I16x8Bitmask => bitmask(b, s, I16X8),
        I32x4Bitmask => bitmask(b, s, I32X4),
        I64x2Bitmask => bitmask(b, s, I64X2),

        I8x16Splat => splat(b, s, I8X16),
        I16x8Splat => splat(b, s, I16X8),
        I32x4Splat => splat(b, s, I32X4),
        I64x2Splat => splat(b, s, I64X2),
        F32x4Splat => splat(b, s, F32X4),
        F64x2Splat => splat(b, s, F64X2),
        I8x16ExtractLaneS { lane } => extract_lane(b, s, I8X16, lane, Some(true)),
        I8x16ExtractLaneU { lane } => extract_lane(b, s, I8X16, lane, Some(false)),
        I16x8ExtractLaneS { lane } => extract_lane(b, s, I16X8, lane, Some(true)),
        I16x8ExtractLaneU { lane } => extract_lane(b, s, I16X8, lane, Some(false)),
        I32x4ExtractLane { lane } => extract_lane(b, s, I32X4, lane, None),
        I64x2ExtractLane { lane } => extract_lane(b, s, I64X2, lane, None),
        F32x4ExtractLane { lane } => extract_lane(b, s, F32X4, lane, None),
        F64x2ExtractLane { lane } => extract_lane(b, s, F64X2, lane, None),
        I8x16ReplaceLane { lane } => replace_lane(b, s, I8X16, lane),
        I16x8ReplaceLane { lane } => replace_lane(b, s, I16X8, lane),
        I32x4ReplaceLane { lane } => replace_lane(b, s, I32X4, lane),
        I64x2ReplaceLane { lane } => replace_lane(b, s, I64X2, lane),
        F32x4ReplaceLane { lane } => replace_lane(b, s, F32X4, lane),
        F64x2ReplaceLane { lane } => replace_lane(b, s, F64X2, lane),

        I16x8ExtAddPairwiseI8x16S => extadd_pairwise(b, s, I8X16, true),
        I16x8ExtAddPairwiseI8x16U => extadd_pairwise(b, s, I8X16, false),
        I32x4ExtAddPairwiseI16x8S => extadd_pairwise(b, s, I16X8, true),
        I32x4ExtAddPairwiseI16x8U => extadd_pairwise(b, s, I16X8, false),
        I16x8ExtMulLowI8x16S => extmul(b, s, I8X16, Opcode::SwidenLow),
        I16x8ExtMulHighI8x16S => extmul(b, s, I8X16, Opcode::SwidenHigh),
        I16x8ExtMulLowI8x16U => extmul(b, s, I8X16, Opcode::UwidenLow),
        I16x8ExtMulHighI8x16U => extmul(b, s, I8X16, Opcode::UwidenHigh),
        I32x4ExtMulLowI16x8S => extmul(b, s, I16X8, Opcode::SwidenLow),
        I32x4ExtMulHighI16x8S => extmul(b, s, I16X8, Opcode::SwidenHigh),
        I32x4ExtMulLowI16x8U => extmul(b, s, I16X8, Opcode::UwidenLow),
        I32x4ExtMulHighI16x8U => extmul(b, s, I16X8, Opcode::UwidenHigh),
        I64x2ExtMulLowI32x4S => extmul(b, s, I32X4, Opcode::SwidenLow),
        I64x2ExtMulHighI32x4S => extmul(b, s, I32X4, Opcode::SwidenHigh),
        I64x2ExtMulLowI32x4U => extmul(b, s, I32X4, Opcode::UwidenLow),
        I64x2ExtMulHighI32x4U => extmul(b, s, I32X4, Opcode::UwidenHigh),
        // Sum of the products of adjacent lanes: matched to `pmaddwd` on x64.
        I32x4DotI16x8S => binary(b, s, I16X8, signed_dot),

        F32x4PMin => pseudo_min_max(b, s, F32X4, false),
        F32x4PMax => pseudo_min_max(b, s, F32X4, true),
        F64x2PMin => pseudo_min_max(b, s, F64X2, false),
        F64x2PMax => pseudo_min_max(b, s, F64X2, true),

        I32x4TruncSatF32x4S => unary(b, s, F32X4, |b, x| b.ins().fcvt_to_sint_sat(I32X4, x)),
        I32x4TruncSatF32x4U => unary(b, s, F32X4, |b, x| b.ins().fcvt_to_uint_sat(I32X4, x)),
        F32x4ConvertI32x4S => unary(b, s, I32X4, |b, x| b.ins().fcvt_from_sint(F32X4, x)),
        F32x4ConvertI32x4U => unary(b, s, I32X4, |b, x| b.ins().fcvt_from_uint(F32X4, x)),
        I32x4TruncSatF64x2SZero => unary(b, s, F64X2, |b, x| trunc_sat_zero(b, x, true)),
        I32x4TruncSatF64x2UZero => unary(b, s, F64X2, |b, x| trunc_sat_zero(b, x, false)),
        F64x2ConvertLowI32x4S => unary(b, s, I32X4, |b, x| {
            let wide = b.ins().swiden_low(x);
            b.ins().fcvt_from_sint(F64X2, wide)
        }),
        F64x2ConvertLowI32x4U => unary(b, s, I32X4, |b, x| {
            let wide = b.ins().uwiden_low(x);
            b.ins().fcvt_from_uint(F64X2, wide)
        }),
        F32x4DemoteF64x2Zero => unary(b, s, F64X2, |b, x| b.ins().fvdemote(x)),
        F64x2PromoteLowF32x4 => unary(b, s, F32X4, |b, x| b.ins().fvpromote_low(x)),
        _ => return false,
    };
    push(b, s, v);
    true
}

/// A lane-wise operator: one Cranelift instruction whose controlling type is the type
/// of its (first) operand.
#[derive(Clone, Copy)]
enum Lanewise {
    Unary(Opcode),
    Binary(Opcode),
    Icmp(IntCC),
    Fcmp(FloatCC),
}

/// The operand type and instruction of a lane-wise operator; `None` for other operators.
fn lanewise(op: &Operator<'_>) -> Option<(Type, Lanewise)> {
    use FloatCC as F;
    use IntCC as I;
    use Lanewise::*;
    use Opcode as O;
    use Operator::*;
    Some(match *op {
        V128Not => (I8X16, Unary(O::Bnot)),
        V128And => (I8X16, Binary(O::Band)),
        V128Or => (I8X16, Binary(O::Bor)),
        V128Xor => (I8X16, Binary(O::Bxor)),

        I8x16Eq => (I8X16, Icmp(I::Equal)),
        I8x16Ne => (I8X16, Icmp(I::NotEqual)),
        I8x16LtS => (I8X16, Icmp(I::SignedLessThan)),
        I8x16LtU => (I8X16, Icmp(I::UnsignedLessThan)),
        I8x16GtS => (I8X16, Icmp(I::SignedGreaterThan)),
        I8x16GtU => (I8X16, Icmp(I::UnsignedGreaterThan)),
        I8x16LeS => (I8X16, Icmp(I::SignedLessThanOrEqual)),
        I8x16LeU => (I8X16, Icmp(I::UnsignedLessThanOrEqual)),
        I8x16GeS => (I8X16, Icmp(I::SignedGreaterThanOrEqual)),
        I8x16GeU => (I8X16, Icmp(I::UnsignedGreaterThanOrEqual)),
        I16x8Eq => (I16X8, Icmp(I::Equal)),
        I16x8Ne => (I16X8, Icmp(I::NotEqual)),
        I16x8LtS => (I16X8, Icmp(I::SignedLessThan)),
        I16x8LtU => (I16X8, Icmp(I::UnsignedLessThan)),
        I16x8GtS => (I16X8, Icmp(I::SignedGreaterThan)),
        I16x8GtU => (I16X8, Icmp(I::UnsignedGreaterThan)),
        I16x8LeS => (I16X8, Icmp(I::SignedLessThanOrEqual)),
        I16x8LeU => (I16X8, Icmp(I::UnsignedLessThanOrEqual)),
        I16x8GeS => (I16X8, Icmp(I::SignedGreaterThanOrEqual)),
        I16x8GeU => (I16X8, Icmp(I::UnsignedGreaterThanOrEqual)),
        I32x4Eq => (I32X4, Icmp(I::Equal)),
        I32x4Ne => (I32X4, Icmp(I::NotEqual)),
        I32x4LtS => (I32X4, Icmp(I::SignedLessThan)),
        I32x4LtU => (I32X4, Icmp(I::UnsignedLessThan)),
        I32x4GtS => (I32X4, Icmp(I::SignedGreaterThan)),
        I32x4GtU => (I32X4, Icmp(I::UnsignedGreaterThan)),
        I32x4LeS => (I32X4, Icmp(I::SignedLessThanOrEqual)),
        I32x4LeU => (I32X4, Icmp(I::UnsignedLessThanOrEqual)),
        I32x4GeS => (I32X4, Icmp(I::SignedGreaterThanOrEqual)),
        I32x4GeU => (I32X4, Icmp(I::UnsignedGreaterThanOrEqual)),
        I64x2Eq => (I64X2, Icmp(I::Equal)),
        I64x2Ne => (I64X2, Icmp(I::NotEqual)),
        I64x2LtS => (I64X2, Icmp(I::SignedLessThan)),
        I64x2GtS => (I64X2, Icmp(I::SignedGreaterThan)),
        I64x2LeS => (I64X2, Icmp(I::SignedLessThanOrEqual)),
        I64x2GeS => (I64X2, Icmp(I::SignedGreaterThanOrEqual)),
        // Ordered comparisons are false on NaN; `NotEqual` (unordered or unequal) is true.
        F32x4Eq => (F32X4, Fcmp(F::Equal)),
        F32x4Ne => (F32X4, Fcmp(F::NotEqual)),
        F32x4Lt => (F32X4, Fcmp(F::LessThan)),
        F32x4Gt => (F32X4, Fcmp(F::GreaterThan)),
        F32x4Le => (F32X4, Fcmp(F::LessThanOrEqual)),
        F32x4Ge => (F32X4, Fcmp(F::GreaterThanOrEqual)),
        F64x2Eq => (F64X2, Fcmp(F::Equal)),
        F64x2Ne => (F64X2, Fcmp(F::NotEqual)),
        F64x2Lt => (F64X2, Fcmp(F::LessThan)),
        F64x2Gt => (F64X2, Fcmp(F::GreaterThan)),
        F64x2Le => (F64X2, Fcmp(F::LessThanOrEqual)),
        F64x2Ge => (F64X2, Fcmp(F::GreaterThanOrEqual)),

        I8x16Abs => (I8X16, Unary(O::Iabs)),
        I8x16Neg => (I8X16, Unary(O::Ineg)),
        I8x16Popcnt => (I8X16, Unary(O::Popcnt)),
        I16x8Abs => (I16X8, Unary(O::Iabs)),
        I16x8Neg => (I16X8, Unary(O::Ineg)),
        I32x4Abs => (I32X4, Unary(O::Iabs)),
        I32x4Neg => (I32X4, Unary(O::Ineg)),
        I64x2Abs => (I64X2, Unary(O::Iabs)),
        I64x2Neg => (I64X2, Unary(O::Ineg)),

        I8x16Shl => (I8X16, Binary(O::Ishl)),
        I8x16ShrS => (I8X16, Binary(O::Sshr)),
        I8x16ShrU => (I8X16, Binary(O::Ushr)),
        I16x8Shl => (I16X8, Binary(O::Ishl)),
        I16x8ShrS => (I16X8, Binary(O::Sshr)),
        I16x8ShrU => (I16X8, Binary(O::Ushr)),
        I32x4Shl => (I32X4, Binary(O::Ishl)),
        I32x4ShrS => (I32X4, Binary(O::Sshr)),
        I32x4ShrU => (I32X4, Binary(O::Ushr)),
        I64x2Shl => (I64X2, Binary(O::Ishl)),
        I64x2ShrS => (I64X2, Binary(O::Sshr)),
        I64x2ShrU => (I64X2, Binary(O::Ushr)),

        I8x16Add => (I8X16, Binary(O::Iadd)),
        I8x16AddSatS => (I8X16, Binary(O::SaddSat)),
        I8x16AddSatU => (I8X16, Binary(O::UaddSat)),
        I8x16Sub => (I8X16, Binary(O::Isub)),
        I8x16SubSatS => (I8X16, Binary(O::SsubSat)),
        I8x16SubSatU => (I8X16, Binary(O::UsubSat)),
        I8x16MinS => (I8X16, Binary(O::Smin)),
        I8x16MinU => (I8X16, Binary(O::Umin)),
        I8x16MaxS => (I8X16, Binary(O::Smax)),
        I8x16MaxU => (I8X16, Binary(O::Umax)),
        I8x16AvgrU => (I8X16, Binary(O::AvgRound)),
        I16x8Add => (I16X8, Binary(O::Iadd)),
        I16x8AddSatS => (I16X8, Binary(O::SaddSat)),
        I16x8AddSatU => (I16X8, Binary(O::UaddSat)),
        I16x8Sub => (I16X8, Binary(O::Isub)),
        I16x8SubSatS => (I16X8, Binary(O::SsubSat)),
        I16x8SubSatU => (I16X8, Binary(O::UsubSat)),
        I16x8Mul => (I16X8, Binary(O::Imul)),
        I16x8MinS => (I16X8, Binary(O::Smin)),
        I16x8MinU => (I16X8, Binary(O::Umin)),
        I16x8MaxS => (I16X8, Binary(O::Smax)),
        I16x8MaxU => (I16X8, Binary(O::Umax)),
        I16x8AvgrU => (I16X8, Binary(O::AvgRound)),
        I16x8Q15MulrSatS => (I16X8, Binary(O::SqmulRoundSat)),
        I32x4Add => (I32X4, Binary(O::Iadd)),
        I32x4Sub => (I32X4, Binary(O::Isub)),
        I32x4Mul => (I32X4, Binary(O::Imul)),
        I32x4MinS => (I32X4, Binary(O::Smin)),
        I32x4MinU => (I32X4, Binary(O::Umin)),
        I32x4MaxS => (I32X4, Binary(O::Smax)),
        I32x4MaxU => (I32X4, Binary(O::Umax)),
        I64x2Add => (I64X2, Binary(O::Iadd)),
        I64x2Sub => (I64X2, Binary(O::Isub)),
        I64x2Mul => (I64X2, Binary(O::Imul)),

        // Narrowing saturates; both forms read their input lanes as signed.
        I8x16NarrowI16x8S => (I16X8, Binary(O::Snarrow)),
        I8x16NarrowI16x8U => (I16X8, Binary(O::Unarrow)),
        I16x8NarrowI32x4S => (I32X4, Binary(O::Snarrow)),
        I16x8NarrowI32x4U => (I32X4, Binary(O::Unarrow)),
        I16x8ExtendLowI8x16S => (I8X16, Unary(O::SwidenLow)),
        I16x8ExtendHighI8x16S => (I8X16, Unary(O::SwidenHigh)),
        I16x8ExtendLowI8x16U => (I8X16, Unary(O::UwidenLow)),
        I16x8ExtendHighI8x16U => (I8X16, Unary(O::UwidenHigh)),
        I32x4ExtendLowI16x8S => (I16X8, Unary(O::SwidenLow)),
        I32x4ExtendHighI16x8S => (I16X8, Unary(O::SwidenHigh)),
        I32x4ExtendLowI16x8U => (I16X8, Unary(O::UwidenLow)),
        I32x4ExtendHighI16x8U => (I16X8, Unary(O::UwidenHigh)),
        I64x2ExtendLowI32x4S => (I32X4, Unary(O::SwidenLow)),
        I64x2ExtendHighI32x4S => (I32X4, Unary(O::SwidenHigh)),
        I64x2ExtendLowI32x4U => (I32X4, Unary(O::UwidenLow)),
        I64x2ExtendHighI32x4U => (I32X4, Unary(O::UwidenHigh)),

        F32x4Ceil => (F32X4, Unary(O::Ceil)),
        F32x4Floor => (F32X4, Unary(O::Floor)),
        F32x4Trunc => (F32X4, Unary(O::Trunc)),
        F32x4Nearest => (F32X4, Unary(O::Nearest)),
        F32x4Abs => (F32X4, Unary(O::Fabs)),
        F32x4Neg => (F32X4, Unary(O::Fneg)),
        F32x4Sqrt => (F32X4, Unary(O::Sqrt)),
        F32x4Add => (F32X4, Binary(O::Fadd)),
        F32x4Sub => (F32X4, Binary(O::Fsub)),
        F32x4Mul => (F32X4, Binary(O::Fmul)),
        F32x4Div => (F32X4, Binary(O::Fdiv)),
        F32x4Min => (F32X4, Binary(O::Fmin)),
        F32x4Max => (F32X4, Binary(O::Fmax)),
        F64x2Ceil => (F64X2, Unary(O::Ceil)),
        F64x2Floor => (F64X2, Unary(O::Floor)),
        F64x2Trunc => (F64X2, Unary(O::Trunc)),
        F64x2Nearest => (F64X2, Unary(O::Nearest)),
        F64x2Abs => (F64X2, Unary(O::Fabs)),
        F64x2Neg => (F64X2, Unary(O::Fneg)),
        F64x2Sqrt => (F64X2, Unary(O::Sqrt)),
        F64x2Add => (F64X2, Binary(O::Fadd)),
        F64x2Sub => (F64X2, Binary(O::Fsub)),
        F64x2Mul => (F64X2, Binary(O::Fmul)),
        F64x2Div => (F64X2, Binary(O::Fdiv)),
        F64x2Min => (F64X2, Binary(O::Fmin)),
        F64x2Max => (F64X2, Binary(O::Fmax)),
        _ => return None,
    })
}

/// How a SIMD memory operator accesses memory.
#[derive(Clone, Copy)]
enum Access {
    /// `v128.load`.
    Load,
    /// `v128.load{8x8,16x4,32x2}_{s,u}`: eight bytes, widened by the given load.
    Extend(for<'a, 'b> fn(FuncInstBuilder<'a, 'b>, MemFlagsData, Value) -> Value),
    /// `v128.loadN_splat`: one lane of the vector type, copied to every lane.
    Splat(Type),
    /// `v128.loadN_zero`: lane 0 of the vector type, the other lanes zero.
    Zero(Type),
    /// `v128.loadN_lane`: one lane of the vector type replaced.
    LoadLane(Type, u8),
    /// `v128.store`.
    Store,
    /// `v128.storeN_lane`: one lane of the vector type.
    StoreLane(Type, u8),
}

/// Translates the SIMD loads and stores; false for other operators.
fn memory<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> bool {
    use Access::*;
    use Operator::*;
    let (memarg, access) = match *op {
        V128Load { memarg } => (memarg, Load),
        V128Load8x8S { memarg } => (memarg, Extend(|i, f, p| i.sload8x8(f, p, 0))),
        V128Load8x8U { memarg } => (memarg, Extend(|i, f, p| i.uload8x8(f, p, 0))),
        V128Load16x4S { memarg } => (memarg, Extend(|i, f, p| i.sload16x4(f, p, 0))),
        V128Load16x4U { memarg } => (memarg, Extend(|i, f, p| i.uload16x4(f, p, 0))),
        V128Load32x2S { memarg } => (memarg, Extend(|i, f, p| i.sload32x2(f, p, 0))),
        V128Load32x2U { memarg } => (memarg, Extend(|i, f, p| i.uload32x2(f, p, 0))),
        V128Load8Splat { memarg } => (memarg, Splat(I8X16)),
        V128Load16Splat { memarg } => (memarg, Splat(I16X8)),
        V128Load32Splat { memarg } => (memarg, Splat(I32X4)),
        V128Load64Splat { memarg } => (memarg, Splat(I64X2)),
        V128Load32Zero { memarg } => (memarg, Zero(I32X4)),
        V128Load64Zero { memarg } => (memarg, Zero(I64X2)),
        V128Load8Lane { memarg, lane } => (memarg, LoadLane(I8X16, lane)),
        V128Load16Lane { memarg, lane } => (memarg, LoadLane(I16X8, lane)),
        V128Load32Lane { memarg, lane } => (memarg, LoadLane(I32X4, lane)),
        V128Load64Lane { memarg, lane } => (memarg, LoadLane(I64X2, lane)),
        V128Store { memarg } => (memarg, Store),
        V128Store8Lane { memarg, lane } => (memarg, StoreLane(I8X16, lane)),
        V128Store16Lane { memarg, lane } => (memarg, StoreLane(I16X8, lane)),
        V128Store32Lane { memarg, lane } => (memarg, StoreLane(I32X4, lane)),
        V128Store64Lane { memarg, lane } => (memarg, StoreLane(I64X2, lane)),
        _ => return false,
    };
    let v = match access {
        Load => {
            let (addr, flags) = address(b, s, cx, &memarg, 16);
            b.ins().load(I8X16, flags, addr, 0)
        }
        Extend(load) => {
            let (addr, flags) = address(b, s, cx, &memarg, 8);
            load(b.ins(), flags, addr)
        }
        Splat(ty) | Zero(ty) => {
            let (addr, flags) = address(b, s, cx, &memarg, ty.lane_bits() / 8);
            let x = b.ins().load(ty.lane_type(), flags, addr, 0);
            match access {
                Splat(_) => b.ins().splat(ty, x),
                _ => b.ins().scalar_to_vector(ty, x),
            }
        }
        LoadLane(ty, lane) => {
            let v = s.pop1();
            let (addr, flags) = address(b, s, cx, &memarg, ty.lane_bits() / 8);
            let x = b.ins().load(ty.lane_type(), flags, addr, 0);
            let v = as_lanes(b, v, ty);
            b.ins().insertlane(v, x, lane)
        }
        Store => {
            let v = s.pop1();
            let (addr, flags) = address(b, s, cx, &memarg, 16);
            b.ins().store(flags, v, addr, 0);
            return true;
        }
        StoreLane(ty, lane) => {
            let v = s.pop1();
            let (addr, flags) = address(b, s, cx, &memarg, ty.lane_bits() / 8);
            let v = as_lanes(b, v, ty);
            let x = b.ins().extractlane(v, lane);
            b.ins().store(flags, x, addr, 0);
            return true;
        }
    };
    push(b, s, v);
    true
}

/// Pops the index operand and returns the address and flags of a `size`-byte access.
fn address<E: FuncEnvironment>(
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    cx: &mut Ctx<'_, E>,
    memarg: &MemArg,
    size: u32,
) -> (Value, MemFlagsData) {
    let index = s.pop1();
    cx.env
        .memory_address(b, cx.vmctx, memarg, index, size as u8)
}

/// Views vector `v` as lanes of `ty`; scalars are returned as they are.
pub(super) fn as_lanes(b: &mut FunctionBuilder<'_>, v: Value, ty: Type) -> Value {
    let from = b.func.dfg.value_type(v);
    if from == ty || !from.is_vector() {
        return v;
    }
    let little = MemFlagsData::new().with_endianness(Endianness::Little);
    b.ins().bitcast(ty, little, v)
}

/// Pushes `v`, as an `I8X16` if it is a vector.
pub(super) fn push(b: &mut FunctionBuilder<'_>, s: &mut FuncState, v: Value) {
    let v = as_lanes(b, v, I8X16);
    s.push1(v);
}

/// Pops one operand, viewed as lanes of `ty`, and emits `f` on it.
pub(super) fn unary(
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    ty: Type,
    f: impl FnOnce(&mut FunctionBuilder<'_>, Value) -> Value,
) -> Value {
    let x = s.pop1();
    let x = as_lanes(b, x, ty);
    f(b, x)
}

/// Pops two operands, vectors viewed as lanes of `ty`, and emits `f` on them in push
/// order.
pub(super) fn binary(
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    ty: Type,
    f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value,
) -> Value {
    let (x, y) = s.pop2();
    let (x, y) = (as_lanes(b, x, ty), as_lanes(b, y, ty));
    f(b, x, y)
}

/// The all-zeros vector of type `ty`.
pub(super) fn zero(b: &mut FunctionBuilder<'_>, ty: Type) -> Value {
    let c = b.func.dfg.constants.insert(vec![0; 16].into());
    b.ins().vconst(ty, c)
}

/// `ty.all_true`: 1 if no lane of `ty` is zero, as an i32.
fn all_true(b: &mut FunctionBuilder<'_>, s: &mut FuncState, ty: Type) -> Value {
    unary(b, s, ty, |b, x| {
        let t = b.ins().vall_true(x);
        b.ins().uextend(I32, t)
    })
}

/// `ty.bitmask`: the top bit of each lane of `ty`, lane 0 in bit 0, as an i32.
fn bitmask(b: &mut FunctionBuilder<'_>, s: &mut FuncState, ty: Type) -> Value {
    unary(b, s, ty, |b, x| b.ins().vhigh_bits(I32, x))
}

/// `ty.splat` of the scalar operand, reduced to the lane width first for i8 and i16.
fn splat(b: &mut FunctionBuilder<'_>, s: &mut FuncState, ty: Type) -> Value {
    let x = s.pop1();
    let x = if b.func.dfg.value_type(x) == ty.lane_type() {
        x
    } else {
        b.ins().ireduce(ty.lane_type(), x)
    };
    b.ins().splat(ty, x)
}

/// Lane `lane` of the vector operand viewed as `ty`; i8 and i16 lanes are extended to
/// i32, signed if `signed` is `Some(true)`.
fn extract_lane(
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    ty: Type,
    lane: u8,
    signed: Option<bool>,
) -> Value {
    let x = unary(b, s, ty, |b, v| b.ins().extractlane(v, lane));
    match signed {
        Some(true) => b.ins().sextend(I32, x),
        Some(false) => b.ins().uextend(I32, x),
        None => x,
    }
}

/// The vector operand viewed as `ty` with lane `lane` replaced by the scalar operand
/// (reduced to the lane width for i8 and i16).
fn replace_lane(b: &mut FunctionBuilder<'_>, s: &mut FuncState, ty: Type, lane: u8) -> Value {
    binary(b, s, ty, |b, v, x| {
        let x = if b.func.dfg.value_type(x) == ty.lane_type() {
            x
        } else {
            b.ins().ireduce(ty.lane_type(), x)
        };
        b.ins().insertlane(v, x, lane)
    })
}

/// `extadd_pairwise` of the operand viewed as `ty`: adjacent lanes widened and summed.
/// Widening the low and high halves of the same value is what x64 matches to `pmadd*`.
fn extadd_pairwise(
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    ty: Type,
    signed: bool,
) -> Value {
    unary(b, s, ty, |b, x| pairwise_sum(b, x, signed))
}

/// Adjacent lanes of `x` widened (signed or not) and summed.
pub(super) fn pairwise_sum(b: &mut FunctionBuilder<'_>, x: Value, signed: bool) -> Value {
    let (low, high) = if signed {
        (b.ins().swiden_low(x), b.ins().swiden_high(x))
    } else {
        (b.ins().uwiden_low(x), b.ins().uwiden_high(x))
    };
    b.ins().iadd_pairwise(low, high)
}

/// `extmul`: both operands viewed as `ty`, widened by `widen` (one of the
/// `[su]widen_{low,high}` opcodes) and multiplied.
fn extmul(b: &mut FunctionBuilder<'_>, s: &mut FuncState, ty: Type, widen: Opcode) -> Value {
    binary(b, s, ty, |b, x, y| {
        let mut widen = |v| {
            let (inst, dfg) = b.ins().Unary(widen, ty, v);
            dfg.first_result(inst)
        };
        let (x, y) = (widen(x), widen(y));
        b.ins().imul(x, y)
    })
}

/// Wasm `pmin` (`y < x ? y : x`) or `pmax` (`x < y ? y : x`) on lanes of `ty`, in the
/// form x64 lowers to `minp*`/`maxp*`.
pub(super) fn pseudo_min_max(
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    ty: Type,
    max: bool,
) -> Value {
    binary(b, s, ty, |b, x, y| {
        let mask = if max {
            b.ins().fcmp(FloatCC::LessThan, x, y)
        } else {
            b.ins().fcmp(FloatCC::LessThan, y, x)
        };
        let mask = as_lanes(b, mask, ty);
        b.ins().bitselect(mask, y, x)
    })
}

/// The sums of the products of adjacent signed lanes of `x` and `y`, in lanes twice
/// as wide (wrapping): the shape x64 matches to `pmaddwd` for i16 lanes.
pub(super) fn signed_dot(b: &mut FunctionBuilder<'_>, x: Value, y: Value) -> Value {
    let (xl, yl) = (b.ins().swiden_low(x), b.ins().swiden_low(y));
    let (xh, yh) = (b.ins().swiden_high(x), b.ins().swiden_high(y));
    let low = b.ins().imul(xl, yl);
    let high = b.ins().imul(xh, yh);
    b.ins().iadd_pairwise(low, high)
}

/// The two f64 lanes of `x` truncated to i32 with saturation (NaN to 0), signed or
/// unsigned, in the low lanes of an `I32X4` whose high lanes are zero.
pub(super) fn trunc_sat_zero(b: &mut FunctionBuilder<'_>, x: Value, signed: bool) -> Value {
    let zero = zero(b, I64X2);
    if signed {
        let wide = b.ins().fcvt_to_sint_sat(I64X2, x);
        b.ins().snarrow(wide, zero)
    } else {
        let wide = b.ins().fcvt_to_uint_sat(I64X2, x);
        b.ins().uunarrow(wide, zero)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CompilerOptions;
    use crate::func_environ::ModuleEnvironment;
    use cranelift_codegen::Context;
    use cranelift_codegen::control::ControlPlane;
    use cranelift_codegen::ir::{AbiParam, Function, Signature, UserFuncName};
    use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
    use cranelift_frontend::FunctionBuilderContext;
    use lazuli_environ::{MemoryPlan, ModuleInfo};
    use wasmparser::{MemArgTarget, V128, ValType};

    /// The host ISA with Lazuli's flags.
    fn host_isa() -> OwnedTargetIsa {
        crate::host_isa(crate::Tier::Optimized, &crate::IsaSettings::new(true)).expect("host ISA")
    }

    /// Builds a function that takes a vmctx and `params`, applies `op` to the
    /// parameters through the translator's dispatch order, and returns its result if
    /// `result` is given. Asserts that the SIMD translator (or, for `select`, the
    /// control translator) is the one that claims `op`, and the result's type.
    fn build(
        isa: &OwnedTargetIsa,
        guarded: bool,
        params: &[Type],
        result: Option<Type>,
        op: &Operator<'_>,
    ) -> Function {
        let module = ModuleInfo {
            memories: vec![MemoryPlan {
                minimum: 1,
                maximum: None,
                memory64: false,
                shared: false,
            }],
            ..ModuleInfo::default()
        };
        let options = CompilerOptions {
            guarded_memories: guarded,
            ..CompilerOptions::default()
        };
        let mut env = ModuleEnvironment::new(&module, &**isa, options);
        let mut sig = Signature::new(CallConv::SystemV);
        sig.params.push(AbiParam::new(I64));
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        sig.returns.extend(result.map(AbiParam::new));
        let mut func = Function::with_name_signature(UserFuncName::default(), sig);
        let mut fctx = FunctionBuilderContext::new();
        let mut fb = FunctionBuilder::new(&mut func, &mut fctx);
        let b = &mut fb;
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        b.seal_block(block);
        let args = b.block_params(block).to_vec();
        let mut state = FuncState::default();
        state.stack.extend_from_slice(&args[1..]);
        let mut cx = Ctx {
            env: &mut env,
            vmctx: args[0],
            locals: crate::translate::Locals::declare(b, Vec::new(), None),
            loops: 0,
            outer_loops: Vec::new(),
            osr: None,
        };
        let s = &mut state;
        let others = super::super::variables::translate(op, b, s, &mut cx)
            || super::super::calls::translate(op, b, s, &mut cx)
            || super::super::numeric::translate(op, b, s)
            || super::super::conversions::translate(op, b, s)
            || super::super::memory::translate(op, b, s, &mut cx);
        assert!(!others, "{op:?} claimed by another translator");
        let ours = match op {
            Operator::Select | Operator::TypedSelect { .. } => {
                super::super::control::translate(op, b, s, &mut cx) == Ok(true)
            }
            _ => translate(op, b, s, &mut cx),
        };
        assert!(ours, "{op:?} not handled");
        assert_eq!(s.stack.len(), usize::from(result.is_some()), "{op:?}");
        let results = s.stack.clone();
        for (&v, ty) in results.iter().zip(result) {
            assert_eq!(b.func.dfg.value_type(v), ty, "{op:?}");
        }
        b.ins().return_(&results);
        fb.finalize(isa.frontend_config());
        func
    }

    /// Compiles `func` for `isa`, returning the disassembly.
    fn compile(isa: &OwnedTargetIsa, func: Function) -> String {
        let mut ctx = Context::for_function(func);
        ctx.set_disasm(true);
        let code = ctx
            .compile(&**isa, &mut ControlPlane::default())
            .unwrap_or_else(|e| panic!("{:?}\n{}", e.inner, e.func));
        code.vcode.clone().unwrap_or_default()
    }

    /// For each of `ops`: builds it as [`build`] does, with guarded and with
    /// bounds-checked memories, verifies the function and compiles it for the host and
    /// for aarch64.
    fn check(params: &[Type], result: Option<Type>, ops: &[Operator<'_>]) {
        let aarch64 = crate::target_isa(
            "aarch64-unknown-linux-gnu",
            crate::Tier::Optimized,
            &crate::IsaSettings::new(true),
        )
        .expect("aarch64");
        for isa in [host_isa(), aarch64] {
            for op in ops {
                for guarded in [true, false] {
                    let func = build(&isa, guarded, params, result, op);
                    cranelift_codegen::verify_function(&func, isa.flags())
                        .unwrap_or_else(|e| panic!("{op:?}: {e}\n{func}"));
                    compile(&isa, func);
                }
            }
        }
    }

    const V: Type = I8X16;

    #[test]
    #[rustfmt::skip]
    fn every_simd_operator_verifies_and_compiles() {
        use Operator::*;
        let memarg = MemArg {
            align: 0,
            max_align: 4,
            offset: 16,
            target: MemArgTarget::Memory(0),
            ordering: None,
        };
        check(&[], Some(V), &[
            V128Const { value: V128::from(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10u128) },
        ]);
        check(&[I32], Some(V), &[
            V128Load { memarg }, V128Load8x8S { memarg }, V128Load8x8U { memarg },
            V128Load16x4S { memarg }, V128Load16x4U { memarg }, V128Load32x2S { memarg },
            V128Load32x2U { memarg }, V128Load8Splat { memarg }, V128Load16Splat { memarg },
            V128Load32Splat { memarg }, V128Load64Splat { memarg }, V128Load32Zero { memarg },
            V128Load64Zero { memarg },
            I8x16Splat, I16x8Splat, I32x4Splat,
        ]);
        check(&[I64], Some(V), &[I64x2Splat]);
        check(&[F32], Some(V), &[F32x4Splat]);
        check(&[F64], Some(V), &[F64x2Splat]);
        check(&[I32, V], Some(V), &[
            V128Load8Lane { memarg, lane: 15 }, V128Load16Lane { memarg, lane: 7 },
            V128Load32Lane { memarg, lane: 3 }, V128Load64Lane { memarg, lane: 1 },
        ]);
        check(&[I32, V], None, &[
            V128Store { memarg }, V128Store8Lane { memarg, lane: 15 },
            V128Store16Lane { memarg, lane: 7 }, V128Store32Lane { memarg, lane: 3 },
            V128Store64Lane { memarg, lane: 1 },
        ]);
        check(&[V], Some(I32), &[
            I8x16ExtractLaneS { lane: 15 }, I8x16ExtractLaneU { lane: 0 },
            I16x8ExtractLaneS { lane: 7 }, I16x8ExtractLaneU { lane: 1 },
            I32x4ExtractLane { lane: 3 }, V128AnyTrue, I8x16AllTrue, I16x8AllTrue,
            I32x4AllTrue, I64x2AllTrue, I8x16Bitmask, I16x8Bitmask, I32x4Bitmask,
            I64x2Bitmask,
        ]);
        check(&[V], Some(I64), &[I64x2ExtractLane { lane: 1 }]);
        check(&[V], Some(F32), &[F32x4ExtractLane { lane: 2 }]);
        check(&[V], Some(F64), &[F64x2ExtractLane { lane: 1 }]);
        check(&[V, I32], Some(V), &[
            I8x16ReplaceLane { lane: 15 }, I16x8ReplaceLane { lane: 7 },
            I32x4ReplaceLane { lane: 3 }, I8x16Shl, I8x16ShrS, I8x16ShrU, I16x8Shl, I16x8ShrS,
            I16x8ShrU, I32x4Shl, I32x4ShrS, I32x4ShrU, I64x2Shl, I64x2ShrS, I64x2ShrU,
        ]);
        check(&[V, I64], Some(V), &[I64x2ReplaceLane { lane: 1 }]);
        check(&[V, F32], Some(V), &[F32x4ReplaceLane { lane: 0 }]);
        check(&[V, F64], Some(V), &[F64x2ReplaceLane { lane: 0 }]);
        check(&[V, V, V], Some(V), &[V128Bitselect]);
        check(&[V, V, I32], Some(V), &[Select, TypedSelect { ty: ValType::V128 }]);
        check(&[V], Some(V), &[
            V128Not, I8x16Abs, I8x16Neg, I8x16Popcnt, I16x8Abs, I16x8Neg, I32x4Abs, I32x4Neg,
            I64x2Abs, I64x2Neg,
            I16x8ExtendLowI8x16S, I16x8ExtendHighI8x16S, I16x8ExtendLowI8x16U,
            I16x8ExtendHighI8x16U, I32x4ExtendLowI16x8S, I32x4ExtendHighI16x8S,
            I32x4ExtendLowI16x8U, I32x4ExtendHighI16x8U, I64x2ExtendLowI32x4S,
            I64x2ExtendHighI32x4S, I64x2ExtendLowI32x4U, I64x2ExtendHighI32x4U,
            I16x8ExtAddPairwiseI8x16S, I16x8ExtAddPairwiseI8x16U, I32x4ExtAddPairwiseI16x8S,
            I32x4ExtAddPairwiseI16x8U,
            F32x4Ceil, F32x4Floor, F32x4Trunc, F32x4Nearest, F32x4Abs, F32x4Neg, F32x4Sqrt,
            F64x2Ceil, F64x2Floor, F64x2Trunc, F64x2Nearest, F64x2Abs, F64x2Neg, F64x2Sqrt,
            I32x4TruncSatF32x4S, I32x4TruncSatF32x4U, F32x4ConvertI32x4S, F32x4ConvertI32x4U,
            I32x4TruncSatF64x2SZero, I32x4TruncSatF64x2UZero, F64x2ConvertLowI32x4S,
            F64x2ConvertLowI32x4U, F32x4DemoteF64x2Zero, F64x2PromoteLowF32x4,
        ]);
        check(&[V, V], Some(V), &[
            I8x16Shuffle { lanes: [0, 17, 2, 19, 4, 21, 6, 23, 8, 25, 10, 27, 12, 29, 14, 31] },
            I8x16Swizzle, V128And, V128AndNot, V128Or, V128Xor,
            I8x16Eq, I8x16Ne, I8x16LtS, I8x16LtU, I8x16GtS, I8x16GtU, I8x16LeS, I8x16LeU,
            I8x16GeS, I8x16GeU,
            I16x8Eq, I16x8Ne, I16x8LtS, I16x8LtU, I16x8GtS, I16x8GtU, I16x8LeS, I16x8LeU,
            I16x8GeS, I16x8GeU,
            I32x4Eq, I32x4Ne, I32x4LtS, I32x4LtU, I32x4GtS, I32x4GtU, I32x4LeS, I32x4LeU,
            I32x4GeS, I32x4GeU,
            I64x2Eq, I64x2Ne, I64x2LtS, I64x2GtS, I64x2LeS, I64x2GeS,
            F32x4Eq, F32x4Ne, F32x4Lt, F32x4Gt, F32x4Le, F32x4Ge,
            F64x2Eq, F64x2Ne, F64x2Lt, F64x2Gt, F64x2Le, F64x2Ge,
            I8x16NarrowI16x8S, I8x16NarrowI16x8U, I16x8NarrowI32x4S, I16x8NarrowI32x4U,
            I8x16Add, I8x16AddSatS, I8x16AddSatU, I8x16Sub, I8x16SubSatS, I8x16SubSatU,
            I8x16MinS, I8x16MinU, I8x16MaxS, I8x16MaxU, I8x16AvgrU,
            I16x8Add, I16x8AddSatS, I16x8AddSatU, I16x8Sub, I16x8SubSatS, I16x8SubSatU,
            I16x8Mul, I16x8MinS, I16x8MinU, I16x8MaxS, I16x8MaxU, I16x8AvgrU,
            I16x8Q15MulrSatS,
            I16x8ExtMulLowI8x16S, I16x8ExtMulHighI8x16S, I16x8ExtMulLowI8x16U,
            I16x8ExtMulHighI8x16U,
            I32x4Add, I32x4Sub, I32x4Mul, I32x4MinS, I32x4MinU, I32x4MaxS, I32x4MaxU,
            I32x4DotI16x8S,
            I32x4ExtMulLowI16x8S, I32x4ExtMulHighI16x8S, I32x4ExtMulLowI16x8U,
            I32x4ExtMulHighI16x8U,
            I64x2Add, I64x2Sub, I64x2Mul,
            I64x2ExtMulLowI32x4S, I64x2ExtMulHighI32x4S, I64x2ExtMulLowI32x4U,
            I64x2ExtMulHighI32x4U,
            F32x4Add, F32x4Sub, F32x4Mul, F32x4Div, F32x4Min, F32x4Max, F32x4PMin, F32x4PMax,
            F64x2Add, F64x2Sub, F64x2Mul, F64x2Div, F64x2Min, F64x2Max, F64x2PMin, F64x2PMax,
        ]);
    }

    /// The host ISA that `cranelift_native` detects has the SSE4.1 (and, on this
    /// machine, AVX/AVX2) features the SIMD lowerings want.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn host_isa_has_sse41() {
        let isa = host_isa();
        let flags = isa.isa_flags();
        for f in &flags {
            println!("{f}");
        }
        let on = |name: &str| {
            flags
                .iter()
                .any(|f| f.name == name && f.as_bool() == Some(true))
        };
        assert!(on("has_sse41"), "SSE4.1 not detected");
    }

    /// `i32x4.add` compiles to one vector add.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn i32x4_add_is_vector_code() {
        let isa = host_isa();
        let func = build(&isa, true, &[V, V], Some(V), &Operator::I32x4Add);
        println!("{func}");
        let disasm = compile(&isa, func);
        println!("{disasm}");
        assert!(disasm.contains("paddd"), "{disasm}");
    }
}
