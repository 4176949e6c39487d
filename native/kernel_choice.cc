// The kernel-family registry (contract in kernel_choice.h).
#include "kernel_choice.h"

#include <cstdlib>
#include <vector>

#include "errors.h"

namespace convmae {

namespace {
struct Entry {
  std::string op;
  std::vector<std::string> names;  // the fast family first
  std::string chosen;              // starts as the default (kernel_choice.h)
};

std::vector<Entry>& table() {
  static std::vector<Entry> t = {
      {"gemm", {"auto", "wgmma", "tma", "mma", "wmma"}, "auto"},
      {"attention", {"mma", "simt"}, "mma"},
      {"layernorm", {"rows", "warp"}, "rows"},
      {"dwconv", {"cells", "taps"}, "cells"},
  };
  return t;
}

// Every op with its allowed names and choice, for messages: "gemm=wgmma|wmma (now wmma), ...".
std::string kernel_choices_summary() {
  std::string s;
  for (const Entry& e : table()) {
    if (!s.empty()) s += ", ";
    s += e.op + "=";
    for (size_t i = 0; i < e.names.size(); ++i) s += (i ? "|" : "") + e.names[i];
    s += " (now " + e.chosen + ")";
  }
  return s;
}

Entry& entry(const std::string& op) {
  for (Entry& e : table())
    if (e.op == op) return e;
  throw_range("setKernel", "unknown op `" + op + "` (known: " + kernel_choices_summary() + ")");
}

void choose(const std::string& op, const std::string& name) {
  Entry& e = entry(op);
  for (const std::string& n : e.names) {
    if (n == name) {
      e.chosen = name;
      return;
    }
  }
  std::string allowed;
  for (const std::string& n : e.names) allowed += (allowed.empty() ? "" : ", ") + n;
  throw_range("setKernel", "`" + name + "` is not a kernel of " + op + " (allowed: " + allowed + ")");
}

// CONVMAE_KERNELS, applied on first use: "op=name" pairs separated by commas.
void apply_environment() {
  static bool applied = false;
  if (applied) return;
  applied = true;
  const char* env = std::getenv("CONVMAE_KERNELS");
  if (!env) return;
  const std::string spec(env);
  size_t start = 0;
  while (start < spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    const std::string pair = spec.substr(start, end - start);
    const size_t eq = pair.find('=');
    if (eq == std::string::npos)
      throw_range("CONVMAE_KERNELS", "expected op=name pairs separated by commas, got `" + spec + "`");
    choose(pair.substr(0, eq), pair.substr(eq + 1));
    start = end + 1;
  }
}
}  // namespace

const std::string& kernel_choice(const std::string& op) {
  apply_environment();
  return entry(op).chosen;
}

void set_kernel_choice(const std::string& op, const std::string& name) {
  apply_environment();
  choose(op, name);
}

std::vector<std::string> kernel_ops() {
  std::vector<std::string> ops;
  for (const Entry& e : table()) ops.push_back(e.op);
  return ops;
}

}  // namespace convmae
