#include "layers/accuracy.h"

#include <vector>

namespace lrcn {
namespace {
// 1 if fewer than top_k classes other than cls score >= x[cls·inner] (x points at channel 0 of a position).
int is_correct(const float* x, int cls, int channels, int inner, int top_k) {
  const float s = x[static_cast<int64_t>(cls) * inner];
  int ahead = 0;
  for (int c = 0; c < channels && ahead < top_k; ++c) ahead += (c != cls && x[static_cast<int64_t>(c) * inner] >= s);
  return ahead < top_k;
}
}  // namespace

LabelStats accuracy_forward_cpu(float* accuracy, float* per_class, const float* bottom, const float* label,
                                int outer, int channels, int inner, int top_k, bool has_ignore, int ignore_label) {
  const int64_t positions = static_cast<int64_t>(outer) * inner;
  std::vector<int> cls(positions), correct(positions);
#pragma omp parallel for if (positions * channels > 65536)
  for (int64_t p = 0; p < positions; ++p) {
    cls[p] = label_class(label[p], channels, has_ignore, ignore_label);
    const int64_t base = p / inner * channels * inner + p % inner;
    correct[p] = cls[p] >= 0 && is_correct(bottom + base, cls[p], channels, inner, top_k);
  }
  LabelStats stats;
  int64_t n_correct = 0;
  std::vector<int64_t> class_valid(channels), class_correct(channels);
  for (int64_t p = 0; p < positions; ++p) {
    if (cls[p] == kBadLabel && stats.bad++ == 0) stats.first_bad = label[p];
    if (cls[p] < 0) continue;
    ++stats.valid;
    n_correct += correct[p];
    ++class_valid[cls[p]];
    class_correct[cls[p]] += correct[p];
  }
  accuracy[0] = stats.valid ? static_cast<float>(n_correct) / static_cast<float>(stats.valid) : 0.f;
  if (per_class)
    for (int c = 0; c < channels; ++c)
      per_class[c] = class_valid[c] ? static_cast<float>(class_correct[c]) / static_cast<float>(class_valid[c]) : 0.f;
  return stats;
}
}  // namespace lrcn
