// The CUDA emulator's shared-memory race checker (contract in emu/racecheck.h). Each byte of
// shared memory keeps a stamp of its last write and of its last read since: the thread (its index
// in the block), the block's barrier epoch (+1 at each released __syncthreads), the thread's own
// warp clock and a global sequence number. Every thread holds a vector clock over the lanes of
// its warp: a released warp barrier advances each named lane's own entry and gives all of them
// the elementwise maximum, so lane U's access at own clock c happened before lane T's current
// one once T's entry for U exceeds c. Two accesses are ordered when they are the same thread's,
// in different epochs, or so ordered within a warp; a write must be ordered after the last write
// and the last read, a read after the last write.
#include "racecheck.h"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "access_profile.h"
#include "emu.h"

namespace emu {
namespace {

constexpr int kNobody = -1;

struct Stamp {
  int thread = kNobody;
  uint32_t epoch = 0, clock = 0;
  uint64_t seq = 0;
  const void* site = nullptr;
};

struct Shadow {
  uint64_t block = 0;  // the block these stamps are from (older ones are stale)
  Stamp write, read;
  bool reads_span_warps = false;  // the reads since the write in read.epoch came from two warps or more
};

struct State {
  uint64_t block = 0;
  uint32_t epoch = 0;
  uint64_t seq = 0;
  std::vector<std::array<uint32_t, 32>> clocks;  // per thread of the block
  std::vector<Shadow> dynamic;                   // by offset in the dynamic shared memory
  std::unordered_map<uintptr_t, Shadow> statics;  // static __shared__ bytes, by address
  std::unordered_map<uint64_t, const void*> copies;  // cp.async copies in flight: issue site by token
};

State& state() {
  static State s;
  return s;
}

// "file:line" of a code site (a hook's return address), or the module and offset.
std::string source_line(const void* site) {
  Dl_info info{};
  const auto pc = reinterpret_cast<uintptr_t>(site) - 1;
  if (!dladdr(reinterpret_cast<void*>(pc), &info) || !info.dli_fname) return "an unknown site";
  char offset[32];
  std::snprintf(offset, sizeof offset, "0x%zx", size_t(pc - reinterpret_cast<uintptr_t>(info.dli_fbase)));
  const std::string module = info.dli_fname;
  std::string line;
  if (module.find('\'') == std::string::npos) {
    if (FILE* p = popen(("addr2line -e '" + module + "' " + offset + " 2>/dev/null").c_str(), "r")) {
      char buf[512];
      if (std::fgets(buf, sizeof buf, p)) line = buf;
      pclose(p);
    }
  }
  line = line.substr(0, line.find_first_of(" \r\n"));  // drop " (discriminator N)"
  if (line.empty() || line[0] == '?') return module + "+" + offset;
  const size_t cut = line.find("/cuda/") != std::string::npos ? line.find("/cuda/") + 1 : line.find("/emu/") + 1;
  return cut > 0 && cut < line.size() ? line.substr(cut) : line;
}

std::string thread_name(int t) {
  return "thread " + std::to_string(t) + " (warp " + std::to_string(t / 32) + ", lane " + std::to_string(t % 32) + ")";
}

std::string byte_name(uintptr_t a) {
  const auto dyn = reinterpret_cast<uintptr_t>(dynamic_smem());
  if (a >= dyn && a < dyn + dynamic_smem_bytes()) return "byte " + std::to_string(a - dyn) + " of the dynamic shared memory";
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(a), &info) && info.dli_sname)
    return "byte " + std::to_string(a - reinterpret_cast<uintptr_t>(info.dli_saddr)) + " of __shared__ " + info.dli_sname;
  return "a static __shared__ byte";
}

void report(uintptr_t a, int t, bool store, const void* site, const Stamp& other, bool other_store, const char* how) {
  const char* launch = launch_site();
  const std::string block =
      std::to_string(g_block_idx.x) + "," + std::to_string(g_block_idx.y) + "," + std::to_string(g_block_idx.z);
  fail(std::string("shared-memory race in ") + (launch ? launch : "a launch") + ", block (" + block + "): " +
       thread_name(t) + (store ? " writes " : " reads ") + byte_name(a) + " at " + source_line(site) + ", which " +
       thread_name(other.thread) + (other_store ? " wrote" : " read") + " at " + source_line(other.site) + how);
}

bool ordered(const State& s, const Stamp& before, int t) {
  if (before.thread == kNobody || before.thread == t || before.epoch != s.epoch) return true;
  return before.thread / 32 == t / 32 && s.clocks[size_t(t)][size_t(before.thread % 32)] > before.clock;
}

// The shadow of shared byte a, fresh for this block; null for memory that is not shared.
Shadow* shadow(State& s, uintptr_t a) {
  const auto dyn = reinterpret_cast<uintptr_t>(dynamic_smem());
  Shadow* sh;
  if (a >= dyn && a < dyn + dynamic_smem_bytes()) {
    if (s.dynamic.size() < dynamic_smem_bytes()) s.dynamic.resize(dynamic_smem_bytes());
    sh = &s.dynamic[a - dyn];
  } else {
    sh = &s.statics[a];
  }
  if (sh->block != s.block) *sh = Shadow{s.block, {}, {}, false};
  return sh;
}

Stamp stamp(State& s, int t, const void* site) {
  return Stamp{t, s.epoch, s.clocks[size_t(t)][size_t(t % 32)], ++s.seq, site};
}

constexpr const char* kNoBarrier = ", with no barrier between";
constexpr const char* kReadsOfWarps = " (one of the reads of more than one warp), with no barrier between";
constexpr const char* kInFlight = ", while a cp.async of the first thread was copying into it";

void on_access(const void* site, const void* addr, unsigned bytes, bool store) {
  State& s = state();
  const int t = running_thread();
  if (t < 0 || size_t(t) >= s.clocks.size() || !is_shared_memory(addr)) return;
  const auto a0 = reinterpret_cast<uintptr_t>(addr);
  const Stamp now = stamp(s, t, site);
  for (uintptr_t a = a0; a < a0 + bytes; ++a) {
    Shadow& sh = *shadow(s, a);
    if (!ordered(s, sh.write, t)) return report(a, t, store, site, sh.write, true, kNoBarrier);
    if (store) {
      if (sh.reads_span_warps && sh.read.epoch == s.epoch) return report(a, t, true, site, sh.read, false, kReadsOfWarps);
      if (!ordered(s, sh.read, t)) return report(a, t, true, site, sh.read, false, kNoBarrier);
      sh.write = now;
      sh.read = Stamp{};
      sh.reads_span_warps = false;
    } else {
      const bool same_epoch = sh.read.thread != kNobody && sh.read.epoch == s.epoch;
      sh.reads_span_warps = same_epoch && (sh.reads_span_warps || sh.read.thread / 32 != t / 32);
      sh.read = now;
    }
  }
}

void on_block_start(size_t nthreads) {
  State& s = state();
  ++s.block;
  s.epoch = 0;
  s.clocks.assign(nthreads, std::array<uint32_t, 32>{});
  s.statics.clear();
  s.copies.clear();
}

void on_block_barrier() { ++state().epoch; }

void on_warp_barrier(int warp, unsigned mask) {
  State& s = state();
  std::array<uint32_t, 32> merged{};
  for (int l = 0; l < 32; ++l) {
    const size_t t = size_t(warp) * 32 + size_t(l);
    if (!(mask >> l & 1u) || t >= s.clocks.size()) continue;
    s.clocks[t][size_t(l)] += 1;
    for (int m = 0; m < 32; ++m) merged[size_t(m)] = std::max(merged[size_t(m)], s.clocks[t][size_t(m)]);
  }
  for (int l = 0; l < 32; ++l) {
    const size_t t = size_t(warp) * 32 + size_t(l);
    if ((mask >> l & 1u) && t < s.clocks.size()) s.clocks[t] = merged;
  }
}

uint64_t on_copy_issued(const void* site) {
  State& s = state();
  s.copies[++s.seq] = site;
  return s.seq;
}

// The copy's bytes land now, written by the thread that waits for them (the one that issued it).
void on_copy_landed(void* dst, unsigned bytes, uint64_t token) {
  State& s = state();
  const int t = running_thread();
  const auto issued = s.copies.find(token);
  const void* site = issued == s.copies.end() ? nullptr : issued->second;
  if (issued != s.copies.end()) s.copies.erase(issued);
  if (t < 0 || size_t(t) >= s.clocks.size() || !is_shared_memory(dst)) return;
  const auto a0 = reinterpret_cast<uintptr_t>(dst);
  for (uintptr_t a = a0; a < a0 + bytes; ++a) {
    Shadow& sh = *shadow(s, a);
    const auto since_issue = [&](const Stamp& x) { return x.thread != kNobody && x.thread != t && x.seq > token; };
    if (since_issue(sh.read)) return report(a, t, true, site, sh.read, false, kInFlight);
    if (since_issue(sh.write)) return report(a, t, true, site, sh.write, true, kInFlight);
    if (!ordered(s, sh.read, t)) return report(a, t, true, site, sh.read, false, kNoBarrier);
    sh.write = stamp(s, t, site);
    sh.read = Stamp{};
    sh.reads_span_warps = false;
  }
}

const RaceHooks kHooks{on_access, on_block_start, on_block_barrier, on_warp_barrier, on_copy_issued, on_copy_landed};

// CONVMAE_EMU_RACECHECK=1 turns the checker on when the addon loads.
struct FromEnvironment {
  FromEnvironment() {
    const char* v = std::getenv("CONVMAE_EMU_RACECHECK");
    if (v && std::strcmp(v, "1") == 0) racecheck_enable(true);
  }
} g_from_environment;

}  // namespace

void racecheck_enable(bool on) {
  g_race_hooks = on ? &kHooks : nullptr;
  if (!on) state().clocks.clear();
}

bool racecheck_enabled() { return g_race_hooks != nullptr; }

}  // namespace emu
