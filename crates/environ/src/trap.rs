//! The kinds of trap a Wasm program can raise.

/// Why Wasm execution stopped abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapKind {
    /// The Wasm stack limit was reached (deep or infinite recursion).
    StackOverflow,
    /// A load or store outside the bounds of a linear memory.
    MemoryOutOfBounds,
    /// An access outside the bounds of a table.
    TableOutOfBounds,
    /// `call_indirect` through a null table element.
    IndirectCallToNull,
    /// `call_indirect` whose callee has a different signature.
    BadSignature,
    /// Integer overflow, e.g. `i32.div_s` of `INT_MIN` by `-1` or an out-of-range
    /// float-to-int truncation.
    IntegerOverflow,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero,
    /// Float-to-int truncation of a NaN.
    BadConversionToInteger,
    /// The `unreachable` instruction was executed.
    UnreachableCodeReached,
    /// A null reference was dereferenced.
    NullReference,
    /// Execution was interrupted (epoch deadline).
    Interrupt,
    /// The store ran out of fuel.
    OutOfFuel,
    /// A host function returned an error; the error itself is propagated.
    HostError,
    /// An atomic access whose effective address is not a multiple of its size.
    UnalignedAtomic,
    /// `memory.atomic.wait32`/`wait64` on a memory that is not shared.
    ExpectedSharedMemory,
    /// `call_ref` or `return_call_ref` of a null function reference.
    NullFunctionReference,
}

impl TrapKind {
    /// Every kind, for tables that map to and from compiler trap codes.
    pub const ALL: [TrapKind; 16] = [
        TrapKind::StackOverflow,
        TrapKind::MemoryOutOfBounds,
        TrapKind::TableOutOfBounds,
        TrapKind::IndirectCallToNull,
        TrapKind::BadSignature,
        TrapKind::IntegerOverflow,
        TrapKind::IntegerDivisionByZero,
        TrapKind::BadConversionToInteger,
        TrapKind::UnreachableCodeReached,
        TrapKind::NullReference,
        TrapKind::Interrupt,
        TrapKind::OutOfFuel,
        TrapKind::HostError,
        TrapKind::UnalignedAtomic,
        TrapKind::ExpectedSharedMemory,
        TrapKind::NullFunctionReference,
    ];

    /// This kind's number in compiled code's trap tables (1 to 16, stable).
    pub fn code(self) -> u8 {
        match self {
            TrapKind::StackOverflow => 1,
            TrapKind::MemoryOutOfBounds => 2,
            TrapKind::TableOutOfBounds => 3,
            TrapKind::IndirectCallToNull => 4,
            TrapKind::BadSignature => 5,
            TrapKind::IntegerOverflow => 6,
            TrapKind::IntegerDivisionByZero => 7,
            TrapKind::BadConversionToInteger => 8,
            TrapKind::UnreachableCodeReached => 9,
            TrapKind::NullReference => 10,
            TrapKind::Interrupt => 11,
            TrapKind::OutOfFuel => 12,
            TrapKind::HostError => 13,
            TrapKind::UnalignedAtomic => 14,
            TrapKind::ExpectedSharedMemory => 15,
            TrapKind::NullFunctionReference => 16,
        }
    }

    /// The kind whose [`code`](Self::code) is `code`; `None` for a number no kind
    /// has, which callers must treat as an internal error, never as some default.
    pub fn from_code(code: u8) -> Option<TrapKind> {
        TrapKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The message the WebAssembly spec tests expect for this trap.
    pub fn message(self) -> &'static str {
        match self {
            TrapKind::StackOverflow => "call stack exhausted",
            TrapKind::MemoryOutOfBounds => "out of bounds memory access",
            TrapKind::TableOutOfBounds => "undefined element: out of bounds table access",
            TrapKind::IndirectCallToNull => "uninitialized element",
            TrapKind::BadSignature => "indirect call type mismatch",
            TrapKind::IntegerOverflow => "integer overflow",
            TrapKind::IntegerDivisionByZero => "integer divide by zero",
            TrapKind::BadConversionToInteger => "invalid conversion to integer",
            TrapKind::UnreachableCodeReached => "unreachable",
            TrapKind::NullReference => "null reference",
            TrapKind::Interrupt => "interrupt",
            TrapKind::OutOfFuel => "all fuel consumed",
            TrapKind::HostError => "host function error",
            TrapKind::UnalignedAtomic => "unaligned atomic",
            TrapKind::ExpectedSharedMemory => "expected shared memory",
            TrapKind::NullFunctionReference => "null function reference",
        }
    }
}

impl std::fmt::Display for TrapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for TrapKind {}

#[cfg(test)]
mod tests {
    use super::TrapKind;

    #[test]
    fn every_kind_has_its_own_code_and_comes_back_from_it() {
        for kind in TrapKind::ALL {
            assert_eq!(TrapKind::from_code(kind.code()), Some(kind));
        }
        let known = (0..=u8::MAX)
            .filter(|c| TrapKind::from_code(*c).is_some())
            .count();
        assert_eq!(known, TrapKind::ALL.len());
    }

    #[test]
    fn unknown_codes_have_no_kind() {
        for code in [0, 17, 99, u8::MAX] {
            assert_eq!(TrapKind::from_code(code), None, "code {code}");
        }
    }
}
