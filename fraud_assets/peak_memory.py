"""The peak resident memory (RSS) of the process during a block of work, such as one asset step.

On Linux the kernel keeps the process's peak RSS (`VmHWM` in /proc/self/status) and resets it to
the current RSS when "5" is written to /proc/self/clear_refs, so the peak is exact and costs
nothing while the block runs. Where that file cannot be written (another system, or a sandbox
that forbids it), a thread samples the current RSS every `SAMPLE_SECONDS` instead: a spike shorter
than that can be missed. The peak is the whole process's: memory that an earlier step left
allocated, or inputs loaded before the block began, count as resident from the start.
"""

from __future__ import annotations

import resource
import sys
import threading
from pathlib import Path

SAMPLE_SECONDS = 0.01
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
_STATM = Path("/proc/self/statm")
_RESET_PEAK = "5"  # the kernel's code for "reset the peak RSS to the current RSS"


class PeakMemory:
    """`with PeakMemory() as peak: ...`; `peak.bytes()` is the peak RSS since entering, read at any
    time inside the block or after it; `peak.method` says how it was measured."""

    def __init__(self, sample_seconds: float = SAMPLE_SECONDS, use_kernel: bool = True):
        self._sample_seconds = sample_seconds
        self._use_kernel = use_kernel
        self._sampled = 0
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        self._final: int | None = None
        self.method = ""

    def __enter__(self) -> PeakMemory:
        if self._use_kernel and _reset_kernel_peak():
            self.method = "VmHWM"
            return self
        self.method = f"sampled every {self._sample_seconds * 1000:g} ms"
        self._sampled = current_rss()
        self._sampler = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
        self._sampler.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._final = self.bytes()
        if self._sampler is not None:
            self._stop.set()
            self._sampler.join()

    def bytes(self) -> int:
        if self._final is not None:
            return self._final
        if self.method == "VmHWM":
            return _status_kib("VmHWM") * 1024
        self._sampled = max(self._sampled, current_rss())
        return self._sampled

    def mib(self) -> float:
        return round(self.bytes() / 2**20, 1)

    def _sample(self) -> None:
        while not self._stop.wait(self._sample_seconds):
            self._sampled = max(self._sampled, current_rss())


def current_rss() -> int:
    """The process's resident memory now, in bytes; where /proc is missing, the peak so far
    (`ru_maxrss`), the closest figure the standard library has."""
    try:
        pages = int(_STATM.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # macOS counts bytes, Linux KiB
    return pages * resource.getpagesize()


def _reset_kernel_peak() -> bool:
    try:
        _CLEAR_REFS.write_text(_RESET_PEAK)
        return _status_kib("VmHWM") > 0
    except (OSError, ValueError):
        return False


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise ValueError(f"/proc/self/status has no {field}")
