// The CUDA emulator's twins of ldmatrix .x4 and mma.sync m16n8k16 bf16 (contract in emu/emu.h), and
// the accesses of a WMMA tile load and store for the access profiler,
// with the register layouts of the PTX ISA: lane = 4·g + t; the A fragment a0..a3 holds (row g,
// cols 2t..2t+1), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..); B b0/b1 hold (k 2t..2t+1, col g) and
// (k 2t+8.., col g); C/D hold (g, 2t..2t+1) and (g+8, 2t..2t+1). The low half of a 32-bit
// register is the lower column (or k) index.
#include <cstdint>
#include <cstring>

#include "emu.h"

namespace emu {
namespace {
float bf16_at(uint32_t reg, int half) {
  const uint32_t bits = (half ? reg >> 16 : reg & 0xffffu) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t load16(const void* row, int col) {
  uint16_t v;
  std::memcpy(&v, static_cast<const unsigned char*>(row) + 2 * col, 2);
  return v;
}

// Every lane's gathered value, copied out of the warp_gather result.
template <typename T>
void unpack(const void* gathered, T (&all)[32]) {
  static_assert(sizeof(T) <= kGatherSlot, "a gathered value fits its slot");
  for (int l = 0; l < 32; ++l) std::memcpy(&all[l], static_cast<const unsigned char*>(gathered) + l * kGatherSlot, sizeof(T));
}
}  // namespace

void ldmatrix_x4(uint32_t (&r)[4], const void* row_addr, bool trans) {
  if (reinterpret_cast<uintptr_t>(row_addr) % 16 != 0) fail("ldmatrix: a row address is not 16-byte aligned");
  note_access(__builtin_return_address(0), row_addr, 16, false);
  const void* rows[32];
  unpack(warp_gather(&row_addr, sizeof row_addr, 0xffffffffu), rows);
  const int l = lane(), g = l / 4, t = l % 4;
  for (int m = 0; m < 4; ++m) {
    uint16_t lo, hi;
    if (!trans) {
      lo = load16(rows[m * 8 + g], 2 * t);
      hi = load16(rows[m * 8 + g], 2 * t + 1);
    } else {
      lo = load16(rows[m * 8 + 2 * t], g);
      hi = load16(rows[m * 8 + 2 * t + 1], g);
    }
    r[m] = uint32_t(lo) | uint32_t(hi) << 16;
  }
}

void note_wmma_load(const void* site, const void* tile, size_t row_bytes) {
  const int l = lane();
  note_access(site, static_cast<const unsigned char*>(tile) + (l % 16) * row_bytes + (l / 16) * 16, 16, false);
}

void note_wmma_store(const void* site, const void* tile, size_t row_bytes, bool row_major) {
  const int l = lane(), g = l / 4, t = l % 4;
  auto* base = static_cast<const unsigned char*>(tile);
  for (int i = 0; i < 4; ++i) {
    const int row = g + 8 * (i % 2), col = 2 * t + 8 * (i / 2);
    if (row_major) {
      note_access(site, base + row * row_bytes + col * 4, 8, true);
    } else {
      note_access(site, base + col * row_bytes + row * 4, 4, true);
      note_access(site, base + (col + 1) * row_bytes + row * 4, 4, true);
    }
  }
}

void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  struct Regs {
    uint32_t a[4], b[2];
  } mine{{a[0], a[1], a[2], a[3]}, {b0, b1}};
  Regs all[32];
  unpack(warp_gather(&mine, sizeof mine, 0xffffffffu), all);
  auto A = [&](int row, int k) {
    const int reg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
    return bf16_at(all[(row % 8) * 4 + (k % 8) / 2].a[reg], k % 2);
  };
  auto B = [&](int k, int col) { return bf16_at(all[col * 4 + (k % 8) / 2].b[k >= 8 ? 1 : 0], k % 2); };
  const int l = lane(), g = l / 4, t = l % 4;
  for (int i = 0; i < 4; ++i) {
    const int row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i % 2);
    float s = d[i];
    for (int k = 0; k < 16; ++k) s += A(row, k) * B(k, col);
    d[i] = s;
  }
}

}  // namespace emu
