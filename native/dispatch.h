// Routes an op to its CPU reference or its CUDA twin by the device of its buffers. In builds
// without CUDA the CUDA branch throws instead of referencing the (absent) kernel.
#pragma once
#include "cuda_api.h"
#include "dtype.h"
#include "errors.h"

#ifdef CONVMAE_CUDA
#define CM_CUDA_BRANCH(op, call) \
  do { ::convmae::cuda::require(op); call; ::convmae::cuda::check_launch(op); } while (0)
#else
#define CM_CUDA_BRANCH(op, call) ::convmae::cuda::require(op)
#endif

#define CM_DISPATCH(op, device, cpu_call, cuda_call) \
  do {                                               \
    if ((device) == ::convmae::Device::CPU) {        \
      cpu_call;                                      \
    } else {                                         \
      CM_CUDA_BRANCH(op, cuda_call);                 \
    }                                                \
  } while (0)

// For ops whose CUDA twin has not been written yet: the CUDA branch throws, naming the op.
#define CM_DISPATCH_CPU_ONLY(op, device, cpu_call)                                              \
  do {                                                                                         \
    if ((device) == ::convmae::Device::CPU) {                                                  \
      cpu_call;                                                                                \
    } else {                                                                                   \
      ::convmae::cuda::require(op);                                                            \
      ::convmae::throw_error(op, "has no CUDA kernel in this version; run it on device 'cpu'"); \
    }                                                                                          \
  } while (0)
