/*
 * switch.S: the context switch between a G and its M's scheduler stack.
 *
 * gort__switch(void **save, void *new_sp) saves the callee-saved
 * registers and the floating-point control state on the current stack,
 * stores the stack pointer in *save, then loads new_sp and undoes the
 * same steps from there. Caller-saved registers need no saving: the
 * switch is an ordinary function call to the compiler. No signal mask
 * or ucontext is touched.
 *
 * gort__ctx_make(char *hi, void (*entry)(void *), void *arg) lays out
 * a frame below hi that gort__switch "returns" into: a trampoline that
 * calls entry(arg), which never returns.
 *
 * The symbols are hidden: internal to the library, and so reachable
 * PC-relative from a shared object without a PLT or GOT entry.
 *
 * Frame layouts, from the saved stack pointer upwards:
 *   x86_64:  mxcsr(4) x87cw(2) pad(2) r15 r14 r13 r12 rbx rbp ret
 *   aarch64: x19..x28 x29 x30 d8..d15 fpcr pad  (176 bytes)
 */

#if defined(__x86_64__)

    .text
    .globl gort__switch
    .hidden gort__switch
    .type gort__switch, @function
    .p2align 4
gort__switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    /* What was just saved is also what is in force: keep it to compare
     * with the new context's, rather than reading the (slow) control
     * registers a second time. */
    movl (%rsp), %eax
    movzwl 4(%rsp), %ecx
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    /* Loading the control words stalls the pipeline, and they almost
     * never differ between contexts: load only a changed one. */
    cmpl (%rsp), %eax
    jne 3f
    cmpw 4(%rsp), %cx
    jne 4f
2:
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
3:
    ldmxcsr (%rsp)
    cmpw 4(%rsp), %cx
    je 2b
4:
    fldcw 4(%rsp)
    jmp 2b
    .cfi_endproc
    .size gort__switch, .-gort__switch

/* Entered by the first switch into a new context: r12 = arg,
 * r13 = entry. The stack is 16-byte aligned here, as a call needs. */
    .globl gort__trampoline
    .hidden gort__trampoline
    .type gort__trampoline, @function
    .p2align 4
gort__trampoline:
    .cfi_startproc
    .cfi_undefined rip
    xorl %ebp, %ebp
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size gort__trampoline, .-gort__trampoline

/* hi is 16-byte aligned. After the switch pops 8 + 48 bytes and the
 * return address, rsp = hi - 16, aligned for the trampoline's call. */
    .globl gort__ctx_make
    .hidden gort__ctx_make
    .type gort__ctx_make, @function
    .p2align 4
gort__ctx_make:
    .cfi_startproc
    andq $-16, %rdi
    movq $0, -8(%rdi)
    movq $0, -16(%rdi)
    leaq gort__trampoline(%rip), %rax
    movq %rax, -24(%rdi)          /* return address */
    movq $0, -32(%rdi)            /* rbp */
    movq $0, -40(%rdi)            /* rbx */
    movq %rdx, -48(%rdi)          /* r12 = arg */
    movq %rsi, -56(%rdi)          /* r13 = entry */
    movq $0, -64(%rdi)            /* r14 */
    movq $0, -72(%rdi)            /* r15 */
    movl $0x1f80, -80(%rdi)       /* mxcsr: all exceptions masked */
    movw $0x037f, -76(%rdi)       /* x87: extended precision, masked */
    movw $0, -74(%rdi)
    leaq -80(%rdi), %rax
    ret
    .cfi_endproc
    .size gort__ctx_make, .-gort__ctx_make

#elif defined(__aarch64__)

    .text
    .globl gort__switch
    .hidden gort__switch
    .type gort__switch, %function
    .p2align 4
gort__switch:
    .cfi_startproc
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    /* Writing fpcr can stall: write it only when it changes. */
    ldr x9, [sp, #160]
    mrs x10, fpcr
    cmp x9, x10
    b.eq 1f
    msr fpcr, x9
1:
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
    ret
    .cfi_endproc
    .size gort__switch, .-gort__switch

/* Entered by the first switch: x19 = arg, x20 = entry. */
    .globl gort__trampoline
    .hidden gort__trampoline
    .type gort__trampoline, %function
    .p2align 4
gort__trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov x29, #0
    mov x0, x19
    blr x20
    brk #0
    .cfi_endproc
    .size gort__trampoline, .-gort__trampoline

    .globl gort__ctx_make
    .hidden gort__ctx_make
    .type gort__ctx_make, %function
    .p2align 4
gort__ctx_make:
    .cfi_startproc
    and x0, x0, #~15
    sub x0, x0, #176
    mov x9, #0
    mov x10, #0
    stp x9, x10, [x0, #16]
    stp x9, x10, [x0, #32]
    stp x9, x10, [x0, #48]
    stp x9, x10, [x0, #64]
    stp x9, x10, [x0, #96]
    stp x9, x10, [x0, #112]
    stp x9, x10, [x0, #128]
    stp x9, x10, [x0, #144]
    stp x9, x10, [x0, #160]       /* fpcr 0: round to nearest */
    stp x2, x1, [x0, #0]          /* x19 = arg, x20 = entry */
    adr x11, gort__trampoline
    stp x9, x11, [x0, #80]        /* x29 = 0, x30 = trampoline */
    ret
    .cfi_endproc
    .size gort__ctx_make, .-gort__ctx_make

#else
#error "gort: the context switch supports x86_64 and aarch64 only"
#endif

    .section .note.GNU-stack, "", %progbits
