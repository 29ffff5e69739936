//! The mapping between Lazuli's [`TrapKind`]s and Cranelift's [`TrapCode`]s.

use crate::CompileError;
use cranelift_codegen::MachTrap;
use cranelift_codegen::ir::TrapCode;
use lazuli_environ::{TrapKind, TrapSite};

/// The Cranelift trap code generated code uses for `kind`: Cranelift's own code
/// where it has one (its instructions raise those by themselves), otherwise the
/// user code numbered [`TrapKind::code`].
pub fn trap_code(kind: TrapKind) -> TrapCode {
    match kind {
        TrapKind::StackOverflow => TrapCode::STACK_OVERFLOW,
        TrapKind::MemoryOutOfBounds => TrapCode::HEAP_OUT_OF_BOUNDS,
        TrapKind::IntegerOverflow => TrapCode::INTEGER_OVERFLOW,
        TrapKind::IntegerDivisionByZero => TrapCode::INTEGER_DIVISION_BY_ZERO,
        TrapKind::BadConversionToInteger => TrapCode::BAD_CONVERSION_TO_INTEGER,
        // Kind codes are 1 to 16, far below Cranelift's reserved codes, so `user`
        // accepts every one of them.
        other => TrapCode::unwrap_user(other.code()),
    }
}

/// The trap kind behind a code found in a compiled function's trap table; `None`
/// for a code Lazuli never asks for, which is an internal error of the compiler.
pub fn trap_kind(code: TrapCode) -> Option<TrapKind> {
    TrapKind::ALL.into_iter().find(|k| trap_code(*k) == code)
}

/// A compiled function's trap table, sorted by offset. A trap code without a kind
/// is refused: left out, its instruction would fault at run time as if it were no
/// trap site, and reporting it as some other kind would lie.
pub(crate) fn trap_sites(traps: &[MachTrap]) -> Result<Vec<TrapSite>, CompileError> {
    let mut sites = traps
        .iter()
        .map(|t| {
            let kind = trap_kind(t.code).ok_or_else(|| {
                CompileError::Codegen(format!("trap code {} has no trap kind", t.code))
            })?;
            Ok(TrapSite {
                offset: t.offset,
                kind,
            })
        })
        .collect::<Result<Vec<_>, CompileError>>()?;
    sites.sort_by_key(|t| t.offset);
    Ok(sites)
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

    #[test]
    fn trap_sites_are_sorted_with_their_kinds() {
        let traps = [
            MachTrap {
                offset: 8,
                code: trap_code(TrapKind::UnreachableCodeReached),
            },
            MachTrap {
                offset: 2,
                code: TrapCode::HEAP_OUT_OF_BOUNDS,
            },
        ];
        let sites = trap_sites(&traps).unwrap();
        let sites: Vec<_> = sites.iter().map(|s| (s.offset, s.kind)).collect();
        assert_eq!(
            sites,
            [
                (2, TrapKind::MemoryOutOfBounds),
                (8, TrapKind::UnreachableCodeReached)
            ]
        );
    }

    #[test]
    fn a_trap_code_without_a_kind_is_a_compile_error() {
        let traps = [
            MachTrap {
                offset: 0,
                code: TrapCode::HEAP_OUT_OF_BOUNDS,
            },
            MachTrap {
                offset: 4,
                code: TrapCode::unwrap_user(99),
            },
        ];
        let err = trap_sites(&traps).unwrap_err();
        assert_eq!(
            err.to_string(),
            "code generation failed: trap code user99 has no trap kind"
        );
    }
}
