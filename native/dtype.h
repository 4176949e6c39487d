// Element types and devices shared by the op table. Codes match lib/tensor/dtype.ts; never reorder.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace convmae {

enum class DType : int { F32 = 0, F64 = 1, BF16 = 2, F16 = 3, I32 = 4, I64 = 5 };
enum class Device : int { CPU = 0, CUDA = 1 };

inline int dtype_size(DType d) {
  switch (d) {
    case DType::F32: case DType::I32: return 4;
    case DType::F64: case DType::I64: return 8;
    case DType::BF16: case DType::F16: return 2;
  }
  return 0;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::BF16: return "bfloat16";
    case DType::F16: return "float16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
  }
  return "unknown";
}

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// Host conversions for the 16-bit float formats (round to nearest even).
inline float bf16_to_float(uint16_t h) {
  uint32_t b = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline uint16_t float_to_bf16(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu)) return uint16_t((b >> 16) | 0x40);
  return uint16_t((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}
float f16_to_float(uint16_t h);
uint16_t float_to_f16(float f);

}  // namespace convmae
