// CPU reference for the tile rearrangements (contract in native/ops/patches.h). Each output row
// (or image plane) is produced by one task, so writes never overlap.
#include <algorithm>
#include <cstring>

#include "float_dispatch.h"
#include "ops/patches.h"
#include "parallel.h"

namespace convmae {
namespace {

// The map position of a visible row's slot: sample n, slot s -> top-left (y0, x0) of its tile.
struct SlotOrigin {
  int64_t y0, x0;
};
inline SlotOrigin slot_origin(const int32_t* cells, int64_t n, int64_t kept, int64_t s, int64_t g, int64_t t) {
  int64_t cell = cells[n * kept + s];
  return {(cell / g) * t, (cell % g) * t};
}

// Patch row `o` <-> the k*k rows of x it covers. to_patches copies x -> patches, else back.
template <typename T>
void patch_rows(const PatchRowsParams& p, bool to_patches) {
  const int64_t t = p.t, k = p.k, C = p.c, q = t / k, kk = k * k;
  T* out = p.out->as<T>();
  const T* in = p.in->as<T>();
  parallel_for(p.blocks * q * q, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      const int64_t b = o / (q * q), py = (o / q) % q, px = o % q;
      for (int64_t a = 0; a < k; ++a)
        for (int64_t bb = 0; bb < k; ++bb) {
          const int64_t r = (b * t + py * k + a) * t + px * k + bb;
          const int64_t ri = r * C, pi = o * C * kk + a * k + bb;
          for (int64_t c = 0; c < C; ++c) {
            if (to_patches) out[pi + c * kk] = in[ri + c];
            else out[ri + c] = in[pi + c * kk];
          }
        }
    }
  });
}

// Row r of the layout <-> the map [N, C, S, S]: to_map scatters rows into a zeroed map, else gathers.
template <typename T>
void rows_map(const RowsMapParams& p, bool to_map) {
  const int64_t t = p.t, C = p.c, S = p.g * t, tt = t * t;
  const int32_t* cells = p.cells->as<int32_t>();
  T* out = p.out->as<T>();
  const T* in = p.in->as<T>();
  if (to_map) {
    parallel_for(p.out->numel, 1 << 16, [&](int64_t lo, int64_t hi) { std::fill(out + lo, out + hi, T(0)); });
  }
  // One task per slot: slots of a sample cover distinct cells (checked), so writes are disjoint.
  parallel_for(p.n * p.kept, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t ns = lo; ns < hi; ++ns) {
      const int64_t n = ns / p.kept;
      const SlotOrigin o = slot_origin(cells, n, p.kept, ns % p.kept, p.g, t);
      for (int64_t d = 0; d < tt; ++d) {
        const int64_t r = ns * tt + d;
        const int64_t pix = (o.y0 + d / t) * S + o.x0 + d % t;  // offset inside one channel plane
        for (int64_t c = 0; c < C; ++c) {
          const int64_t mi = (n * C + c) * S * S + pix, ri = r * C + c;
          if (to_map) out[mi] = in[ri];
          else out[ri] = in[mi];
        }
      }
    }
  });
}

}  // namespace

void cpu_rows_to_patches(const PatchRowsParams& p) {
  cpu_float_dispatch(p.out->dtype, "rowsToPatches", [&](auto zero) { patch_rows<decltype(zero)>(p, true); });
}

void cpu_patches_to_rows(const PatchRowsParams& p) {
  cpu_float_dispatch(p.out->dtype, "patchesToRows", [&](auto zero) { patch_rows<decltype(zero)>(p, false); });
}

void cpu_rows_to_map(const RowsMapParams& p) {
  cpu_float_dispatch(p.out->dtype, "rowsToMap", [&](auto zero) { rows_map<decltype(zero)>(p, true); });
}

void cpu_map_to_rows(const RowsMapParams& p) {
  cpu_float_dispatch(p.out->dtype, "mapToRows", [&](auto zero) { rows_map<decltype(zero)>(p, false); });
}

void cpu_image_to_rows(const ImageRowsParams& p) {
  cpu_float_dispatch(p.out->dtype, "imageToRows", [&](auto zero) {
    using T = decltype(zero);
    const int64_t t = p.t, C = p.c, H = p.h, W = p.w, k = H / (p.g * t), kk = k * k, tt = t * t;
    const int32_t* cells = p.cells->as<int32_t>();
    const T* img = p.img->as<T>();
    T* out = p.out->as<T>();
    parallel_for(p.n * p.kept * tt, 16, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const int64_t ns = r / tt, n = ns / p.kept, d = r % tt;
        const SlotOrigin o = slot_origin(cells, n, p.kept, ns % p.kept, p.g, t);
        const int64_t y = o.y0 + d / t, x = o.x0 + d % t;
        T* row = out + r * C * kk;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t a = 0; a < k; ++a) {
            const T* src = img + ((n * C + c) * H + y * k + a) * W + x * k;
            std::memcpy(row + c * kk + a * k, src, size_t(k) * sizeof(T));
          }
      }
    });
  });
}

void cpu_patchify(const PatchifyParams& p) {
  cpu_float_dispatch(p.out->dtype, "patchify", [&](auto zero) {
    using T = decltype(zero);
    const int64_t C = p.c, H = p.h, W = p.w, P = p.p, gw = W / P, L = (H / P) * gw;
    const T* img = p.img->as<T>();
    T* out = p.out->as<T>();
    parallel_for(p.n * L, 4, [&](int64_t lo, int64_t hi) {
      for (int64_t nl = lo; nl < hi; ++nl) {
        const int64_t n = nl / L, h = (nl % L) / gw, w = nl % gw;
        T* row = out + nl * P * P * C;
        for (int64_t a = 0; a < P; ++a)
          for (int64_t bb = 0; bb < P; ++bb)
            for (int64_t c = 0; c < C; ++c)
              row[(a * P + bb) * C + c] = img[((n * C + c) * H + h * P + a) * W + w * P + bb];
      }
    });
  });
}

}  // namespace convmae
