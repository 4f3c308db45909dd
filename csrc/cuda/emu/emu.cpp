// csrc/cuda/emu/emu.cpp -- the CPU emulator's runtime: fibers, the per-block scheduler that
// implements __syncthreads and the warp collectives (and detects their misuse), the launch loop
// over blocks, and the emulated device memory. See emu.h for the model and its limits.
#include "cuda/emu/emu.h"

#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define PYDL_EMU_ASAN 1
#endif

__thread uint3 threadIdx;
__thread uint3 blockIdx;
__thread dim3 blockDim;
__thread dim3 gridDim;

// -- Context switch ---------------------------------------------------------------------------------
//
// pydl_emu_switch(save, to): saves the callee-saved registers (and MXCSR / x87 control word) on the
// current stack, stores the stack pointer in *save, loads `to` and restores from there. A new fiber's
// stack is laid out as if it had been switched away from inside pydl_emu_trampoline, which calls
// r13(r12). Everything else is caller-saved under the SysV ABI, so the compiler has already saved it.
#if defined(__x86_64__) && !defined(PYDL_EMU_UCONTEXT)
extern "C" void pydl_emu_switch(void** save, void* to);
extern "C" void pydl_emu_trampoline();
asm(R"(
  .pushsection .text
  .globl pydl_emu_switch
  .hidden pydl_emu_switch
  .type pydl_emu_switch, @function
pydl_emu_switch:
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
  .size pydl_emu_switch, .-pydl_emu_switch

  .globl pydl_emu_trampoline
  .hidden pydl_emu_trampoline
  .type pydl_emu_trampoline, @function
pydl_emu_trampoline:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size pydl_emu_trampoline, .-pydl_emu_trampoline
  .popsection
)");
#define PYDL_EMU_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

namespace pydl_emu {
namespace {

constexpr int kMaxThreadsPerBlock = 1024;
constexpr std::size_t kMaxDynamicShared = 227 * 1024;  // sm_90's opt-in limit
constexpr std::size_t kSmemGuard = 64;                 // canary bytes after dynamic shared memory
constexpr std::uint32_t kPadPattern = 0xFFF1C3A5u;     // a NaN as float, and twice as double
constexpr std::size_t kAllocPad = 256;                 // padding bytes after each allocation

std::size_t stack_bytes() {
  static const std::size_t n = [] {
    const char* s = std::getenv("PYDL_CUEMU_STACK_KB");
    long kb = s ? std::atol(s) : 0;
    if (kb < 16) kb = 64;
    return static_cast<std::size_t>(kb) * 1024;
  }();
  return n;
}

// "csrc/..." part of an absolute __FILE__, so messages are short and stable.
const char* short_path(const char* file) {
  if (!file) return "?";
  const char* p = std::strstr(file, "csrc/");
  return p ? p : file;
}
std::string site(const char* file, int line) {
  return std::string(short_path(file)) + ":" + std::to_string(line);
}

const char* op_name(int op) {
  switch (op) {
    case kSyncWarp: return "__syncwarp";
    case kShflIdx: return "__shfl_sync";
    case kShflUp: return "__shfl_up_sync";
    case kShflDown: return "__shfl_down_sync";
    case kShflXor: return "__shfl_xor_sync";
    case kBallot: return "__ballot_sync";
    case kAny: return "__any_sync";
    case kAll: return "__all_sync";
  }
  return "?";
}

std::string hex(unsigned v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

enum class St : std::uint8_t { kRunnable, kBarrier, kWarp, kExited };

struct Fiber {
  void* sp = nullptr;
  St st = St::kRunnable;
  uint3 tid{0, 0, 0};
  // Where it waits (barrier or collective) and the collective's operands / result.
  const char* file = nullptr;
  int line = 0;
  int op = 0;
  unsigned mask = 0;
  std::uint64_t value = 0;
  int arg = 0;
  int width = 32;
  std::uint64_t result = 0;
#if !defined(PYDL_EMU_ASM_SWITCH)
  ucontext_t uc;
#endif
};

// One fiber stack: mmap'd, with a PROT_NONE guard page below so an overflow faults at once
// instead of silently corrupting the neighbouring stack.
struct Stack {
  void* base = nullptr;
  std::size_t bytes = 0;
  explicit Stack(std::size_t usable) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    bytes = usable + page;
    base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1, 0);
    if (base == MAP_FAILED) throw std::runtime_error("pydl cuda-emu: cannot map a fiber stack");
    mprotect(base, page, PROT_NONE);
  }
  ~Stack() { if (base) munmap(base, bytes); }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  char* top() const { return static_cast<char*>(base) + bytes; }
};

struct Launch;

// Per OS thread: the block it is running, its fibers and their stacks, its dynamic shared memory.
struct Worker {
  std::vector<std::unique_ptr<Stack>> stacks;
  std::vector<Fiber> fibers;
  std::vector<int> order;  // the order fibers are resumed in
  std::vector<unsigned char> smem;
  std::size_t smem_bytes = 0;
  void* sched_sp = nullptr;
  // ASan's view of the scheduler's (OS thread's) stack, learnt on the first switch into a fiber.
  const void* asan_sched_bottom = nullptr;
  std::size_t asan_sched_size = 0;
#if !defined(PYDL_EMU_ASM_SWITCH)
  ucontext_t sched_uc;
#endif
  int cur = -1;
  int nthreads = 0;
  const Launch* launch = nullptr;
  std::string error;  // set by a fiber that found a fault in itself; the scheduler throws it
};

struct Launch {
  LaunchSite site;
  dim3 grid, block;
  std::size_t smem;
  void (*body)(void*);
  void* ctx;
};

__thread Worker* t_worker = nullptr;

Worker& worker() {
  static thread_local Worker w;
  return w;
}

std::mutex g_sched_mu;
Schedule g_sched = [] {
  Schedule s;
  auto env_order = [](const char* name, Order dflt) {
    const char* v = std::getenv(name);
    if (!v || !*v) return dflt;
    try {
      return parse_order(v);
    } catch (const std::exception&) {
      std::fprintf(stderr, "pydl cuda-emu: ignoring %s=%s (forward|reverse|random)\n", name, v);
      return dflt;
    }
  };
  s.block_order = env_order("PYDL_CUEMU_BLOCK_ORDER", kForward);
  s.thread_order = env_order("PYDL_CUEMU_THREAD_ORDER", kForward);
  if (const char* v = std::getenv("PYDL_CUEMU_SEED")) s.seed = std::strtoull(v, nullptr, 10);
  return s;
}();

std::string block_str(const uint3& b) {
  return "(" + std::to_string(b.x) + "," + std::to_string(b.y) + "," + std::to_string(b.z) + ")";
}

std::string where(const Worker& w) {
  const Launch& L = *w.launch;
  return std::string(" [kernel ") + (L.site.kernel + (std::strncmp(L.site.kernel, "launch of ", 10) == 0 ? 10 : 0)) +
         " launched at " + site(L.site.file, L.site.line) + ", block " + block_str(blockIdx) + "]";
}

// -- Switching ------------------------------------------------------------------------------------

void fiber_main(void* arg);

// Under ASan every switch is announced (start_switch_fiber before, finish_switch_fiber after), so
// that ASan knows which stack is current: otherwise it reports false stack overflows and cannot
// unpoison a fiber's frames. A fiber that will never be resumed passes nullptr (its fake stack dies).
void to_scheduler(Worker& w, bool final_switch = false) {
  Fiber& f = w.fibers[w.cur];
#if defined(PYDL_EMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(final_switch ? nullptr : &fake, w.asan_sched_bottom,
                                 w.asan_sched_size);
#else
  (void)final_switch;
#endif
#if defined(PYDL_EMU_ASM_SWITCH)
  pydl_emu_switch(&f.sp, w.sched_sp);
#else
  swapcontext(&f.uc, &w.sched_uc);
#endif
#if defined(PYDL_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake, &w.asan_sched_bottom, &w.asan_sched_size);
#endif
}

void resume(Worker& w, int i) {
  Fiber& f = w.fibers[i];
  w.cur = i;
  threadIdx = f.tid;
#if defined(PYDL_EMU_ASAN)
  void* fake = nullptr;
  const Stack& st = *w.stacks[i];
  const std::size_t guard = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  __sanitizer_start_switch_fiber(&fake, static_cast<char*>(st.base) + guard, st.bytes - guard);
#endif
#if defined(PYDL_EMU_ASM_SWITCH)
  pydl_emu_switch(&w.sched_sp, f.sp);
#else
  swapcontext(&w.sched_uc, &f.uc);
#endif
#if defined(PYDL_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  w.cur = -1;
}

void init_fiber(Worker& w, int i) {
  Fiber& f = w.fibers[i];
  char* top = w.stacks[i]->top();
#if defined(PYDL_EMU_ASM_SWITCH)
  auto* sp = reinterpret_cast<std::uint64_t*>(
      (reinterpret_cast<std::uintptr_t>(top) - 128) & ~std::uintptr_t{15});
  // The frame pydl_emu_switch pops: [mxcsr | x87 cw], r15, r14, r13, r12, rbx, rbp, return address.
  // After the `ret` the stack pointer is 16-byte aligned, as the trampoline's `call` needs.
  sp[0] = 0x1F80u | (std::uint64_t{0x037F} << 32);
  sp[1] = 0;
  sp[2] = 0;
  sp[3] = reinterpret_cast<std::uint64_t>(&fiber_main);  // r13: what the trampoline calls
  sp[4] = reinterpret_cast<std::uint64_t>(&w);           // r12: its argument
  sp[5] = 0;
  sp[6] = 0;
  sp[7] = reinterpret_cast<std::uint64_t>(&pydl_emu_trampoline);
  f.sp = sp;
#else
  getcontext(&f.uc);
  f.uc.uc_stack.ss_sp = static_cast<char*>(w.stacks[i]->base) + sysconf(_SC_PAGESIZE);
  f.uc.uc_stack.ss_size = w.stacks[i]->bytes - sysconf(_SC_PAGESIZE);
  f.uc.uc_link = nullptr;
  makecontext(&f.uc, reinterpret_cast<void (*)()>(&fiber_main), 0);
#endif
}

// A fault found by the running fiber itself: record it, then park the fiber for good and let the
// scheduler throw. Two steps, so that the message's temporaries are destroyed before the switch
// (an abandoned fiber never runs its destructors).
void record_fault(Worker& w, std::string msg) {
  if (w.error.empty()) w.error = std::move(msg);
}
[[noreturn]] void park_faulted(Worker& w) {
  w.fibers[w.cur].st = St::kExited;
  to_scheduler(w, /*final_switch=*/true);
  std::abort();  // never resumed
}
#define PYDL_EMU_FIBER_FAULT(w, msg) \
  do {                               \
    record_fault(w, msg);            \
    park_faulted(w);                 \
  } while (0)

void check_exit_against_waiters(Worker& w, int lane_index);

void fiber_main(void* arg) {
  Worker& w = arg ? *static_cast<Worker*>(arg) : *t_worker;
#if defined(PYDL_EMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &w.asan_sched_bottom, &w.asan_sched_size);
#endif
  w.launch->body(w.launch->ctx);
  w.fibers[w.cur].st = St::kExited;
  check_exit_against_waiters(w, w.cur);
  to_scheduler(w, /*final_switch=*/true);
  std::abort();  // an exited fiber is never resumed
}

// -- Warp collectives -----------------------------------------------------------------------------

int warp_of(int i) { return i / 32; }

// Fiber i (just exited): a lane of its warp that waits in a collective whose mask names i can never
// complete it.
void check_exit_against_waiters(Worker& w, int i) {
  const int base = warp_of(i) * 32;
  const int lane = i - base;
  for (int j = base; j < std::min(base + 32, w.nthreads); ++j) {
    const Fiber& f = w.fibers[j];
    if (f.st == St::kWarp && (f.mask >> lane & 1u)) {
      if (w.error.empty())
        w.error = std::string(op_name(f.op)) + " at " + site(f.file, f.line) + " with mask " +
                  hex(f.mask) + ": lane " + std::to_string(lane) +
                  " named in the mask exited without reaching it (thread " + std::to_string(i) +
                  ")" + where(w);
      return;
    }
  }
}

// Lanes of warp `wi` waiting with masks that are all present: compute results and release them.
void try_resolve(Worker& w, int i) {
  const Fiber& me = w.fibers[i];
  const int base = warp_of(i) * 32;
  const unsigned mask = me.mask;
  for (int l = 0; l < 32; ++l) {
    if (!(mask >> l & 1u)) continue;
    const Fiber& f = w.fibers[base + l];
    if (f.st != St::kWarp) return;  // not there yet (or at a barrier: found at the stall)
  }
  for (int l = 0; l < 32; ++l) {
    if (!(mask >> l & 1u)) continue;
    const Fiber& f = w.fibers[base + l];
    if (f.op != me.op || f.mask != mask) {
      w.error = std::string("mismatched warp collectives: lane ") + std::to_string(i - base) +
                " is in " + op_name(me.op) + " at " + site(me.file, me.line) + " with mask " +
                hex(mask) + ", lane " + std::to_string(l) + " in " + op_name(f.op) + " at " +
                site(f.file, f.line) + " with mask " + hex(f.mask) + where(w);
      return;
    }
  }
  std::uint64_t vote_bits = 0;
  for (int l = 0; l < 32; ++l)
    if ((mask >> l & 1u) && w.fibers[base + l].value) vote_bits |= std::uint64_t{1} << l;
  for (int l = 0; l < 32; ++l) {
    if (!(mask >> l & 1u)) continue;
    Fiber& f = w.fibers[base + l];
    const int width = f.width;
    const int seg = l & ~(width - 1);
    int src = l;
    switch (f.op) {
      case kShflIdx: src = seg + (f.arg & (width - 1)); break;
      case kShflUp: src = (l - f.arg >= seg) ? l - f.arg : l; break;
      case kShflDown: src = (l + f.arg < seg + width) ? l + f.arg : l; break;
      case kShflXor: src = ((l ^ f.arg) < seg + width) ? (l ^ f.arg) : l; break;
      default: break;
    }
    switch (f.op) {
      case kSyncWarp: f.result = 0; break;
      case kBallot: f.result = vote_bits; break;
      case kAny: f.result = vote_bits != 0; break;
      case kAll: f.result = vote_bits == mask; break;
      default:
        if (!(mask >> src & 1u)) {
          w.error = std::string(op_name(f.op)) + " at " + site(f.file, f.line) + " with mask " +
                    hex(mask) + ": lane " + std::to_string(l) + " reads lane " +
                    std::to_string(src) + ", which is not in the mask" + where(w);
          return;
        }
        f.result = w.fibers[base + src].value;
    }
  }
  for (int l = 0; l < 32; ++l)
    if (mask >> l & 1u) w.fibers[base + l].st = St::kRunnable;
}

}  // namespace

std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width,
                              const char* file, int line) {
  Worker* wp = t_worker;
  if (!wp || wp->cur < 0)
    throw std::logic_error(std::string(op_name(op)) + " called outside a kernel at " + site(file, line));
  Worker& w = *wp;
  const int i = w.cur;
  const int base = warp_of(i) * 32;
  const int lane = i - base;
  const int warp_size = std::min(32, w.nthreads - base);
  if (width <= 0 || width > 32 || (width & (width - 1)))
    PYDL_EMU_FIBER_FAULT(w, std::string(op_name(op)) + " at " + site(file, line) + ": width " +
                       std::to_string(width) + " is not a power of two in [1, 32]" + where(w));
  if (!(mask >> lane & 1u))
    PYDL_EMU_FIBER_FAULT(w, std::string(op_name(op)) + " at " + site(file, line) + " with mask " +
                       hex(mask) + ": called by lane " + std::to_string(lane) +
                       ", which is not in the mask" + where(w));
  if (warp_size < 32 && (mask >> warp_size))
    PYDL_EMU_FIBER_FAULT(w, std::string(op_name(op)) + " at " + site(file, line) + " with mask " +
                       hex(mask) + ": names lanes >= " + std::to_string(warp_size) +
                       ", which do not exist in this warp of a " + std::to_string(w.nthreads) +
                       "-thread block" + where(w));
  for (int l = 0; l < warp_size; ++l)
    if ((mask >> l & 1u) && w.fibers[base + l].st == St::kExited)
      PYDL_EMU_FIBER_FAULT(w, std::string(op_name(op)) + " at " + site(file, line) + " with mask " +
                         hex(mask) + ": lane " + std::to_string(l) +
                         " named in the mask has exited" + where(w));
  Fiber& f = w.fibers[i];
  f.st = St::kWarp;
  f.op = op;
  f.mask = mask;
  f.value = value;
  f.arg = arg;
  f.width = width;
  f.file = file;
  f.line = line;
  try_resolve(w, i);
  if (!w.error.empty()) park_faulted(w);
  if (f.st == St::kWarp) to_scheduler(w);  // wait for the other lanes
  // Released: either just now by this lane (no switch) or later by the last lane to arrive.
  return f.result;
}

void syncthreads(const char* file, int line) {
  Worker* wp = t_worker;
  if (!wp || wp->cur < 0)
    throw std::logic_error("__syncthreads called outside a kernel at " + site(file, line));
  Worker& w = *wp;
  Fiber& f = w.fibers[w.cur];
  f.st = St::kBarrier;
  f.file = file;
  f.line = line;
  to_scheduler(w);
}

unsigned char* dynamic_shared() {
  Worker* wp = t_worker;
  if (!wp || wp->cur < 0) throw std::logic_error("dynamic shared memory used outside a kernel");
  return wp->smem.data() + kSmemGuard;
}

namespace {

// Runs one block to completion on this OS thread; throws on a fault.
void run_block(Worker& w, const Launch& L, uint3 bidx, std::uint64_t block_seed, Order torder) {
  blockIdx = bidx;
  const int n = w.nthreads;
  // Dynamic shared memory: [guard][smem][guard], all 0xFF; the guards are checked at block end.
  std::memset(w.smem.data(), 0xFF, w.smem.size());
  for (int i = 0; i < n; ++i) {
    Fiber& f = w.fibers[i];
    f.st = St::kRunnable;
    f.tid = uint3{static_cast<unsigned>(i % L.block.x),
                  static_cast<unsigned>((i / L.block.x) % L.block.y),
                  static_cast<unsigned>(i / (L.block.x * L.block.y))};
    init_fiber(w, i);
  }
  std::iota(w.order.begin(), w.order.end(), 0);
  if (torder == kReverse) std::reverse(w.order.begin(), w.order.end());
  if (torder == kRandom) {
    std::mt19937_64 rng(block_seed);
    std::shuffle(w.order.begin(), w.order.end(), rng);
  }
  for (;;) {
    bool ran = false;
    for (int k = 0; k < n; ++k) {
      const int i = w.order[k];
      if (w.fibers[i].st != St::kRunnable) continue;
      resume(w, i);
      ran = true;
      if (!w.error.empty()) throw std::runtime_error("pydl cuda-emu: " + w.error);
    }
    if (ran) continue;
    // Nobody can run: the block is done, at a barrier, or stuck.
    int exited = 0, at_barrier = 0, first_barrier = -1, first_warp = -1;
    for (int i = 0; i < n; ++i) {
      const Fiber& f = w.fibers[i];
      if (f.st == St::kExited) ++exited;
      if (f.st == St::kBarrier) {
        ++at_barrier;
        if (first_barrier < 0) first_barrier = i;
      }
      if (f.st == St::kWarp && first_warp < 0) first_warp = i;
    }
    if (exited == n) break;
    if (first_warp >= 0) {
      const Fiber& f = w.fibers[first_warp];
      std::string msg = std::string(op_name(f.op)) + " at " + site(f.file, f.line) + " with mask " +
                        hex(f.mask) + " (thread " + std::to_string(first_warp) +
                        ") waits forever: ";
      const int base = warp_of(first_warp) * 32;
      for (int l = 0; l < 32; ++l) {
        if (!(f.mask >> l & 1u) || base + l >= n) continue;
        const Fiber& g = w.fibers[base + l];
        if (g.st == St::kBarrier) {
          msg += "lane " + std::to_string(l) + " waits at __syncthreads at " + site(g.file, g.line);
          break;
        }
        if (g.st == St::kWarp && (g.op != f.op || g.mask != f.mask)) {
          msg += "lane " + std::to_string(l) + " waits in " + op_name(g.op) + " at " +
                 site(g.file, g.line) + " with mask " + hex(g.mask);
          break;
        }
      }
      throw std::runtime_error("pydl cuda-emu: " + msg + where(w));
    }
    const Fiber& b = w.fibers[first_barrier];
    for (int i = 0; i < n; ++i) {
      const Fiber& f = w.fibers[i];
      if (f.st == St::kBarrier && (f.line != b.line || std::strcmp(f.file, b.file) != 0))
        throw std::runtime_error(
            "pydl cuda-emu: divergent __syncthreads: thread " + std::to_string(first_barrier) +
            " waits at " + site(b.file, b.line) + ", thread " + std::to_string(i) + " at " +
            site(f.file, f.line) + where(w));
    }
    if (exited > 0)
      throw std::runtime_error("pydl cuda-emu: divergent __syncthreads at " +
                               site(b.file, b.line) + ": " + std::to_string(exited) + " of " +
                               std::to_string(n) +
                               " threads exited without reaching it (e.g. an early return)" +
                               where(w));
    for (int i = 0; i < n; ++i) w.fibers[i].st = St::kRunnable;  // everyone arrived: release
  }
  for (std::size_t k = 0; k < kSmemGuard; ++k) {
    if (w.smem[k] != 0xFF || w.smem[kSmemGuard + w.smem_bytes + k] != 0xFF)
      throw std::runtime_error("pydl cuda-emu: out-of-bounds write " +
                               std::string(w.smem[k] != 0xFF ? "before the start" : "past the end") +
                               " of the " + std::to_string(w.smem_bytes) +
                               "-byte dynamic shared memory" + where(w));
  }
}

void prepare_worker(Worker& w, const Launch& L) {
  const int n = static_cast<int>(L.block.x * L.block.y * L.block.z);
  w.launch = &L;
  w.nthreads = n;
  w.error.clear();
  while (static_cast<int>(w.stacks.size()) < n)
    w.stacks.push_back(std::make_unique<Stack>(stack_bytes()));
  w.fibers.assign(n, Fiber{});
  w.order.assign(n, 0);
  w.smem_bytes = L.smem;
  w.smem.assign(L.smem + 2 * kSmemGuard, 0xFF);
  blockDim = L.block;
  gridDim = L.grid;
  t_worker = &w;
}

void check_allocations(const LaunchSite& s);

}  // namespace

void launch_impl(const LaunchSite& s, dim3 grid, dim3 block, std::size_t smem_bytes,
                 void (*body)(void*), void* ctx) {
  if (t_worker && t_worker->cur >= 0)
    throw std::logic_error("pydl cuda-emu: kernel launch from inside a kernel at " +
                           site(s.file, s.line));
  const std::uint64_t nthreads = std::uint64_t{block.x} * block.y * block.z;
  const std::uint64_t nblocks = std::uint64_t{grid.x} * grid.y * grid.z;
  auto bad = [&](const std::string& why) {
    throw std::runtime_error(std::string("CUDA error: ") + s.kernel +
                             " failed: invalid configuration argument (" + why + ") at " +
                             site(s.file, s.line));
  };
  if (nthreads == 0 || nblocks == 0) bad("zero-sized grid or block");
  if (nthreads > kMaxThreadsPerBlock || block.z > 64) bad("block too large");
  if (grid.y > 65535 || grid.z > 65535) bad("grid.y/grid.z > 65535");
  if (smem_bytes > kMaxDynamicShared) bad("dynamic shared memory > 227 KiB");

  const Launch L{s, grid, block, smem_bytes, body, ctx};
  const Schedule sch = get_schedule();
  std::vector<std::uint64_t> order(nblocks);
  std::iota(order.begin(), order.end(), 0);
  if (sch.block_order == kReverse) std::reverse(order.begin(), order.end());
  if (sch.block_order == kRandom) {
    std::mt19937_64 rng(sch.seed * 0x9E3779B97F4A7C15ull + 1);
    std::shuffle(order.begin(), order.end(), rng);
  }
  std::atomic<bool> failed{false};
  std::string first_error;
  std::mutex err_mu;
  const std::int64_t nb = static_cast<std::int64_t>(nblocks);
  const int nthr = static_cast<int>(
      std::min<std::int64_t>(sch.num_threads > 0 ? sch.num_threads : omp_get_max_threads(), nb));
#pragma omp parallel num_threads(nthr) if (nb > 1)
  {
    Worker& w = worker();
    Worker* saved = t_worker;
    try {
      prepare_worker(w, L);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lk(err_mu);
      if (!failed.exchange(true)) first_error = e.what();
    }
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t k = 0; k < nb; ++k) {
      if (failed.load(std::memory_order_relaxed)) continue;
      const std::uint64_t b = order[k];
      const uint3 bidx{static_cast<unsigned>(b % grid.x),
                       static_cast<unsigned>((b / grid.x) % grid.y),
                       static_cast<unsigned>(b / (std::uint64_t{grid.x} * grid.y))};
      try {
        run_block(w, L, bidx, sch.seed * 1000003ull + b, sch.thread_order);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lk(err_mu);
        if (!failed.exchange(true)) first_error = e.what();
      }
    }
    w.cur = -1;
    w.launch = nullptr;
    t_worker = saved;
  }
  if (failed) throw std::runtime_error(first_error);
  check_allocations(s);
}

// -- Schedule ---------------------------------------------------------------------------------------

void set_schedule(const Schedule& s) {
  std::lock_guard<std::mutex> lk(g_sched_mu);
  g_sched = s;
}
Schedule get_schedule() {
  std::lock_guard<std::mutex> lk(g_sched_mu);
  return g_sched;
}
Order parse_order(const std::string& name) {
  if (name == "forward") return kForward;
  if (name == "reverse") return kReverse;
  if (name == "random") return kRandom;
  throw std::invalid_argument("cuda-emu: order must be 'forward', 'reverse' or 'random', got '" +
                              name + "'");
}
const char* order_name(Order o) {
  return o == kForward ? "forward" : o == kReverse ? "reverse" : "random";
}

// -- Emulated device memory -------------------------------------------------------------------------

namespace {

std::mutex g_mem_mu;
std::map<std::uintptr_t, std::size_t>& allocations() {
  static std::map<std::uintptr_t, std::size_t> m;
  return m;
}

std::size_t padded(std::size_t n) { return (n + 255) / 256 * 256 + kAllocPad; }

void fill_pad(unsigned char* p, std::size_t from, std::size_t to) {
  for (std::size_t k = from; k < to; ++k) {
    const std::uint32_t pat = kPadPattern;
    p[k] = reinterpret_cast<const unsigned char*>(&pat)[k & 3];
  }
}

// The first byte of the padding after [p, p+n) that is no longer the pattern, or npos.
std::size_t pad_damage(const unsigned char* p, std::size_t n) {
#if defined(PYDL_EMU_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(p + n, padded(n) - n);
#endif
  std::size_t bad = std::string::npos;
  const std::uint32_t pat = kPadPattern;
  for (std::size_t k = n; k < padded(n); ++k)
    if (p[k] != reinterpret_cast<const unsigned char*>(&pat)[k & 3]) {
      bad = k;
      break;
    }
#if defined(PYDL_EMU_ASAN)
  ASAN_POISON_MEMORY_REGION(p + n, padded(n) - n);
#endif
  return bad;
}

void check_allocations(const LaunchSite& s) {
  std::lock_guard<std::mutex> lk(g_mem_mu);
  for (const auto& [addr, n] : allocations()) {
    const std::size_t bad = pad_damage(reinterpret_cast<const unsigned char*>(addr), n);
    if (bad != std::string::npos) {
      // Repair, so the next launch does not report the same damage.
      fill_pad(reinterpret_cast<unsigned char*>(addr), n, padded(n));
      throw std::runtime_error("pydl cuda-emu: out-of-bounds write " + std::to_string(bad - n) +
                               " bytes past the end of a " + std::to_string(n) +
                               "-byte device allocation, found after the " + s.kernel + " at " +
                               site(s.file, s.line));
    }
  }
}

thread_local cudaError_t t_last_error = cudaSuccess;

cudaError_t fail(cudaError_t e) {
  t_last_error = e;
  return e;
}

}  // namespace

std::size_t live_allocations() {
  std::lock_guard<std::mutex> lk(g_mem_mu);
  return allocations().size();
}

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  t_last_error = cudaSuccess;
  throw std::runtime_error(std::string("CUDA error: ") + call + " failed: " +
                           cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ") at " +
                           site(file, line));
}

}  // namespace pydl_emu

using pydl_emu::fail;

cudaError_t cudaMalloc(void** ptr, std::size_t nbytes) {
  if (!ptr) return fail(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (nbytes == 0) return cudaSuccess;
  if (nbytes > (std::size_t{1} << 40)) return fail(cudaErrorMemoryAllocation);
  const std::size_t total = pydl_emu::padded(nbytes);
  auto* p = static_cast<unsigned char*>(std::aligned_alloc(256, total));
  if (!p) return fail(cudaErrorMemoryAllocation);
  std::memset(p, 0xFF, nbytes);  // uninitialised device memory reads as NaN
  pydl_emu::fill_pad(p, nbytes, total);
#if defined(PYDL_EMU_ASAN)
  ASAN_POISON_MEMORY_REGION(p + nbytes, total - nbytes);
#endif
  {
    std::lock_guard<std::mutex> lk(pydl_emu::g_mem_mu);
    pydl_emu::allocations()[reinterpret_cast<std::uintptr_t>(p)] = nbytes;
  }
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  std::size_t n = 0;
  {
    std::lock_guard<std::mutex> lk(pydl_emu::g_mem_mu);
    auto it = pydl_emu::allocations().find(reinterpret_cast<std::uintptr_t>(ptr));
    if (it == pydl_emu::allocations().end()) return fail(cudaErrorInvalidValue);
    n = it->second;
    pydl_emu::allocations().erase(it);
  }
  (void)n;  // used by the ASan build
#if defined(PYDL_EMU_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(static_cast<unsigned char*>(ptr) + n, pydl_emu::padded(n) - n);
#endif
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t nbytes, cudaMemcpyKind kind) {
  if (nbytes == 0) return cudaSuccess;
  if (!dst || !src || kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return fail(cudaErrorInvalidValue);
  std::memmove(dst, src, nbytes);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* ptr, int value, std::size_t nbytes) {
  if (nbytes == 0) return cudaSuccess;
  if (!ptr) return fail(cudaErrorInvalidValue);
  std::memset(ptr, value, nbytes);
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = pydl_emu::t_last_error;
  pydl_emu::t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return pydl_emu::t_last_error; }
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }  // launches are synchronous

const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}
const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
