// The native surface of convmae: one line per export. lib/binding.ts declares each one.
#include "napi_args.h"

namespace convmae {
// core.cc
Napi::Value js_alloc(const Napi::CallbackInfo&);
Napi::Value js_free(const Napi::CallbackInfo&);
Napi::Value js_is_alive(const Napi::CallbackInfo&);
Napi::Value js_upload(const Napi::CallbackInfo&);
Napi::Value js_download(const Napi::CallbackInfo&);
Napi::Value js_copy(const Napi::CallbackInfo&);
Napi::Value js_memory(const Napi::CallbackInfo&);
Napi::Value js_reset_peak(const Napi::CallbackInfo&);
Napi::Value js_backends(const Napi::CallbackInfo&);
Napi::Value js_synchronize(const Napi::CallbackInfo&);
Napi::Value js_timer_begin(const Napi::CallbackInfo&);
Napi::Value js_timer_end(const Napi::CallbackInfo&);
Napi::Value js_gemm_auto_choices(const Napi::CallbackInfo&);
Napi::Value js_gemm_auto_reset(const Napi::CallbackInfo&);
Napi::Value js_gemm_paths(const Napi::CallbackInfo&);
Napi::Value js_empty_cache(const Napi::CallbackInfo&);
Napi::Value js_set_kernel(const Napi::CallbackInfo&);
Napi::Value js_kernels(const Napi::CallbackInfo&);
// ops/*.cc
Napi::Value js_fill(const Napi::CallbackInfo&);
Napi::Value js_cast(const Napi::CallbackInfo&);
Napi::Value js_cast_multi(const Napi::CallbackInfo&);
Napi::Value js_unshuffle_tokens(const Napi::CallbackInfo&);
Napi::Value js_binary(const Napi::CallbackInfo&);
Napi::Value js_scale(const Napi::CallbackInfo&);
Napi::Value js_sample_scale(const Napi::CallbackInfo&);
Napi::Value js_gemm(const Napi::CallbackInfo&);
Napi::Value js_reduce_sum(const Napi::CallbackInfo&);
Napi::Value js_layernorm(const Napi::CallbackInfo&);
Napi::Value js_layernorm_backward(const Napi::CallbackInfo&);
Napi::Value js_gelu(const Napi::CallbackInfo&);
Napi::Value js_gelu_backward(const Napi::CallbackInfo&);
Napi::Value js_copy_rows(const Napi::CallbackInfo&);
Napi::Value js_attention(const Napi::CallbackInfo&);
Napi::Value js_attention_backward(const Napi::CallbackInfo&);
Napi::Value js_masked_mse_loss(const Napi::CallbackInfo&);
Napi::Value js_masked_mse_loss_backward(const Napi::CallbackInfo&);
Napi::Value js_cross_entropy(const Napi::CallbackInfo&);
Napi::Value js_cross_entropy_backward(const Napi::CallbackInfo&);
Napi::Value js_adamw(const Napi::CallbackInfo&);
Napi::Value js_adamw_multi(const Napi::CallbackInfo&);
Napi::Value js_dwconv_rows(const Napi::CallbackInfo&);
Napi::Value js_dwconv_rows_backward_input(const Napi::CallbackInfo&);
Napi::Value js_dwconv_rows_backward_weight(const Napi::CallbackInfo&);
Napi::Value js_rows_to_patches(const Napi::CallbackInfo&);
Napi::Value js_patches_to_rows(const Napi::CallbackInfo&);
Napi::Value js_image_to_rows(const Napi::CallbackInfo&);
Napi::Value js_patchify(const Napi::CallbackInfo&);
Napi::Value js_rows_to_map(const Napi::CallbackInfo&);
Napi::Value js_map_to_rows(const Napi::CallbackInfo&);
Napi::Value js_gather_rows(const Napi::CallbackInfo&);
Napi::Value js_scatter_add_rows(const Napi::CallbackInfo&);
Napi::Value js_max_pool2x2(const Napi::CallbackInfo&);
Napi::Value js_max_pool2x2_backward(const Napi::CallbackInfo&);
#ifdef CONVMAE_CUDA_EMULATION
Napi::Value js_emu_selftest(const Napi::CallbackInfo&);  // emu/selftest_binding.cc
#endif
#ifdef CONVMAE_EMU_PROFILE
Napi::Value js_emu_access_profile(const Napi::CallbackInfo&);  // emu/access_profile_binding.cc
#endif
}  // namespace convmae

using namespace convmae;

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  CM_EXPORT(exports, "alloc", js_alloc);
  CM_EXPORT(exports, "free", js_free);
  CM_EXPORT(exports, "isAlive", js_is_alive);
  CM_EXPORT(exports, "upload", js_upload);
  CM_EXPORT(exports, "download", js_download);
  CM_EXPORT(exports, "copy", js_copy);
  CM_EXPORT(exports, "memory", js_memory);
  CM_EXPORT(exports, "resetPeak", js_reset_peak);
  CM_EXPORT(exports, "backends", js_backends);
  CM_EXPORT(exports, "synchronize", js_synchronize);
  CM_EXPORT(exports, "timerBegin", js_timer_begin);
  CM_EXPORT(exports, "timerEnd", js_timer_end);
  CM_EXPORT(exports, "gemmAutoChoices", js_gemm_auto_choices);
  CM_EXPORT(exports, "gemmAutoReset", js_gemm_auto_reset);
  CM_EXPORT(exports, "gemmPaths", js_gemm_paths);
  CM_EXPORT(exports, "emptyCache", js_empty_cache);
  CM_EXPORT(exports, "setKernel", js_set_kernel);
  CM_EXPORT(exports, "kernels", js_kernels);
  CM_EXPORT(exports, "fill", js_fill);
  CM_EXPORT(exports, "cast", js_cast);
  CM_EXPORT(exports, "castMulti", js_cast_multi);
  CM_EXPORT(exports, "unshuffleTokens", js_unshuffle_tokens);
  CM_EXPORT(exports, "binary", js_binary);
  CM_EXPORT(exports, "scale", js_scale);
  CM_EXPORT(exports, "sampleScale", js_sample_scale);
  CM_EXPORT(exports, "gemm", js_gemm);
  CM_EXPORT(exports, "sum", js_reduce_sum);
  CM_EXPORT(exports, "layernorm", js_layernorm);
  CM_EXPORT(exports, "layernormBackward", js_layernorm_backward);
  CM_EXPORT(exports, "gelu", js_gelu);
  CM_EXPORT(exports, "geluBackward", js_gelu_backward);
  CM_EXPORT(exports, "copyRows", js_copy_rows);
  CM_EXPORT(exports, "attention", js_attention);
  CM_EXPORT(exports, "attentionBackward", js_attention_backward);
  CM_EXPORT(exports, "maskedMseLoss", js_masked_mse_loss);
  CM_EXPORT(exports, "maskedMseLossBackward", js_masked_mse_loss_backward);
  CM_EXPORT(exports, "crossEntropy", js_cross_entropy);
  CM_EXPORT(exports, "crossEntropyBackward", js_cross_entropy_backward);
  CM_EXPORT(exports, "adamw", js_adamw);
  CM_EXPORT(exports, "adamwMulti", js_adamw_multi);
  CM_EXPORT(exports, "dwconvRows", js_dwconv_rows);
  CM_EXPORT(exports, "dwconvRowsBackwardInput", js_dwconv_rows_backward_input);
  CM_EXPORT(exports, "dwconvRowsBackwardWeight", js_dwconv_rows_backward_weight);
  CM_EXPORT(exports, "rowsToPatches", js_rows_to_patches);
  CM_EXPORT(exports, "patchesToRows", js_patches_to_rows);
  CM_EXPORT(exports, "imageToRows", js_image_to_rows);
  CM_EXPORT(exports, "patchify", js_patchify);
  CM_EXPORT(exports, "rowsToMap", js_rows_to_map);
  CM_EXPORT(exports, "mapToRows", js_map_to_rows);
  CM_EXPORT(exports, "gatherRows", js_gather_rows);
  CM_EXPORT(exports, "scatterAddRows", js_scatter_add_rows);
  CM_EXPORT(exports, "maxPool2x2", js_max_pool2x2);
  CM_EXPORT(exports, "maxPool2x2Backward", js_max_pool2x2_backward);
#ifdef CONVMAE_CUDA_EMULATION
  CM_EXPORT(exports, "emuSelfTest", js_emu_selftest);
#endif
#ifdef CONVMAE_EMU_PROFILE
  CM_EXPORT(exports, "emuAccessProfile", js_emu_access_profile);
#endif
  return exports;
}

NODE_API_MODULE(convmae, Init)
