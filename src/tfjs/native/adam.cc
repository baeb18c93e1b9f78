// KtAdam: Keras 3's Adam update of one float32 weight as one TensorFlow CPU kernel.
//
// The graph engine's train step (src/engine/graph/signatures.ts) otherwise writes the update as
// twelve elementwise ops per weight, each a full pass over the weight's memory; for InceptionV3's
// 23.2 M trainable parameters after depth 64 they were about a third of a step's kernel time. This
// kernel does the same arithmetic in one pass, in the same order and with the same float32 roundings
// (no fused multiply-adds: built with -ffp-contract=off, and the SSE2 loop multiplies and adds with
// separate instructions), so its results equal the twelve ops' bit for bit (test/adam_kernel.test.ts):
//
//   m1 = m + (g - m) * one_minus_beta_1
//   v1 = v + (g * g - v) * one_minus_beta_2
//   w1 = w - (m1 * alpha) / (sqrt(v1) + epsilon)
//
// as keras/src/optimizers/adam.py writes it (alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) is
// computed once per step in the graph). Inputs: w, m, v, g (one shape), alpha and one_minus_beta_1
// (scalars, fed at each step); attributes one_minus_beta_2 and epsilon (constants of the optimizer),
// and T, g's type: float32, or bfloat16 under mixed precision, where the gradient of a weight that a
// layer computes with in bfloat16 is bfloat16 and the kernel widens it exactly as the Cast to float32
// it replaces would. Outputs: w1, m1, v1, float32.
//
// Built by kernel-setup/native-kernels.sh against the TensorFlow C library the project's TF.js
// backend runs on; registered by loading the library (src/tfjs/adam_kernel.ts from Node, where the
// file is also a Node-API module with nothing to export; tf.load_op_library from Python). CPU only.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <new>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "tensorflow/c/kernels.h"
#include "tensorflow/c/ops.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"

namespace {

struct Constants {
  float one_minus_beta_2;
  float epsilon;
};

void ShapeOfW(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeHandle* shape = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, shape, status);
  for (int i = 0; i < 3 && TF_GetCode(status) == TF_OK; ++i) TF_ShapeInferenceContextSetOutput(ctx, i, shape, status);
  TF_DeleteShapeHandle(shape);
}

void* Create(TF_OpKernelConstruction* ctx) {
  TF_Status* status = TF_NewStatus();
  Constants* c = new (std::nothrow) Constants{0.f, 0.f};
  if (c != nullptr) {
    TF_OpKernelConstruction_GetAttrFloat(ctx, "one_minus_beta_2", &c->one_minus_beta_2, status);
    if (TF_GetCode(status) == TF_OK) TF_OpKernelConstruction_GetAttrFloat(ctx, "epsilon", &c->epsilon, status);
    if (TF_GetCode(status) != TF_OK) TF_OpKernelConstruction_Failure(ctx, status);
  }
  TF_DeleteStatus(status);
  return c;
}

void Delete(void* kernel) { delete static_cast<Constants*>(kernel); }

// A bfloat16 is the high half of a float32: widening it is exact.
float Widen(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}

float Load(const float* g, size_t i) { return g[i]; }
float Load(const uint16_t* g, size_t i) { return Widen(g[i]); }

#if defined(__SSE2__)
__m128 Load4(const float* g, size_t i) { return _mm_loadu_ps(g + i); }
// Four bfloat16s into the high halves of four 32-bit lanes, zeros below.
__m128 Load4(const uint16_t* g, size_t i) {
  const __m128i narrow = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(g + i));
  return _mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), narrow));
}
#endif

// The update of elements [0, n). Four at a time with SSE2 (every x86-64 CPU has it): the same IEEE
// operations, each rounded to float32, as the scalar loop; the results are written with streaming
// stores, which skip reading the destination into the cache first (they are not read again in this
// step), about a third less memory traffic. The scalar loop does the rest, and everything elsewhere.
template <typename Gradient>
void Update(size_t n, const float* w, const float* m, const float* v, const Gradient* g, float alpha, float c1,
            float c2, float eps, float* w1, float* m1, float* v1) {
  size_t i = 0;
#if defined(__SSE2__)
  const uintptr_t outputs = reinterpret_cast<uintptr_t>(w1) | reinterpret_cast<uintptr_t>(m1) |
                            reinterpret_cast<uintptr_t>(v1);
  if (outputs % 16 == 0) {
    const __m128 a = _mm_set1_ps(alpha), k1 = _mm_set1_ps(c1), k2 = _mm_set1_ps(c2), e = _mm_set1_ps(eps);
    for (; i + 4 <= n; i += 4) {
      const __m128 gi = Load4(g, i);
      const __m128 mi = _mm_add_ps(_mm_loadu_ps(m + i), _mm_mul_ps(_mm_sub_ps(gi, _mm_loadu_ps(m + i)), k1));
      const __m128 vi =
          _mm_add_ps(_mm_loadu_ps(v + i), _mm_mul_ps(_mm_sub_ps(_mm_mul_ps(gi, gi), _mm_loadu_ps(v + i)), k2));
      const __m128 step = _mm_div_ps(_mm_mul_ps(mi, a), _mm_add_ps(_mm_sqrt_ps(vi), e));
      _mm_stream_ps(m1 + i, mi);
      _mm_stream_ps(v1 + i, vi);
      _mm_stream_ps(w1 + i, _mm_sub_ps(_mm_loadu_ps(w + i), step));
    }
    _mm_sfence();
  }
#endif
  for (; i < n; ++i) {
    const float gi = Load(g, i);
    const float mi = m[i] + (gi - m[i]) * c1;
    const float vi = v[i] + (gi * gi - v[i]) * c2;
    m1[i] = mi;
    v1[i] = vi;
    w1[i] = w[i] - (mi * alpha) / (std::sqrt(vi) + eps);
  }
}

bool SameShape(const TF_Tensor* a, const TF_Tensor* b) {
  if (TF_NumDims(a) != TF_NumDims(b)) return false;
  for (int d = 0; d < TF_NumDims(a); ++d)
    if (TF_Dim(a, d) != TF_Dim(b, d)) return false;
  return true;
}

void Compute(void* kernel, TF_OpKernelContext* ctx) {
  const Constants& c = *static_cast<Constants*>(kernel);
  TF_Status* status = TF_NewStatus();
  TF_Tensor* in[6] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  TF_Tensor* out[3] = {nullptr, nullptr, nullptr};
  for (int i = 0; i < 6 && TF_GetCode(status) == TF_OK; ++i) TF_GetInput(ctx, i, &in[i], status);
  if (TF_GetCode(status) == TF_OK) {
    for (int i = 1; i < 4; ++i)
      if (!SameShape(in[0], in[i]))
        TF_SetStatus(status, TF_INVALID_ARGUMENT, "KtAdam: w, m, v and g must have one shape.");
    if (TF_TensorElementCount(in[4]) != 1 || TF_TensorElementCount(in[5]) != 1)
      TF_SetStatus(status, TF_INVALID_ARGUMENT, "KtAdam: alpha and one_minus_beta_1 must be scalars.");
    if (TF_NumDims(in[0]) > 8) TF_SetStatus(status, TF_INVALID_ARGUMENT, "KtAdam: weights of rank above 8 are not supported.");
  }
  if (TF_GetCode(status) == TF_OK) {
    const int rank = TF_NumDims(in[0]);
    int64_t dims[8];
    for (int d = 0; d < rank; ++d) dims[d] = TF_Dim(in[0], d);
    const size_t n = static_cast<size_t>(TF_TensorElementCount(in[0]));
    for (int i = 0; i < 3 && TF_GetCode(status) == TF_OK; ++i)
      out[i] = TF_AllocateOutput(ctx, i, TF_FLOAT, dims, rank, n * sizeof(float), status);
    if (TF_GetCode(status) == TF_OK) {
      const float* w = static_cast<const float*>(TF_TensorData(in[0]));
      const float* m = static_cast<const float*>(TF_TensorData(in[1]));
      const float* v = static_cast<const float*>(TF_TensorData(in[2]));
      const float alpha = *static_cast<const float*>(TF_TensorData(in[4]));
      const float c1 = *static_cast<const float*>(TF_TensorData(in[5]));
      float* w1 = static_cast<float*>(TF_TensorData(out[0]));
      float* m1 = static_cast<float*>(TF_TensorData(out[1]));
      float* v1 = static_cast<float*>(TF_TensorData(out[2]));
      if (TF_TensorType(in[3]) == TF_BFLOAT16)
        Update(n, w, m, v, static_cast<const uint16_t*>(TF_TensorData(in[3])), alpha, c1, c.one_minus_beta_2,
               c.epsilon, w1, m1, v1);
      else
        Update(n, w, m, v, static_cast<const float*>(TF_TensorData(in[3])), alpha, c1, c.one_minus_beta_2, c.epsilon,
               w1, m1, v1);
    }
  }
  if (TF_GetCode(status) != TF_OK) TF_OpKernelContext_Failure(ctx, status);
  for (TF_Tensor* t : out)
    if (t != nullptr) TF_DeleteTensor(t);
  for (TF_Tensor* t : in)
    if (t != nullptr) TF_DeleteTensor(t);
  TF_DeleteStatus(status);
}

bool Register() {
  TF_Status* status = TF_NewStatus();
  TF_OpDefinitionBuilder* op = TF_NewOpDefinitionBuilder("KtAdam");
  for (const char* input : {"w: float", "m: float", "v: float", "g: T", "alpha: float", "one_minus_beta_1: float"})
    TF_OpDefinitionBuilderAddInput(op, input);
  for (const char* output : {"w1: float", "m1: float", "v1: float"}) TF_OpDefinitionBuilderAddOutput(op, output);
  TF_OpDefinitionBuilderAddAttr(op, "one_minus_beta_2: float");
  TF_OpDefinitionBuilderAddAttr(op, "epsilon: float");
  TF_OpDefinitionBuilderAddAttr(op, "T: {float, bfloat16}");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(op, &ShapeOfW);
  TF_RegisterOpDefinition(op, status);
  if (TF_GetCode(status) == TF_OK) {
    TF_KernelBuilder* kernel = TF_NewKernelBuilder("KtAdam", "CPU", &Create, &Compute, &Delete);
    TF_RegisterKernelBuilder("KtAdamCpu", kernel, status);
  }
  const bool ok = TF_GetCode(status) == TF_OK;
  TF_DeleteStatus(status);
  return ok;
}

const bool registered = Register();

}  // namespace

// Node-API's entry point: Node loads this file with require() and finds nothing to export; loading
// it is what registers the op (above). Declared without node_api.h: its two types are opaque pointers.
extern "C" __attribute__((visibility("default"))) void* napi_register_module_v1(void* env, void* exports) {
  (void)env;
  (void)registered;
  return exports;
}
