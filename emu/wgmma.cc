// The CUDA emulator's twin of Hopper's wgmma.mma_async m64nNk16 f32.bf16.bf16 with both operands
// in shared memory (contract in emu/emu.h), read from the PTX ISA's descriptor format and
// shared-memory matrix layouts for the 128-byte swizzle:
//   descriptor: bits 0-13 start address >> 4, 16-29 leading byte offset (LBO) >> 4, 32-45 stride
//     byte offset (SBO) >> 4, 62-63 the swizzle mode (1 = 128B; the only one modelled).
//   K-major operand (transpose flag 0; rows = M for A, N for B): element (row i, k) at
//     start + (i / 8)·SBO + (i % 8)·128 + 2k.
//   MN-major operand (flag 1; rows = K): element (i, k) at
//     start + (k / 8)·SBO + (k % 8)·128 + (i / 64)·LBO + 2·(i % 64).
//   The 128B swizzle then XORs address bits 4-6 with bits 7-9.
//   Accumulator: thread t of the warpgroup (warp w = t / 32, lane l) holds d[4j + e] at row
//     16w + l/4 + 8·(e/2), column 8j + 2·(l%4) + e%2.
// The product runs when the group holding it is retired by a wait (each thread computes its own
// accumulator elements then, and the warp's lanes leave the wait together, as .sync.aligned
// says), so an operand overwritten, or an accumulator read, before the wait
// shows as a wrong result. Shared addresses are offsets in the block's dynamic shared memory
// plus kWindowBase, which is deliberately not 1024-byte aligned.
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "emu.h"

namespace emu {
namespace {
constexpr uint32_t kWindowBase = 0x80;

struct Mma {
  float* d;
  int n;
  uint64_t desc_a, desc_b;
  bool mn_major_a, mn_major_b;
};

struct Pending {
  std::vector<Mma> open;
  std::deque<std::vector<Mma>> groups;
};

// Per fiber: the launch runs one block (or cluster) at a time and fibers are numbered by thread.
std::vector<Pending>& pending() {
  static std::vector<Pending> p;
  return p;
}

Pending& mine() {
  const size_t t = size_t(running_thread());
  auto& p = pending();
  if (p.size() <= t) p.resize(t + 1);
  return p[t];
}

float bf16_at(const unsigned char* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  const uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Element (i, k) of an operand described by `desc`.
float operand(uint64_t desc, bool mn_major, int i, int k) {
  const uint32_t start = uint32_t(desc & 0x3FFF) << 4;
  const uint32_t lbo = uint32_t(desc >> 16 & 0x3FFF) << 4;
  const uint32_t sbo = uint32_t(desc >> 32 & 0x3FFF) << 4;
  uint32_t addr = mn_major ? start + uint32_t(k / 8) * sbo + uint32_t(k % 8) * 128 + uint32_t(i / 64) * lbo + uint32_t(i % 64) * 2
                           : start + uint32_t(i / 8) * sbo + uint32_t(i % 8) * 128 + uint32_t(k) * 2;
  addr ^= (addr >> 3) & 0x70;
  return bf16_at(static_cast<const unsigned char*>(dynamic_smem()) + (addr - kWindowBase));
}

// This thread's accumulator elements: its two rows of A and n/4 columns of B, read once each.
void run(const Mma& m) {
  const int t = int(g_thread_idx.x % 128), w = t / 32, l = t % 32;
  float a[2][16], b[64][16];
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 16; ++k) a[h][k] = operand(m.desc_a, m.mn_major_a, 16 * w + l / 4 + 8 * h, k);
  for (int j = 0; j < m.n / 8; ++j)
    for (int c = 0; c < 2; ++c)
      for (int k = 0; k < 16; ++k) b[2 * j + c][k] = operand(m.desc_b, m.mn_major_b, 8 * j + 2 * (l % 4) + c, k);
  for (int j = 0; j < m.n / 8; ++j)
    for (int e = 0; e < 4; ++e) {
      const float* ar = a[e / 2];
      const float* bc = b[2 * j + e % 2];
      float s = m.d[4 * j + e];
      for (int k = 0; k < 16; ++k) s += ar[k] * bc[k];
      m.d[4 * j + e] = s;
    }
}
}  // namespace

uint32_t shared_address(const void* p) {
  const auto* base = static_cast<const unsigned char*>(dynamic_smem());
  const auto* q = static_cast<const unsigned char*>(p);
  if (q < base) fail("a shared-memory address of a pointer outside the dynamic shared memory");
  return kWindowBase + uint32_t(q - base);
}

void wgmma_bf16(float* d, int n, uint64_t desc_a, uint64_t desc_b, bool mn_major_a, bool mn_major_b) {
  if (desc_a >> 62 != 1 || desc_b >> 62 != 1) fail("wgmma: only 128B-swizzled descriptors are emulated");
  mine().open.push_back(Mma{d, n, desc_a, desc_b, mn_major_a, mn_major_b});
}

void wgmma_commit() {
  Pending& p = mine();
  p.groups.push_back(std::move(p.open));
  p.open.clear();
}

void wgmma_wait(int keep_groups) {
  Pending& p = mine();
  while (p.groups.size() > size_t(keep_groups)) {
    for (const Mma& m : p.groups.front()) run(m);
    p.groups.pop_front();
  }
  sync_warp(0xffffffffu);  // .sync.aligned: the warp leaves the wait together
}

void wgmma_end_block(bool check) {
  for (Pending& p : pending()) {
    if (check && (!p.open.empty() || !p.groups.empty())) fail("a thread exited with wgmma operations never waited for");
    p.open.clear();
    p.groups.clear();
  }
}

}  // namespace emu
