// The gemm family `auto` (contract in cuda/gemm_auto.cuh): each kind of tensor-core problem runs
// the fastest of the candidate kernels on this card, timed on the kind's first call, as cuDNN's
// benchmark mode does for convolutions.
//
// A kind is everything a kernel's speed depends on: M, N, K, batch and strides, the transposes,
// which epilogue extras are given, whether beta is 0, and whether A and B are 16-byte aligned (the
// TMA unit needs it). Its first call runs every candidate once to warm it up, then three times
// between CUDA events, each run apart; the lowest of a candidate's three is its time, and the
// lowest time wins. Every run computes the whole problem: where a run reads C (beta != 0, or C is
// also the residual, the gelu' operand, A or B), C is saved first and put back before each run,
// so each run sees the caller's C (gemm.cc refuses a gelu_out that is another argument). Then the
// winner runs once more for the caller's result, and later calls of the kind run only it. A
// candidate that throws (a launch the card refuses) is left out of that kind.
//
// Candidates: CONVMAE_GEMM_AUTO, a comma-separated list of family or family:tiling names (e.g.
// "wgmma,tma:4"), each one this build has and this card runs; by default wgmma, tma, tma:4 and
// tma:5 on a card that runs the wgmma kernels (run 8 on an H100, bench/RESULTS.md: each of them
// wins some of the model's kinds; tma:6 and tma:7 won none by more than 3% and ran 1.3-5x
// slower on the forward and dX forms), else mma alone (it beat wmma on every one of the model's
// GEMMs in runs 7 and 8). The variable is read at every call; when it changes, every kind is timed
// again.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_api.h"
#include "errors.h"
#include "gemm_auto.cuh"
#include "gemm_tc.cuh"
#include "gemm_tma.cuh"
#include "gemm_wgmma.cuh"
#include "runtime.cuh"
#include "scratch.cuh"

namespace convmae {

namespace {

struct Candidate {
  std::string family;
  int tiling;
  std::string name() const { return tiling == 0 ? family : family + ":" + std::to_string(tiling); }
};

using Kind = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int>;

struct State {
  std::mutex lock;
  std::string list;  // the candidate list the choices below were made with
  std::vector<Candidate> candidates;
  std::map<Kind, int> picks;  // each kind timed so far -> its pick's index in candidates
  std::vector<cuda::GemmAutoChoice> choices;  // what was measured, in the order timed
};

State& state() {
  static State s;
  return s;
}

std::string default_list() { return cuda::wgmma_available() ? "wgmma,tma,tma:4,tma:5" : "mma"; }

Candidate parse_candidate(const std::string& name) {
  const size_t colon = name.find(':');
  const std::string family = name.substr(0, colon);
  int tiling = 0;
  if (colon != std::string::npos) {
    const std::string t = name.substr(colon + 1);
    if (t.size() != 1 || t[0] < '0' || t[0] > '9') throw_range("gemm", "CONVMAE_GEMM_AUTO: `" + name + "` has no tiling number after the colon");
    tiling = t[0] - '0';
  }
  bool known = true, compiled = false;
  if (family == "wgmma") compiled = cuda_gemm_wgmma_has_tiling(tiling);
  else if (family == "tma") compiled = cuda_gemm_tma_has_tiling(tiling);
  else if (family == "mma" || family == "wmma") compiled = cuda_gemm_tc_has_tiling(tiling);
  else known = false;
  if (!known) throw_range("gemm", "CONVMAE_GEMM_AUTO: `" + name + "` is not a gemm family (wgmma, tma, mma, wmma, each optionally :tiling)");
  if (!compiled) throw_range("gemm", "CONVMAE_GEMM_AUTO: this build has no `" + name + "` (other tilings need CONVMAE_GEMM_SWEEP=1)");
  if ((family == "wgmma" || family == "tma") && !cuda::wgmma_available())
    throw_range("gemm", "CONVMAE_GEMM_AUTO: `" + name + "` needs a Hopper GPU (sm_90) and this addon's sm_90a code");
  return Candidate{family, tiling};
}

std::vector<Candidate> parse_list(const std::string& list) {
  std::vector<Candidate> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string name = list.substr(start, end - start);
    if (name.empty()) throw_range("gemm", "CONVMAE_GEMM_AUTO: expected gemm family names separated by commas, got `" + list + "`");
    const Candidate c = parse_candidate(name);
    if (std::none_of(out.begin(), out.end(), [&](const Candidate& o) { return o.name() == c.name(); })) out.push_back(c);
    start = end + 1;
  }
  return out;
}

// The candidate list in force (parsed again, and every choice dropped, when the variable changes).
void refresh_candidates(State& s) {
  const char* env = std::getenv("CONVMAE_GEMM_AUTO");
  const std::string list = env && *env ? env : default_list();
  if (list == s.list && !s.candidates.empty()) return;
  std::vector<Candidate> parsed = parse_list(list);
  s.list = list;
  s.candidates = std::move(parsed);
  s.picks.clear();
  s.choices.clear();
}

void run(const Candidate& c, const GemmParams& p) {
  if (c.family == "wgmma") cuda_gemm_wgmma(p, c.tiling);
  else if (c.family == "tma") cuda_gemm_tma(p, c.tiling);
  else if (c.family == "wmma") cuda_gemm_wmma(p, c.tiling);
  else cuda_gemm_mma(p, c.tiling);
}

Kind kind_of(const GemmParams& p) {
  const int extras = (p.bias ? 1 : 0) | (p.residual ? 2 : 0) | (p.gelu_out ? 4 : 0) | (p.gelu_grad_of ? 8 : 0) |
                     (p.beta != 0 ? 16 : 0) | (p.trans_a ? 32 : 0) | (p.trans_b ? 64 : 0);
  const bool aligned = (reinterpret_cast<uintptr_t>(p.a->data) | reinterpret_cast<uintptr_t>(p.b->data)) % 16 == 0;
  return Kind{p.m, p.n, p.k, p.batch, p.stride_a, p.stride_b, p.stride_c, extras, aligned ? 1 : 0};
}

std::string describe(const GemmParams& p) {
  std::string s = std::to_string(p.m) + "x" + std::to_string(p.k) + "x" + std::to_string(p.n) + " " + (p.trans_a ? "T" : "N") +
                  (p.trans_b ? "T" : "N");
  if (p.batch > 1) s += " batch " + std::to_string(p.batch);
  if (p.bias) s += " +bias";
  if (p.residual) s += " +res";
  if (p.gelu_grad_of) s += " +gelu'";
  if (p.gelu_out) s += " +gelu";
  if (p.beta != 0) s += " +beta";
  return s;
}

// Puts C back as the caller gave it before each run, where a run reads it (buffers are whole
// allocations: one that is C is the same buffer).
class SavedC {
 public:
  explicit SavedC(const GemmParams& p)
      : c_(p.c), reads_(p.beta != 0 || p.residual == p.c || p.gelu_grad_of == p.c || p.a == p.c || p.b == p.c),
        copy_(reads_ ? p.c->bytes : 0, "gemm") {
    if (reads_) cuda::copy_device(copy_.as<void>(), c_->data, c_->bytes, "gemm");
  }
  void restore() const {
    if (reads_) cuda::copy_device(c_->data, copy_.as<void>(), c_->bytes, "gemm");
  }

 private:
  Buffer* c_;
  bool reads_;
  Scratch copy_;
};

class Events {
 public:
  Events() {
    if (cudaEventCreateWithFlags(&start_, cudaEventDefault) != cudaSuccess || cudaEventCreateWithFlags(&stop_, cudaEventDefault) != cudaSuccess)
      cuda::fail("gemm", "creating timing events", cudaGetLastError());
  }
  ~Events() {
    if (start_) cudaEventDestroy(start_);
    if (stop_) cudaEventDestroy(stop_);
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
  // Milliseconds of one run of c on p, C put back first.
  double time(const Candidate& c, const GemmParams& p, const SavedC& saved) {
    saved.restore();
    cudaEventRecord(start_, cuda::stream());
    run(c, p);
    cudaEventRecord(stop_, cuda::stream());
    cuda::count_wait();
    cudaError_t e = cudaEventSynchronize(stop_);
    float ms = 0.f;
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, start_, stop_);
    if (e != cudaSuccess) cuda::fail("gemm", ("timing candidate " + c.name()).c_str(), e);
    return double(ms);
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

constexpr int kTimedRuns = 3;

// Times every candidate on p (its first call of this kind) and records the choice; returns the pick.
int tune(State& s, const GemmParams& p) {
  cuda::GemmAutoChoice choice;
  choice.problem = describe(p);
  int pick = -1;
  std::string first_error;
  {
    const SavedC saved(p);
    Events events;
    for (size_t i = 0; i < s.candidates.size(); ++i) {
      const Candidate& c = s.candidates[i];
      double best = -1;
      try {
        saved.restore();
        run(c, p);  // warm-up: first launches, shared-memory opt-ins
        cuda::check_launch("gemm");
        for (int r = 0; r < kTimedRuns; ++r) {
          const double ms = events.time(c, p, saved);
          best = best < 0 ? ms : std::min(best, ms);
        }
        cuda::check_launch("gemm");
      } catch (const OpError& e) {
        if (first_error.empty()) first_error = c.name() + ": " + e.what();
        best = -1;
      }
      choice.candidates.push_back(c.name());
      choice.ms.push_back(best);
      if (best >= 0 && (pick < 0 || best < choice.ms[size_t(pick)])) pick = int(i);
    }
    if (pick < 0) throw_error("gemm", "auto: no candidate kernel ran " + choice.problem + " (" + first_error + ")");
    saved.restore();
  }
  choice.pick = s.candidates[size_t(pick)].name();
  s.picks[kind_of(p)] = pick;
  s.choices.push_back(std::move(choice));
  return pick;
}

}  // namespace

void cuda_gemm_auto(const GemmParams& p) {
  State& s = state();
  std::lock_guard<std::mutex> held(s.lock);
  refresh_candidates(s);
  const auto found = s.picks.find(kind_of(p));
  const int pick = found != s.picks.end() ? found->second : tune(s, p);
  run(s.candidates[size_t(pick)], p);
}

namespace cuda {
std::vector<GemmAutoChoice> gemm_auto_choices() {
  State& s = state();
  std::lock_guard<std::mutex> held(s.lock);
  return s.choices;
}

void gemm_auto_reset() {
  State& s = state();
  std::lock_guard<std::mutex> held(s.lock);
  s.list.clear();
  s.candidates.clear();
  s.picks.clear();
  s.choices.clear();
}
}  // namespace cuda

}  // namespace convmae
