// Pooling over the two spatial axes of an N×C×H×W blob, with Caffe's geometry:
//   pooled = ceil((H + 2·pad − kernel) / stride) + 1, minus one when pad > 0 and the last window
//   would start at or beyond H + pad (so every window overlaps the image); round_mode FLOOR uses floor.
// Window (ph, pw) covers padded rows hstart = ph·stride_h − pad_h .. hstart + kernel_h (exclusive).
//   MAX: the largest in-image value; the first one in row-major window order wins ties (a later value
//        replaces only if strictly greater). mask (N×C×PH×PW) receives its index h·W + w in the bottom
//        plane, as a float (Caffe's top mask); backward routes each top_diff to that cell.
//   AVE: sum of the in-image values / the window area clipped to the padded extent
//        (rows hstart .. min(hstart + kernel_h, H + pad_h)): padding cells count, the ceil overhang not.
// Backward overwrites bottom_diff.
#pragma once
#include "common.h"

namespace lrcn {
enum class PoolMethod { kMax, kAve };

struct PoolGeometry {
  int num, channels, height, width;  // bottom N×C×H×W
  int pooled_h, pooled_w;            // top N×C×PH×PW
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
};

// Window (ph, pw): its in-image rows [hstart, hend) and columns [wstart, wend), and the AVE divisor
// `area`, the window clipped to the padded extent. Shared by the CPU loops and the CUDA kernels.
struct PoolWindow {
  int hstart, hend, wstart, wend, area;
};
LRCN_HD inline PoolWindow pool_window(const PoolGeometry& g, int ph, int pw) {
  const int h0 = ph * g.stride_h - g.pad_h, w0 = pw * g.stride_w - g.pad_w;
  const int hpad_end = h0 + g.kernel_h < g.height + g.pad_h ? h0 + g.kernel_h : g.height + g.pad_h;
  const int wpad_end = w0 + g.kernel_w < g.width + g.pad_w ? w0 + g.kernel_w : g.width + g.pad_w;
  return {h0 > 0 ? h0 : 0, hpad_end < g.height ? hpad_end : g.height, w0 > 0 ? w0 : 0,
          wpad_end < g.width ? wpad_end : g.width, (hpad_end - h0) * (wpad_end - w0)};
}

// Caffe's output size along one axis (the formula above); kernel, stride > 0, pad < kernel. The kernels
// take any pooled size whose windows all overlap the image: (pooled − 1)·stride − pad < size.
int pooling_output_size(int size, int kernel, int stride, int pad, bool ceil_mode);

// top, mask: N×C×PH×PW (mask only for kMax, else nullptr); bottom: N×C×H×W.
void pooling_forward_cpu(float* top, float* mask, const float* bottom, const PoolGeometry& g, PoolMethod method);
// bottom_diff: N×C×H×W; top_diff, mask: N×C×PH×PW (mask only for kMax).
void pooling_backward_cpu(float* bottom_diff, const float* top_diff, const float* mask, const PoolGeometry& g,
                          PoolMethod method);
void pooling_forward_gpu(float* top, float* mask, const float* bottom, const PoolGeometry& g, PoolMethod method,
                         cudaStream_t stream);
void pooling_backward_gpu(float* bottom_diff, const float* top_diff, const float* mask, const PoolGeometry& g,
                          PoolMethod method, cudaStream_t stream);
}  // namespace lrcn
