//! Validation and parsing of a module's bytes into [`ModuleInfo`].

use crate::module::*;
use crate::{ConstExpr, WasmError, WasmFuncType, wasm_val_type};
use std::ops::Range;
use wasmparser::{
    Chunk, DataKind, ElementKind, ExternalKind, Name, NameSectionReader, Parser, Payload, TypeRef,
    ValidPayload, Validator, WasmFeatures,
};

/// Validates everything in `bytes` but the function bodies, with `features`, and
/// records what the module declares. Each body's validator is kept in
/// `ModuleInfo::func_validators`: bodies are independent of each other, so the
/// caller can check them all at once (in parallel, [`ModuleInfo::validate_body`])
/// or each one as it is compiled.
pub fn translate_module(bytes: &[u8], features: WasmFeatures) -> Result<ModuleInfo, WasmError> {
    let mut validator = Validator::new_with_features(features);
    let mut info = ModuleInfo::default();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        if let ValidPayload::Func(to_validate, _) = validator.payload(&payload)? {
            info.func_validators.push(to_validate);
        }
        record(&mut info, bytes, payload)?;
    }
    finish(info)
}

/// Records what the already validated module `bytes` declares without validating
/// it again or reading its code section: its function bodies are `bodies`, which
/// the caller kept from an earlier [`translate_module`] of the same bytes (a
/// precompiled artifact does). Malformed bytes are still an error, never a panic.
pub fn translate_trusted_module(
    bytes: &[u8],
    bodies: Vec<Range<usize>>,
) -> Result<ModuleInfo, WasmError> {
    let mut info = ModuleInfo::default();
    let mut parser = Parser::new(0);
    let mut rest = bytes;
    loop {
        let (consumed, payload) = match parser.parse(rest, true)? {
            Chunk::Parsed { consumed, payload } => (consumed, payload),
            Chunk::NeedMoreData(_) => return Err(WasmError::new("unexpected end", 0)),
        };
        rest = &rest[consumed..];
        match payload {
            Payload::CodeSectionStart { size, .. } => {
                parser.skip_section();
                rest = rest
                    .get(size as usize..)
                    .ok_or_else(|| WasmError::new("unexpected end", parser_offset(bytes, rest)))?;
            }
            Payload::End(_) => break,
            payload => record(&mut info, bytes, payload)?,
        }
    }
    info.bodies = bodies
        .into_iter()
        .map(|range| FunctionBody { range })
        .collect();
    finish(info)
}

fn finish(mut info: ModuleInfo) -> Result<ModuleInfo, WasmError> {
    info.export_map = info
        .exports
        .iter()
        .map(|e| (e.name.clone(), e.index))
        .collect();
    Ok(info)
}

fn record(info: &mut ModuleInfo, bytes: &[u8], payload: Payload<'_>) -> Result<(), WasmError> {
    match payload {
        Payload::TypeSection(reader) => {
            for ty in reader.into_iter_err_on_gc_types() {
                let ty = ty?;
                info.types.push(WasmFuncType::new(
                    ty.params().iter().copied().map(wasm_val_type),
                    ty.results().iter().copied().map(wasm_val_type),
                ));
            }
        }
        Payload::ImportSection(reader) => {
            for import in reader.into_imports_with_offsets() {
                let (offset, import) = import?;
                let index = match import.ty {
                    TypeRef::Func(ty) => {
                        info.functions.push(ty);
                        info.num_imported_funcs += 1;
                        EntityIndex::Function(info.functions.len() as u32 - 1)
                    }
                    TypeRef::Table(ty) => {
                        info.tables.push(table_plan(&ty, None));
                        info.num_imported_tables += 1;
                        EntityIndex::Table(info.tables.len() as u32 - 1)
                    }
                    TypeRef::Memory(ty) => {
                        info.memories.push(memory_plan(&ty));
                        info.num_imported_memories += 1;
                        EntityIndex::Memory(info.memories.len() as u32 - 1)
                    }
                    TypeRef::Global(ty) => {
                        info.globals.push(Global {
                            ty: wasm_val_type(ty.content_type),
                            mutable: ty.mutable,
                            init: None,
                        });
                        info.num_imported_globals += 1;
                        EntityIndex::Global(info.globals.len() as u32 - 1)
                    }
                    other => {
                        return Err(WasmError::new(
                            format!("unsupported import kind {other:?}"),
                            offset,
                        ));
                    }
                };
                info.imports.push(Import {
                    module: import.module.to_string(),
                    name: import.name.to_string(),
                    index,
                });
            }
        }
        Payload::FunctionSection(reader) => {
            for ty in reader {
                info.functions.push(ty?);
            }
        }
        Payload::TableSection(reader) => {
            for table in reader {
                let table = table?;
                let init = match table.init {
                    wasmparser::TableInit::RefNull => None,
                    wasmparser::TableInit::Expr(expr) => Some(ConstExpr::parse(&expr)?),
                };
                info.tables.push(table_plan(&table.ty, init));
            }
        }
        Payload::MemorySection(reader) => {
            let range = reader.range();
            check_memory_limits_encoding(
                &bytes[range.start as usize..range.end as usize],
                range.start,
            )?;
            for memory in reader {
                info.memories.push(memory_plan(&memory?));
            }
        }
        Payload::GlobalSection(reader) => {
            for global in reader {
                let global = global?;
                info.globals.push(Global {
                    ty: wasm_val_type(global.ty.content_type),
                    mutable: global.ty.mutable,
                    init: Some(ConstExpr::parse(&global.init_expr)?),
                });
            }
        }
        Payload::ExportSection(reader) => {
            for export in reader {
                let export = export?;
                let index = match export.kind {
                    ExternalKind::Func | ExternalKind::FuncExact => {
                        EntityIndex::Function(export.index)
                    }
                    ExternalKind::Table => EntityIndex::Table(export.index),
                    ExternalKind::Memory => EntityIndex::Memory(export.index),
                    ExternalKind::Global => EntityIndex::Global(export.index),
                    ExternalKind::Tag => {
                        return Err(WasmError::new("tags are not supported", 0));
                    }
                };
                info.exports.push(Export {
                    name: export.name.to_string(),
                    index,
                });
            }
        }
        Payload::StartSection { func, .. } => info.start = Some(func),
        Payload::ElementSection(reader) => {
            for element in reader {
                let element = element?;
                let mode = match element.kind {
                    ElementKind::Active {
                        table_index,
                        offset_expr,
                    } => SegmentMode::Active {
                        index: table_index.unwrap_or(0),
                        offset: ConstExpr::parse(&offset_expr)?,
                    },
                    ElementKind::Passive => SegmentMode::Passive,
                    ElementKind::Declared => SegmentMode::Declared,
                };
                let (element_ty, items) = match element.items {
                    wasmparser::ElementItems::Functions(reader) => (
                        crate::WasmValType::FuncRef,
                        ElemItems::Functions(reader.into_iter().collect::<Result<_, _>>()?),
                    ),
                    wasmparser::ElementItems::Expressions(ty, reader) => {
                        let mut exprs = Vec::new();
                        for expr in reader {
                            exprs.push(ConstExpr::parse(&expr?)?);
                        }
                        (
                            wasm_val_type(wasmparser::ValType::Ref(ty)),
                            ElemItems::Expressions(exprs),
                        )
                    }
                };
                info.elements.push(ElementSegment {
                    mode,
                    element: element_ty,
                    items,
                });
            }
        }
        Payload::DataSection(reader) => {
            for data in reader {
                let data = data?;
                let mode = match data.kind {
                    DataKind::Active {
                        memory_index,
                        offset_expr,
                    } => SegmentMode::Active {
                        index: memory_index,
                        offset: ConstExpr::parse(&offset_expr)?,
                    },
                    DataKind::Passive => SegmentMode::Passive,
                };
                info.data.push(DataSegment {
                    mode,
                    data: data.range.end as usize - data.data.len()..data.range.end as usize,
                });
            }
        }
        Payload::CodeSectionEntry(body) => {
            info.bodies.push(FunctionBody {
                range: body.range().start as usize..body.range().end as usize,
            });
        }
        Payload::CustomSection(section) => {
            if let wasmparser::KnownCustom::Name(names) = section.as_known() {
                // A malformed name section is ignored, as the spec requires.
                let _ = record_names(info, names);
            }
        }
        _ => {}
    }
    Ok(())
}

fn record_names(info: &mut ModuleInfo, names: NameSectionReader<'_>) -> wasmparser::Result<()> {
    for name in names {
        match name? {
            Name::Module { name, .. } => info.name = Some(name.to_string()),
            Name::Function(map) => {
                for naming in map {
                    let naming = naming?;
                    info.func_names
                        .insert(naming.index, naming.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn table_plan(ty: &wasmparser::TableType, init: Option<ConstExpr>) -> TablePlan {
    TablePlan {
        element: wasm_val_type(wasmparser::ValType::Ref(ty.element_type)),
        minimum: ty.initial,
        maximum: ty.maximum,
        init,
        table64: ty.table64,
    }
}

fn memory_plan(ty: &wasmparser::MemoryType) -> MemoryPlan {
    MemoryPlan {
        minimum: ty.initial,
        maximum: ty.maximum,
        memory64: ty.memory64,
        shared: ty.shared,
    }
}

/// Rejects 32-bit memory limits whose LEB128 encoding is longer than a `u32`
/// allows. wasmparser reads every limit as 64-bit, but the spec requires
/// "integer representation too long" for an overlong 32-bit limit. `section` is
/// the memory section's content, which the validator has otherwise accepted.
fn check_memory_limits_encoding(section: &[u8], offset: u64) -> Result<(), WasmError> {
    let mut pos = 0;
    let count = read_leb(section, &mut pos, 5, offset)?;
    for _ in 0..count {
        let flags = *section
            .get(pos)
            .ok_or_else(|| WasmError::new("unexpected end", offset))?;
        pos += 1;
        let width = if flags & 0x04 != 0 { 10 } else { 5 };
        read_leb(section, &mut pos, width, offset)?;
        if flags & 0x01 != 0 {
            read_leb(section, &mut pos, width, offset)?;
        }
    }
    Ok(())
}

/// Reads an unsigned LEB128 of at most `max_bytes` bytes at `*pos`.
fn read_leb(
    bytes: &[u8],
    pos: &mut usize,
    max_bytes: usize,
    offset: u64,
) -> Result<u64, WasmError> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let byte = *bytes
            .get(*pos)
            .ok_or_else(|| WasmError::new("unexpected end", offset))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WasmError::new("integer representation too long", offset))
}

/// The offset in `bytes` at which its tail `rest` starts.
fn parser_offset(bytes: &[u8], rest: &[u8]) -> u64 {
    (bytes.len() - rest.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(module
      (type (func (param i32) (result i32)))
      (import "m" "f" (func (type 0)))
      (memory 1)
      (global i32 (i32.const 7))
      (func (export "a") (type 0) (local.get 0))
      (func (export "b") (type 0) (call 0 (local.get 0)))
      (data (i32.const 8) "x"))"#;

    #[test]
    fn a_trusted_parse_records_what_a_validating_one_does() {
        let bytes = wat::parse_str(WAT).unwrap();
        let full = translate_module(&bytes, WasmFeatures::default()).unwrap();
        let bodies = full.bodies.iter().map(|b| b.range.clone()).collect();
        let trusted = translate_trusted_module(&bytes, bodies).unwrap();
        assert_eq!(format!("{:?}", trusted.types), format!("{:?}", full.types));
        assert_eq!(trusted.functions, full.functions);
        assert_eq!(trusted.num_imported_funcs, full.num_imported_funcs);
        assert_eq!(trusted.export_map, full.export_map);
        assert_eq!(trusted.globals.len(), full.globals.len());
        assert_eq!(trusted.data.len(), full.data.len());
        let ranges = |i: &ModuleInfo| i.bodies.iter().map(|b| b.range.clone()).collect::<Vec<_>>();
        assert_eq!(ranges(&trusted), ranges(&full));
        assert!(trusted.func_validators.is_empty());
    }

    #[test]
    fn a_trusted_parse_never_reads_the_code_section() {
        let mut bytes = wat::parse_str(WAT).unwrap();
        let full = translate_module(&bytes, WasmFeatures::default()).unwrap();
        let bodies: Vec<_> = full.bodies.iter().map(|b| b.range.clone()).collect();
        // Garble every body: validating it fails, a trusted parse never looks.
        for body in &bodies {
            bytes[body.clone()].fill(0xff);
        }
        let garbled = translate_module(&bytes, WasmFeatures::default()).unwrap();
        assert!(garbled.validate_body(&bytes, 0).is_err());
        let trusted = translate_trusted_module(&bytes, bodies.clone()).unwrap();
        assert_eq!(trusted.bodies.len(), bodies.len());
    }

    #[test]
    fn a_truncated_module_is_an_error_to_a_trusted_parse_never_a_panic() {
        let bytes = wat::parse_str(WAT).unwrap();
        // A cut between sections leaves a shorter module; any other cut is an error.
        for len in 0..bytes.len() {
            let _ = translate_trusted_module(&bytes[..len], Vec::new());
        }
        let cut = &bytes[..bytes.len() - 1];
        assert!(translate_trusted_module(cut, Vec::new()).is_err());
    }
}
