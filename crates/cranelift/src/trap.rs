//! The mapping between Lazuli's [`TrapKind`]s and Cranelift's [`TrapCode`]s.

use cranelift_codegen::ir::TrapCode;
use lazuli_environ::TrapKind;

/// The Cranelift trap code generated code uses for `kind`.
pub fn trap_code(kind: TrapKind) -> TrapCode {
    match kind {
        TrapKind::StackOverflow => TrapCode::STACK_OVERFLOW,
        TrapKind::MemoryOutOfBounds => TrapCode::HEAP_OUT_OF_BOUNDS,
        TrapKind::IntegerOverflow => TrapCode::INTEGER_OVERFLOW,
        TrapKind::IntegerDivisionByZero => TrapCode::INTEGER_DIVISION_BY_ZERO,
        TrapKind::BadConversionToInteger => TrapCode::BAD_CONVERSION_TO_INTEGER,
        other => {
            let position = TrapKind::ALL.iter().position(|k| *k == other);
            // Positions are below `TrapKind::ALL.len()` (13), far from Cranelift's
            // reserved codes, so `user` always accepts them.
            TrapCode::unwrap_user(position.map_or(1, |p| p as u8 + 1))
        }
    }
}

/// The trap kind behind a code found in a compiled function's trap table.
pub fn trap_kind(code: TrapCode) -> Option<TrapKind> {
    TrapKind::ALL.into_iter().find(|k| trap_code(*k) == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_code() {
        for kind in TrapKind::ALL {
            assert_eq!(trap_kind(trap_code(kind)), Some(kind));
        }
    }
}
