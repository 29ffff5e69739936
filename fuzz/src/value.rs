//! Values and traps in a form both runtimes convert to, compared bit for bit.

use lazuli::{Trap, ValType};
use wasmi::TrapCode;

/// A Wasm value; floats as bits, references only as null or not (their
/// identities are not comparable across runtimes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    FuncRef { null: bool },
    ExternRef { null: bool },
}

/// The argument sets every exported function is called with.
pub const ARGUMENT_SETS: usize = 4;

/// Argument `index` of set `set` for a parameter of type `ty`: all zeros, all
/// ones, all -1/maximum, and a mix of edge values that varies with the position.
pub fn argument(ty: ValType, set: usize, index: usize) -> Value {
    const I32S: [i32; 6] = [0, 1, -1, i32::MIN, i32::MAX, 0x8000];
    const I64S: [i64; 6] = [0, 1, -1, i64::MIN, i64::MAX, 1 << 32];
    const F32S: [f32; 6] = [0.0, 1.0, -1.0, f32::MAX, -0.0, f32::INFINITY];
    const F64S: [f64; 6] = [0.0, 1.0, -1.0, f64::MIN, -0.0, f64::NEG_INFINITY];
    const V128S: [u128; 6] = [
        0,
        1,
        u128::MAX,
        1 << 127,
        0x7fff_ffff,
        0x0102_0304_0506_0708,
    ];
    let pick = if set < 3 { set } else { 3 + index % 3 };
    match ty {
        ValType::I32 => Value::I32(I32S[pick]),
        ValType::I64 => Value::I64(I64S[pick]),
        ValType::F32 => Value::F32(F32S[pick].to_bits()),
        ValType::F64 => Value::F64(F64S[pick].to_bits()),
        ValType::V128 => Value::V128(V128S[pick]),
        ValType::Ref(r) if r.heap_type().is_func() => Value::FuncRef { null: true },
        ValType::Ref(_) => Value::ExternRef { null: true },
    }
}

pub fn from_lazuli(v: &lazuli::Val) -> Value {
    match *v {
        lazuli::Val::I32(x) => Value::I32(x),
        lazuli::Val::I64(x) => Value::I64(x),
        lazuli::Val::F32(x) => Value::F32(x),
        lazuli::Val::F64(x) => Value::F64(x),
        lazuli::Val::V128(x) => Value::V128(x),
        lazuli::Val::FuncRef(f) => Value::FuncRef { null: f.is_none() },
        lazuli::Val::ExternRef(e) => Value::ExternRef { null: e.is_none() },
    }
}

/// The Lazuli value of an argument (references are always null).
pub fn to_lazuli(v: Value) -> lazuli::Val {
    match v {
        Value::I32(x) => lazuli::Val::I32(x),
        Value::I64(x) => lazuli::Val::I64(x),
        Value::F32(x) => lazuli::Val::F32(x),
        Value::F64(x) => lazuli::Val::F64(x),
        Value::V128(x) => lazuli::Val::V128(x),
        Value::FuncRef { .. } => lazuli::Val::FuncRef(None),
        Value::ExternRef { .. } => lazuli::Val::ExternRef(None),
    }
}

pub fn from_wasmi(v: &wasmi::Val) -> Value {
    match v {
        wasmi::Val::I32(x) => Value::I32(*x),
        wasmi::Val::I64(x) => Value::I64(*x),
        wasmi::Val::F32(x) => Value::F32(x.to_bits()),
        wasmi::Val::F64(x) => Value::F64(x.to_bits()),
        wasmi::Val::V128(x) => Value::V128(x.as_u128()),
        wasmi::Val::FuncRef(f) => Value::FuncRef { null: f.is_null() },
        wasmi::Val::ExternRef(e) => Value::ExternRef { null: e.is_null() },
    }
}

/// The wasmi value of an argument (references are always null).
pub fn to_wasmi(v: Value) -> wasmi::Val {
    match v {
        Value::I32(x) => wasmi::Val::I32(x),
        Value::I64(x) => wasmi::Val::I64(x),
        Value::F32(x) => wasmi::Val::F32(wasmi::F32::from_bits(x)),
        Value::F64(x) => wasmi::Val::F64(wasmi::F64::from_bits(x)),
        Value::V128(x) => wasmi::Val::V128(x.into()),
        Value::FuncRef { .. } => wasmi::Val::FuncRef(wasmi::Nullable::Null),
        Value::ExternRef { .. } => wasmi::Val::ExternRef(wasmi::Nullable::Null),
    }
}

/// The Lazuli type of a wasmi value type.
pub fn lazuli_type(ty: wasmi::ValType) -> ValType {
    match ty {
        wasmi::ValType::I32 => ValType::I32,
        wasmi::ValType::I64 => ValType::I64,
        wasmi::ValType::F32 => ValType::F32,
        wasmi::ValType::F64 => ValType::F64,
        wasmi::ValType::V128 => ValType::V128,
        wasmi::ValType::FuncRef => ValType::FUNCREF,
        wasmi::ValType::ExternRef => ValType::EXTERNREF,
    }
}

/// Why a run did not produce values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A Wasm trap, of the kind both runtimes know.
    Trap(Trap),
    /// wasmi ran out of fuel: nothing after this is comparable.
    OutOfFuel,
    /// Any other error (a link or compile error, a trap kind wasmi has and Lazuli
    /// has not), as its message.
    Other(String),
}

impl Failure {
    /// Whether the two runtimes' stack limits, which differ, decided this.
    pub fn is_stack_exhaustion(&self) -> bool {
        matches!(self, Failure::Trap(Trap::StackOverflow))
    }
}

pub fn wasmi_failure(e: &wasmi::Error) -> Failure {
    let Some(code) = e.as_trap_code() else {
        return Failure::Other(e.to_string());
    };
    let trap = match code {
        TrapCode::UnreachableCodeReached => Trap::UnreachableCodeReached,
        TrapCode::MemoryOutOfBounds => Trap::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds => Trap::TableOutOfBounds,
        TrapCode::IndirectCallToNull => Trap::IndirectCallToNull,
        TrapCode::IntegerDivisionByZero => Trap::IntegerDivisionByZero,
        TrapCode::IntegerOverflow => Trap::IntegerOverflow,
        TrapCode::BadConversionToInteger => Trap::BadConversionToInteger,
        TrapCode::StackOverflow => Trap::StackOverflow,
        TrapCode::BadSignature => Trap::BadSignature,
        TrapCode::OutOfFuel => return Failure::OutOfFuel,
        other => return Failure::Other(format!("wasmi trap {other:?}")),
    };
    Failure::Trap(trap)
}

pub fn lazuli_failure(e: &lazuli::Error) -> Failure {
    match e.downcast_ref::<Trap>() {
        Some(trap) => Failure::Trap(*trap),
        None => Failure::Other(format!("{e:#}")),
    }
}
