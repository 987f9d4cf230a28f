// lorastream CUDA kernel emulator: fiber runtime, barrier semantics, WMMA arithmetic and the C API of
// liblorastream_emu.so.
//
// TEST TOOL ONLY. It runs the real kernel sources (compiled by g++ with include/cuda_emu.h) on the CPU and
// checks argument order, indexing, arithmetic and barrier placement (deadlocks and synchronisation misuse
// are reported; races show up as results that differ between forward and reverse thread order). It does NOT
// check the PTX or JIT, the real memory model, warp-synchronous code without explicit syncs, timing, or
// driver behaviour. It never replaces the GPU path.
//
// Execution model
// - Every CUDA thread of a block is a user-level fiber with its own stack; the fibers of a block run
//   cooperatively on one OS thread. A fiber runs until it waits at a barrier or returns (exits).
// - Blocks run one after another in grid order (x fastest, then y, then z), on one worker thread by default;
//   with LORASTREAM_EMU_WORKERS=n (or emu_set_workers) n OS threads take blocks in that order.
// - A "phase": every ready fiber runs, in thread order (forward: linear thread id 0..n-1; reverse: n-1..0),
//   until it blocks. Then the scheduler opens whatever barriers are complete and starts the next phase. If no
//   thread is ready and no barrier can open while some thread has not exited, the launch fails (deadlock).
// - Linear thread id = x + y*blockDim.x + z*blockDim.x*blockDim.y; warp = id / 32, lane = id % 32
//   (Programming Guide, "Thread Hierarchy" and "SIMT Architecture").
// Barriers
// - __syncthreads (PTX `bar.sync 0`): opens when every thread of the block that has not exited waits at a
//   __syncthreads (any call site). The Programming Guide only defines __syncthreads when all threads of the
//   block reach it; threads that have exited count as arrived, as on current hardware (kernels often return
//   early before a barrier).
// - Warp barriers: __syncwarp (PTX `bar.warp.sync`), every __shfl_*_sync (each lane publishes its value and
//   waits; when the group opens, the scheduler hands every lane its source lane's value) and the WMMA *_sync
//   collectives (PTX `.sync.aligned`). A group of
//   lanes opens when every non-exited lane named in the mask waits at the same kind of collective with the
//   same mask (PTX bar.warp.sync: "...executed a bar.warp.sync with the same membermask value"). A named lane
//   waiting at another mask or collective holds the group back; if it never comes, the block deadlocks.
//   Errors (synchronisation misuse, code 3): calling lane not in its mask; a shuffle whose mask names a lane
//   that has exited (or does not exist) or whose source lane is not in the mask; a WMMA collective without
//   all 32 lanes, or with lanes passing different pointers/ldm/layouts, a misaligned pointer or ldm.
// - Memory checks (kernels compiled with -fsanitize=alignment,null,bounds; the handlers are in this file,
//   "Memory-access checks"): misaligned or null accesses and indexes past fixed-size arrays end the launch with code 3.
// Configuration: emu_set_thread_order / LORASTREAM_EMU_REVERSE=1; emu_set_workers / LORASTREAM_EMU_WORKERS=n
// (default 1; the environment is read at the first launch unless the setter was called first).
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "emu_internal.h"

#if !defined(__x86_64__) || defined(EMU_USE_UCONTEXT)
#define EMU_UCONTEXT 1
#include <ucontext.h>
#else
#define EMU_UCONTEXT 0
#endif

extern "C" {
EMU_API int emu_launch(const char* symbol, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       unsigned dynamic_smem_bytes, void** params);
EMU_API const char* emu_last_error(void);
EMU_API int emu_symbol_count(void);
EMU_API const char* emu_symbol_name(int i);
EMU_API int emu_launch_bound(const char* symbol);
EMU_API const char* emu_symbol_params(const char* symbol);
EMU_API void emu_set_thread_order(int reverse);
EMU_API void emu_set_workers(int n);
}

namespace emu {

__thread const Builtins* tl_builtins;

namespace {

constexpr unsigned kMaxThreads = 1024;           // per block (Programming Guide, "Compute Capabilities")
constexpr size_t kStackBytes = 256 * 1024;        // per fiber
constexpr size_t kGuardBytes = 64 * 1024;         // PROT_NONE below each stack: an overflow faults at once

std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

const char* base_name(const char* path) {
  const char* s = strrchr(path, '/');
  return s ? s + 1 : path;
}

// ---- Context switching -------------------------------------------------------------------------------------

#if !EMU_UCONTEXT
// x86-64 System V: switch stacks, saving the callee-saved registers (rbx, rbp, r12-r15) and the control
// words (MXCSR, x87 CW) on the old stack. A new fiber's stack is prepared so that the `ret` lands in the
// trampoline, which calls entry(arg) from r13/r12 with a 16-byte aligned stack.
extern "C" void emu_ctx_switch(void** save_sp, void* load_sp);
extern "C" void emu_ctx_trampoline();
asm(R"(
    .text
    .p2align 4
    .globl emu_ctx_switch
    .hidden emu_ctx_switch
    .type emu_ctx_switch, @function
emu_ctx_switch:
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
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size emu_ctx_switch, .-emu_ctx_switch

    .p2align 4
    .globl emu_ctx_trampoline
    .hidden emu_ctx_trampoline
    .type emu_ctx_trampoline, @function
emu_ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size emu_ctx_trampoline, .-emu_ctx_trampoline
)");

struct Context {
  void* sp = nullptr;
};

void ctx_init(Context& c, char* stack_lo, size_t size, void (*entry)(void*), void* arg) {
  uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
  void** sp = (void**)(top - 64);  // 8 slots; after the final `ret` rsp == top (16-byte aligned)
  uint32_t mxcsr;
  uint16_t fpucw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  uint64_t csr = (uint64_t)mxcsr | ((uint64_t)fpucw << 32);
  memcpy(&sp[0], &csr, 8);
  sp[1] = nullptr;                              // r15
  sp[2] = nullptr;                              // r14
  sp[3] = (void*)entry;                         // r13
  sp[4] = arg;                                  // r12
  sp[5] = nullptr;                              // rbx
  sp[6] = nullptr;                              // rbp (0: ends frame-pointer backtraces)
  sp[7] = (void*)&emu_ctx_trampoline;           // return address
  c.sp = sp;
}

inline void ctx_switch(Context& from, Context& to) { emu_ctx_switch(&from.sp, to.sp); }
#else
// Portable fallback: POSIX ucontext (slower: a signal-mask system call per switch).
struct Context {
  ucontext_t uc;
};

void ctx_init(Context& c, char* stack_lo, size_t size, void (*entry)(void*), void* arg) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack_lo;
  c.uc.uc_stack.ss_size = size;
  c.uc.uc_link = nullptr;
  const uintptr_t a = (uintptr_t)arg, e = (uintptr_t)entry;
  makecontext(&c.uc, (void (*)())+[](unsigned a0, unsigned a1, unsigned e0, unsigned e1) {
    auto fn = (void (*)(void*))(((uintptr_t)e1 << 32) | e0);
    fn((void*)(((uintptr_t)a1 << 32) | a0));
  }, 4, (unsigned)a, (unsigned)(a >> 32), (unsigned)e, (unsigned)(e >> 32));
}

inline void ctx_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

// ---- Fibers, workers ---------------------------------------------------------------------------------------

enum class St : uint8_t { Ready, AtBlockBarrier, AtWarpBarrier, Exited, Failed };

struct Worker;

struct Fiber {
  Context ctx;
  Builtins b;
  Worker* w = nullptr;
  char* stack_lo = nullptr;
  unsigned tid = 0, warp = 0, lane = 0;
  St st = St::Exited;
  // Where it waits (valid while st is AtBlockBarrier or AtWarpBarrier).
  Op op = Op::SyncThreads;
  unsigned mask = 0;
  int src = 0;                     // shuffles: source lane, and the value read from it
  uint64_t result = 0;
  const void* uptr = nullptr;      // WMMA loads/stores: pointer, (ldm, layout): must be uniform
  uint64_t ukey = 0;
  const char* file = "";
  unsigned line = 0;
};

struct Launch {
  const KernelEntry* k;
  void* const* params;
  dim3 grid, block;
  unsigned nthreads;
  bool reverse;
};

/** One OS thread's emulation state: the fibers of the block it runs and their stacks (allocated once). */
struct Worker {
  std::vector<Fiber> fibers;
  char* stacks = nullptr;
  Context sched;
  const Launch* launch = nullptr;
  unsigned nthreads = 0, nwarps = 0, live = 0;
  bool failed = false;
  std::string error;
  uint64_t xchg[kMaxThreads];  // shuffle slots, by linear thread id

  bool ensure_stacks() {
    if (stacks) return true;
    const size_t stride = kStackBytes + kGuardBytes, total = stride * kMaxThreads;
    void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    stacks = (char*)p;
    fibers.resize(kMaxThreads);
    for (unsigned i = 0; i < kMaxThreads; ++i) {
      char* lo = stacks + i * stride;
      mprotect(lo, kGuardBytes, PROT_NONE);  // stacks grow down into the guard
      fibers[i].stack_lo = lo + kGuardBytes;
      fibers[i].w = this;
    }
    return true;
  }
};

__thread Fiber* tl_fiber;

Fiber& self(const char* what) {
  Fiber* f = tl_fiber;
  if (!f) {
    fprintf(stderr, "lorastream-emu: %s called outside an emulated kernel launch\n", what);
    abort();
  }
  return *f;
}

/** Blocks the running fiber until the scheduler releases it. */
void wait_here(Fiber& f) { ctx_switch(f.ctx, f.w->sched); }

/**
 * Ends the launch from inside a fiber: records the message and switches to the scheduler for good. The fiber
 * is abandoned, so nothing on its stack may own heap memory at this point: callers pass only C strings and
 * scalars (no std::string temporaries), and the message is formatted into the worker's own string.
 */
[[noreturn]] void fail_fiber(Fiber& f, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
[[noreturn]] void fail_fiber(Fiber& f, const char* fmt, ...) {
  Worker& w = *f.w;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  w.failed = true;
  w.error.resize(sizeof buf + 64);  // the worker's string: no allocation left behind on this stack
  const int n = snprintf(w.error.data(), w.error.size(), "thread %u (warp %u, lane %u): %s", f.tid, f.warp, f.lane, buf);
  w.error.resize(std::min<size_t>(n, w.error.size() - 1));
  f.st = St::Failed;
  ctx_switch(f.ctx, w.sched);  // never resumed: the launch is abandoned
  abort();
}

void fiber_entry(void* arg) {
  Fiber& f = *(Fiber*)arg;
  Worker& w = *f.w;
  w.launch->k->invoke(w.launch->params);
  f.st = St::Exited;
  --w.live;
  ctx_switch(f.ctx, w.sched);  // never resumed
  abort();
}

const char* op_name(Op op) {
  switch (op) {
    case Op::SyncThreads: return "__syncthreads";
    case Op::SyncWarp: return "__syncwarp";
    case Op::ShflIdx: return "__shfl_sync";
    case Op::ShflUp: return "__shfl_up_sync";
    case Op::ShflDown: return "__shfl_down_sync";
    case Op::ShflXor: return "__shfl_xor_sync";
    case Op::WmmaLoadA: return "wmma::load_matrix_sync(matrix_a)";
    case Op::WmmaLoadB: return "wmma::load_matrix_sync(matrix_b)";
    case Op::WmmaLoadC: return "wmma::load_matrix_sync(accumulator)";
    case Op::WmmaStore: return "wmma::store_matrix_sync";
    case Op::WmmaMma: return "wmma::mma_sync";
  }
  return "?";
}

bool is_shfl(Op op) { return op == Op::ShflIdx || op == Op::ShflUp || op == Op::ShflDown || op == Op::ShflXor; }
bool is_wmma(Op op) { return op >= Op::WmmaLoadA; }

std::string where(const Fiber& f) {
  if (f.st == St::AtBlockBarrier) return strf("wait at __syncthreads (%s:%u)", base_name(f.file), f.line);
  if (f.st == St::AtWarpBarrier)
    return strf("wait at %s mask 0x%08x (%s:%u)", op_name(f.op), f.mask, base_name(f.file), f.line);
  if (f.st == St::Exited) return "exited";
  return "running";
}

std::string lane_list(uint32_t bits) {
  std::string s;
  for (int l = 0; l < 32; ++l)
    if (bits >> l & 1) s += (s.empty() ? "" : ",") + std::to_string(l);
  return s;
}

// ---- The scheduler of one block ----------------------------------------------------------------------------

/** Error found while opening a warp barrier: recorded, the launch fails. */
void sched_fail(Worker& w, unsigned warp, std::string msg) {
  w.failed = true;
  w.error = strf("warp %u: ", warp) + msg;
}

/** Opens every complete warp barrier group. Returns the number of released threads. */
unsigned release_warps(Worker& w) {
  unsigned released = 0;
  for (unsigned wi = 0; wi < w.nwarps; ++wi) {
    Fiber* lanes = &w.fibers[wi * 32];
    const unsigned nl = std::min(32u, w.nthreads - wi * 32);
    const uint32_t exist = nl == 32 ? ~0u : (1u << nl) - 1;
    uint32_t waiting = 0, exited = 0;
    for (unsigned l = 0; l < nl; ++l) {
      if (lanes[l].st == St::AtWarpBarrier) waiting |= 1u << l;
      else if (lanes[l].st == St::Exited) exited |= 1u << l;
    }
    if (!waiting) continue;
    uint32_t done = 0;
    for (unsigned l = 0; l < nl; ++l) {
      if (!(waiting >> l & 1) || (done >> l & 1)) continue;
      const Fiber& f = lanes[l];
      const uint32_t m = f.mask;
      // The group: waiting lanes named in m that wait at the same collective with the same mask. A named lane
      // waiting elsewhere (another mask or collective) may be released by its own group first and come here
      // later (PTX bar.warp.sync); if it never does, the block ends in a deadlock report showing both.
      uint32_t group = 0;
      for (unsigned j = 0; j < nl; ++j)
        if ((m & waiting) >> j & 1 && lanes[j].mask == m && lanes[j].op == f.op) group |= 1u << j;
      done |= group;
      if (m & ~(group | exited | ~exist)) continue;  // a named lane still runs or waits elsewhere
      auto at = [&] { return strf("%s mask 0x%08x (%s:%u)", op_name(f.op), m, base_name(f.file), f.line); };
      if (is_shfl(f.op)) {
        if (m & (exited | ~exist)) {
          sched_fail(w, wi, at() + ": the mask names lane(s) " + lane_list(m & (exited | ~exist)) +
                                ", which have exited or do not exist");
          return released;
        }
        for (unsigned j = 0; j < nl; ++j)
          if ((group >> j & 1) && !(m >> lanes[j].src & 1)) {
            sched_fail(w, wi, at() + strf(": lane %u reads lane %d, which is not in the mask", j, lanes[j].src));
            return released;
          }
        // Every lane of the group has published its value: hand each its source lane's, before any of them
        // runs on (and publishes again).
        for (unsigned j = 0; j < nl; ++j)
          if (group >> j & 1) lanes[j].result = w.xchg[wi * 32 + lanes[j].src];
      } else if (is_wmma(f.op)) {
        if (group != ~0u) {
          sched_fail(w, wi, at() + ": a WMMA collective needs all 32 lanes of the warp (.sync.aligned); lanes " +
                                lane_list(~group) + " have exited or do not exist");
          return released;
        }
        for (unsigned j = 1; j < 32; ++j)
          if (lanes[j].uptr != lanes[0].uptr || lanes[j].ukey != lanes[0].ukey) {
            sched_fail(w, wi, at() + strf(": lanes must pass the same pointer, ldm and layout (.aligned); lane 0: "
                                        "%p ldm %u layout %u, lane %u: %p ldm %u layout %u",
                                        lanes[0].uptr, (unsigned)lanes[0].ukey, (unsigned)(lanes[0].ukey >> 32), j,
                                        lanes[j].uptr, (unsigned)lanes[j].ukey, (unsigned)(lanes[j].ukey >> 32)));
            return released;
          }
      }
      for (unsigned j = 0; j < nl; ++j)
        if (group >> j & 1) lanes[j].st = St::Ready;
      released += __builtin_popcount(group);
    }
  }
  return released;
}

/** Opens __syncthreads when every thread that has not exited waits there. */
bool release_block(Worker& w) {
  unsigned at = 0;
  for (unsigned i = 0; i < w.nthreads; ++i)
    if (w.fibers[i].st == St::AtBlockBarrier) ++at;
  if (at == 0 || at != w.live) return false;
  for (unsigned i = 0; i < w.nthreads; ++i)
    if (w.fibers[i].st == St::AtBlockBarrier) w.fibers[i].st = St::Ready;
  return true;
}

std::string deadlock_report(const Worker& w) {
  // Group threads by what they wait at (in order of first appearance), listing id ranges.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::pair<unsigned, unsigned>>> ranges;
  for (unsigned i = 0; i < w.nthreads; ++i) {
    const std::string d = where(w.fibers[i]);
    auto [it, fresh] = ranges.try_emplace(d);
    if (fresh) order.push_back(d);
    auto& r = it->second;
    if (!r.empty() && r.back().second + 1 == i) r.back().second = i;
    else r.push_back({i, i});
  }
  std::string s = "deadlock: no thread can run and no barrier can open;";
  for (const auto& d : order) {
    std::string ids;
    for (auto [a, b] : ranges[d]) ids += (ids.empty() ? "" : ",") + (a == b ? std::to_string(a) : strf("%u-%u", a, b));
    s += " threads " + ids + ": " + d + ";";
  }
  s.pop_back();
  return s;
}

/** Runs one block to completion. False (with w.error set) on deadlock or misuse. */
bool run_block(Worker& w, const Launch& L, uint3 bid) {
  w.launch = &L;
  w.nthreads = L.nthreads;
  w.nwarps = (L.nthreads + 31) / 32;
  w.live = L.nthreads;
  w.failed = false;
  const unsigned bx = L.block.x, by = L.block.y;
  for (unsigned i = 0; i < L.nthreads; ++i) {
    Fiber& f = w.fibers[i];
    f.tid = i;
    f.warp = i / 32;
    f.lane = i % 32;
    f.st = St::Ready;
    f.b.thread_idx = make_uint3(i % bx, (i / bx) % by, i / (bx * by));
    f.b.block_idx = bid;
    f.b.block_dim = L.block;
    f.b.grid_dim = L.grid;
    ctx_init(f.ctx, f.stack_lo, kStackBytes, &fiber_entry, &f);
  }
  for (;;) {
    for (unsigned k = 0; k < L.nthreads; ++k) {
      Fiber& f = w.fibers[L.reverse ? L.nthreads - 1 - k : k];
      if (f.st != St::Ready) continue;
      tl_fiber = &f;
      tl_builtins = &f.b;
      ctx_switch(w.sched, f.ctx);
      tl_fiber = nullptr;
      tl_builtins = nullptr;
      if (w.failed) return false;
    }
    if (w.live == 0) return true;
    const unsigned released = release_warps(w);
    if (w.failed) return false;
    if (released > 0 || release_block(w)) continue;
    w.error = deadlock_report(w);
    return false;
  }
}

// ---- Launches ------------------------------------------------------------------------------------------------

std::mutex g_launch_mutex;  // one launch at a time (workers, their fibers and stacks are shared)
std::mutex g_error_mutex;
std::string g_last_error;
std::atomic<int> g_reverse{-1};  // -1: not yet read from the environment
std::atomic<int> g_workers{0};   // 0: not yet read from the environment
Worker* g_workers_state[64];

int env_int(const char* name, int dflt) {
  const char* v = getenv(name);
  return v && *v ? atoi(v) : dflt;
}

int set_error(int code, std::string msg) {
  std::lock_guard<std::mutex> g(g_error_mutex);
  g_last_error = std::move(msg);
  return code;
}

Worker& worker(unsigned i) {
  if (!g_workers_state[i]) g_workers_state[i] = new Worker();  // kept until the library is unloaded
  return *g_workers_state[i];
}

/** At unload (dlclose, e.g. a Java Arena closing its SymbolLookup) or exit: unmap the fiber stacks. */
struct Cleanup {
  ~Cleanup() {
    if (!g_launch_mutex.try_lock()) return;  // a launch still runs on another thread at exit: leave it be
    for (Worker*& w : g_workers_state) {
      if (w && w->stacks) munmap(w->stacks, (kStackBytes + kGuardBytes) * kMaxThreads);
      delete w;
      w = nullptr;
    }
    g_launch_mutex.unlock();
  }
} g_cleanup;

std::vector<KernelEntry>& registry() {
  static std::vector<KernelEntry> r;
  return r;
}

const std::vector<KernelEntry>& table() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::sort(registry().begin(), registry().end(),
              [](const KernelEntry& a, const KernelEntry& b) { return strcmp(a.name, b.name) < 0; });
  });
  return registry();
}

const KernelEntry* find(const char* symbol) {
  if (!symbol) return nullptr;
  const auto& t = table();
  auto it = std::lower_bound(t.begin(), t.end(), symbol,
                             [](const KernelEntry& e, const char* s) { return strcmp(e.name, s) < 0; });
  return it != t.end() && strcmp(it->name, symbol) == 0 ? &*it : nullptr;
}

}  // namespace

// ---- Entry points called from code compiled with cuda_emu.h ------------------------------------------------

void syncthreads(const char* file, unsigned line) {
  Fiber& f = self("__syncthreads");
  f.st = St::AtBlockBarrier;
  f.op = Op::SyncThreads;
  f.file = file;
  f.line = line;
  wait_here(f);
}

namespace {
void warp_wait(Fiber& f, Op op, unsigned mask, const char* file, unsigned line) {
  if (!(mask >> f.lane & 1))
    fail_fiber(f, "%s mask 0x%08x (%s:%u) does not name the calling lane", op_name(op), mask, base_name(file), line);
  f.st = St::AtWarpBarrier;
  f.op = op;
  f.mask = mask;
  f.file = file;
  f.line = line;
  wait_here(f);
}
}  // namespace

void syncwarp(unsigned mask, const char* file, unsigned line) { warp_wait(self("__syncwarp"), Op::SyncWarp, mask, file, line); }

uint64_t shfl(Op op, unsigned mask, uint64_t bits, int arg, int width, const char* file, unsigned line) {
  Fiber& f = self("__shfl_*_sync");
  if (width < 1 || width > 32 || (width & (width - 1)))
    fail_fiber(f, "%s (%s:%u): width %d is not a power of 2 in [1, 32]", op_name(op), base_name(file), line, width);
  // Source lane (Programming Guide, "Warp Shuffle Functions"; PTX shfl.sync with c = segment mask): within
  // the lane's group of `width` lanes; an out-of-range source (up/down past the group, xor into a later
  // group) returns the caller's own value. Index and xor use the low 5 bits of their operand, as PTX does.
  const int lane = (int)f.lane, base = lane & ~(width - 1), rel = lane - base;
  const unsigned delta = (unsigned)arg;
  int src = lane;
  switch (op) {
    case Op::ShflIdx: src = base + (arg & (width - 1)); break;
    case Op::ShflUp: src = delta <= (unsigned)rel ? lane - (int)delta : lane; break;
    case Op::ShflDown: src = delta < (unsigned)(width - rel) ? lane + (int)delta : lane; break;
    case Op::ShflXor: src = (lane ^ (arg & 31)) < base + width ? (lane ^ (arg & 31)) : lane; break;
    default: break;
  }
  // Publish, then wait at the warp barrier; when it opens, the scheduler copies the source lane's published
  // value into f.result for every lane of the group at once. (The hardware synchronises shfl.sync on entry
  // only, so there is no second barrier: lanes run on independently afterwards.)
  f.w->xchg[f.tid] = bits;
  f.src = src;
  warp_wait(f, op, mask, file, line);
  return f.result;
}

void wmma_enter(Op op, const void* ptr, unsigned ldm, unsigned elem_bytes, int layout, const char* file, unsigned line) {
  Fiber& f = self("wmma");
  if (op != Op::WmmaMma) {
    // Programming Guide, "Warp Matrix Functions": mptr must be 256-bit aligned; ldm a multiple of 8 for
    // __half elements, 4 for float (16 bytes).
    if ((uintptr_t)ptr % 32)
      fail_fiber(f, "%s (%s:%u): pointer %p is not 256-bit (32-byte) aligned", op_name(op), base_name(file), line, ptr);
    if ((ldm * elem_bytes) % 16)
      fail_fiber(f, "%s (%s:%u): ldm %u is not a multiple of 16 bytes", op_name(op), base_name(file), line, ldm);
  }
  f.uptr = ptr;
  f.ukey = (uint64_t)ldm | ((uint64_t)(unsigned)layout << 32);
  warp_wait(f, op, 0xffffffffu, file, line);
}

bool wmma_is_writer_lane() { return self("wmma").lane == 0; }

// Sequential fmaf over k for each (m, n); vectorised over n (the order over k is unchanged), with an FMA
// instruction clone where the CPU has one (same results: fmaf is exact either way).
#if defined(__x86_64__)
__attribute__((target_clones("fma", "default")))
#endif
void mma_16x16x16(const float* a, const float* b, const float* c, float* d) {
  float out[256];
  for (int m = 0; m < 16; ++m) {
    float acc[16];
    for (int n = 0; n < 16; ++n) acc[n] = c[m * 16 + n];
    for (int k = 0; k < 16; ++k) {
      const float av = a[m * 16 + k];
      for (int n = 0; n < 16; ++n) acc[n] = __builtin_fmaf(av, b[k * 16 + n], acc[n]);
    }
    for (int n = 0; n < 16; ++n) out[m * 16 + n] = acc[n];
  }
  memcpy(d, out, sizeof out);
}

void fail(const char* what, const char* file, unsigned line) {
  Fiber& f = self("emu::fail");
  fail_fiber(f, "%s (%s:%u)", what, base_name(file), line);
}

}  // namespace emu

// ---- Memory-access checks --------------------------------------------------------------------------------
// build-emu.sh compiles the kernels with -fsanitize=alignment,null,bounds (recoverable), which makes g++ call
// these handlers (the UBSan runtime ABI) instead of letting the CPU do what the GPU would not:
// - a misaligned access (e.g. a uint4 load from an address that is not 16-byte aligned) faults on the GPU
//   ("misaligned address") but works on x86;
// - a null dereference faults on the GPU ("illegal address"); on the host it would crash the JVM;
// - an index past a fixed-size array (a __shared__ buffer, a register array) corrupts memory silently.
// Inside an emulated thread each ends the launch with code 3 and a message naming the source line; the
// access itself is not made (the fiber is abandoned). Global-memory indexing past a buffer's end is NOT
// detected (plain pointers carry no bounds).
namespace {
struct UbsanSourceLocation {
  const char* file;
  uint32_t line, column;
};
struct UbsanTypeDescriptor {
  uint16_t kind, info;  // integers: info = log2(bit width) << 1 | signed
  char name[1];
};
struct UbsanTypeMismatchData {
  UbsanSourceLocation loc;
  const UbsanTypeDescriptor* type;
  unsigned char log_alignment, type_check_kind;
};
struct UbsanOutOfBoundsData {
  UbsanSourceLocation loc;
  const UbsanTypeDescriptor* array_type;
  const UbsanTypeDescriptor* index_type;
};

/** Formats into stack buffers only: the failing fiber is abandoned (see fail_fiber). */
void memory_check_failed(const UbsanSourceLocation& loc, const char* what) {
  const char* file = emu::base_name(loc.file ? loc.file : "?");
  if (emu::tl_fiber) emu::fail_fiber(*emu::tl_fiber, "%s (%s:%u:%u)", what, file, loc.line, loc.column);
  fprintf(stderr, "lorastream-emu: %s (%s:%u:%u), outside an emulated kernel\n", what, file, loc.line, loc.column);
}

void type_mismatch(const UbsanTypeMismatchData* d, uintptr_t ptr) {
  const char* kinds[] = {"load of", "store to", "reference binding to", "member access within", "member call on"};
  const char* kind = d->type_check_kind < 5 ? kinds[d->type_check_kind] : "access to";
  const char* type = d->type ? d->type->name : "?";
  char what[512];
  if (ptr == 0)
    snprintf(what, sizeof what, "%s null pointer of type %s", kind, type);
  else
    snprintf(what, sizeof what, "misaligned %s address %p for type %s, which needs %u-byte alignment", kind, (void*)ptr,
             type, 1u << d->log_alignment);
  memory_check_failed(d->loc, what);
}

void out_of_bounds(const UbsanOutOfBoundsData* d, uintptr_t index) {
  char idx[32] = "?";
  const UbsanTypeDescriptor* t = d->index_type;
  if (t && t->kind == 0 && (t->info >> 1) <= 6) {  // an integer of at most 64 bits: the handle is the value
    const unsigned bits = 1u << (t->info >> 1);
    if (t->info & 1)
      snprintf(idx, sizeof idx, "%lld", bits == 64 ? (long long)index : (long long)(index << (64 - bits)) >> (64 - bits));
    else
      snprintf(idx, sizeof idx, "%llu", bits == 64 ? (unsigned long long)index : index & ((1ull << bits) - 1));
  }
  char what[512];
  snprintf(what, sizeof what, "index %s out of bounds for type %s", idx, d->array_type ? d->array_type->name : "?");
  memory_check_failed(d->loc, what);
}
}  // namespace

extern "C" {
EMU_API void __ubsan_handle_type_mismatch_v1(UbsanTypeMismatchData* d, uintptr_t ptr) { type_mismatch(d, ptr); }
EMU_API void __ubsan_handle_type_mismatch_v1_abort(UbsanTypeMismatchData* d, uintptr_t ptr) { type_mismatch(d, ptr); }
EMU_API void __ubsan_handle_out_of_bounds(UbsanOutOfBoundsData* d, uintptr_t index) { out_of_bounds(d, index); }
EMU_API void __ubsan_handle_out_of_bounds_abort(UbsanOutOfBoundsData* d, uintptr_t index) { out_of_bounds(d, index); }
}

namespace emu {

void register_kernels(const KernelEntry* entries, int n) { registry().insert(registry().end(), entries, entries + n); }

int launch_entry(const KernelEntry& k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                 unsigned dynamic_smem_bytes, void* const* params) {
  // Geometry limits of compute capability 8.0/9.0 (Programming Guide, "Compute Capabilities", table
  // "Technical Specifications per Compute Capability") and the kernel's own __launch_bounds__.
  const std::string what = strf("%s<<<(%u,%u,%u), (%u,%u,%u)>>>", k.name, gx, gy, gz, bx, by, bz);
  if (!gx || !gy || !gz || !bx || !by || !bz) return set_error(2, what + ": every grid and block dimension must be >= 1");
  if (bx > 1024 || by > 1024 || bz > 64) return set_error(2, what + ": block dimensions are limited to (1024, 1024, 64)");
  const unsigned long long threads = (unsigned long long)bx * by * bz;
  if (threads > kMaxThreads) return set_error(2, what + strf(": %llu threads per block, at most 1024", threads));
  if (gx > 2147483647u || gy > 65535 || gz > 65535)
    return set_error(2, what + ": grid dimensions are limited to (2^31-1, 65535, 65535)");
  if (threads > (unsigned long long)k.launch_bound)
    return set_error(2, what + strf(": %llu threads per block exceed the kernel's __launch_bounds__(%d)", threads,
                                    k.launch_bound));
  if (dynamic_smem_bytes != 0)
    return set_error(2, what + strf(": %u bytes of dynamic shared memory requested; the kernels use none",
                                    dynamic_smem_bytes));
  if (!params && k.params[0] != '\0') return set_error(2, what + ": params is null");

  std::lock_guard<std::mutex> guard(g_launch_mutex);
  if (g_reverse.load() < 0) g_reverse.store(env_int("LORASTREAM_EMU_REVERSE", 0) ? 1 : 0);
  if (g_workers.load() == 0) g_workers.store(std::clamp(env_int("LORASTREAM_EMU_WORKERS", 1), 1, 64));
  const Launch L{&k, params, dim3(gx, gy, gz), dim3(bx, by, bz), (unsigned)threads, g_reverse.load() == 1};
  const unsigned long long blocks = (unsigned long long)gx * gy * gz;
  const unsigned nw = (unsigned)std::min<unsigned long long>(g_workers.load(), blocks);
  for (unsigned i = 0; i < nw; ++i)
    if (!worker(i).ensure_stacks()) return set_error(3, what + strf(": cannot map fiber stacks (errno %d)", errno));

  // Workers take blocks in grid order. After block b fails no block past b starts, and every block before b
  // has started and runs to its end, so the error reported (the failing block with the lowest index) does
  // not depend on the number of workers.
  std::atomic<unsigned long long> next{0}, first_failed{~0ull};
  unsigned long long failed_block[64];
  std::string failed_msg[64];
  auto work = [&](unsigned wi) {
    Worker& w = worker(wi);
    failed_block[wi] = ~0ull;
    for (;;) {
      const unsigned long long b = next.fetch_add(1);
      if (b >= blocks || b > first_failed.load()) return;
      const uint3 bid = make_uint3((unsigned)(b % gx), (unsigned)(b / gx % gy), (unsigned)(b / gx / gy));
      if (!run_block(w, L, bid)) {
        failed_block[wi] = b;
        failed_msg[wi] = strf("block (%u,%u,%u): ", bid.x, bid.y, bid.z) + w.error;
        unsigned long long cur = first_failed.load();
        while (b < cur && !first_failed.compare_exchange_weak(cur, b)) {
        }
        return;
      }
    }
  };
  if (nw == 1) {
    work(0);
  } else {
    std::vector<std::thread> helpers;
    for (unsigned i = 1; i < nw; ++i) helpers.emplace_back(work, i);
    work(0);
    for (auto& t : helpers) t.join();
  }
  if (first_failed.load() == ~0ull) return 0;
  for (unsigned i = 0; i < nw; ++i)
    if (failed_block[i] == first_failed.load()) return set_error(3, "kernel " + what + " " + failed_msg[i]);
  return set_error(3, "kernel " + what + ": failed");  // unreachable
}

}  // namespace emu

// ---- C API ---------------------------------------------------------------------------------------------------

extern "C" {

int emu_launch(const char* symbol, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               unsigned dynamic_smem_bytes, void** params) {
  const emu::KernelEntry* k = emu::find(symbol);
  if (!k) return emu::set_error(1, std::string("unknown kernel symbol: ") + (symbol ? symbol : "(null)"));
  return emu::launch_entry(*k, gx, gy, gz, bx, by, bz, dynamic_smem_bytes, params);
}

const char* emu_last_error(void) {
  static thread_local std::string copy;  // stays valid until this thread calls again
  std::lock_guard<std::mutex> g(emu::g_error_mutex);
  copy = emu::g_last_error;
  return copy.c_str();
}

int emu_symbol_count(void) { return (int)emu::table().size(); }

const char* emu_symbol_name(int i) {
  const auto& t = emu::table();
  return i >= 0 && i < (int)t.size() ? t[i].name : nullptr;
}

int emu_launch_bound(const char* symbol) {
  const emu::KernelEntry* k = emu::find(symbol);
  return k ? k->launch_bound : -1;
}

const char* emu_symbol_params(const char* symbol) {
  const emu::KernelEntry* k = emu::find(symbol);
  return k ? k->params : nullptr;
}

void emu_set_thread_order(int reverse) { emu::g_reverse.store(reverse ? 1 : 0); }

void emu_set_workers(int n) { emu::g_workers.store(std::clamp(n, 1, 64)); }

}  // extern "C"
