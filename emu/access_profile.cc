// The CUDA emulator's memory-access profiler (profile builds only: CONVMAE_EMU_PROFILE=1, see
// CMakeLists.txt; contract in emu/access_profile.h). The kernels' translated sources are compiled
// with -fsanitize=kernel-address and calls for every access, so each load and store of a CUDA
// thread calls the __asan_* hooks below with its address; the twins of ldmatrix, cp.async and
// WMMA report theirs through emu::note_access. Accesses to shared memory (the block's dynamic
// shared memory and the module's static __shared__ arrays) and to device allocations are kept per
// thread; everything else (registers and locals on the fiber stacks, the emulator's own state)
// is ignored. At the end of each block the k-th access of each lane from the same code site forms
// one warp-wide request, as the hardware issues it:
// - shared: 32 banks of 4 bytes; a request's lanes are served in phases (all 32 for accesses of
//   up to 4 bytes, 16 for 8, 8 for 16) and a phase takes as many wavefronts as the most distinct
//   4-byte words any one bank holds (lanes reading the same word share it). Ideal: one per phase.
// - global: the distinct 32-byte sectors the lanes touch. Ideal: the distinct bytes / 32, rounded up.
#include "access_profile.h"

#include <link.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "emu.h"

namespace emu {
namespace {

struct Access {
  const char* launch;
  uintptr_t site, addr;
  uint32_t bytes;
  bool store;
  AccessSpace space;
};

struct SiteKey {
  const char* launch;
  uintptr_t site;
  bool store;
  AccessSpace space;
  bool operator<(const SiteKey& o) const {
    return std::tie(launch, site, store, space) < std::tie(o.launch, o.site, o.store, o.space);
  }
};

bool g_recording = false;
std::vector<std::vector<Access>> g_threads;  // per thread of the running block, in program order
std::map<SiteKey, AccessStat> g_stats;
uintptr_t g_static_lo = 0, g_static_hi = 0;  // this module's writable segment (static __shared__)

// The writable PT_LOAD segment of the module that holds `probe`.
int find_static_segment(dl_phdr_info* info, size_t, void* probe) {
  const auto p = reinterpret_cast<uintptr_t>(probe);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) continue;
    const uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
    if (p >= lo && p < hi) {
      g_static_lo = lo;
      g_static_hi = hi;
      return 1;
    }
  }
  return 0;
}

bool is_builtin_variable(uintptr_t a) {
  auto in = [a](const void* v, size_t n) {
    const auto p = reinterpret_cast<uintptr_t>(v);
    return a >= p && a < p + n;
  };
  return in(&g_thread_idx, sizeof g_thread_idx) || in(&g_block_idx, sizeof g_block_idx) ||
         in(&g_block_dim, sizeof g_block_dim) || in(&g_grid_dim, sizeof g_grid_dim);
}

void record(const void* site, const void* addr, unsigned bytes, bool store) {
  if (!g_recording || bytes == 0) return;
  const int t = running_thread();
  const auto a = reinterpret_cast<uintptr_t>(addr);
  AccessSpace space;
  if (t < 0 || !access_space(addr, &space)) return;
  if (g_threads.size() <= size_t(t)) g_threads.resize(size_t(t) + 1);
  g_threads[size_t(t)].push_back(Access{launch_site(), reinterpret_cast<uintptr_t>(site), a, bytes, store, space});
}

// Distinct values of v (sorted in place).
size_t distinct(std::vector<uintptr_t>& v) {
  std::sort(v.begin(), v.end());
  return size_t(std::unique(v.begin(), v.end()) - v.begin());
}

// One warp-wide request: the lanes' accesses from one site (at most one per lane).
void score(const std::vector<const Access*>& lanes, const std::vector<int>& lane_ids, AccessStat& s) {
  uint32_t bytes = 0;
  for (const Access* a : lanes) {
    bytes = std::max(bytes, a->bytes);
    s.bytes += a->bytes;
  }
  s.requests += 1;
  s.lane_accesses += lanes.size();
  if (lanes.front()->space == AccessSpace::Shared) {
    const int per_phase = bytes <= 4 ? 32 : bytes <= 8 ? 16 : 8;
    std::vector<uintptr_t> banks[32];
    for (int phase = 0; phase < 32 / per_phase; ++phase) {
      for (auto& b : banks) b.clear();
      bool any = false;
      for (size_t i = 0; i < lanes.size(); ++i) {
        if (lane_ids[i] / per_phase != phase) continue;
        any = true;
        for (uintptr_t w = lanes[i]->addr / 4; w <= (lanes[i]->addr + lanes[i]->bytes - 1) / 4; ++w) banks[w % 32].push_back(w);
      }
      if (!any) continue;
      size_t worst = 1;
      for (auto& b : banks) worst = std::max(worst, distinct(b));
      s.transactions += worst;
      s.ideal += 1;
    }
  } else {
    std::vector<uintptr_t> sectors, bytes_touched;
    for (const Access* a : lanes) {
      for (uintptr_t b = a->addr / 32; b <= (a->addr + a->bytes - 1) / 32; ++b) sectors.push_back(b);
      for (uintptr_t b = a->addr; b < a->addr + a->bytes; ++b) bytes_touched.push_back(b);
    }
    s.transactions += distinct(sectors);
    s.ideal += (distinct(bytes_touched) + 31) / 32;
  }
}

void block_end(size_t nthreads) {
  if (g_threads.size() < nthreads) g_threads.resize(nthreads);
  for (size_t w0 = 0; w0 < nthreads; w0 += 32) {
    const size_t width = std::min<size_t>(32, nthreads - w0);
    std::map<SiteKey, std::vector<std::vector<const Access*>>> by_site;  // site -> lane -> accesses
    for (size_t l = 0; l < width; ++l)
      for (const Access& a : g_threads[w0 + l]) {
        auto& lanes = by_site[SiteKey{a.launch, a.site, a.store, a.space}];
        lanes.resize(32);
        lanes[l].push_back(&a);
      }
    for (auto& [key, lanes] : by_site) {
      size_t most = 0;
      for (const auto& l : lanes) most = std::max(most, l.size());
      AccessStat& s = g_stats[key];
      std::vector<const Access*> request;
      std::vector<int> ids;
      for (size_t k = 0; k < most; ++k) {
        request.clear();
        ids.clear();
        for (int l = 0; l < 32; ++l)
          if (k < lanes[size_t(l)].size()) {
            request.push_back(lanes[size_t(l)][k]);
            ids.push_back(l);
          }
        score(request, ids, s);
      }
    }
  }
  for (auto& t : g_threads) t.clear();
}

}  // namespace

bool is_shared_memory(const void* p) {
  if (!g_static_lo) dl_iterate_phdr(find_static_segment, const_cast<uint3*>(&g_thread_idx));
  const auto a = reinterpret_cast<uintptr_t>(p);
  const auto dyn = reinterpret_cast<uintptr_t>(dynamic_smem());
  return (a >= dyn && a < dyn + dynamic_smem_bytes()) || (a >= g_static_lo && a < g_static_hi && !is_builtin_variable(a));
}

bool access_space(const void* p, AccessSpace* space) {
  if (is_shared_memory(p)) {
    *space = AccessSpace::Shared;
    return true;
  }
  if (is_device_memory(p)) {
    *space = AccessSpace::Global;
    return true;
  }
  return false;
}

void access_profile_start() {
  g_stats.clear();
  for (auto& t : g_threads) t.clear();
  g_recording = true;
  g_access_hook = record;
  g_block_end_hook = block_end;
}

std::vector<AccessStat> access_profile_stop() {
  g_recording = false;
  g_access_hook = nullptr;
  g_block_end_hook = nullptr;
  std::vector<AccessStat> out;
  for (auto [key, s] : g_stats) {
    s.launch = key.launch;
    s.site = key.site;
    s.store = key.store;
    s.space = key.space;
    out.push_back(s);
  }
  g_stats.clear();
  return out;
}

}  // namespace emu

// The calls -fsanitize=kernel-address --param asan-instrumentation-with-call-threshold=0 makes
// before every load and store of the instrumented sources; the return address is the access's site.
extern "C" {
#define CONVMAE_EMU_HOOK(name, bytes, store) \
  void name(uintptr_t a) { emu::note_access(__builtin_return_address(0), reinterpret_cast<void*>(a), bytes, store); }
#define CONVMAE_EMU_HOOKS(n)                        \
  CONVMAE_EMU_HOOK(__asan_load##n##_noabort, n, false) \
  CONVMAE_EMU_HOOK(__asan_store##n##_noabort, n, true)
CONVMAE_EMU_HOOKS(1)
CONVMAE_EMU_HOOKS(2)
CONVMAE_EMU_HOOKS(4)
CONVMAE_EMU_HOOKS(8)
CONVMAE_EMU_HOOKS(16)
#undef CONVMAE_EMU_HOOKS
#undef CONVMAE_EMU_HOOK
void __asan_loadN_noabort(uintptr_t a, size_t n) {
  emu::note_access(__builtin_return_address(0), reinterpret_cast<void*>(a), unsigned(n), false);
}
void __asan_storeN_noabort(uintptr_t a, size_t n) {
  emu::note_access(__builtin_return_address(0), reinterpret_cast<void*>(a), unsigned(n), true);
}
// Called before a noreturn call (a throw): nothing to do, fiber stacks are not shadowed here.
void __asan_handle_no_return() {}
}
