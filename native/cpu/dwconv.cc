// CPU reference for the depthwise conv on visible-block rows (contract in native/ops/dwconv.h).
// For each row, the rows under the ksize×ksize window are looked up once through the table
// (-1 for masked or outside); the channel loop then runs over contiguous rows. The forward and
// the input gradient gather (one task per output row, no write conflicts); the weight gradient
// splits the channels among tasks, each walking every row.
#include <vector>

#include "float_dispatch.h"
#include "ops/dwconv.h"
#include "parallel.h"

namespace convmae {
namespace {

// Row lookups of one layout. window(r, sign, out) fills out[u*ksize + v] with the row at map
// position pos(r) + sign*(u − half, v − half), or -1 when that position is outside the map or
// in a masked cell.
class RowWindow {
 public:
  explicit RowWindow(const DwconvGeometry& g)
      : g_(g), cells_(g.cells->as<int32_t>()), table_(g.table->as<int32_t>()), side_(g.g * g.t) {}

  int64_t rows() const { return g_.n * g_.kept * g_.t * g_.t; }

  void window(int64_t r, int64_t sign, int64_t* out) const {
    const int64_t t = g_.t, tt = t * t, ns = r / tt, n = ns / g_.kept;
    const int64_t cell = cells_[ns];
    const int64_t y = (cell / g_.g) * t + (r % tt) / t, x = (cell % g_.g) * t + r % t;
    const int64_t k = g_.ksize, half = k / 2;
    for (int64_t u = 0; u < k; ++u)
      for (int64_t v = 0; v < k; ++v) out[u * k + v] = row_at(n, y + sign * (u - half), x + sign * (v - half));
  }

 private:
  int64_t row_at(int64_t n, int64_t y, int64_t x) const {
    if (y < 0 || x < 0 || y >= side_ || x >= side_) return -1;
    const int64_t t = g_.t;
    const int64_t slot = table_[(n * g_.g + y / t) * g_.g + x / t];
    return slot < 0 ? -1 : ((n * g_.kept + slot) * t + y % t) * t + x % t;
  }

  const DwconvGeometry& g_;
  const int32_t* cells_;
  const int32_t* table_;
  int64_t side_;
};

// weight [C, k*k] -> [k*k, C], so each tap's channel loop reads contiguously.
template <typename T>
std::vector<T> taps_by_channel(const T* w, int64_t C, int64_t kk) {
  std::vector<T> out(size_t(kk * C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < kk; ++j) out[size_t(j * C + c)] = w[c * kk + j];
  return out;
}

// dst[r] = (bias or 0) + Σ_j taps[j] ⊙ src[window_j(r)] over all rows; the shared loop of the
// forward (sign +1) and of the input gradient (sign −1, the window mirrored).
template <typename T>
void gather_conv(const DwconvGeometry& g, int64_t sign, T* dst, const T* src, const T* weight, const T* bias) {
  const RowWindow win(g);
  const int64_t C = g.c, kk = g.ksize * g.ksize;
  const std::vector<T> taps = taps_by_channel(weight, C, kk);
  parallel_for(win.rows(), 8, [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> nb(static_cast<size_t>(kk));
    std::vector<double> acc(static_cast<size_t>(C));
    for (int64_t r = lo; r < hi; ++r) {
      win.window(r, sign, nb.data());
      for (int64_t c = 0; c < C; ++c) acc[size_t(c)] = bias ? double(bias[c]) : 0.0;
      for (int64_t j = 0; j < kk; ++j) {
        if (nb[size_t(j)] < 0) continue;
        const T* s = src + nb[size_t(j)] * C;
        const T* w = taps.data() + j * C;
        for (int64_t c = 0; c < C; ++c) acc[size_t(c)] += double(w[c]) * double(s[c]);
      }
      T* d = dst + r * C;
      for (int64_t c = 0; c < C; ++c) d[c] = T(acc[size_t(c)]);
    }
  });
}

}  // namespace

void cpu_dwconv_rows(const DwconvParams& p) {
  cpu_float_dispatch(p.y->dtype, "dwconvRows", [&](auto zero) {
    using T = decltype(zero);
    gather_conv<T>(p.geo, 1, p.y->as<T>(), p.x->as<T>(), p.weight->as<T>(), p.bias->as<T>());
  });
}

void cpu_dwconv_rows_backward_input(const DwconvBackwardInputParams& p) {
  cpu_float_dispatch(p.dx->dtype, "dwconvRowsBackwardInput", [&](auto zero) {
    using T = decltype(zero);
    gather_conv<T>(p.geo, -1, p.dx->as<T>(), p.dy->as<T>(), p.weight->as<T>(), nullptr);
  });
}

void cpu_dwconv_rows_backward_weight(const DwconvBackwardWeightParams& p) {
  cpu_float_dispatch(p.dweight->dtype, "dwconvRowsBackwardWeight", [&](auto zero) {
    using T = decltype(zero);
    const DwconvGeometry& g = p.geo;
    const RowWindow win(g);
    const int64_t C = g.c, kk = g.ksize * g.ksize, rows = win.rows();
    const T* dy = p.dy->as<T>();
    const T* x = p.x->as<T>();
    T* dw = p.dweight->as<T>();
    T* db = p.dbias->as<T>();
    parallel_for(C, 64, [&](int64_t c0, int64_t c1) {
      const int64_t cn = c1 - c0;
      std::vector<double> acc(size_t(kk * cn), 0.0), bacc(size_t(cn), 0.0);
      std::vector<int64_t> nb(static_cast<size_t>(kk));
      for (int64_t r = 0; r < rows; ++r) {
        win.window(r, 1, nb.data());
        const T* g_row = dy + r * C + c0;
        for (int64_t c = 0; c < cn; ++c) bacc[size_t(c)] += double(g_row[c]);
        for (int64_t j = 0; j < kk; ++j) {
          if (nb[size_t(j)] < 0) continue;
          const T* x_row = x + nb[size_t(j)] * C + c0;
          double* a = acc.data() + j * cn;
          for (int64_t c = 0; c < cn; ++c) a[c] += double(g_row[c]) * double(x_row[c]);
        }
      }
      for (int64_t c = 0; c < cn; ++c) {
        db[c0 + c] = T(bacc[size_t(c)]);
        for (int64_t j = 0; j < kk; ++j) dw[(c0 + c) * kk + j] = T(acc[size_t(j * cn + c)]);
      }
    });
  });
}

}  // namespace convmae
