// The execution model of cuda_emu.h: a grid's blocks one after another, each
// block's threads as fibers on the calling thread. A fiber runs until it
// finishes or waits at a barrier; the scheduler resumes the live fibers in
// sweeps, each sweep in a fresh random order, so that a thread reading what
// another wrote without a barrier between them (a race on a GPU) sometimes
// runs first and reads stale data here too, instead of always finding the
// write done as a fixed order would. The order comes from a fixed seed, so
// a failure repeats; DISTRO_CUDA_EMU_SEED=N tries others. A finished thread
// no longer holds a barrier back (as on NVIDIA hardware, where exited
// threads count as arrived). A sweep over the block in which no fiber
// arrived at a barrier, passed one or finished is a deadlock (a
// __syncthreads some threads never reach), reported with the block and
// aborted: on a GPU it would hang.
//
// Each fiber gets a stack of its own once and then loops, running the kernel
// for every block it is given. A switch on x86-64 is a few instructions
// (emu_fiber_switch below: the callee-saved registers pushed, the stack
// pointer exchanged, popped): a block of 256 threads with warp shuffles
// switches hundreds of thousands of times, and glibc's longjmp (its cleanup
// walk) or swapcontext (a system call) took most of the emulation's time.
// Elsewhere swapcontext does it. The floating-point control words are not
// saved: nothing here changes them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include <sys/mman.h>
#include <ucontext.h>

#include "cuda_emu.h"

emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
char *emu_dynamic_smem;
float emu_warp_lanes[2][32][32];
unsigned char emu_shuffle_parity[1024];

namespace {

constexpr size_t STACK_BYTES = 256 << 10; // kernels keep small arrays in "registers"
constexpr unsigned MAX_THREADS = 1024;    // CUDA's limit per block

struct fiber {
#if defined(__x86_64__)
    void *sp; // its stack pointer while it waits
#else
    ucontext_t ctx;
#endif
    char *stack = nullptr;
    bool done = true;
};

fiber fibers[MAX_THREADS];
#if defined(__x86_64__)
void *scheduler_sp;
#else
ucontext_t scheduler_ctx;
#endif
unsigned current;
unsigned long progress; // arrivals, releases and finished fibers
const std::function<void()> *body;
emu_barrier block_barrier, warp_barriers[MAX_THREADS / 32];
std::vector<char> smem_buffer;
std::mutex one_launch; // the globals above serve one kernel at a time
unsigned order[MAX_THREADS];
uint64_t order_rng;

// xorshift64*: the sweep orders.
unsigned random_below(unsigned n) {
    order_rng ^= order_rng >> 12;
    order_rng ^= order_rng << 25;
    order_rng ^= order_rng >> 27;
    return (unsigned)(((order_rng * 0x2545F4914F6CDD1DULL) >> 32) % n);
}

void seed_order() {
    const char *seed = getenv("DISTRO_CUDA_EMU_SEED");
    order_rng = 0x9E3779B97F4A7C15ULL ^ (seed ? strtoull(seed, nullptr, 10) : 0);
    if (!order_rng) order_rng = 1;
}

// A finished thread counts as arrived at every later barrier.
void leave(emu_barrier *b) {
    b->expected--;
    if (b->arrived && b->arrived == b->expected) {
        b->arrived = 0;
        b->generation++;
    }
}

#if defined(__x86_64__)
// emu_fiber_switch(&save, to): pushes the callee-saved registers, stores the
// stack pointer in save, takes `to` as the stack pointer and pops what was
// pushed there; the ret continues wherever that stack last switched away.
extern "C" void emu_fiber_switch(void **save, void *to);
asm(".text\n"
    ".globl emu_fiber_switch\n"
    ".hidden emu_fiber_switch\n"
    ".type emu_fiber_switch, @function\n"
    "emu_fiber_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size emu_fiber_switch, .-emu_fiber_switch\n");

void yield() {
    emu_fiber_switch(&fibers[current].sp, scheduler_sp);
}
void switch_to(unsigned t) {
    emu_fiber_switch(&scheduler_sp, fibers[t].sp);
}
#else
void yield() {
    swapcontext(&fibers[current].ctx, &scheduler_ctx);
}
void switch_to(unsigned t) {
    swapcontext(&scheduler_ctx, &fibers[t].ctx);
}
#endif

// A fiber's whole life: the kernel once per block it is given.
void fiber_main() {
    for (;;) {
        (*body)();
        fibers[current].done = true;
        leave(&block_barrier);
        leave(&warp_barriers[current / 32]);
        progress++;
        yield();
    }
}

[[noreturn]] void fiber_entry() {
    fiber_main();
    abort(); // fiber_main never returns
}

// Maps fiber t's stack and makes its first switch_to enter fiber_entry.
void start_fiber(unsigned t) {
    fiber &f = fibers[t];
    void *p =
        mmap(nullptr, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "cuda emulation: cannot map a fiber stack\n");
        abort();
    }
    f.stack = (char *)p;
#if defined(__x86_64__)
    // What emu_fiber_switch pops: six registers (zero), then fiber_entry as
    // the return address. After the ret the stack pointer is 8 past a
    // multiple of 16, as at any function's entry.
    void **sp = (void **)(f.stack + STACK_BYTES - 64);
    for (int i = 0; i < 6; i++) sp[i] = nullptr;
    sp[6] = (void *)fiber_entry;
    sp[7] = nullptr;
    f.sp = sp;
#else
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = STACK_BYTES;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_entry, 0);
#endif
}

// Runs fiber t until it yields or finishes.
void resume(unsigned t) {
    current = t;
    threadIdx.x = t;
    if (!fibers[t].stack) start_fiber(t);
    switch_to(t);
}

void run_block(unsigned block) {
    block_barrier = {block, 0, 0};
    for (unsigned w = 0; w * 32 < block; w++)
        warp_barriers[w] = {block - 32 * w < 32 ? block - 32 * w : 32, 0, 0};
    for (unsigned t = 0; t < block; t++) {
        fibers[t].done = false;
        order[t] = t;
        emu_shuffle_parity[t] = 0;
    }
    for (unsigned live = block; live;) {
        const unsigned long before = progress;
        for (unsigned i = block - 1; i > 0; i--) { // Fisher-Yates
            const unsigned j = random_below(i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (unsigned i = 0; i < block; i++) {
            const unsigned t = order[i];
            if (fibers[t].done) continue;
            resume(t);
            if (fibers[t].done) live--;
        }
        if (live && progress == before) {
            fprintf(stderr,
                    "cuda emulation: block %u of %u: %u threads wait at a barrier the others "
                    "never reach (a GPU would hang)\n",
                    blockIdx.x, gridDim.x, live);
            abort();
        }
    }
}

} // namespace

void emu_barrier_wait(emu_barrier *b) {
    const unsigned generation = b->generation;
    progress++;
    if (++b->arrived == b->expected) {
        b->arrived = 0;
        b->generation++;
        return;
    }
    while (b->generation == generation) yield();
}

emu_barrier *emu_block_barrier() {
    return &block_barrier;
}

emu_barrier *emu_warp_barrier(unsigned warp) {
    return &warp_barriers[warp];
}

void emu_run_grid(unsigned grid, unsigned block, size_t smem, const std::function<void()> &fn) {
    std::lock_guard<std::mutex> lock(one_launch);
    static std::once_flag seeded;
    std::call_once(seeded, seed_order);
    gridDim.x = grid;
    blockDim.x = block;
    smem_buffer.resize(smem + 16);
    emu_dynamic_smem = smem_buffer.data();
    body = &fn;
    for (unsigned b = 0; b < grid; b++) {
        blockIdx.x = b;
        // Shared memory starts as garbage on a GPU: NaN bytes here, so a
        // kernel reading dynamic shared memory it never wrote shows.
        memset(smem_buffer.data(), 0xFF, smem_buffer.size());
        run_block(block);
    }
}
