// The label rule shared by the SoftmaxWithLoss and Accuracy bindings.
#pragma once
#include "bind/common.h"
#include "layers/softmax_loss.h"

namespace lrcn::bind {

// Labels: float32, outer·inner of them. A forward that meets a label naming neither a class in
// [0, channels) nor ignore_label raises ValueError (the kernels count such labels, never index with them).
inline void check_labels(const LabelStats& s, int channels, std::optional<int> ignore_label, const char* fn) {
  if (s.bad == 0) return;
  std::string msg = std::string(fn) + ": " + std::to_string(s.bad) + " label(s) are not integers in [0, " +
                    std::to_string(channels) + ")";
  if (ignore_label) msg += " nor ignore_label " + std::to_string(*ignore_label);
  throw std::invalid_argument(msg + "; the first is " + py::str(py::float_(s.first_bad)).cast<std::string>());
}

}  // namespace lrcn::bind
