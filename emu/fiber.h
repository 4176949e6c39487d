// Fibers for the CUDA emulator: a saved stack pointer and a switch that keeps the callee-saved
// registers (x86-64 System V; other machines use ucontext). fiber_make prepares a fresh stack so
// that the first switch to it calls `entry`, which must never return.
#pragma once
#include <cstddef>

#if defined(__x86_64__)
namespace emu {
struct FiberContext {
  void* sp = nullptr;
};
extern "C" void convmae_emu_fiber_switch(void** save_sp, void* next_sp);
inline void fiber_switch(FiberContext* from, FiberContext* to) { convmae_emu_fiber_switch(&from->sp, to->sp); }
void fiber_make(FiberContext* c, void* stack, size_t bytes, void (*entry)());
}  // namespace emu
#else
#include <ucontext.h>
namespace emu {
struct FiberContext {
  ucontext_t uc;
};
inline void fiber_switch(FiberContext* from, FiberContext* to) { swapcontext(&from->uc, &to->uc); }
void fiber_make(FiberContext* c, void* stack, size_t bytes, void (*entry)());
}  // namespace emu
#endif
