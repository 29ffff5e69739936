//! Builtins: runtime functions that generated code calls through the table whose
//! address is in every VMContext (`VMOffsets::builtins`). Each is an
//! `extern "C"` function whose first parameter is the caller's VMContext.

/// A builtin's parameter or result type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinType {
    I32,
    I64,
    Ptr,
}

macro_rules! builtins {
    ($( $(#[$doc:meta])* $name:ident($($param:ident),*) -> $result:ident; )*) => {
        /// The builtins, in table order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Builtin { $( $(#[$doc])* $name, )* }

        impl Builtin {
            /// Every builtin, in table order.
            pub const ALL: &'static [Builtin] = &[$(Builtin::$name),*];

            /// Parameters after the leading VMContext pointer, and the result.
            pub fn signature(self) -> (&'static [BuiltinType], BuiltinType) {
                match self {
                    $(Builtin::$name => (&[$(BuiltinType::$param),*], BuiltinType::$result),)*
                }
            }
        }
    };
}

builtins! {
    /// `(memory, delta pages) -> old size in pages, or -1`.
    MemoryGrow(I32, I64) -> I64;
    /// `(funcref) -> code address`: compiles a function that was not compiled yet
    /// and publishes it in the funcref; 0 (after recording the error) on failure.
    LazyCompile(Ptr) -> Ptr;
    /// `(table, delta, init) -> old size, or -1`.
    TableGrow(I32, I32, Ptr) -> I32;
    /// `(table, dst, value, len) -> 1, or 0 if out of bounds`.
    TableFill(I32, I32, Ptr, I32) -> I32;
    /// `(dst table, src table, dst, src, len) -> 1, or 0 if out of bounds`.
    TableCopy(I32, I32, I32, I32, I32) -> I32;
    /// `(table, element segment, dst, src, len) -> 1, or 0 if out of bounds`.
    TableInit(I32, I32, I32, I32, I32) -> I32;
    /// `(element segment) -> 1`.
    ElemDrop(I32) -> I32;
    /// `(dst memory, src memory, dst, src, len) -> 1, or 0 if out of bounds`.
    MemoryCopy(I32, I32, I64, I64, I64) -> I32;
    /// `(memory, dst, byte, len) -> 1, or 0 if out of bounds`.
    MemoryFill(I32, I64, I32, I64) -> I32;
    /// `(memory, data segment, dst, src, len) -> 1, or 0 if out of bounds`.
    MemoryInit(I32, I32, I64, I32, I32) -> I32;
    /// `(data segment) -> 1`.
    DataDrop(I32) -> I32;
}

impl Builtin {
    /// Byte offset of this builtin's address in the builtins table.
    pub fn table_offset(self) -> u32 {
        self as u32 * 8
    }
}
