import os
import sys

# Run against the sources in place (developer build: cmake -B build puts the extension beside them)
# unless an installed lrcn_native is wanted (LRCN_TEST_INSTALLED=1, as CI does after pip install).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.environ.get("LRCN_TEST_INSTALLED"):
    sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
