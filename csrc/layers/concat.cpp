#include "layers/concat.h"

#include <cstring>

namespace lrcn {
void concat_copy_cpu(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                     int64_t src_stride) {
#pragma omp parallel for if (rows * width > 65536 && rows > 1)
  for (int64_t o = 0; o < rows; ++o) std::memcpy(dst + o * dst_stride, src + o * src_stride, width * sizeof(float));
}
}  // namespace lrcn
