// Fiber switching for the CUDA emulator (contract in emu/fiber.h).
#include "fiber.h"

#include <cstdint>

#if defined(__x86_64__)
// Saves rbp, rbx, r12-r15 and the stack pointer of the current fiber, loads the next one's.
asm(R"(
  .text
  .globl convmae_emu_fiber_switch
  .hidden convmae_emu_fiber_switch
  .type convmae_emu_fiber_switch,@function
convmae_emu_fiber_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size convmae_emu_fiber_switch, .-convmae_emu_fiber_switch
)");

namespace emu {
namespace {
thread_local void (*pending_entry)() = nullptr;
[[noreturn]] void trampoline() {
  pending_entry();
  __builtin_trap();  // entries never return
}
}  // namespace

void fiber_make(FiberContext* c, void* stack, size_t bytes, void (*entry)()) {
  pending_entry = entry;  // every fiber of the emulator has the same entry
  auto top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                                       // keeps the entry's stack 16-byte aligned
  *--sp = reinterpret_cast<void*>(&trampoline);          // where the first switch "returns"
  for (int i = 0; i < 6; ++i) *--sp = nullptr;           // rbp, rbx, r12-r15
  c->sp = sp;
}
}  // namespace emu
#else
namespace emu {
void fiber_make(FiberContext* c, void* stack, size_t bytes, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = bytes;
  c->uc.uc_link = nullptr;
  makecontext(&c->uc, entry, 0);
}
}  // namespace emu
#endif
