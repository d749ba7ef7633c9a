import glob
import os
import sys

# Developer builds (cmake -B build) put the extension beside the sources: test those in place.
# Otherwise (CI after `pip install .`) test the installed package, and keep the source tree, which has
# no extension, off the path.
# LRCN_TEST_INSTALLED=1 (benchmarks/gpu_check.sh) tests the installed package even beside an in-place build.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if glob.glob(os.path.join(ROOT, "lrcn_native", "_C*.so")) and not os.environ.get("LRCN_TEST_INSTALLED"):
    sys.path.insert(0, ROOT)
else:
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != ROOT]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
