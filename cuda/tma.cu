// Tensor maps for TMA copies (contract in cuda/tma.cuh): the driver's cuTensorMapEncodeTiled,
// found once through the runtime (cudaGetDriverEntryPointByVersion, so the addon does not link
// libcuda), or the emulator's twin in the emulated build.
#include <cuda.h>
#include <cudaTypedefs.h>

#include "cuda_api.h"
#include "tma.cuh"

namespace convmae {

namespace {
std::string check_layout(const void* base, const uint64_t (&dims)[3], const uint64_t (&strides)[2], const uint32_t (&box)[3]) {
  if (reinterpret_cast<uintptr_t>(base) % 16) return "the tensor's address is not 16-byte aligned";
  for (int i = 0; i < 3; ++i)
    if (dims[i] == 0 || dims[i] > (uint64_t(1) << 32) || box[i] == 0 || box[i] > 256)
      return "a dimension or box dimension is empty or too long";
  for (uint64_t s : strides)
    if (s % 16 || s >= (uint64_t(1) << 40)) return "a stride is not a multiple of 16 bytes below 2^40";
  if (box[0] * 2 > 128 || box[0] * 2 % 16) return "the box's rows are not 16-128 bytes";
  return "";
}

#ifndef CONVMAE_CUDA_EMULATION
PFN_cuTensorMapEncodeTiled_v12000 driver_encoder() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found{};
    const cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &found);
    if (e != cudaSuccess || found != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      p = nullptr;
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  }();
  return fn;
}
#endif
}  // namespace

std::string encode_bf16_tile_map(CUtensorMap* map, const void* base, const uint64_t (&dims)[3], const uint64_t (&strides_bytes)[2],
                                 const uint32_t (&box)[3]) {
  const std::string bad = check_layout(base, dims, strides_bytes, box);
  if (!bad.empty()) return bad;
#ifdef CONVMAE_CUDA_EMULATION
  return ::emu::encode_tensor_map(map, 3, base, dims, strides_bytes, box, 2, true);
#else
  const PFN_cuTensorMapEncodeTiled_v12000 encode = driver_encoder();
  if (!encode) return "the driver has no cuTensorMapEncodeTiled";
  const cuuint32_t unit[3] = {1, 1, 1};
  const CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<void*>(base), dims, strides_bytes, box, unit,
                            CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? "" : "cuTensorMapEncodeTiled refused the map (CUresult " + std::to_string(int(r)) + ")";
#endif
}

}  // namespace convmae
