// A fixed pool of worker threads for the CPU kernels. parallel_for splits [0, n) into chunks of
// at least `grain` items and runs fn(begin, end) on the pool and the calling thread; it returns
// when all chunks are done. Exceptions thrown by fn are rethrown on the caller. Nested calls run
// serially. Thread count: CONVMAE_NUM_THREADS, else the hardware concurrency.
#pragma once
#include <cstdint>
#include <functional>

namespace convmae {

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
int num_threads();

}  // namespace convmae
