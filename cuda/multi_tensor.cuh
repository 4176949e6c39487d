// One kernel launch over many tensors (the multi-tensor ops adamw_multi and cast_multi). A launch
// struct L carries up to kMax entries by value (__grid_constant__, under the 4 KB parameter
// limit): L::e[] and L::count, each entry with its element count n and first_block. An entry's
// blocks are consecutive from its first_block and each block takes kChunk elements of it, so a
// kernel finds its entry and range with block_entry and block_range, and the host fills launches
// with Batcher, which launches each one as it fills.
#pragma once
#include <cstdint>

namespace convmae {
namespace multi_tensor {

constexpr int kChunk = 4096, kThreads = 256;

/** The entry whose blocks include this block. */
template <typename E>
__device__ inline const E& block_entry(const E* e, int count) {
  int t = 0;
  for (int i = 1; i < count; ++i)
    if (e[i].first_block <= int64_t(blockIdx.x)) t = i;
  return e[t];
}

/** The elements [begin, end) this block takes of its entry e. */
template <typename E>
__device__ inline void block_range(const E& e, int64_t& begin, int64_t& end) {
  begin = (int64_t(blockIdx.x) - e.first_block) * kChunk;
  end = begin + kChunk < e.n ? begin + kChunk : e.n;
}

/**
 * Fills launch structs (a copy of `base`, which holds the shared scalars) with entries and calls
 * launch(L, blocks) for each full one and, from flush(), for the last.
 */
template <typename L, int kMax, typename Launch>
class Batcher {
 public:
  Batcher(const L& base, Launch launch) : base_(base), l_(base), launch_(launch) { l_.count = 0; }

  /** Adds an entry (its n > 0; first_block is set here). */
  template <typename E>
  void add(E e) {
    const int64_t need = (e.n + kChunk - 1) / kChunk;
    if (l_.count == kMax || blocks_ + need > int64_t(1) << 30) flush();
    e.first_block = blocks_;
    l_.e[l_.count++] = e;
    blocks_ += need;
  }

  void flush() {
    if (l_.count > 0) launch_(l_, blocks_);
    l_ = base_;
    l_.count = 0;
    blocks_ = 0;
  }

 private:
  L base_, l_;
  Launch launch_;
  int64_t blocks_ = 0;
};

}  // namespace multi_tensor
}  // namespace convmae
