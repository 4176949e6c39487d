// The CUDA emulator's launches, barriers and warp exchanges (contract in emu/emu.h). Each thread
// of a block (of a cluster's blocks, in cluster launches) is a fiber (emu/fiber.h) on a stack from
// a pool; the scheduler runs every ready fiber in thread order until it finishes or waits at a
// barrier, then releases the barriers that every thread they name has reached, and repeats. A
// thread whose mbarrier poll fails (emu/tma.cc) yields and polls again next round. A round that
// releases nothing, while threads still wait and no mbarrier changed, starts the cluster's next
// block where one has not started, and is otherwise a deadlock: the launch fails with the waiting
// threads named.
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include <array>
#include <cstdio>
#include <deque>
#include <map>
#include <vector>

#include "emu.h"
#include "fiber.h"

namespace emu {

uint3 g_thread_idx;
uint3 g_block_idx;
dim3 g_block_dim, g_grid_dim;
void (*g_access_hook)(const void*, const void*, unsigned, bool) = nullptr;
void (*g_block_end_hook)(size_t) = nullptr;
const RaceHooks* g_race_hooks = nullptr;

namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kDefaultSmem = 48 * 1024;
constexpr size_t kMaxSmem = 227 * 1024;  // the largest opt-in of the cards the package targets

enum class State { Ready, AtBlock, AtCluster, AtWarp, Polling, Done };

struct Copy {
  void* dst;
  const void* src;
  bool valid;
  uint64_t token;  // the race checker's, from its issue
};

struct Thread {
  FiberContext ctx;
  void* stack = nullptr;
  State state = State::Done;
  unsigned mask = 0;  // lanes named by the warp barrier this thread waits at
  uint3 tid{}, block{};
  int lane = 0, warp = 0;  // warp: its index over the cluster's threads
  unsigned cta = 0;        // its block's rank in the cluster
  int snapshot = -1;  // which of its warp's snapshots a released gather reads
  std::vector<Copy> pending;
  std::deque<std::vector<Copy>> groups;
};

struct Warp {
  unsigned char slots[32][kGatherSlot];
  std::vector<std::array<unsigned char, 32 * kGatherSlot>> snapshots;
};

struct Grid {
  std::vector<Thread> threads;
  std::vector<Warp> warps;
  std::vector<unsigned char> smem_store;
  unsigned char* smem = nullptr;  // 128-byte aligned inside smem_store: rank r's at smem + r·smem_stride
  size_t smem_bytes = 0;          // the running launch's dynamic shared memory, per block
  size_t smem_stride = 0;
  unsigned cluster = 1;           // blocks a cluster in the running launch
  FiberContext scheduler;
  Thread* current = nullptr;
  const std::function<void()>* body = nullptr;
  const char* site = nullptr;  // the running launch's
  std::string error;
  bool abandoned = false;  // a block stopped with fibers mid-call (their frames never returned)
  uint64_t events = 0;     // mbarrier changes (note_mbarrier_event), for the deadlock check
};

Grid& grid() {
  static Grid g;
  return g;
}

std::map<const void*, size_t>& smem_limits() {
  static std::map<const void*, size_t> m;
  return m;
}

void* new_stack() {
  void* p = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void thread_main() {
  Grid& g = grid();
  (*g.body)();
  g.current->state = State::Done;
  fiber_switch(&g.current->ctx, &g.scheduler);
}

void wait_here(State s, unsigned mask) {
  Grid& g = grid();
  Thread* t = g.current;
  t->state = s;
  t->mask = mask;
  fiber_switch(&t->ctx, &g.scheduler);
}

std::string where(const Thread& t) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "thread (%u,%u,%u) of block (%u,%u,%u)", t.tid.x, t.tid.y, t.tid.z, t.block.x, t.block.y,
                t.block.z);
  return buf;
}

// Releases the threads of [begin, end) that wait in state `at` when every live one of them does
// (and one at least); false otherwise.
bool release_all_at(Grid& g, size_t begin, size_t end, State at) {
  bool any = false;
  for (size_t i = begin; i < end; ++i) {
    const State s = g.threads[i].state;
    if (s == State::Done) continue;
    if (s != at) return false;
    any = true;
  }
  if (!any) return false;
  for (size_t i = begin; i < end; ++i)
    if (g.threads[i].state == at) g.threads[i].state = State::Ready;
  if (g_race_hooks) g_race_hooks->block_barrier();
  return true;
}

// Releases the warp barriers whose named lanes all wait there, else the cluster barrier once every
// live thread of the cluster waits at it, else each block's barrier once every live thread of the
// block waits at it (nthreads: the cluster's threads, g.cluster blocks of equal size). False when
// nothing could be released. While threads poll mbarriers, a barrier that cannot be released yet
// is not a deadlock: the pollers may still reach it.
bool release(Grid& g, size_t nthreads, size_t nwarps, bool polling) {
  for (size_t w = 0; w < nwarps; ++w) g.warps[w].snapshots.clear();
  bool released = false;
  for (size_t w = 0; w < nwarps; ++w) {
    Thread* lanes = &g.threads[w * 32];
    const int width = int(std::min<size_t>(32, nthreads - w * 32));
    for (int l = 0; l < width; ++l) {
      if (lanes[l].state != State::AtWarp) continue;
      const unsigned mask = lanes[l].mask;
      bool all = true;
      for (int m = 0; m < width && all; ++m) {
        if (!(mask >> m & 1u)) continue;
        if (lanes[m].state == State::Done) {
          fail("a warp-collective operation names lane " + std::to_string(m) + ", which has exited (" +
               where(lanes[l]) + ")");
          return false;
        }
        all = lanes[m].state == State::AtWarp && lanes[m].mask == mask;
      }
      if (!all) continue;
      Warp& wp = g.warps[w];
      wp.snapshots.emplace_back();
      std::memcpy(wp.snapshots.back().data(), wp.slots, sizeof wp.slots);
      for (int m = 0; m < width; ++m) {
        if (!(mask >> m & 1u)) continue;
        lanes[m].state = State::Ready;
        lanes[m].snapshot = int(wp.snapshots.size()) - 1;
      }
      if (g_race_hooks) g_race_hooks->warp_barrier(int(w), mask);
      released = true;
    }
  }
  if (released) return true;
  if (release_all_at(g, 0, nthreads, State::AtCluster)) return true;
  const size_t per_block = nthreads / g.cluster;
  for (size_t b = 0; b < g.cluster; ++b)
    released = release_all_at(g, b * per_block, (b + 1) * per_block, State::AtBlock) || released;
  if (released || polling) return released;
  for (size_t i = 0; i < nthreads; ++i)
    if (g.threads[i].state == State::AtWarp) {
      fail("deadlock: " + where(g.threads[i]) + " waits at a warp barrier its named lanes never reach");
      return false;
    }
  return false;
}

const Thread* first_polling(const Grid& g, size_t nthreads) {
  for (size_t i = 0; i < nthreads; ++i)
    if (g.threads[i].state == State::Polling) return &g.threads[i];
  return &g.threads[0];
}

// Runs the cluster whose first block is `first` (g.cluster blocks along x, per_block threads each).
// Its blocks start one at a time: block r + 1 once blocks 0..r can make no progress alone.
void run_cluster(Grid& g, uint3 first, size_t per_block) {
  const size_t nthreads = per_block * g.cluster;
  std::memset(g.smem, 0xff, g.smem_stride * g.cluster);
  for (size_t i = 0; i < nthreads; ++i) {
    Thread& t = g.threads[i];
    const size_t local = i % per_block;
    t.state = State::Ready;
    t.tid = uint3{unsigned(local % g_block_dim.x), unsigned(local / g_block_dim.x % g_block_dim.y),
                  unsigned(local / (size_t(g_block_dim.x) * g_block_dim.y))};
    t.cta = unsigned(i / per_block);
    t.block = uint3{first.x + t.cta, first.y, first.z};
    t.lane = int(i % 32);
    t.warp = int(i / 32);
    t.pending.clear();
    t.groups.clear();
    fiber_make(&t.ctx, t.stack, kStackBytes, thread_main);
  }
  wgmma_end_block(false);
  mbarrier_block_start();
  if (g_race_hooks) g_race_hooks->block_start(nthreads);
  const size_t nwarps = (nthreads + 31) / 32;
  size_t started = per_block;  // threads [0, started) run; the others' blocks have not started yet
  for (;;) {
    const uint64_t events_before = g.events;
    for (size_t i = 0; i < started; ++i) {
      Thread& t = g.threads[i];
      if (t.state != State::Ready) continue;
      g.current = &t;
      g_thread_idx = t.tid;
      g_block_idx = t.block;
      fiber_switch(&g.scheduler, &t.ctx);
    }
    g.current = nullptr;
    if (!g.error.empty()) {
      g.abandoned = true;
      break;
    }
    bool done = true;
    for (size_t i = 0; i < nthreads && done; ++i) done = g.threads[i].state == State::Done;
    if (done) {
      wgmma_end_block(true);
      break;
    }
    bool polling = false;
    for (size_t i = 0; i < nthreads && !polling; ++i) polling = g.threads[i].state == State::Polling;
    const bool released = release(g, nthreads, nwarps, polling);
    if (polling && (released || g.events != events_before)) {
      for (size_t i = 0; i < nthreads; ++i)
        if (g.threads[i].state == State::Polling) g.threads[i].state = State::Ready;
      continue;
    }
    if (!released && started < nthreads) {  // the started blocks are stuck (or done): start the next
      started += per_block;
      continue;
    }
    if (!released) {
      if (g.error.empty())
        fail(polling ? "deadlock: threads poll mbarriers that no running thread can complete (" + where(*first_polling(g, nthreads)) + ")"
                     : "deadlock: threads wait at barriers that cannot be released");
      g.abandoned = true;
      break;
    }
  }
  if (g_block_end_hook) g_block_end_hook(nthreads);
}

}  // namespace

int lane() { return grid().current->lane; }
void* dynamic_smem() {
  const Grid& g = grid();
  return g.smem + (g.current ? g.current->cta * g.smem_stride : 0);
}
size_t dynamic_smem_bytes() { return grid().smem_bytes; }
int running_thread() {
  const Grid& g = grid();
  return g.current ? int(g.current - g.threads.data()) : -1;
}

void fail(const std::string& what) {
  Grid& g = grid();
  if (g.error.empty()) g.error = what;
}

void sync_block() { wait_here(State::AtBlock, 0); }
void sync_cluster() { wait_here(State::AtCluster, 0); }
unsigned cluster_rank() { return grid().current ? grid().current->cta : 0; }
unsigned cluster_size() { return grid().cluster; }

bool cluster_block_exited(unsigned rank) {
  const Grid& g = grid();
  const size_t per_block = size_t(g_block_dim.x) * g_block_dim.y * g_block_dim.z;
  for (size_t i = rank * per_block; i < (rank + 1) * per_block; ++i)
    if (g.threads[i].state != State::Done) return false;
  return true;
}

void* cluster_peer(const void* local, unsigned rank) {
  Grid& g = grid();
  const auto* p = static_cast<const unsigned char*>(local);
  unsigned char* mine = static_cast<unsigned char*>(dynamic_smem());
  if (rank >= g.cluster) {
    fail("mapa: block rank " + std::to_string(rank) + " is not in a cluster of " + std::to_string(g.cluster));
    return nullptr;
  }
  if (p < mine || p >= mine + g.smem_bytes) {
    fail("mapa: the address is not in the block's dynamic shared memory");
    return nullptr;
  }
  return g.smem + rank * g.smem_stride + (p - mine);
}
void poll_failed() { wait_here(State::Polling, 0); }
void note_mbarrier_event() { ++grid().events; }
void sync_warp(unsigned mask) { wait_here(State::AtWarp, mask); }

const void* warp_gather(const void* mine, size_t bytes, unsigned mask) {
  Grid& g = grid();
  Thread* t = g.current;
  std::memcpy(g.warps[size_t(t->warp)].slots[t->lane], mine, bytes);
  sync_warp(mask);
  return g.warps[size_t(t->warp)].snapshots[size_t(t->snapshot)].data();
}

void set_max_dynamic_smem(const void* kernel, int bytes) { smem_limits()[kernel] = size_t(bytes < 0 ? 0 : bytes); }

const char* launch_site() { return grid().site; }

void run_grid(const Config& c, const void* kernel, const char* site, const std::function<void()>& body) {
  Grid& g = grid();
  const size_t per_block = size_t(c.block.x) * c.block.y * c.block.z;
  const size_t nblocks = size_t(c.grid.x) * c.grid.y * c.grid.z;
  if (per_block == 0 || per_block > 1024 || c.block.z > 64 || nblocks == 0 || c.grid.y > 65535 || c.grid.z > 65535) {
    fail("invalid launch configuration: grid (" + std::to_string(c.grid.x) + "," + std::to_string(c.grid.y) + "," +
         std::to_string(c.grid.z) + "), block (" + std::to_string(c.block.x) + "," + std::to_string(c.block.y) + "," +
         std::to_string(c.block.z) + ")");
    return;
  }
  // The portable cluster size is 8; the emulator keeps a cluster's warps whole (blocks of whole warps).
  if (c.cluster == 0 || c.cluster > 8 || c.grid.x % c.cluster || (c.cluster > 1 && per_block % 32)) {
    fail("invalid cluster launch: " + std::to_string(c.cluster) + " blocks a cluster, grid.x " + std::to_string(c.grid.x) +
         ", " + std::to_string(per_block) + " threads a block (the emulator takes 1-8 blocks of whole warps, grid.x a multiple)");
    return;
  }
  const size_t nthreads = per_block * c.cluster;
  auto lim = smem_limits().find(kernel);
  const size_t allowed = std::min(kMaxSmem, lim == smem_limits().end() ? kDefaultSmem : std::max(kDefaultSmem, lim->second));
  if (c.smem > allowed) {
    fail("a launch asks for " + std::to_string(c.smem) + " bytes of dynamic shared memory; the kernel may use " +
         std::to_string(allowed) + " (cudaFuncSetAttribute raises the 48 KB default)");
    return;
  }
  if (g.threads.size() < nthreads) {
    const size_t old = g.threads.size();
    g.threads.resize(nthreads);
    for (size_t i = old; i < nthreads; ++i) {
      g.threads[i].stack = new_stack();
      if (!g.threads[i].stack) {
        g.threads.resize(i);
        fail("cannot map a fiber stack");
        return;
      }
    }
  }
#if defined(__SANITIZE_ADDRESS__)
  // Frames of abandoned fibers never returned, so AddressSanitizer still marks their redzones.
  if (g.abandoned)
    for (Thread& t : g.threads) __asan_unpoison_memory_region(t.stack, kStackBytes);
#endif
  g.abandoned = false;
  if (g.warps.size() < (nthreads + 31) / 32) g.warps.resize((nthreads + 31) / 32);
  const size_t stride = (c.smem + 1023) / 1024 * 1024;  // each block's window keeps the alignment of the first's
  if (g.smem_store.size() < stride * c.cluster + 128) {
    g.smem_store.resize(stride * c.cluster + 128);
    const auto base = reinterpret_cast<uintptr_t>(g.smem_store.data());
    g.smem = g.smem_store.data() + ((128 - base % 128) % 128);
  }
  g.body = &body;
  g.site = site;
  g.smem_bytes = c.smem;
  g.smem_stride = stride;
  g.cluster = c.cluster;
  g_block_dim = c.block;
  g_grid_dim = c.grid;
  for (unsigned z = 0; z < c.grid.z && g.error.empty(); ++z)
    for (unsigned y = 0; y < c.grid.y && g.error.empty(); ++y)
      for (unsigned x = 0; x < c.grid.x && g.error.empty(); x += c.cluster) run_cluster(g, uint3{x, y, z}, per_block);
  g.body = nullptr;
  g.site = nullptr;
  g.cluster = 1;
}

std::string take_error() {
  std::string e;
  e.swap(grid().error);
  return e;
}

// ---- cp.async ------------------------------------------------------------------------------

void cp_async16(void* smem, const void* gmem, bool valid) {
  Thread* t = grid().current;
  if (valid) note_access(__builtin_return_address(0), gmem, 16, false);
  note_access(__builtin_return_address(0), smem, 16, true);
  std::memset(smem, 0xff, 16);  // not there until waited for
  t->pending.push_back(Copy{smem, gmem, valid, g_race_hooks ? g_race_hooks->copy_issued(__builtin_return_address(0)) : 0});
}

void cp_async_commit() {
  Thread* t = grid().current;
  t->groups.push_back(std::move(t->pending));
  t->pending.clear();
}

void cp_async_wait(int keep_groups) {
  Thread* t = grid().current;
  while (t->groups.size() > size_t(keep_groups)) {
    for (const Copy& c : t->groups.front()) {
      if (c.valid) std::memcpy(c.dst, c.src, 16);
      else std::memset(c.dst, 0, 16);
      if (g_race_hooks) g_race_hooks->copy_landed(c.dst, 16, c.token);
    }
    t->groups.pop_front();
  }
}

}  // namespace emu
