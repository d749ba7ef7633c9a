#include "layers/softmax_loss.h"

#include <algorithm>
#include <cfloat>

namespace lrcn {
LabelStats softmax_loss_forward_cpu(float* loss, const float* prob, const float* label, int outer, int channels,
                                    int inner, bool has_ignore, int ignore_label, LossNormalization mode) {
  LabelStats stats;
  double sum = 0;  // −Σ log p, in position order
  for (int64_t p = 0; p < static_cast<int64_t>(outer) * inner; ++p) {
    const int cls = label_class(label[p], channels, has_ignore, ignore_label);
    if (cls == kBadLabel && stats.bad++ == 0) stats.first_bad = label[p];
    if (cls < 0) continue;
    ++stats.valid;
    const int64_t o = p / inner, i = p % inner;
    sum -= std::log(std::max(prob[(o * channels + cls) * inner + i], FLT_MIN));
  }
  loss[0] = static_cast<float>(sum / loss_normalizer(mode, outer, inner, stats.valid));
  return stats;
}

void softmax_loss_backward_cpu(float* bottom_diff, const float* prob, const float* label, const float* loss_diff,
                               int outer, int channels, int inner, bool has_ignore, int ignore_label,
                               float normalizer) {
  const float scale = loss_diff[0] / normalizer;
  const int64_t positions = static_cast<int64_t>(outer) * inner;
#pragma omp parallel for if (positions * channels > 65536)
  for (int64_t p = 0; p < positions; ++p) {
    const int cls = label_class(label[p], channels, has_ignore, ignore_label);
    const int64_t base = p / inner * channels * inner + p % inner;
    for (int c = 0; c < channels; ++c) {
      const int64_t k = base + static_cast<int64_t>(c) * inner;
      bottom_diff[k] = cls < 0 ? 0.f : (prob[k] - (c == cls ? 1.f : 0.f)) * scale;
    }
  }
}
}  // namespace lrcn
