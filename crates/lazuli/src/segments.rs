//! What instantiation works out once per module (on its first instantiation)
//! rather than once per instance: the copy-on-write image of the module's memory,
//! and where each element segment's non-null items are.

use crate::Engine;
use lazuli_environ::{ConstOp, ElemItems, ModuleInfo, SegmentMode};
use lazuli_runtime::{MemoryImage, PAGE_SIZE};

/// A module's segments, prepared for instantiating it.
pub(crate) struct Segments {
    /// The initial contents of the module's memory, mapped by every instance
    /// instead of copying the data segments; `None` when they must be copied.
    pub(crate) memory_image: Option<MemoryImage>,
    /// For each element segment, its items that are not `ref.null`.
    pub(crate) elements: Vec<Vec<NonNullItem>>,
}

/// An element segment item that is not `ref.null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NonNullItem {
    /// Its position in the segment.
    pub(crate) position: usize,
    pub(crate) item: Item,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    /// A reference to this function of the instance.
    Func(u32),
    /// Whatever the segment's expression at this position gives (it may still be
    /// null, e.g. a `global.get`), evaluated per instance.
    Expr,
}

impl Segments {
    /// The segments of `info` (in `bytes`), with a memory image unless
    /// `engine`'s `Config::memory_init_cow` is off.
    pub(crate) fn new(info: &ModuleInfo, bytes: &[u8], engine: &Engine) -> Segments {
        let cow = engine.config().memory_init_cow;
        let image = image_segments(info, bytes).filter(|_| cow);
        let image = image.and_then(|segments| MemoryImage::new(&segments).ok().flatten());
        Segments::with_image(info, image)
    }

    /// The segments of `info`, with `memory_image` as its memory's image (a
    /// precompiled module's, mapped from its artifact).
    pub(crate) fn with_image(info: &ModuleInfo, memory_image: Option<MemoryImage>) -> Segments {
        Segments {
            memory_image,
            elements: info
                .elements
                .iter()
                .map(|segment| non_null(&segment.items))
                .collect(),
        }
    }
}

/// The segments of the image of the module's memory, each `(offset, bytes)`, if
/// it has one memory, defines it, and every active data segment has a constant
/// offset and fits in the memory's minimum size: then no segment can trap, and
/// the image is the memory's exact initial contents. Otherwise (or if the system
/// refuses the image) the segments are copied at instantiation, trapping where
/// the first one does not fit.
pub(crate) fn image_segments<'a>(
    info: &ModuleInfo,
    bytes: &'a [u8],
) -> Option<Vec<(usize, &'a [u8])>> {
    let [plan] = info.memories[..] else {
        return None;
    };
    // A shared memory is written through raw pointers only (its bytes may be
    // another thread's by the time instantiation ends): its segments are copied.
    if info.num_imported_memories != 0 || plan.shared {
        return None;
    }
    let size = usize::try_from(plan.minimum).ok()?.checked_mul(PAGE_SIZE)?;
    let mut segments = Vec::new();
    for segment in &info.data {
        let SegmentMode::Active { offset, .. } = &segment.mode else {
            continue;
        };
        let start = match offset.ops[..] {
            [ConstOp::I32Const(start)] => start as u32 as usize,
            [ConstOp::I64Const(start)] => usize::try_from(start as u64).ok()?,
            _ => return None,
        };
        let data = bytes.get(segment.data.clone())?;
        if start.checked_add(data.len())? > size {
            return None;
        }
        segments.push((start, data));
    }
    Some(segments)
}

/// The items of a segment that are not `ref.null`, with their positions.
fn non_null(items: &ElemItems) -> Vec<NonNullItem> {
    match items {
        ElemItems::Functions(funcs) => funcs
            .iter()
            .enumerate()
            .map(|(position, f)| NonNullItem {
                position,
                item: Item::Func(*f),
            })
            .collect(),
        ElemItems::Expressions(exprs) => exprs
            .iter()
            .enumerate()
            .filter_map(|(position, expr)| {
                let item = match expr.ops[..] {
                    [ConstOp::RefNull] => return None,
                    [ConstOp::RefFunc(f)] => Item::Func(f),
                    _ => Item::Expr,
                };
                Some(NonNullItem { position, item })
            })
            .collect(),
    }
}
