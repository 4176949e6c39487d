// The CUDA emulator's execution model (implemented in emu/scheduler.cc), for checking the
// package's CUDA kernels on a machine without a GPU. A launch runs at once on the calling thread:
// blocks one after another, each block's threads as cooperative fibers that switch only at
// barriers (__syncthreads, __syncwarp, shuffles and the warp-collective matrix operations, wgmma's
// wait included) and mbarriers (a failed poll, an arrival that completes a phase), in thread
// order between them. So code that relies on lanes running in lockstep without a
// __syncwarp reads what the other lanes have not written yet, as it may on a real GPU.
//
// A launch in clusters (Config::cluster > 1, what cudaLaunchKernelEx's cluster dimension asks
// for) runs a cluster's blocks together: their threads are fibers of one round, each block with
// its own dynamic shared memory, __syncthreads among its own threads, cluster_sync among every
// live thread of the cluster, and mbarriers and bulk copies that may reach the other blocks'
// shared memory (mbarrier_arrive_remote, tma_load_multicast; either fails the launch once the
// block it reaches has exited). The blocks start one at a time:
// block r + 1 once blocks 0..r can make no progress alone (they wait at a cluster barrier, or for
// another block's copies or arrivals, or have finished). The hardware may run them so, and then
// a block that reaches into another before a cluster barrier says it is ready (a multicast copy
// to a barrier not initialised yet) fails the launch. Static __shared__ arrays are one
// copy for every block (blocks of one launch must not use them), and the race checker sees a
// cluster as one block whose __syncthreads are the cluster's.
//
// Detected and reported as a launch error (cudaGetLastError, then the op's usual OpError):
// barriers that some threads of the block (or the named lanes of a warp) never reach, a
// warp-collective operation naming a lane that has exited, a block of more than 1024 threads,
// dynamic shared memory above 48 KB without cudaFuncSetAttribute (or above the device's limit),
// a WMMA load or store from a pointer that is not 32-byte aligned or with ldm not a multiple of
// 8 (4 for fp32 stores). Dynamic shared memory and new device allocations start as 0xff bytes (NaN in
// every float format), and a cp.async destination reads as NaN until its group is waited for.
// Not modelled: timing, memory ordering between blocks, static __shared__ poisoning. The memory-
// access profiler (emu/access_profile.h, profile builds) hooks in through g_access_hook and
// g_block_end_hook below, the shared-memory race checker (emu/racecheck.h) through g_race_hooks.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace emu {

/** The running thread's indices (threadIdx) and the running block's (blockIdx, blockDim, gridDim). */
extern uint3 g_thread_idx;
extern uint3 g_block_idx;
extern dim3 g_block_dim, g_grid_dim;

/** Lane (0..31) of the running thread. */
int lane();

/** Base of the running block's dynamic shared memory (extern __shared__ arrays), and its size. */
void* dynamic_smem();
size_t dynamic_smem_bytes();

/** Index of the running CUDA thread in its block (thread order), or -1 outside a kernel. */
int running_thread();

/** Whether p lies in a live device allocation (cudaMalloc, emu/runtime.cc). */
bool is_device_memory(const void* p);

/** Set only while the access profiler records (emu/access_profile.h): told of each access the
 *  twins of ldmatrix, cp.async and WMMA model, and of each block's end. */
extern void (*g_access_hook)(const void* site, const void* addr, unsigned bytes, bool store);
extern void (*g_block_end_hook)(size_t nthreads);

/** Set only while the race checker runs (emu/racecheck.h, profile builds): told of every access as
 *  the profiler is, of each block's start, of each barrier as it is released, and of each cp.async
 *  copy's issue (a token) and landing (at the wait that retires it). */
struct RaceHooks {
  void (*access)(const void* site, const void* addr, unsigned bytes, bool store);
  void (*block_start)(size_t nthreads);
  void (*block_barrier)();
  void (*warp_barrier)(int warp, unsigned mask);
  uint64_t (*copy_issued)(const void* site);
  void (*copy_landed)(void* dst, unsigned bytes, uint64_t token);
};
extern const RaceHooks* g_race_hooks;

inline void note_access(const void* site, const void* addr, unsigned bytes, bool store) {
  if (g_access_hook) g_access_hook(site, addr, bytes, store);
  if (g_race_hooks) g_race_hooks->access(site, addr, bytes, store);
}

/** Yields after a failed mbarrier poll; the thread polls again once the others have run. */
void poll_failed();
/** Counts an mbarrier change (init, arrival, a copy landing): rounds without one while threads
 *  poll are a deadlock. */
void note_mbarrier_event();

/** Waits until every live thread of the block is here (__syncthreads). */
void sync_block();
/** Waits until every live thread of the cluster is here (barrier.cluster.arrive + wait). */
void sync_cluster();
/** The running block's rank in its cluster (%cluster_ctarank; 0 outside cluster launches). */
unsigned cluster_rank();
/** Blocks in the running launch's clusters (%cluster_nctarank; 1 outside cluster launches). */
unsigned cluster_size();
/** The address of `local` (in the running block's dynamic shared memory) in block `rank` of the
 *  cluster (mapa); null, with the launch failed, when rank is not in the cluster. */
void* cluster_peer(const void* local, unsigned rank);
/** Whether every thread of block `rank` of the running cluster has exited. */
bool cluster_block_exited(unsigned rank);
/** Waits until the lanes of `mask` in this warp are here (__syncwarp and every collective). */
void sync_warp(unsigned mask);

/** Bytes per lane in a warp_gather result: lane l's value starts at l·kGatherSlot. */
constexpr size_t kGatherSlot = 64;

/** Every lane's `mine` (lanes of `mask`; the others' slots are stale): one warp barrier. */
const void* warp_gather(const void* mine, size_t bytes, unsigned mask);

template <typename T>
T shuffle(unsigned mask, T v, int src_lane) {
  static_assert(sizeof(T) <= kGatherSlot && std::is_trivially_copyable<T>::value, "shuffle of a small plain type");
  const unsigned char* all = static_cast<const unsigned char*>(warp_gather(&v, sizeof(T), mask));
  T out;
  std::memcpy(&out, all + size_t(src_lane & 31) * kGatherSlot, sizeof(T));
  return out;
}

/** Records an emulator error for the running launch (first one wins); the launch then fails. */
void fail(const std::string& what);
/** Takes the recorded error ("" when none): cudaGetLastError's (emu/runtime.cc). */
std::string take_error();

// cp.async: a 16-byte copy (or zero fill) queued per thread, done when its group is waited for.
void cp_async16(void* smem, const void* gmem, bool valid);
void cp_async_commit();
void cp_async_wait(int keep_groups);

// ldmatrix .x4 (.trans) and mma.sync.m16n8k16.row.col.f32.bf16.bf16.f32, warp-collective.
void ldmatrix_x4(uint32_t (&r)[4], const void* row_addr, bool trans);
void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

// The memory accesses a WMMA tile load or fp32 store makes, for the access profiler: a load as
// ldmatrix .x4 reads it (lane l: 16 bytes of row l % 16, half l / 16), a store as the mma
// accumulator layout writes it (lane 4g + t: columns 2t, 2t + 1 and 2t + 8, 2t + 9 of rows g, g + 8).
// `site` is the kernel's call of the WMMA operation.
void note_wmma_load(const void* site, const void* tile, size_t row_bytes);
void note_wmma_store(const void* site, const void* tile, size_t row_bytes, bool row_major);

// Hopper's warpgroup MMA (emu/wgmma.cc): shared addresses, m64nNk16 bf16 from two 128B-swizzled
// descriptors, and its commit / wait groups.
uint32_t shared_address(const void* p);
void wgmma_bf16(float* d, int n, uint64_t desc_a, uint64_t desc_b, bool mn_major_a, bool mn_major_b);
void wgmma_commit();
void wgmma_wait(int keep_groups);
/** Drops every thread's wgmma still queued; with `check`, a queued one is an error (block end). */
void wgmma_end_block(bool check);

// mbarriers in shared memory and the tensor-map bulk copies (TMA) that complete on them
// (emu/tma.cc), as the PTX ISA gives them, clusters included: a barrier's phase completes
// when its `count` arrivals are in and the bytes it expects (expect_tx) have landed. A bulk copy
// reads the global tile when issued, shows its destination as NaN, and lands when a thread polls
// the barrier it completes on. Only tiled 2-3D maps of 1-, 2- or 4-byte elements, with no swizzle
// or the 128B one and zero fill, are modelled. The race checker and the access profiler do not
// see these copies.
void mbarrier_block_start();
void mbarrier_init(void* bar, unsigned count);
/** An arrival, after expecting tx_bytes more (mbarrier.arrive.expect_tx; 0: mbarrier.arrive); one
 *  that completes the phase then yields, as after a failed poll. */
void mbarrier_arrive(void* bar, unsigned tx_bytes);
/** Whether the phase of parity `parity` has completed; yields first when it has not. */
bool mbarrier_try_wait_parity(void* bar, unsigned parity);
/** The emulator's cuTensorMapEncodeTiled (the map in the 128 bytes of a CUtensorMap): "" or why
 *  the arguments are invalid (the driver's CUDA_ERROR_INVALID_VALUE). */
std::string encode_tensor_map(void* map, int rank, const void* base, const uint64_t* dims, const uint64_t* strides_bytes,
                              const uint32_t* box, unsigned element_bytes, bool swizzle128);
/** cp.async.bulk.tensor.{rank}d.shared.global.tile.mbarrier::complete_tx::bytes. */
void tma_load(void* dst, const void* map, const int* coords, void* bar);
/** The same with .multicast::cluster: the box lands at dst's offset in every block of `mask`
 *  (bit r: rank r), completing on the barrier at bar's offset in each; every one of them must
 *  have initialised that barrier already. */
void tma_load_multicast(void* dst, const void* map, const int* coords, void* bar, unsigned mask);
/** mbarrier.arrive.shared::cluster on the barrier at bar's offset in block `rank` of the cluster. */
void mbarrier_arrive_remote(void* bar, unsigned rank);

struct Config {
  dim3 grid, block;
  size_t smem;
  unsigned cluster = 1;  // blocks a cluster, along x (grid.x a multiple of it)
  Config(dim3 g, dim3 b, size_t s = 0, cudaStream_t = nullptr) : grid(g), block(b), smem(s) {}
};

/** Runs `body` once per thread of the grid; `kernel` keys the shared-memory attribute and
 *  `site` ("file.cu:line kernel", a string literal) names the launch while it runs. */
void run_grid(const Config& c, const void* kernel, const char* site, const std::function<void()>& body);
/** The running launch's site (run_grid), or null outside one. */
const char* launch_site();

/** Dynamic shared memory a kernel may use (cudaFuncSetAttribute). */
void set_max_dynamic_smem(const void* kernel, int bytes);

/** A kernel's address, the key of its shared-memory attribute. */
template <typename F>
const void* key(F* kernel) {
  return reinterpret_cast<const void*>(kernel);
}

/** kernel<<<config>>>(args...) as emu/translate.js writes it: the arguments are evaluated once,
 *  and every thread calls `call` (which calls the kernel) with its own copies. */
template <typename F, typename... A>
void launch(const Config& c, const void* kernel_key, const char* site, F&& call, A&&... args) {
  std::tuple<typename std::decay<A>::type...> params(std::forward<A>(args)...);
  run_grid(c, kernel_key, site, [&] { std::apply(call, params); });
}

}  // namespace emu
