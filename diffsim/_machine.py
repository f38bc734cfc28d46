"""What machine and which library versions produced a result (for result files)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

OPTIONAL_PACKAGES = {
    "stable_baselines3": "stable-baselines3",
    "nevergrad": "nevergrad",
    "ray": "ray",
    "optuna": "optuna",
}
"""Key in :func:`machine_info` → distribution name of the optional libraries (the
``baselines``, ``cluster`` and ``sweep`` extras)."""


def machine_info() -> dict[str, Any]:
    """CPU model, core count, torch threads, GPU (if any) and library versions.

    Returns:
        A JSON-serialisable dict: ``cpu``, ``cores``, ``torch_threads``, ``gpu`` (the name of
        CUDA device 0, or None), ``platform``, ``python`` and the versions of torch, numpy,
        gymnasium and diffsim, plus those of :data:`OPTIONAL_PACKAGES` where installed.
        The optional libraries' versions are read from their package metadata, so none is
        imported (importing them takes seconds).
    """
    import gymnasium
    import numpy
    import torch

    from . import __version__

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "gymnasium": gymnasium.__version__,
        "diffsim": __version__,
    }
    for key, distribution in OPTIONAL_PACKAGES.items():
        try:
            info[key] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            pass
    return info
