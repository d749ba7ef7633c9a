"""pycaffe's caffe.Timer (Caffe's Timer): start(), stop(), ms and seconds of the last start-stop interval.

As Caffe's: start() while running and stop() while stopped do nothing; reading the time of a running
timer stops it first; reading a timer never started logs a warning and gives 0. In GPU mode start and stop
wait for the current stream, so the interval covers the kernels launched in it (Caffe records CUDA events).
Caffe's CPU timer counts whole milliseconds; this one keeps the fraction.
"""
import logging
import time

from . import mode

log = logging.getLogger("lrcn_native")


def _now():
    if mode.gpu():
        import cupy
        cupy.cuda.get_current_stream().synchronize()
    return time.perf_counter()


class Timer:
    def __init__(self):
        self.running = False
        self._start = self._stop = None

    def start(self):
        if not self.running:
            self._start = _now()
            self.running = True

    def stop(self):
        if self.running:
            self._stop = _now()
            self.running = False

    @property
    def ms(self):
        if self._start is None:
            log.warning("Timer has never been run before reading time.")
            return 0.0
        self.stop()
        return (self._stop - self._start) * 1e3

    @property
    def seconds(self):
        return self.ms / 1e3
