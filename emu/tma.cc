// The CUDA emulator's mbarriers and tensor-map bulk copies (contract in emu/emu.h), after the PTX
// ISA's "mbarrier" and "cp.async.bulk.tensor" sections and the driver's cuTensorMapEncodeTiled:
//   a barrier counts down `count` arrivals and a transaction count (bytes expected, less bytes
//     landed); when both reach zero its phase completes: the phase number goes up by one and the
//     arrivals start again. try_wait.parity(P) is true once the phase of parity P has completed,
//     that is while the current phase's parity differs from P (so parity 1 passes on a new one).
//   a tiled copy moves a box of box[0] x box[1] (x box[2]) elements whose first corner is at the
//     coordinates given (innermost first); elements outside the tensor read as zero; the box lands
//     densely, rows of box[0] elements, and with the 128B swizzle the 16-byte chunk at shared
//     address a lands at a ^ ((a >> 3) & 0x70), the pattern wgmma reads (emu/wgmma.cc). Its bytes
//     (the whole box, zeros included) complete the barrier's transaction.
// An arrival that completes a phase yields, so that the threads it releases (a producer refilling
// a slot) run before the arriving thread goes on: work a kernel does after an arrival that should
// have come before it (a read of the slot it frees) then sees the refill. Barrier state lives here, keyed by its
// block's rank in the cluster and its shared address, and is forgotten at each block's (cluster's) start.
// A multicast copy lands in each block it names, at the same offset, on the barrier at the same
// offset there; a remote arrival counts on the barrier at the same offset in the block it names.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "emu.h"

namespace emu {
namespace {

struct Landing {
  void* dst;
  std::vector<unsigned char> bytes;  // read from global memory when the copy was issued
};

struct Barrier {
  unsigned count = 0, pending = 0, phase = 0;
  int64_t tx = 0;  // bytes expected and not landed yet (negative when copies land before the expect)
  std::vector<Landing> copies;
};

constexpr uint32_t kMapMagic = 0x7A3C0DE5;

// The emulator's tensor map, inside a CUtensorMap's 128 bytes.
struct Map {
  uint32_t magic;
  int rank;
  unsigned element_bytes;
  bool swizzle128;
  const unsigned char* base;
  uint64_t dims[3];
  uint64_t strides[3];  // bytes; strides[0] is the element size
  uint32_t box[3];
};
static_assert(sizeof(Map) <= 128, "the map fits a CUtensorMap");

std::map<uint64_t, Barrier>& barriers() {
  static std::map<uint64_t, Barrier> b;
  return b;
}

uint64_t barrier_key(unsigned rank, uint32_t shared) { return uint64_t(rank) << 32 | shared; }

// The barrier at bar's offset in block `rank` of the cluster (bar: in the running block's memory).
Barrier* find_in(unsigned rank, void* bar, const char* what) {
  const uint32_t a = shared_address(bar);
  if (a % 8) {
    fail(std::string(what) + ": the mbarrier is not 8-byte aligned");
    return nullptr;
  }
  if (rank >= cluster_size()) {
    fail(std::string(what) + ": block rank " + std::to_string(rank) + " is not in the cluster");
    return nullptr;
  }
  if (rank != cluster_rank() && cluster_block_exited(rank)) {
    fail(std::string(what) + ": block " + std::to_string(rank) +
         " of the cluster has exited (a cluster barrier before the end keeps it)");
    return nullptr;
  }
  auto it = barriers().find(barrier_key(rank, a));
  if (it == barriers().end()) {
    fail(std::string(what) + ": the mbarrier was never initialised (mbarrier.init)" +
         (rank != cluster_rank() ? " in block " + std::to_string(rank) + " of the cluster" : ""));
    return nullptr;
  }
  return &it->second;
}

Barrier* find(void* bar, const char* what) { return find_in(cluster_rank(), bar, what); }

void complete_if_done(Barrier& b) {
  if (b.pending != 0 || b.tx != 0) return;
  ++b.phase;
  b.pending = b.count;
}

void arrive(Barrier& b, unsigned tx_bytes) {
  b.tx += tx_bytes;
  if (b.pending == 0) return fail("mbarrier.arrive: more arrivals than the barrier's count in one phase");
  --b.pending;
  note_mbarrier_event();
  const unsigned phase = b.phase;
  complete_if_done(b);
  if (b.phase != phase) poll_failed();  // the threads it released run before this one goes on
}

void land(Barrier& b) {
  if (b.copies.empty()) return;
  for (Landing& l : b.copies) {
    std::memcpy(l.dst, l.bytes.data(), l.bytes.size());
    b.tx -= int64_t(l.bytes.size());
  }
  b.copies.clear();
  note_mbarrier_event();
  complete_if_done(b);
}
}  // namespace

void mbarrier_block_start() { barriers().clear(); }

void mbarrier_init(void* bar, unsigned count) {
  if (count == 0) return fail("mbarrier.init: the count must be at least 1");
  const uint32_t a = shared_address(bar);
  if (a % 8) return fail("mbarrier.init: the mbarrier is not 8-byte aligned");
  Barrier& b = barriers()[barrier_key(cluster_rank(), a)];
  b = Barrier{};
  b.count = b.pending = count;
  std::memset(bar, 0xff, 8);  // opaque: the kernel must not read it as data
  note_mbarrier_event();
}

void mbarrier_arrive(void* bar, unsigned tx_bytes) {
  if (Barrier* b = find(bar, "mbarrier.arrive")) arrive(*b, tx_bytes);
}

void mbarrier_arrive_remote(void* bar, unsigned rank) {
  if (Barrier* b = find_in(rank, bar, "mbarrier.arrive.shared::cluster")) arrive(*b, 0);
}

bool mbarrier_try_wait_parity(void* bar, unsigned parity) {
  Barrier* b = find(bar, "mbarrier.try_wait");
  if (!b) return true;  // the launch has failed; let the kernel run on to its end
  land(*b);
  if ((b->phase & 1u) != (parity & 1u)) return true;
  poll_failed();
  return false;
}

std::string encode_tensor_map(void* map, int rank, const void* base, const uint64_t* dims, const uint64_t* strides_bytes,
                              const uint32_t* box, unsigned element_bytes, bool swizzle128) {
  if (rank < 2 || rank > 3) return "only 2-3 dimensional maps are emulated";
  if (element_bytes != 1 && element_bytes != 2 && element_bytes != 4) return "elements of 1, 2 or 4 bytes";
  if (reinterpret_cast<uintptr_t>(base) % 16) return "the global address must be 16-byte aligned";
  Map m{};
  m.magic = kMapMagic;
  m.rank = rank;
  m.element_bytes = element_bytes;
  m.swizzle128 = swizzle128;
  m.base = static_cast<const unsigned char*>(base);
  m.strides[0] = element_bytes;
  for (int i = 0; i < rank; ++i) {
    if (dims[i] == 0 || dims[i] > (uint64_t(1) << 32)) return "each dimension must be 1 .. 2^32";
    if (box[i] == 0 || box[i] > 256) return "each box dimension must be 1 .. 256";
    m.dims[i] = dims[i];
    m.box[i] = box[i];
    if (i > 0) {
      const uint64_t s = strides_bytes[i - 1];
      if (s % 16 || s >= (uint64_t(1) << 40)) return "the strides must be multiples of 16 bytes below 2^40";
      m.strides[i] = s;
    }
  }
  const uint64_t row = uint64_t(box[0]) * element_bytes;
  if (row % 16) return "the box's inner dimension must span a multiple of 16 bytes";
  if (swizzle128 && row > 128) return "with the 128B swizzle the box's inner dimension spans at most 128 bytes";
  std::memset(map, 0, 128);
  std::memcpy(map, &m, sizeof m);
  return "";
}

namespace {
// The box the map and coords name, as it lands at dst (its swizzle is dst's), in `bytes`; false,
// with the launch failed, when the copy is invalid.
bool read_box(void* dst, const void* map, const int* coords, std::vector<unsigned char>& bytes) {
  Map m;
  std::memcpy(&m, map, sizeof m);
  if (m.magic != kMapMagic) {
    fail("cp.async.bulk.tensor: the tensor map was not made by cuTensorMapEncodeTiled");
    return false;
  }
  const uint32_t window = shared_address(dst);
  if (window % 128) {
    fail("cp.async.bulk.tensor: the shared-memory destination is not 128-byte aligned");
    return false;
  }
  const size_t row = size_t(m.box[0]) * m.element_bytes, rows = size_t(m.box[1]) * (m.rank > 2 ? m.box[2] : 1);
  if (window - shared_address(dynamic_smem()) + row * rows > dynamic_smem_bytes()) {
    fail("cp.async.bulk.tensor: the box runs past the block's dynamic shared memory");
    return false;
  }
  bytes.assign(row * rows, 0);
  for (size_t r = 0; r < rows; ++r) {
    const int64_t g1 = int64_t(coords[1]) + int64_t(r % m.box[1]);
    const int64_t g2 = m.rank > 2 ? int64_t(coords[2]) + int64_t(r / m.box[1]) : 0;
    const bool row_in = g1 >= 0 && uint64_t(g1) < m.dims[1] && (m.rank < 3 || (g2 >= 0 && uint64_t(g2) < m.dims[2]));
    if (!row_in) continue;  // zero fill
    const int64_t lo = std::max<int64_t>(0, -int64_t(coords[0]));
    const int64_t hi = std::min<int64_t>(int64_t(m.box[0]), int64_t(m.dims[0]) - int64_t(coords[0]));
    if (lo >= hi) continue;
    const unsigned char* src_row = m.base + uint64_t(g1) * m.strides[1] + (m.rank > 2 ? uint64_t(g2) * m.strides[2] : 0);
    const unsigned char* first = src_row + uint64_t(coords[0] + lo) * m.element_bytes;
    if (!is_device_memory(first) || !is_device_memory(first + (hi - lo) * m.element_bytes - 1)) {
      fail("cp.async.bulk.tensor: the map's tensor reads outside device memory");
      return false;
    }
    for (int64_t e = lo; e < hi; ++e) {
      uint32_t at = uint32_t(r * row + size_t(e) * m.element_bytes);
      if (m.swizzle128) {
        const uint32_t a = window + at;
        at = (a ^ ((a >> 3) & 0x70)) - window;
      }
      std::memcpy(&bytes[at], first + (e - lo) * m.element_bytes, m.element_bytes);
    }
  }
  return true;
}

// Queues the landing of `bytes` at dst's offset in block `rank`, on the barrier at bar's offset there.
void queue_landing(unsigned rank, void* dst, void* bar, const std::vector<unsigned char>& bytes) {
  Barrier* b = find_in(rank, bar, "cp.async.bulk.tensor");
  if (!b) return;
  void* at = rank == cluster_rank() ? dst : cluster_peer(dst, rank);
  if (!at) return;
  std::memset(at, 0xff, bytes.size());  // not there until the barrier is polled
  b->copies.push_back(Landing{at, bytes});
}
}  // namespace

void tma_load(void* dst, const void* map, const int* coords, void* bar) {
  std::vector<unsigned char> bytes;
  if (read_box(dst, map, coords, bytes)) queue_landing(cluster_rank(), dst, bar, bytes);
}

void tma_load_multicast(void* dst, const void* map, const int* coords, void* bar, unsigned mask) {
  if (mask == 0 || mask >> cluster_size())
    return fail("cp.async.bulk.tensor .multicast::cluster: the mask names a block outside the cluster");
  std::vector<unsigned char> bytes;
  if (!read_box(dst, map, coords, bytes)) return;
  for (unsigned r = 0; r < cluster_size(); ++r)
    if (mask >> r & 1u) queue_landing(r, dst, bar, bytes);
}

}  // namespace emu
