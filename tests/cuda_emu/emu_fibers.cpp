// The execution model of cuda_emu.h: a grid's blocks one after another, each
// block's threads as fibers on the calling thread. A fiber runs until it
// finishes or waits at a barrier; the scheduler resumes the live fibers in
// sweeps, each sweep in a fresh random order, so that a thread reading what
// another wrote without a barrier between them (a race on a GPU) sometimes
// runs first and reads stale data here too, instead of always finding the
// write done as a fixed order would. The order comes from a fixed seed, so a
// failure repeats; DISTRO_CUDA_EMU_SEED=N tries others. A finished thread no longer holds a barrier
// back (as on NVIDIA hardware, where exited threads count as arrived). A sweep over the block in
// which no fiber arrived at a barrier, passed one or finished is a deadlock (a __syncthreads some
// threads never reach), reported with the block and aborted: on a GPU it would hang.
//
// Each fiber is started once with makecontext/swapcontext on a stack of its
// own and then loops, running the kernel for every block it is given; all
// later switches are _setjmp/_longjmp, which, unlike swapcontext, make no
// system call (a block of 256 threads with warp shuffles switches hundreds
// of thousands of times). GCC's __builtin_setjmp would be cheaper still but
// crashed when optimised. _FORTIFY_SOURCE's longjmp check refuses jumps
// between stacks, so it is off here.
#undef _FORTIFY_SOURCE
#include <csetjmp>
#include <mutex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <sys/mman.h>
#include <ucontext.h>

#include "cuda_emu.h"

emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
char *emu_dynamic_smem;
float emu_warp_lanes[32][32];

namespace {

constexpr size_t STACK_BYTES = 256 << 10; // kernels keep small arrays in "registers"
constexpr unsigned MAX_THREADS = 1024;    // CUDA's limit per block

struct fiber {
    jmp_buf resume; // where it waits (valid once started)
    char *stack = nullptr;
    bool done = true;
};

fiber fibers[MAX_THREADS];
jmp_buf scheduler;
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

void yield() {
    if (!_setjmp(fibers[current].resume)) _longjmp(scheduler, 1);
}

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

void start_fiber(unsigned t) {
    fiber &f = fibers[t];
    void *p =
        mmap(nullptr, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "cuda emulation: cannot map a fiber stack\n");
        abort();
    }
    f.stack = (char *)p;
    ucontext_t ctx, from;
    getcontext(&ctx);
    ctx.uc_stack.ss_sp = f.stack;
    ctx.uc_stack.ss_size = STACK_BYTES;
    ctx.uc_link = nullptr; // fiber_main never returns
    makecontext(&ctx, fiber_main, 0);
    swapcontext(&from, &ctx); // runs until its first yield, which jumps to `scheduler`
}

// Runs fiber t until it yields or finishes.
void resume(unsigned t) {
    current = t;
    threadIdx.x = t;
    if (_setjmp(scheduler)) return;
    if (!fibers[t].stack) start_fiber(t);
    _longjmp(fibers[t].resume, 1);
}

void run_block(unsigned block) {
    block_barrier = {block, 0, 0};
    for (unsigned w = 0; w * 32 < block; w++)
        warp_barriers[w] = {block - 32 * w < 32 ? block - 32 * w : 32, 0, 0};
    for (unsigned t = 0; t < block; t++) {
        fibers[t].done = false;
        order[t] = t;
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
    smem_buffer.assign(smem + 16, 0);
    emu_dynamic_smem = smem_buffer.data();
    body = &fn;
    for (unsigned b = 0; b < grid; b++) {
        blockIdx.x = b;
        run_block(block);
    }
}
