//! `lazuli run --invoke NAME FILE ARGS...`: arguments parsed by the function's
//! parameter types and results printed one per line, in the forms Wasmtime's CLI
//! uses.

use anyhow::{Context as _, Result, bail};
use lazuli::{AsContextMut, ExternRef, Val, ValType};

/// Parses command-line arguments by the parameter types of `func`; an externref
/// argument is made in `store`.
pub fn parse_params(
    mut store: impl AsContextMut,
    func: &str,
    types: &[ValType],
    args: &[String],
) -> Result<Vec<Val>> {
    if args.len() != types.len() {
        let list: Vec<String> = types.iter().map(ToString::to_string).collect();
        bail!(
            "`{func}` takes {} argument{} ({}), but {} {} given",
            types.len(),
            if types.len() == 1 { "" } else { "s" },
            list.join(", "),
            args.len(),
            if args.len() == 1 { "was" } else { "were" },
        );
    }
    types
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (ty, arg))| {
            parse_val(&mut store, ty, arg).with_context(|| {
                format!(
                    "argument {} of `{func}`: cannot parse `{arg}` as {ty}",
                    i + 1
                )
            })
        })
        .collect()
}

/// Parses one argument of type `ty`: integers in decimal or as `0x` hex bits
/// (v128: one 128-bit integer, as its results print); floats in decimal, `nan`,
/// `inf`, `-inf`; a reference `null`, or for an externref any other text, which
/// becomes an externref holding that text as a `String`.
fn parse_val(store: impl AsContextMut, ty: &ValType, arg: &str) -> Result<Val> {
    let hex = arg.strip_prefix("0x").or_else(|| arg.strip_prefix("0X"));
    Ok(match (ty, hex) {
        (ValType::I32, Some(hex)) => Val::I32(u32::from_str_radix(hex, 16)? as i32),
        (ValType::I32, None) => Val::I32(arg.parse()?),
        (ValType::I64, Some(hex)) => Val::I64(u64::from_str_radix(hex, 16)? as i64),
        (ValType::I64, None) => Val::I64(arg.parse()?),
        (ValType::V128, Some(hex)) => Val::V128(u128::from_str_radix(hex, 16)?),
        (ValType::V128, None) => Val::V128(arg.parse()?),
        (ValType::F32, _) => Val::F32(arg.parse::<f32>()?.to_bits()),
        (ValType::F64, _) => Val::F64(arg.parse::<f64>()?.to_bits()),
        (ValType::Ref(r), _) if r.heap_type().top().is_func() && arg == "null" => {
            Val::FuncRef(None)
        }
        (ValType::Ref(r), _) if r.heap_type().top().is_func() => {
            bail!("a funcref argument can only be `null`")
        }
        (ValType::Ref(_), _) if arg == "null" => Val::ExternRef(None),
        (ValType::Ref(_), _) => Val::ExternRef(Some(ExternRef::new(store, arg.to_string()))),
    })
}

/// Formats a result as Wasmtime's CLI prints it: integers in decimal (a v128 as
/// one unsigned 128-bit integer), floats in Rust's shortest round-trip form,
/// references as `<funcref>`, `<null funcref>`, `<externref>`, `<null externref>`.
pub fn format_val(val: &Val) -> String {
    match *val {
        Val::I32(v) => v.to_string(),
        Val::I64(v) => v.to_string(),
        Val::F32(bits) => f32::from_bits(bits).to_string(),
        Val::F64(bits) => f64::from_bits(bits).to_string(),
        Val::V128(v) => v.to_string(),
        Val::FuncRef(None) => "<null funcref>".to_string(),
        Val::FuncRef(Some(_)) => "<funcref>".to_string(),
        Val::ExternRef(None) => "<null externref>".to_string(),
        Val::ExternRef(Some(_)) => "<externref>".to_string(),
    }
}
