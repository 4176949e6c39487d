// Kernels that break CUDA's rules on purpose, run only in the emulated build, so that the tests
// (test/emu/selftest.test.ts, through the emuSelfTest export) show the emulator reports each kind
// of mistake it claims to (emu/emu.h) and models the asynchronous copies and wgmma as the hardware
// does. emu_selftest(name) runs one case and returns the launch error, or what the kernel saw.
#include <cuda_bf16.h>
#include <mma.h>

#include <cmath>
#include <cstring>
#include <string>

#include "cluster_launch.cuh"
#include "cp_async.cuh"
#include "tma.cuh"
#include "wgmma.cuh"
#ifdef CONVMAE_EMU_PROFILE
#include "racecheck.h"
#endif

namespace convmae {
namespace {

__global__ void divergent_barriers() {
  if (threadIdx.x < 16) __syncwarp();
  else __syncthreads();
}

__global__ void shuffle_with_exited_lanes(float* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, float(threadIdx.x), 1);
}

__global__ void uses_dynamic_smem(float* out) {
  extern __shared__ float dyn[];
  dyn[threadIdx.x] = 1.f;
  out[threadIdx.x] = dyn[threadIdx.x];
}

__global__ void wmma_misaligned(const __nv_bfloat16* in) {
  __shared__ __align__(128) __nv_bfloat16 tile[16 * 24];
  for (int i = threadIdx.x; i < 16 * 24; i += 32) tile[i] = in[0];
  __syncwarp();
  nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> a;
  nvcuda::wmma::load_matrix_sync(a, tile + 8, 24);  // 16 bytes past an aligned start
}

// out[0] = the copy's destination before the wait, out[1] = after.
__global__ void cp_async_read_early(float* out, const float* src) {
  __shared__ __align__(16) float dst[4];
  cp_async16(dst, src, true);
  cp_async_commit();
  out[0] = dst[0];
  cp_async_wait<0>();
  out[1] = dst[0];
}

// Ones in both 128B-swizzled operands; out[0] = d[0] read before the wait, out[1] after (16 = K).
__global__ void wgmma_read_early(float* out, bool wait) {
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  unsigned char* smem = smem_raw + ((1024 - (raw & 1023)) & 1023);
  __nv_bfloat16* ones = reinterpret_cast<__nv_bfloat16*>(smem);
  for (int i = threadIdx.x; i < (64 + 128) * 64; i += 128) ones[i] = __float2bfloat16_rn(1.f);
  __syncthreads();
  float d[64] = {};
  wgmma_fence();
  wgmma_m64n128k16<0, 0>(d, wgmma_desc(smem, 16, 1024), wgmma_desc(smem + 64 * 128, 16, 1024));
  wgmma_commit();
  if (threadIdx.x == 0) out[0] = d[0];
  if (!wait) return;
  wgmma_wait<0>();
  if (threadIdx.x == 0) out[1] = d[0];
}

// A 64x64 bf16 box by TMA with the 128B swizzle from a 40 x 48 tensor whose element (r, c) is
// 4r + c/8 (its row and 16-byte chunk): out = element (1, 8) read from its swizzled place (chunk
// 1 of row 1 lands in chunk 0) before the wait and after it, what lands in chunk 1 of row 1 (the
// swizzle's partner, element (1, 0)), and element (50, 0) (outside the tensor).
__global__ void tma_box(float* out, const __grid_constant__ CUtensorMap map) {
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  unsigned char* smem = smem_raw + ((1024 - (raw & 1023)) & 1023);
  const __nv_bfloat16* tile = reinterpret_cast<const __nv_bfloat16*>(smem);
  uint64_t* bar = reinterpret_cast<uint64_t*>(smem + 64 * 128);
  if (threadIdx.x == 0) mbar_init(bar, 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    mbar_arrive_expect_tx(bar, 64 * 128);
    tma_load_3d(smem, &map, 0, 0, 0, bar);
    out[0] = __bfloat162float(tile[64]);
  }
  mbar_wait(bar, 0);
  if (threadIdx.x == 0) {
    out[1] = __bfloat162float(tile[64]);
    out[2] = __bfloat162float(tile[64 + 8]);
    out[3] = __bfloat162float(tile[50 * 64]);
  }
}

// Thread 32 waits for the phase thread 0's arrival completes; thread 0 writes out[0] just after
// arriving: out[1] = what thread 32 saw (the emulator runs the released thread first: -1).
__global__ void mbarrier_release_order(float* out) {
  extern __shared__ uint64_t bars[];
  if (threadIdx.x == 0) mbar_init(&bars[0], 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    mbar_arrive(&bars[0]);
    out[0] = 1.f;
  } else if (threadIdx.x == 32) {
    mbar_wait(&bars[0], 0);
    out[1] = out[0];
  }
}

// Thread 0 waits for a phase no thread completes (`arrive`: false), or arrives on a barrier that
// was never initialised (true).
__global__ void mbarrier_misuse(bool arrive) {
  extern __shared__ uint64_t bars[];
  if (arrive) {
    if (threadIdx.x == 0) mbar_arrive(&bars[1]);
    return;
  }
  if (threadIdx.x == 0) mbar_init(&bars[0], 2);
  __syncthreads();
  if (threadIdx.x == 0) mbar_arrive(&bars[0]);
  mbar_wait(&bars[0], 0);
}

// Two blocks of a cluster, 64 threads each (the tma_box tensor): block 0's thread 0 multicasts the
// box into both blocks; each block's thread 0 waits for it on its own barrier and writes what
// landed (out[rank]: element (1, 0)); thread 32 of block 1 arrives on block 0's second barrier,
// which thread 32 of block 0 waits for (out[2] = 1 once released). `synced`: a cluster barrier
// after the inits; without it (only __syncthreads), block 0 may multicast before block 1 has
// initialised its barrier, as the emulator runs it (block 1 starts once block 0 is stuck).
__global__ void cluster_multicast(float* out, const __grid_constant__ CUtensorMap map, bool synced) {
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  unsigned char* smem = smem_raw + ((1024 - (raw & 1023)) & 1023);
  const __nv_bfloat16* tile = reinterpret_cast<const __nv_bfloat16*>(smem);
  uint64_t* bars = reinterpret_cast<uint64_t*>(smem + 64 * 128);
  const unsigned rank = cluster_rank();
  if (threadIdx.x == 0) {
    mbar_init(&bars[0], 1);
    mbar_init(&bars[1], 1);
  }
  if (synced) cluster_sync();
  else __syncthreads();
  if (threadIdx.x == 0) {
    mbar_arrive_expect_tx(&bars[0], 64 * 128);
    if (rank == 0) tma_load_3d_multicast(smem, &map, 0, 0, 0, &bars[0], 3);
    mbar_wait(&bars[0], 0);
    out[rank] = __bfloat162float(tile[64 + 8]);
  }
  if (threadIdx.x == 32 && rank == 1) mbar_arrive_cluster(&bars[1], 0);
  if (threadIdx.x == 32 && rank == 0) {
    mbar_wait(&bars[1], 0);
    out[2] = 1.f;
  }
  if (synced) cluster_sync();
}

#ifdef CONVMAE_EMU_PROFILE
// Shared-memory exchanges for the race checker's test (profile builds), 64 threads: `synced`
// puts the barrier in that each needs.
// Thread 0 reads what thread 33 (another warp) writes.
__global__ void race_across_warps(float* out, bool synced) {
  __shared__ float cell[1];
  if (threadIdx.x == 33) cell[0] = 1.f;
  if (synced) __syncthreads();
  if (threadIdx.x == 0) out[0] = cell[0];
}
// Each lane of warp 0 reads its neighbour's element.
__global__ void race_in_warp(float* out, bool synced) {
  __shared__ float row[32];
  if (threadIdx.x >= 32) return;
  row[threadIdx.x] = float(threadIdx.x);
  if (synced) __syncwarp();
  out[threadIdx.x] = row[(threadIdx.x + 1) % 32];
}
// Thread 0 copies into a tile with cp.async that thread 32 reads after a barrier: `synced` waits
// for the copy before that barrier, else after it.
__global__ void race_cp_async_read(float* out, const float* src, bool synced) {
  __shared__ __align__(16) float tile[4];
  if (threadIdx.x == 0) {
    cp_async16(tile, src, true);
    cp_async_commit();
    if (synced) cp_async_wait<0>();
  }
  __syncthreads();
  if (threadIdx.x == 32) out[0] = tile[0];
  if (threadIdx.x == 0) cp_async_wait<0>();
}
// Thread 32 reads a tile that thread 0 then refills with cp.async: `synced` puts a barrier between.
__global__ void race_cp_async_refill(float* out, const float* src, bool synced) {
  __shared__ __align__(16) float tile[4];
  if (threadIdx.x == 0) tile[0] = 2.f;
  __syncthreads();
  if (threadIdx.x == 32) out[0] = tile[0];
  if (synced) __syncthreads();
  if (threadIdx.x == 0) {
    cp_async16(tile, src, true);
    cp_async_commit();
    cp_async_wait<0>();
  }
}
#endif

// Access patterns with known costs, for the access profiler's test (profile builds): each lane
// reads and writes one element `stride` elements apart.
template <typename T>
__global__ void smem_strided(T* out, int stride) {
  __shared__ __align__(16) T s[32 * 33];
  s[threadIdx.x * stride] = out[threadIdx.x];
  __syncwarp();
  out[threadIdx.x] = s[threadIdx.x * stride];
}

__global__ void global_strided(float* out, const float* in, int stride) { out[threadIdx.x] = in[threadIdx.x * stride]; }

// ldmatrix .x4 and a WMMA load from tile rows `row_bytes` apart (16 rows x 64 bytes used).
__global__ void matrix_rows(int row_bytes, bool wmma) {
  __shared__ __align__(128) __nv_bfloat16 tile[16 * 128];
  for (int i = threadIdx.x; i < 16 * 128; i += 32) tile[i] = __float2bfloat16_rn(0.f);
  __syncwarp();
  const unsigned char* base = reinterpret_cast<const unsigned char*>(tile);
  if (wmma) {
    nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> a;
    nvcuda::wmma::load_matrix_sync(a, tile, unsigned(row_bytes / 2));
  } else {
    uint32_t r[4];
    ::emu::ldmatrix_x4(r, base + (threadIdx.x % 16) * row_bytes + (threadIdx.x / 16) * 16, false);
  }
}

std::string launch_error() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? "" : cudaGetErrorString(e);
}

// Runs `profile-<pattern>:<stride>` on device memory; "" or the launch error.
std::string profile_case(const std::string& name) {
  const size_t colon = name.find(':');
  if (colon == std::string::npos) return "expected profile-<pattern>:<stride>";
  const std::string pattern = name.substr(8, colon - 8);
  const int stride = std::stoi(name.substr(colon + 1));
  float* dev = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&dev), 32 * 33 * 16) != cudaSuccess) return "cudaMalloc failed";
  std::memset(dev, 0, 32 * 33 * 16);  // device memory is host memory here
  std::string out;
  if (pattern == "smem-f32") smem_strided<float><<<1, 32>>>(dev, stride);
  else if (pattern == "smem-vec4") smem_strided<float4><<<1, 32>>>(reinterpret_cast<float4*>(dev), stride);
  else if (pattern == "global-f32") global_strided<<<1, 32>>>(dev, dev + 32, stride);
  else if (pattern == "ldmatrix" || pattern == "wmma") matrix_rows<<<1, 32>>>(stride, pattern == "wmma");
  else out = "unknown pattern `" + pattern + "`";
  if (out.empty()) out = launch_error();
  cudaFree(dev);
  return out;
}

std::string num(float v) { return std::isnan(v) ? "nan" : std::to_string(int(v)); }

// Makes the TMA cases' 40 x 48 bf16 tensor (element (r, c) = 4r + c/8) and its map of 64 x 64
// boxes, and runs launch(map): "" or the error.
template <typename Launch>
std::string with_tma_tensor(Launch&& launch) {
  __nv_bfloat16* tensor = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&tensor), 40 * 48 * 2) != cudaSuccess) return "cudaMalloc failed";
  for (int r = 0; r < 40; ++r)
    for (int c = 0; c < 48; ++c) tensor[r * 48 + c] = __float2bfloat16_rn(float(4 * r + c / 8));  // host memory here
  CUtensorMap map;
  std::string e = encode_bf16_tile_map(&map, tensor, {48, 40, 1}, {96, 96 * 40}, {64, 64, 1});
  if (e.empty()) e = launch(map);
  cudaFree(tensor);
  return e;
}

}  // namespace

std::string emu_selftest(const std::string& name) {
  if (name.rfind("profile-", 0) == 0) return profile_case(name);
  static float buf[64];
  static const float one[4] = {1.f, 1.f, 1.f, 1.f};
  static const __nv_bfloat16 half_one = __float2bfloat16_rn(0.5f);
  if (name == "divergent-barriers") {
    divergent_barriers<<<1, 32>>>();
    return launch_error();
  }
  if (name == "exited-lanes") {
    shuffle_with_exited_lanes<<<1, 32>>>(buf);
    return launch_error();
  }
  if (name == "smem-limit") {
    uses_dynamic_smem<<<1, 32, 64 * 1024>>>(buf);
    const std::string before = launch_error();
    cudaFuncSetAttribute(uses_dynamic_smem, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024);
    uses_dynamic_smem<<<1, 32, 64 * 1024>>>(buf);
    return before + " | after the attribute: " + (launch_error().empty() ? "ok" : "failed");
  }
  if (name == "wmma-misaligned") {
    wmma_misaligned<<<1, 32>>>(&half_one);
    return launch_error();
  }
  if (name == "cp-async") {
    cp_async_read_early<<<1, 1>>>(buf, one);
    const std::string e = launch_error();
    return e.empty() ? "before the wait " + num(buf[0]) + ", after " + num(buf[1]) : e;
  }
  if (name == "wgmma" || name == "wgmma-no-wait") {
    const bool wait = name == "wgmma";
    cudaFuncSetAttribute(wgmma_read_early, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024);
    buf[1] = -1.f;
    wgmma_read_early<<<1, 128, 64 * 1024>>>(buf, wait);
    const std::string e = launch_error();
    return e.empty() ? "before the wait " + num(buf[0]) + ", after " + num(buf[1]) : e;
  }
  if (name == "tma") {
    const std::string e = with_tma_tensor([&](const CUtensorMap& map) {
      cudaFuncSetAttribute(tma_box, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024);
      tma_box<<<1, 64, 64 * 1024>>>(buf, map);
      return launch_error();
    });
    return e.empty() ? "before the wait " + num(buf[0]) + ", after " + num(buf[1]) + ", its partner " + num(buf[2]) +
                           ", outside " + num(buf[3])
                     : e;
  }
  if (name == "cluster" || name == "cluster-unsynced") {
    buf[0] = buf[1] = buf[2] = -1.f;
    const std::string e = with_tma_tensor([&](const CUtensorMap& map) {
      cudaFuncSetAttribute(cluster_multicast, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024);
      cuda::launch_in_clusters(cluster_multicast, 2, dim3(2), 64, 64 * 1024, "selftest", buf, map, name == "cluster");
      return launch_error();
    });
    return e.empty() ? "block 0 saw " + num(buf[0]) + ", block 1 saw " + num(buf[1]) + ", remote arrival " + num(buf[2]) : e;
  }
  if (name == "mbarrier-order") {
    buf[0] = buf[1] = -1.f;
    mbarrier_release_order<<<1, 64, 64>>>(buf);
    const std::string e = launch_error();
    return e.empty() ? "the released thread saw " + num(buf[1]) : e;
  }
  if (name == "mbarrier-deadlock" || name == "mbarrier-uninitialised") {
    mbarrier_misuse<<<1, 64, 64>>>(name == "mbarrier-uninitialised");
    return launch_error();
  }
#ifdef CONVMAE_EMU_PROFILE
  if (name.rfind("race-", 0) == 0) {
    const bool synced = name.size() > 7 && name.compare(name.size() - 7, 7, "-synced") == 0;
    const std::string kind = synced ? name.substr(5, name.size() - 12) : name.substr(5);
    if (kind != "across-warps" && kind != "in-warp" && kind != "cp-async-read" && kind != "cp-async-refill")
      return "unknown self-test `" + name + "`";
    const bool was_on = ::emu::racecheck_enabled();
    ::emu::racecheck_enable(true);
    if (kind == "across-warps") race_across_warps<<<1, 64>>>(buf, synced);
    else if (kind == "in-warp") race_in_warp<<<1, 64>>>(buf, synced);
    else if (kind == "cp-async-read") race_cp_async_read<<<1, 64>>>(buf, one, synced);
    else race_cp_async_refill<<<1, 64>>>(buf, one, synced);
    ::emu::racecheck_enable(was_on);
    return launch_error();
  }
#endif
  return "unknown self-test `" + name + "`";
}

}  // namespace convmae
