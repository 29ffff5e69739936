//! Relaxed SIMD: the operators whose results the spec lets vary by platform.
//!
//! Each has two translations. The deterministic one gives the same result on
//! every platform (the spec's deterministic profile: `swizzle`'s zeroing, saturating
//! truncation, fused multiply-add, bit-wise lane select, Wasm `min`/`max`, signed
//! dot products). The native one, used on x86-64 unless
//! [`FuncEnvironment::relaxed_simd_deterministic`] asks otherwise, is one machine
//! instruction where x86-64 has it: `pshufb`, `cvttps2dq`/`cvttpd2dq`, `vfmadd*`
//! (with FMA; otherwise an unfused multiply and add), `blendv*`, `minps`/`maxps`,
//! `pmulhrsw`, `pmaddubsw`. The unsigned truncations have no such instruction and
//! are deterministic on every platform; other targets always get the
//! deterministic forms.

use super::Ctx;
use super::simd::{
    as_lanes, binary, pairwise_sum, pseudo_min_max, push, signed_dot, trunc_sat_zero, unary, zero,
};
use super::state::FuncState;
use crate::func_environ::FuncEnvironment;
use cranelift_codegen::ir::types::*;
use cranelift_codegen::ir::{InstBuilder, Type, Value};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::FunctionBuilder;
use target_lexicon::Architecture;
use wasmparser::Operator;

/// Which native forms a translation may use.
#[derive(Clone, Copy)]
struct Native {
    /// x86-64 and not deterministic: the `x86_*` instructions the ISA can lower.
    x86: bool,
    pshufb: bool,
    pmulhrsw: bool,
    pmaddubsw: bool,
    /// Multiply-adds may be fused: always when deterministic (the profile fuses),
    /// otherwise where the CPU has FMA.
    fuse: bool,
}

impl Native {
    fn of(isa: &dyn TargetIsa, deterministic: bool) -> Native {
        let x86 = !deterministic && matches!(isa.triple().architecture, Architecture::X86_64);
        Native {
            x86,
            pshufb: x86 && isa.has_x86_pshufb_lowering(),
            pmulhrsw: x86 && isa.has_x86_pmulhrsw_lowering(),
            pmaddubsw: x86 && isa.has_x86_pmaddubsw_lowering(),
            fuse: deterministic || isa.has_native_fma(),
        }
    }
}

/// Translates `op` if it is a relaxed SIMD operator; returns false otherwise.
pub(super) fn translate<E: FuncEnvironment>(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    cx: &mut Ctx<'_, E>,
) -> bool {
    use Operator::*;
    // Only relaxed and unsupported operators reach this last translator.
    let n = Native::of(cx.env.isa(), cx.env.relaxed_simd_deterministic());
    let v = match *op {
        I8x16RelaxedSwizzle => binary(b, s, I8X16, |b, x, y| match n.pshufb {
            true => b.ins().x86_pshufb(x, y),
            false => b.ins().swizzle(x, y),
        }),
        I32x4RelaxedTruncF32x4S => unary(b, s, F32X4, |b, x| match n.x86 {
            true => b.ins().x86_cvtt2dq(I32X4, x),
            false => b.ins().fcvt_to_sint_sat(I32X4, x),
        }),
        I32x4RelaxedTruncF32x4U => unary(b, s, F32X4, |b, x| b.ins().fcvt_to_uint_sat(I32X4, x)),
        I32x4RelaxedTruncF64x2SZero => unary(b, s, F64X2, |b, x| match n.x86 {
            // The shape x64 matches to one `cvttpd2dq`.
            true => {
                let wide = b.ins().x86_cvtt2dq(I64X2, x);
                let zero = zero(b, I64X2);
                b.ins().snarrow(wide, zero)
            }
            false => trunc_sat_zero(b, x, true),
        }),
        I32x4RelaxedTruncF64x2UZero => unary(b, s, F64X2, |b, x| trunc_sat_zero(b, x, false)),
        F32x4RelaxedMadd => multiply_add(b, s, F32X4, n, false),
        F32x4RelaxedNmadd => multiply_add(b, s, F32X4, n, true),
        F64x2RelaxedMadd => multiply_add(b, s, F64X2, n, false),
        F64x2RelaxedNmadd => multiply_add(b, s, F64X2, n, true),
        I8x16RelaxedLaneselect => lane_select(b, s, I8X16, n, cx.env.isa()),
        I16x8RelaxedLaneselect => lane_select(b, s, I16X8, n, cx.env.isa()),
        I32x4RelaxedLaneselect => lane_select(b, s, I32X4, n, cx.env.isa()),
        I64x2RelaxedLaneselect => lane_select(b, s, I64X2, n, cx.env.isa()),
        F32x4RelaxedMin => min_max(b, s, F32X4, n, false),
        F32x4RelaxedMax => min_max(b, s, F32X4, n, true),
        F64x2RelaxedMin => min_max(b, s, F64X2, n, false),
        F64x2RelaxedMax => min_max(b, s, F64X2, n, true),
        I16x8RelaxedQ15mulrS => binary(b, s, I16X8, |b, x, y| match n.pmulhrsw {
            true => b.ins().x86_pmulhrsw(x, y),
            false => b.ins().sqmul_round_sat(x, y),
        }),
        I16x8RelaxedDotI8x16I7x16S => binary(b, s, I8X16, |b, x, y| dot_i7(b, n, x, y)),
        I32x4RelaxedDotI8x16I7x16AddS => {
            let (x, y, acc) = s.pop3();
            let (x, y) = (as_lanes(b, x, I8X16), as_lanes(b, y, I8X16));
            let acc = as_lanes(b, acc, I32X4);
            let dot = dot_i7(b, n, x, y);
            let sum = pairwise_sum(b, dot, true);
            b.ins().iadd(sum, acc)
        }
        _ => return false,
    };
    push(b, s, v);
    true
}

/// `a * b + c`, or `-(a * b) + c` when `negate`, on lanes of `ty`: fused where `n`
/// allows, otherwise rounded after the multiply.
fn multiply_add(
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    ty: Type,
    n: Native,
    negate: bool,
) -> Value {
    let (x, y, c) = s.pop3();
    let (x, y, c) = (as_lanes(b, x, ty), as_lanes(b, y, ty), as_lanes(b, c, ty));
    let x = if negate { b.ins().fneg(x) } else { x };
    if n.fuse {
        b.ins().fma(x, y, c)
    } else {
        let product = b.ins().fmul(x, y);
        b.ins().fadd(product, c)
    }
}

/// `laneselect(x, y, mask)`: natively `blendv`, which looks at the top bit of each
/// lane of the mask, where the ISA has it for `ty`; otherwise bit by bit.
fn lane_select(
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    ty: Type,
    n: Native,
    isa: &dyn TargetIsa,
) -> Value {
    let (x, y, mask) = s.pop3();
    let (x, y, mask) = (
        as_lanes(b, x, ty),
        as_lanes(b, y, ty),
        as_lanes(b, mask, ty),
    );
    if n.x86 && isa.has_blendv_lowering(ty) {
        b.ins().blendv(mask, x, y)
    } else {
        b.ins().bitselect(mask, x, y)
    }
}

/// `min`/`max`: natively Wasm's `pmin`/`pmax` (one `minp*`/`maxp*`, which return
/// the second operand for NaNs and equal zeros), otherwise Wasm's `min`/`max`.
fn min_max(
    b: &mut FunctionBuilder<'_>,
    s: &mut FuncState,
    ty: Type,
    n: Native,
    max: bool,
) -> Value {
    if n.x86 {
        return pseudo_min_max(b, s, ty, max);
    }
    binary(b, s, ty, |b, x, y| match max {
        true => b.ins().fmax(x, y),
        false => b.ins().fmin(x, y),
    })
}

/// The i16 sums of products of adjacent i8 lanes of `x` with the 7-bit lanes of `y`:
/// natively `pmaddubsw` (which reads `y` as unsigned and saturates), otherwise
/// both signed and wrapping.
fn dot_i7(b: &mut FunctionBuilder<'_>, n: Native, x: Value, y: Value) -> Value {
    if n.pmaddubsw {
        b.ins().x86_pmaddubsw(x, y)
    } else {
        signed_dot(b, x, y)
    }
}
