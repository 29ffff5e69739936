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
}

impl Builtin {
    /// Byte offset of this builtin's address in the builtins table.
    pub fn table_offset(self) -> u32 {
        self as u32 * 8
    }
}
