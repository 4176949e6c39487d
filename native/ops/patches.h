// Tile rearrangements between the visible-block row layout (ARCHITECTURE.md decision 2, SPEC.md
// §4.5) and dense tensors. Rows are tile-major: row r = ((n*K + s)*t + dy)*t + dx holds position
// (y, x) = (gy*t + dy, gx*t + dx) of sample n's S×S map (S = G*t), where slot s of sample n is
// the stage-3 cell `cell = cells[n*K + s]`, gy = cell / G, gx = cell % G. Every op writes its
// whole output (=); none accumulates. All are copies (no arithmetic) of float32/float64 values on
// the CPU, float32/bfloat16 on CUDA (cuda/patches.cu).
//
//   rowsToPatches(out, x, blocks, t, k, C)        x [blocks*t*t, C] -> out [blocks*q*q, C*k*k], q = t/k:
//       out[(b*q + py)*q + px, c*k*k + a*k + bb] = x[(b*t + py*k + a)*t + px*k + bb, c]
//     (columns in the order of a PyTorch conv weight [Cout, C, k, k] flattened, so a linear layer
//     on the patches is the kernel = stride = k conv). patchesToRows(dx, dout, ...) is its inverse
//     (a permutation, hence also its gradient).
//   imageToRows(out, img, cells, N, K, G, t, C, H, W)   img [N, C, H, W], H = W = G*t*k ->
//       out [N*K*t*t, C*k*k]: out[row(n,s,dy,dx), c*k*k + a*k + bb] = img[n, c, y*k + a, x*k + bb]
//   patchify(out, img, N, C, H, W, p)             img [N, C, H, W] -> out [N, (H/p)*(W/p), p*p*C]:
//       out[n, h*(W/p) + w, (a*p + bb)*C + c] = img[n, c, h*p + a, w*p + bb]   (SPEC.md §2.10)
//   rowsToMap(out, x, cells, N, K, G, t, C)       x [N*K*t*t, C] -> out [N, C, S, S], zero at
//       positions of cells that are not kept; mapToRows(dx, dout, ...) gathers the rows back (its
//       gradient).
// Preconditions (checked by the bindings): every buffer holds exactly the elements its shape
// needs; cells are int32 in [0, G*G) and distinct within a sample.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "buffer.h"
#include "errors.h"

namespace convmae {

struct PatchRowsParams {
  Buffer* out;      // rowsToPatches: patches; patchesToRows: dx (rows)
  const Buffer* in; // rowsToPatches: x (rows); patchesToRows: dout (patches)
  int64_t blocks, t, k, c;
};

struct ImageRowsParams {
  Buffer* out;
  const Buffer* img;
  const Buffer* cells;
  int64_t n, kept, g, t, c, h, w;  // patch side k = h / (g*t)
};

struct PatchifyParams {
  Buffer* out;
  const Buffer* img;
  int64_t n, c, h, w, p;
};

struct RowsMapParams {
  Buffer* out;      // rowsToMap: map [N, C, S, S]; mapToRows: dx (rows)
  const Buffer* in; // rowsToMap: x (rows); mapToRows: dout (map)
  const Buffer* cells;
  int64_t n, kept, g, t, c;
};

void cpu_rows_to_patches(const PatchRowsParams& p);
void cpu_patches_to_rows(const PatchRowsParams& p);
void cpu_image_to_rows(const ImageRowsParams& p);
void cpu_patchify(const PatchifyParams& p);
void cpu_rows_to_map(const RowsMapParams& p);
void cpu_map_to_rows(const RowsMapParams& p);
void cuda_rows_to_patches(const PatchRowsParams& p);
void cuda_patches_to_rows(const PatchRowsParams& p);
void cuda_image_to_rows(const ImageRowsParams& p);
void cuda_patchify(const PatchifyParams& p);
void cuda_rows_to_map(const RowsMapParams& p);
void cuda_map_to_rows(const RowsMapParams& p);

// Shared by the bindings of the spatial ops (patches, dwconv, gather_rows, maxpool).

// The largest stage-3 grid side G the layout ops accept (G = 14 at 224 px).
constexpr int64_t kMaxGrid = 1024;

// The product of sizes, or a RangeError naming op when it exceeds 2^40 elements.
inline int64_t checked_numel(const char* op, std::initializer_list<int64_t> sizes) {
  const int64_t kMax = int64_t(1) << 40;
  int64_t n = 1;
  for (int64_t s : sizes) {
    if (s != 0 && n > kMax / s) throw_range(op, "sizes too large (more than 2^40 elements)");
    n *= s;
  }
  return n;
}

// Outputs must not share storage with inputs (or other outputs): the kernels read and write in
// parallel. Views of one tensor share one Buffer, so identity is the test.
inline void check_no_alias(const char* op, const Buffer& a, const Buffer& b, const char* an, const char* bn) {
  if (&a == &b) throw_error(op, std::string("`") + an + "` and `" + bn + "` must be different tensors");
}

// The values of an int32 index buffer readable on the host: the buffer's own memory on the CPU;
// for a CUDA buffer, its host shadow when it still matches the device (uploaded and not written
// since, see Buffer::shadow), else a synchronous copy into `host` (the stream is drained first).
// The bindings scan indices through it, so a bad index raises its error before any kernel reads it.
const int32_t* host_indices(const char* op, const Buffer& b, std::vector<int32_t>& host);

// Checks a visible layout against the sizes: `cells` int32 [N*K] on ref's device, each in
// [0, G*G) and distinct per sample; `table` (when given) int32 [N*G*G] with table[n*G*G + cell]
// = the slot of that cell or -1, consistent with `cells`. Values are scanned on the host (CUDA
// buffers through a copy, see host_indices); a bad one raises a RangeError naming op.
void check_layout(const char* op, const Buffer& ref, const Buffer& cells, const Buffer* table, int64_t n, int64_t kept,
                  int64_t g);

}  // namespace convmae
