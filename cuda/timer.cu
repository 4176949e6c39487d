// Device-side timing of queued work (contract in native/cuda_api.h: timer_begin, timer_end), for
// bench/op_timings.ts. timer_begin queues one single-thread kernel that holds the package stream
// for the given microseconds (reading the global nanosecond timer, sleeping between reads), then a
// start event; the work the host queues while the stream is held then runs back to back, so the
// events bracket the device's own time for it without the host's launch gaps. timer_end queues the
// stop event, waits for it and returns the milliseconds between the two events.
#include <cuda_runtime.h>

#include <string>

#ifdef CONVMAE_CUDA_EMULATION
#include <chrono>
#endif

#include "cuda_api.h"
#include "errors.h"
#include "runtime.cuh"

namespace convmae {
namespace cuda {
namespace {

__device__ inline unsigned long long now_ns() {
#ifdef CONVMAE_CUDA_EMULATION
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
#else
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
#endif
}

__global__ void hold_stream(unsigned long long ns) {
  const unsigned long long until = now_ns() + ns;
  while (now_ns() < until) {
#ifndef CONVMAE_CUDA_EMULATION
    __nanosleep(1000);
#endif
  }
}

struct Timer {
  cudaEvent_t start = nullptr, stop = nullptr;
  bool begun = false;
};

Timer& timer() {
  static Timer t;
  return t;
}

void check(cudaError_t e, const char* what, const char* op) {
  if (e != cudaSuccess) fail(op, what, e);
}
}  // namespace

void timer_begin(double hold_us, const char* op) {
  require(op);
  Timer& t = timer();
  if (!t.start) {
    check(cudaEventCreateWithFlags(&t.start, cudaEventDefault), "creating the start event", op);
    check(cudaEventCreateWithFlags(&t.stop, cudaEventDefault), "creating the stop event", op);
  }
  hold_stream<<<1, 1, 0, stream()>>>((unsigned long long)(hold_us * 1e3));
  check_launch(op);
  check(cudaEventRecord(t.start, stream()), "recording the start event", op);
  t.begun = true;
}

double timer_end(const char* op) {
  Timer& t = timer();
  if (!t.begun) throw_error(op, "timerEnd without a timerBegin before it");
  t.begun = false;
  check(cudaEventRecord(t.stop, stream()), "recording the stop event", op);
  count_wait();
  check(cudaEventSynchronize(t.stop), "waiting for the stop event", op);
  float ms = 0;
  check(cudaEventElapsedTime(&ms, t.start, t.stop), "reading the events", op);
  return ms;
}

}  // namespace cuda
}  // namespace convmae
