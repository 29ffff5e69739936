//! The host entry point into Wasm and the matching unwind, in assembly.
//!
//! `lazuli_try_call(sp_slot, trampoline, a, b, c, d)` saves the callee-saved
//! registers on its own frame, stores the stack pointer in `*sp_slot`, and calls
//! `trampoline(a, b, c, d)`; it returns 0 when the call returns. `lazuli_unwind(sp_slot)`
//! — reached from the signal handler by redirecting the faulting context — restores
//! that stack pointer and returns 1 from the same `lazuli_try_call` frame, discarding
//! every Wasm frame above it. Wasm frames own no Rust values, so nothing is leaked.
//! Writing both halves by hand keeps Rust from ever seeing a function that returns
//! twice.

unsafe extern "C" {
    /// See the module documentation.
    pub fn lazuli_try_call(
        sp_slot: *mut usize,
        trampoline: usize,
        a: usize,
        b: usize,
        c: usize,
        d: usize,
    ) -> u32;
    /// See the module documentation.
    pub fn lazuli_unwind(sp_slot: *const usize) -> !;
}

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".text",
    ".globl lazuli_try_call",
    ".type lazuli_try_call,@function",
    ".p2align 4",
    "lazuli_try_call:",
    "push rbp",
    "mov rbp, rsp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 8",
    "mov [rdi], rsp",
    "mov rax, rsi",
    "mov rdi, rdx",
    "mov rsi, rcx",
    "mov rdx, r8",
    "mov rcx, r9",
    "call rax",
    "xor eax, eax",
    "2:",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".size lazuli_try_call, .-lazuli_try_call",
    ".globl lazuli_unwind",
    ".type lazuli_unwind,@function",
    ".p2align 4",
    "lazuli_unwind:",
    "mov rsp, [rdi]",
    "mov eax, 1",
    "jmp 2b",
    ".size lazuli_unwind, .-lazuli_unwind",
);

#[cfg(target_arch = "aarch64")]
std::arch::global_asm!(
    ".text",
    ".globl lazuli_try_call",
    ".type lazuli_try_call,%function",
    ".p2align 4",
    "lazuli_try_call:",
    "stp x29, x30, [sp, #-16]!",
    "mov x29, sp",
    "stp x19, x20, [sp, #-16]!",
    "stp x21, x22, [sp, #-16]!",
    "stp x23, x24, [sp, #-16]!",
    "stp x25, x26, [sp, #-16]!",
    "stp x27, x28, [sp, #-16]!",
    "stp d8, d9, [sp, #-16]!",
    "stp d10, d11, [sp, #-16]!",
    "stp d12, d13, [sp, #-16]!",
    "stp d14, d15, [sp, #-16]!",
    "mov x9, sp",
    "str x9, [x0]",
    "mov x9, x1",
    "mov x0, x2",
    "mov x1, x3",
    "mov x2, x4",
    "mov x3, x5",
    "blr x9",
    "mov w0, #0",
    "2:",
    "ldp d14, d15, [sp], #16",
    "ldp d12, d13, [sp], #16",
    "ldp d10, d11, [sp], #16",
    "ldp d8, d9, [sp], #16",
    "ldp x27, x28, [sp], #16",
    "ldp x25, x26, [sp], #16",
    "ldp x23, x24, [sp], #16",
    "ldp x21, x22, [sp], #16",
    "ldp x19, x20, [sp], #16",
    "ldp x29, x30, [sp], #16",
    "ret",
    ".size lazuli_try_call, .-lazuli_try_call",
    ".globl lazuli_unwind",
    ".type lazuli_unwind,%function",
    ".p2align 4",
    "lazuli_unwind:",
    "ldr x9, [x0]",
    "mov sp, x9",
    "mov w0, #1",
    "b 2b",
    ".size lazuli_unwind, .-lazuli_unwind",
);
