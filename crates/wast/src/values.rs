//! Converting `.wast` arguments to [`Val`]s and matching results against expectations.

use anyhow::{Result, bail};
use lazuli::{ExternRef, Store, Val};
use wast::WastArg;
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::token::{F32, F64};

/// Converts a script argument such as `(i32.const 1)` into a [`Val`].
pub(crate) fn arg_to_val(store: &mut Store<()>, arg: &WastArg<'_>) -> Result<Val> {
    let WastArg::Core(arg) = arg else {
        bail!("component arguments are not supported")
    };
    Ok(match arg {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(v.bits),
        WastArgCore::F64(v) => Val::F64(v.bits),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(heap) => match abstract_heap(heap) {
            Some(AbstractHeapType::Func) => Val::FuncRef(None),
            Some(AbstractHeapType::Extern) => Val::ExternRef(None),
            _ => bail!("unsupported null reference type {heap:?}"),
        },
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(ExternRef::new(store, *n))),
        WastArgCore::RefHost(_) => bail!("`ref.host` arguments are not supported"),
    })
}

/// The abstract heap type of `heap`, if it is one.
fn abstract_heap(heap: &HeapType<'_>) -> Option<AbstractHeapType> {
    match heap {
        HeapType::Abstract { ty, .. } => Some(*ty),
        _ => None,
    }
}

/// Checks `actual` against an `assert_return` expectation; `Err` describes the mismatch.
pub(crate) fn match_val(store: &Store<()>, expected: &WastRetCore<'_>, actual: &Val) -> Result<()> {
    let ok = match (expected, actual) {
        (WastRetCore::I32(e), Val::I32(a)) => e == a,
        (WastRetCore::I64(e), Val::I64(a)) => e == a,
        (WastRetCore::F32(e), Val::F32(a)) => f32_matches(e, *a),
        (WastRetCore::F64(e), Val::F64(a)) => f64_matches(e, *a),
        (WastRetCore::V128(e), Val::V128(a)) => v128_matches(e, *a),
        (WastRetCore::RefNull(heap), Val::FuncRef(r)) => {
            r.is_none() && heap.as_ref().is_none_or(|h| is_func_heap(h))
        }
        (WastRetCore::RefNull(heap), Val::ExternRef(r)) => {
            r.is_none() && heap.as_ref().is_none_or(|h| is_extern_heap(h))
        }
        (WastRetCore::RefFunc(_), Val::FuncRef(r)) => r.is_some(),
        (WastRetCore::RefExtern(None), Val::ExternRef(r)) => r.is_some(),
        (WastRetCore::RefExtern(Some(n)), Val::ExternRef(Some(r))) => {
            r.data(store).downcast_ref::<u32>() == Some(n)
        }
        (WastRetCore::Either(options), _) => {
            options.iter().any(|e| match_val(store, e, actual).is_ok())
        }
        _ => false,
    };
    if !ok {
        bail!(
            "expected {}, got {}",
            fmt_expected(expected),
            fmt_val(actual)
        );
    }
    Ok(())
}

fn is_func_heap(heap: &HeapType<'_>) -> bool {
    matches!(
        abstract_heap(heap),
        Some(AbstractHeapType::Func | AbstractHeapType::NoFunc)
    )
}

fn is_extern_heap(heap: &HeapType<'_>) -> bool {
    matches!(
        abstract_heap(heap),
        Some(AbstractHeapType::Extern | AbstractHeapType::NoExtern)
    )
}

/// Matches f32 bits: exact bits for values, the spec's NaN classes for `nan:*` patterns.
fn f32_matches(expected: &NanPattern<F32>, bits: u32) -> bool {
    match expected {
        NanPattern::Value(v) => v.bits == bits,
        // Canonical NaN: only the quiet bit set in the payload (sign is unspecified).
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        // Arithmetic NaN: the quiet bit set, any other payload.
        NanPattern::ArithmeticNan => bits & 0x7fc0_0000 == 0x7fc0_0000,
    }
}

/// Matches f64 bits; see [`f32_matches`].
fn f64_matches(expected: &NanPattern<F64>, bits: u64) -> bool {
    match expected {
        NanPattern::Value(v) => v.bits == bits,
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => bits & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
    }
}

/// Matches a v128 lane by lane.
fn v128_matches(expected: &V128Pattern, bits: u128) -> bool {
    // Lane `i` of width `w` bits, zero-extended.
    let lane = |i: usize, w: usize| (bits >> (i * w)) as u64 & (u64::MAX >> (64 - w));
    match expected {
        V128Pattern::I8x16(l) => l
            .iter()
            .enumerate()
            .all(|(i, v)| lane(i, 8) == *v as u8 as u64),
        V128Pattern::I16x8(l) => l
            .iter()
            .enumerate()
            .all(|(i, v)| lane(i, 16) == *v as u16 as u64),
        V128Pattern::I32x4(l) => l
            .iter()
            .enumerate()
            .all(|(i, v)| lane(i, 32) == *v as u32 as u64),
        V128Pattern::I64x2(l) => l.iter().enumerate().all(|(i, v)| lane(i, 64) == *v as u64),
        V128Pattern::F32x4(l) => l
            .iter()
            .enumerate()
            .all(|(i, p)| f32_matches(p, lane(i, 32) as u32)),
        V128Pattern::F64x2(l) => l
            .iter()
            .enumerate()
            .all(|(i, p)| f64_matches(p, lane(i, 64))),
    }
}

/// Formats a value for failure messages, showing float bits and their value.
pub(crate) fn fmt_val(val: &Val) -> String {
    match val {
        Val::I32(v) => format!("i32:{v}"),
        Val::I64(v) => format!("i64:{v}"),
        Val::F32(b) => format!("f32:{} ({b:#010x})", f32::from_bits(*b)),
        Val::F64(b) => format!("f64:{} ({b:#018x})", f64::from_bits(*b)),
        Val::V128(b) => format!("v128:{b:#034x}"),
        Val::FuncRef(r) => format!("funcref:{}", if r.is_some() { "func" } else { "null" }),
        Val::ExternRef(r) => format!("externref:{}", if r.is_some() { "extern" } else { "null" }),
    }
}

/// Formats an expectation for failure messages, in the script's own notation.
fn fmt_expected(expected: &WastRetCore<'_>) -> String {
    match expected {
        WastRetCore::I32(v) => format!("i32:{v}"),
        WastRetCore::I64(v) => format!("i64:{v}"),
        WastRetCore::F32(NanPattern::Value(v)) => fmt_val(&Val::F32(v.bits)),
        WastRetCore::F64(NanPattern::Value(v)) => fmt_val(&Val::F64(v.bits)),
        WastRetCore::F32(NanPattern::CanonicalNan) | WastRetCore::F64(NanPattern::CanonicalNan) => {
            "nan:canonical".into()
        }
        WastRetCore::F32(NanPattern::ArithmeticNan)
        | WastRetCore::F64(NanPattern::ArithmeticNan) => "nan:arithmetic".into(),
        WastRetCore::RefNull(Some(HeapType::Abstract { ty, .. })) => {
            format!("ref.null {ty:?}").to_lowercase()
        }
        WastRetCore::RefNull(_) => "ref.null".to_string(),
        WastRetCore::RefExtern(Some(n)) => format!("ref.extern {n}"),
        WastRetCore::RefExtern(None) => "ref.extern".to_string(),
        WastRetCore::RefFunc(_) => "ref.func".to_string(),
        WastRetCore::Either(options) => {
            let options: Vec<String> = options.iter().map(fmt_expected).collect();
            format!("either({})", options.join(" | "))
        }
        other => format!("{other:?}"),
    }
}

/// Whether a trap message `actual` satisfies the spec's `expected` message.
///
/// Either may contain the other (the spec's messages are terse, ours may add detail), and
/// the spec's two names for a table out-of-bounds access are interchangeable.
pub fn trap_matches(expected: &str, actual: &str) -> bool {
    const TABLE_OOB: [&str; 2] = ["undefined element", "out of bounds table access"];
    let table_oob = |s: &str| TABLE_OOB.iter().any(|k| s.contains(k));
    actual.contains(expected)
        || expected.contains(actual)
        || (table_oob(expected) && table_oob(actual))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_messages() {
        assert!(trap_matches(
            "integer divide by zero",
            "integer divide by zero"
        ));
        assert!(trap_matches("unreachable", "unreachable executed"));
        assert!(trap_matches(
            "uninitialized element 2",
            "uninitialized element"
        ));
        assert!(trap_matches(
            "undefined element",
            "out of bounds table access"
        ));
        assert!(trap_matches(
            "out of bounds table access",
            "undefined element: out of bounds table access"
        ));
        assert!(!trap_matches("integer overflow", "integer divide by zero"));
        assert!(!trap_matches(
            "out of bounds memory access",
            "out of bounds table access"
        ));
    }

    #[test]
    fn nan_patterns() {
        assert!(f32_matches(&NanPattern::CanonicalNan, 0xffc0_0000));
        assert!(!f32_matches(&NanPattern::CanonicalNan, 0x7fc0_0001));
        assert!(f32_matches(&NanPattern::ArithmeticNan, 0x7fc0_0001));
        assert!(!f32_matches(&NanPattern::ArithmeticNan, 0x7f80_0001));
        assert!(f64_matches(
            &NanPattern::CanonicalNan,
            0x7ff8_0000_0000_0000
        ));
        assert!(f64_matches(
            &NanPattern::ArithmeticNan,
            0xfff8_0000_0000_0001
        ));
        assert!(!f64_matches(
            &NanPattern::ArithmeticNan,
            0x7ff0_0000_0000_0001
        ));
        assert!(f32_matches(
            &NanPattern::Value(F32 { bits: 0x7fa0_0000 }),
            0x7fa0_0000
        ));
    }

    #[test]
    fn v128_lanes() {
        let bits = u128::from_le_bytes([1, 0, 0xff, 0xff, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(v128_matches(
            &V128Pattern::I16x8([1, -1, 0, -32768, 0, 0, 0, 0]),
            bits
        ));
        assert!(v128_matches(
            &V128Pattern::I32x4([-65535, i32::MIN, 0, 0]),
            bits
        ));
        assert!(!v128_matches(&V128Pattern::I64x2([1, 0]), bits));
    }
}
