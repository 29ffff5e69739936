//! Numeric operators: constants, integer and float arithmetic, comparisons, bit
//! operations and the in-type sign extensions of i32, i64, f32 and f64. Conversions
//! between value types live in `conversions`.
//!
//! Cranelift's instructions already carry the Wasm semantics these operators need:
//! `sdiv`/`udiv`/`srem`/`urem` trap on a zero divisor (`INTEGER_DIVISION_BY_ZERO`),
//! `sdiv` traps on `MIN / -1` (`INTEGER_OVERFLOW`) while `srem` returns 0 for it,
//! shifts and rotates take the count modulo the bit width, `clz`/`ctz` of zero give
//! the bit width, `fmin`/`fmax` propagate NaN and order -0 below +0, and `nearest`
//! rounds half to even.

use super::state::FuncState;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::types::{I8, I16, I32, I64};
use cranelift_codegen::ir::{InstBuilder, Type, Value};
use cranelift_frontend::{FuncInstBuilder, FunctionBuilder};
use wasmparser::Operator;

/// Translates `op` if it is a numeric operator; returns false for any other operator.
pub(super) fn translate(
    op: &Operator<'_>,
    builder: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
) -> bool {
    use Operator::*;
    let (b, s) = (builder, state);
    let value = match *op {
        // The builder masks the sign-extended immediate to the type's width.
        I32Const { value } => b.ins().iconst(I32, i64::from(value)),
        I64Const { value } => b.ins().iconst(I64, value),
        F32Const { value } => b.ins().f32const(Ieee32::with_bits(value.bits())),
        F64Const { value } => b.ins().f64const(Ieee64::with_bits(value.bits())),

        I32Eqz | I64Eqz => {
            let c = unary(b, s, |i, x| i.icmp_imm_u(IntCC::Equal, x, 0));
            b.ins().uextend(I32, c)
        }
        I32Eq | I64Eq => icmp(b, s, IntCC::Equal),
        I32Ne | I64Ne => icmp(b, s, IntCC::NotEqual),
        I32LtS | I64LtS => icmp(b, s, IntCC::SignedLessThan),
        I32LtU | I64LtU => icmp(b, s, IntCC::UnsignedLessThan),
        I32GtS | I64GtS => icmp(b, s, IntCC::SignedGreaterThan),
        I32GtU | I64GtU => icmp(b, s, IntCC::UnsignedGreaterThan),
        I32LeS | I64LeS => icmp(b, s, IntCC::SignedLessThanOrEqual),
        I32LeU | I64LeU => icmp(b, s, IntCC::UnsignedLessThanOrEqual),
        I32GeS | I64GeS => icmp(b, s, IntCC::SignedGreaterThanOrEqual),
        I32GeU | I64GeU => icmp(b, s, IntCC::UnsignedGreaterThanOrEqual),

        // Ordered comparisons are false on NaN; `NotEqual` (unordered or unequal) is true.
        F32Eq | F64Eq => fcmp(b, s, FloatCC::Equal),
        F32Ne | F64Ne => fcmp(b, s, FloatCC::NotEqual),
        F32Lt | F64Lt => fcmp(b, s, FloatCC::LessThan),
        F32Gt | F64Gt => fcmp(b, s, FloatCC::GreaterThan),
        F32Le | F64Le => fcmp(b, s, FloatCC::LessThanOrEqual),
        F32Ge | F64Ge => fcmp(b, s, FloatCC::GreaterThanOrEqual),

        I32Clz | I64Clz => unary(b, s, |i, x| i.clz(x)),
        I32Ctz | I64Ctz => unary(b, s, |i, x| i.ctz(x)),
        I32Popcnt | I64Popcnt => unary(b, s, |i, x| i.popcnt(x)),
        I32Add | I64Add => binary(b, s, |i, x, y| i.iadd(x, y)),
        I32Sub | I64Sub => binary(b, s, |i, x, y| i.isub(x, y)),
        I32Mul | I64Mul => binary(b, s, |i, x, y| i.imul(x, y)),
        I32DivS | I64DivS => binary(b, s, |i, x, y| i.sdiv(x, y)),
        I32DivU | I64DivU => binary(b, s, |i, x, y| i.udiv(x, y)),
        I32RemS | I64RemS => binary(b, s, |i, x, y| i.srem(x, y)),
        I32RemU | I64RemU => binary(b, s, |i, x, y| i.urem(x, y)),
        I32And | I64And => binary(b, s, |i, x, y| i.band(x, y)),
        I32Or | I64Or => binary(b, s, |i, x, y| i.bor(x, y)),
        I32Xor | I64Xor => binary(b, s, |i, x, y| i.bxor(x, y)),
        I32Shl | I64Shl => binary(b, s, |i, x, y| i.ishl(x, y)),
        I32ShrS | I64ShrS => binary(b, s, |i, x, y| i.sshr(x, y)),
        I32ShrU | I64ShrU => binary(b, s, |i, x, y| i.ushr(x, y)),
        I32Rotl | I64Rotl => binary(b, s, |i, x, y| i.rotl(x, y)),
        I32Rotr | I64Rotr => binary(b, s, |i, x, y| i.rotr(x, y)),

        I32Extend8S => sign_extend(b, s, I8, I32),
        I32Extend16S => sign_extend(b, s, I16, I32),
        I64Extend8S => sign_extend(b, s, I8, I64),
        I64Extend16S => sign_extend(b, s, I16, I64),
        I64Extend32S => sign_extend(b, s, I32, I64),

        F32Abs | F64Abs => unary(b, s, |i, x| i.fabs(x)),
        F32Neg | F64Neg => unary(b, s, |i, x| i.fneg(x)),
        F32Ceil | F64Ceil => unary(b, s, |i, x| i.ceil(x)),
        F32Floor | F64Floor => unary(b, s, |i, x| i.floor(x)),
        F32Trunc | F64Trunc => unary(b, s, |i, x| i.trunc(x)),
        F32Nearest | F64Nearest => unary(b, s, |i, x| i.nearest(x)),
        F32Sqrt | F64Sqrt => unary(b, s, |i, x| i.sqrt(x)),
        F32Add | F64Add => binary(b, s, |i, x, y| i.fadd(x, y)),
        F32Sub | F64Sub => binary(b, s, |i, x, y| i.fsub(x, y)),
        F32Mul | F64Mul => binary(b, s, |i, x, y| i.fmul(x, y)),
        F32Div | F64Div => binary(b, s, |i, x, y| i.fdiv(x, y)),
        F32Min | F64Min => binary(b, s, |i, x, y| i.fmin(x, y)),
        F32Max | F64Max => binary(b, s, |i, x, y| i.fmax(x, y)),
        F32Copysign | F64Copysign => binary(b, s, |i, x, y| i.fcopysign(x, y)),
        _ => return false,
    };
    s.push1(value);
    true
}

/// Pops one operand and emits `f` on it.
fn unary(
    builder: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    f: impl FnOnce(FuncInstBuilder<'_, '_>, Value) -> Value,
) -> Value {
    let x = state.pop1();
    f(builder.ins(), x)
}

/// Pops two operands and emits `f` on them in push order.
fn binary(
    builder: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    f: impl FnOnce(FuncInstBuilder<'_, '_>, Value, Value) -> Value,
) -> Value {
    let (x, y) = state.pop2();
    f(builder.ins(), x, y)
}

/// Integer comparison of the top two operands, as a Wasm i32 (`icmp` yields an i8).
fn icmp(builder: &mut FunctionBuilder<'_>, state: &mut FuncState, cc: IntCC) -> Value {
    let c = binary(builder, state, |i, x, y| i.icmp(cc, x, y));
    builder.ins().uextend(I32, c)
}

/// Float comparison of the top two operands, as a Wasm i32 (`fcmp` yields an i8).
fn fcmp(builder: &mut FunctionBuilder<'_>, state: &mut FuncState, cc: FloatCC) -> Value {
    let c = binary(builder, state, |i, x, y| i.fcmp(cc, x, y));
    builder.ins().uextend(I32, c)
}

/// Sign-extends the low `narrow` bits of the top operand to the full `wide` type.
fn sign_extend(
    builder: &mut FunctionBuilder<'_>,
    state: &mut FuncState,
    narrow: Type,
    wide: Type,
) -> Value {
    let low = unary(builder, state, |i, x| i.ireduce(narrow, x));
    builder.ins().sextend(wide, low)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use cranelift_codegen::control::ControlPlane;
    use cranelift_codegen::ir::types::{F32, F64};
    use cranelift_codegen::ir::{AbiParam, Function, Signature, UserFuncName};
    use cranelift_codegen::isa::CallConv;
    use cranelift_codegen::{Context, settings};
    use cranelift_frontend::FunctionBuilderContext;

    /// The signature of `translate` in this module and its siblings.
    pub(crate) type Translate = fn(&Operator<'_>, &mut FunctionBuilder<'_>, &mut FuncState) -> bool;

    /// For each of `ops`: builds a function that applies it to parameters of types
    /// `params` and returns its result, asserting that `ours` handles it, `theirs`
    /// does not, and the result has type `result`; then verifies the function and
    /// compiles it for the host.
    pub(crate) fn check(
        ours: Translate,
        theirs: Translate,
        params: &[Type],
        result: Type,
        ops: &[Operator<'_>],
    ) {
        let flags = settings::Flags::new(settings::builder());
        let isa = cranelift_native::builder()
            .expect("host ISA")
            .finish(flags.clone())
            .expect("host ISA flags");
        for op in ops {
            let mut sig = Signature::new(CallConv::SystemV);
            sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
            sig.returns.push(AbiParam::new(result));
            let mut func = Function::with_name_signature(UserFuncName::default(), sig);
            let mut fctx = FunctionBuilderContext::new();
            let mut b = FunctionBuilder::new(&mut func, &mut fctx);
            let block = b.create_block();
            b.append_block_params_for_function_params(block);
            b.switch_to_block(block);
            b.seal_block(block);
            let mut state = FuncState::default();
            state.stack.extend_from_slice(b.block_params(block));
            assert!(!theirs(op, &mut b, &mut state), "{op:?} claimed twice");
            assert!(ours(op, &mut b, &mut state), "{op:?} not handled");
            assert_eq!(state.stack.len(), 1, "{op:?} must leave one value");
            let v = state.pop1();
            assert_eq!(b.func.dfg.value_type(v), result, "{op:?}");
            b.ins().return_(&[v]);
            b.finalize(isa.frontend_config());

            cranelift_codegen::verify_function(&func, &flags)
                .unwrap_or_else(|e| panic!("{op:?}: {e}\n{func}"));
            Context::for_function(func)
                .compile(&*isa, &mut ControlPlane::default())
                .unwrap_or_else(|e| panic!("{op:?}: {:?}", e.inner));
        }
    }

    #[test]
    #[rustfmt::skip]
    fn every_numeric_operator_verifies_and_compiles() {
        use Operator::*;
        let check = |params: &[Type], result, ops: &[Operator<'_>]| {
            check(translate, super::super::conversions::translate, params, result, ops);
        };
        check(&[], I32, &[I32Const { value: -1 }, I32Const { value: i32::MIN }]);
        check(&[], I64, &[I64Const { value: -1 }]);
        check(&[], F32, &[F32Const { value: (-0.5f32).into() }]);
        check(&[], F64, &[F64Const { value: f64::NAN.into() }]);
        check(&[I32], I32, &[I32Eqz]);
        check(&[I64], I32, &[I64Eqz]);
        check(&[I32, I32], I32, &[
            I32Eq, I32Ne, I32LtS, I32LtU, I32GtS, I32GtU, I32LeS, I32LeU, I32GeS, I32GeU,
        ]);
        check(&[I64, I64], I32, &[
            I64Eq, I64Ne, I64LtS, I64LtU, I64GtS, I64GtU, I64LeS, I64LeU, I64GeS, I64GeU,
        ]);
        check(&[F32, F32], I32, &[F32Eq, F32Ne, F32Lt, F32Gt, F32Le, F32Ge]);
        check(&[F64, F64], I32, &[F64Eq, F64Ne, F64Lt, F64Gt, F64Le, F64Ge]);
        check(&[I32], I32, &[I32Clz, I32Ctz, I32Popcnt, I32Extend8S, I32Extend16S]);
        check(&[I64], I64, &[
            I64Clz, I64Ctz, I64Popcnt, I64Extend8S, I64Extend16S, I64Extend32S,
        ]);
        check(&[I32, I32], I32, &[
            I32Add, I32Sub, I32Mul, I32DivS, I32DivU, I32RemS, I32RemU, I32And, I32Or, I32Xor,
            I32Shl, I32ShrS, I32ShrU, I32Rotl, I32Rotr,
        ]);
        check(&[I64, I64], I64, &[
            I64Add, I64Sub, I64Mul, I64DivS, I64DivU, I64RemS, I64RemU, I64And, I64Or, I64Xor,
            I64Shl, I64ShrS, I64ShrU, I64Rotl, I64Rotr,
        ]);
        check(&[F32], F32, &[F32Abs, F32Neg, F32Ceil, F32Floor, F32Trunc, F32Nearest, F32Sqrt]);
        check(&[F64], F64, &[F64Abs, F64Neg, F64Ceil, F64Floor, F64Trunc, F64Nearest, F64Sqrt]);
        check(&[F32, F32], F32, &[F32Add, F32Sub, F32Mul, F32Div, F32Min, F32Max, F32Copysign]);
        check(&[F64, F64], F64, &[F64Add, F64Sub, F64Mul, F64Div, F64Min, F64Max, F64Copysign]);
    }
}
