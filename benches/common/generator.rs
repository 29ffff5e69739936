//! The large generated module of the start-up measurements, shared by
//! `benches/large_module.rs` and `cargo xtask compare`: `n` distinct functions
//! `(i32) -> i32` of about 530 bytes each, exporting the middle one as `run`.

use wasm_encoder::{
    BlockType, CodeSection, ExportKind, ExportSection, Function, FunctionSection, InstructionSink,
    Module as Encoder, TypeSection, ValType,
};

/// Bytes of instructions per body, at least: 20,000 × 530 B > 10 MiB.
const BODY_BYTES: usize = 530;
/// The argument the export is called with; the guarded calls never run with it.
pub const ARG: i32 = 7;
/// The parameter value that takes a body's guarded call to the next function.
const MAGIC: i32 = -123_456_789;

/// A generated module and what it holds.
pub struct Generated {
    pub bytes: Vec<u8>,
    /// Bytes of the code section's function bodies.
    pub code_bytes: usize,
}

/// splitmix64: a deterministic stream so every run builds the same module.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }

    fn constant(&mut self) -> i32 {
        // Mostly small constants (one or two LEB bytes), some large ones.
        if self.below(4) == 0 {
            self.next() as i32
        } else {
            self.below(200) as i32 + 1
        }
    }
}

// Locals: 0 is the parameter, 1..=4 are i32 values, 5 the loop counter, 6 an i64.
const VALUES: u32 = 4;
const COUNTER: u32 = 5;
const WIDE: u32 = 6;

/// Pushes `local a <op> local b <op> const` and stores it into a value local.
fn arithmetic(s: &mut InstructionSink<'_>, rng: &mut Rng) {
    let a = rng.below(VALUES + 1);
    let b = 1 + rng.below(VALUES);
    let dst = 1 + rng.below(VALUES);
    s.local_get(a).local_get(b);
    binop(s, rng.below(10));
    s.i32_const(rng.constant());
    binop(s, rng.below(10));
    s.local_set(dst);
}

fn binop(s: &mut InstructionSink<'_>, op: u32) {
    match op {
        0 => s.i32_add(),
        1 => s.i32_sub(),
        2 => s.i32_mul(),
        3 => s.i32_xor(),
        4 => s.i32_and(),
        5 => s.i32_or(),
        6 => s.i32_shl(),
        7 => s.i32_shr_u(),
        8 => s.i32_rotl(),
        _ => s.i32_rotr(),
    };
}

/// One stack-neutral statement: arithmetic, 64-bit arithmetic, an `if`, a short
/// counted loop, or (rarely) a call to `next` guarded by a test that never holds
/// for [`ARG`].
fn statement(s: &mut InstructionSink<'_>, rng: &mut Rng, next: u32) {
    match rng.below(16) {
        0..=8 => arithmetic(s, rng),
        9 | 10 => {
            s.local_get(WIDE)
                .local_get(1 + rng.below(VALUES))
                .i64_extend_i32_u()
                .i64_const(i64::from(rng.constant()))
                .i64_mul()
                .i64_add()
                .local_set(WIDE);
        }
        11..=13 => {
            s.local_get(rng.below(VALUES + 1))
                .i32_const(rng.constant())
                .i32_gt_s()
                .if_(BlockType::Empty);
            arithmetic(s, rng);
            s.else_();
            arithmetic(s, rng);
            s.end();
        }
        14 => {
            s.i32_const(2 + rng.below(7) as i32)
                .local_set(COUNTER)
                .loop_(BlockType::Empty);
            arithmetic(s, rng);
            arithmetic(s, rng);
            s.local_get(COUNTER)
                .i32_const(1)
                .i32_sub()
                .local_tee(COUNTER)
                .br_if(0)
                .end();
        }
        _ => {
            let dst = 1 + rng.below(VALUES);
            s.local_get(0)
                .i32_const(MAGIC)
                .i32_eq()
                .if_(BlockType::Empty)
                .local_get(0)
                .i32_const(1)
                .i32_add()
                .call(next)
                .local_get(dst)
                .i32_add()
                .local_set(dst)
                .end();
        }
    }
}

/// A module of `n` functions `(i32) -> i32`, each different, exporting the
/// middle one as `run`.
pub fn generate(n: u32) -> Generated {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut code_bytes = 0;
    for i in 0..n {
        functions.function(0);
        let mut rng = Rng(u64::from(i)
            .wrapping_mul(0x1234_5678_9abc_def1)
            .wrapping_add(1));
        let mut f = Function::new([(VALUES + 1, ValType::I32), (1, ValType::I64)]);
        {
            let mut s = f.instructions();
            for v in 1..=VALUES {
                s.local_get(0)
                    .i32_const(rng.constant())
                    .i32_add()
                    .local_set(v);
            }
        }
        while f.byte_len() < BODY_BYTES {
            statement(&mut f.instructions(), &mut rng, (i + 1) % n);
        }
        let mut s = f.instructions();
        s.local_get(1);
        for v in 2..=VALUES {
            s.local_get(v);
            binop(&mut s, rng.below(6));
        }
        s.local_get(WIDE).i32_wrap_i64().i32_add().end();
        code_bytes += f.byte_len();
        code.function(&f);
    }
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, n / 2);
    let mut module = Encoder::new();
    module
        .section(&types)
        .section(&functions)
        .section(&exports)
        .section(&code);
    Generated {
        bytes: module.finish(),
        code_bytes,
    }
}
