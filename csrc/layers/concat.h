// Concat and Slice: data movement along one axis. View each blob as (outer, axis·inner) rows, where
// outer is the product of the dims before the axis and inner of those after. A bottom of Concat (a top
// of Slice) is a column block of width = its_axis·inner in the rows of the concatenated blob, whose row
// length is total_axis·inner, starting at column offset·inner. Both layers, forward and backward, are
// therefore one strided row copy:
//   dst[o·dst_stride + j] = src[o·src_stride + j]   for o < rows, j < width,
// with the block offset already applied to the pointer of the wide side. Concat forward and Slice
// backward copy part → whole; Concat backward and Slice forward copy whole → part. dst and src never
// overlap.
#pragma once
#include "common.h"

namespace lrcn {
void concat_copy_cpu(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                     int64_t src_stride);
void concat_copy_gpu(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                     int64_t src_stride, cudaStream_t stream);
}  // namespace lrcn
