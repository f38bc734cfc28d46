"""diffsim: differentiable physics for control, in PyTorch.

Physics lives in one module per system, as pure batched functions over tensors:

- :mod:`diffsim.cartpole` — Gymnasium's CartPole-v1, with a continuous action in [−1, 1].
- :mod:`diffsim.pendulum` — Gymnasium's Pendulum-v1 (and the 2019 Gym.jl variant).
- :mod:`diffsim.acrobot` — Gymnasium's Acrobot-v1 (Sutton & Barto's two-link swing-up).
- :mod:`diffsim.mountain_car`, :mod:`diffsim.continuous_mountain_car` — Gymnasium's
  MountainCar-v0 and MountainCarContinuous-v0.
- :mod:`diffsim.trebuchet` — the 2019 post's trebuchet (a one-shot aiming task).
- :mod:`diffsim.solvers` — solvers over the physics: :func:`~diffsim.solvers.aim`, the
  trebuchet's controls for a target, differentiable by the implicit function theorem.
- :mod:`diffsim.implicit` — implicit differentiation of any solver's solution.
- :mod:`diffsim.identify` — system identification: :func:`~diffsim.identify.fit` estimates
  a system's parameters from recorded trajectories (``docs/identify.md``).
- :mod:`diffsim.integrators` — explicit Euler, semi-implicit Euler and RK4, by name.
- :mod:`diffsim.fast` — the opt-in compiled path (compiled steps, CUDA graphs).
- :mod:`diffsim.systems` — the one description of each system (:class:`System`) and the
  registry of systems and tasks by name (``docs/systems.md``: adding a system of your own).

The physics takes torch tensors (gradients, GPU) or NumPy arrays (no gradients; several
times faster for one small state) and returns the input's library.

Subpackages: :mod:`diffsim.envs` (Gymnasium environments), :mod:`diffsim.controllers`
(policies and trainers), :mod:`diffsim.scripts` (the ``diffsim`` command line).

Importing contract:

- ``import diffsim`` imports neither torch, the physics nor Gymnasium: the names below load
  on first use (``diffsim.cartpole``, ``from diffsim import CartPoleParams``), so the command
  line's ``--help`` and other light uses start quickly. ``import diffsim.cartpole`` loads
  the physics and torch, and no Gymnasium.
- ``import diffsim`` registers diffsim's Gymnasium ids whenever Gymnasium is importable:
  at once when ``gymnasium`` is already imported, otherwise as soon as it is (a one-shot
  ``sys.meta_path`` finder; Gymnasium 1.x loads no plugin entry points). So
  ``gymnasium.make("diffsim/CartPole-v1")`` works after ``import diffsim``, in either
  import order, and so does ``gymnasium.make("diffsim:diffsim/CartPole-v1")`` without it.
  ``import diffsim.envs`` registers them too (and imports Gymnasium).

Raises:
    ImportError: on import, when this ``diffsim/`` folder is found without its subpackages —
        a repository checkout's folder shadowing a regular (non-editable) installation.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from ._lazy import make_lazy

__version__ = "0.1.0"


def _check_not_shadowed() -> None:
    """Raise if the subpackages of this ``diffsim`` cannot be found next to it.

    In the repository, the folders ``envs/``, ``controllers/`` and ``scripts/`` sit beside
    ``diffsim/`` and the installation maps them into the ``diffsim`` namespace (setup.cfg's
    ``package_dir``). A regular install copies them into the installed package; an editable
    one maps them with an import hook. Running Python from the repository root with a regular
    install puts the root first on ``sys.path``, so this bare folder is imported instead of the
    installed package and none of its subpackages exists.
    """
    if importlib.util.find_spec(f"{__name__}.envs") is not None:
        return
    import os

    raise ImportError(
        f"diffsim was imported from {os.path.dirname(os.path.abspath(__file__))}, a folder "
        "without the subpackages envs, controllers and scripts: the diffsim/ folder of a "
        "repository checkout is shadowing the installed package (Python looks in the current "
        "directory first). Run from another directory, or install the checkout in editable "
        "mode (pip install -e .), which maps the repository's folders into the package.",
        name=__name__,
    )


_check_not_shadowed()

_SUBMODULES = (
    "acrobot",
    "cartpole",
    "continuous_mountain_car",
    "controllers",
    "envs",
    "fast",
    "identify",
    "implicit",
    "integrators",
    "mountain_car",
    "pendulum",
    "scripts",
    "solvers",
    "systems",
    "trebuchet",
)
"""Submodules loaded on first attribute access (``diffsim.cartpole``)."""

_ATTRIBUTES: dict[str, str] = {
    "AcrobotParams": "acrobot",
    "CartPoleParams": "cartpole",
    "ContinuousMountainCarParams": "continuous_mountain_car",
    "MountainCarParams": "mountain_car",
    "PendulumParams": "pendulum",
    "INTEGRATORS": "integrators",
    "Integrator": "integrators",
    "get_integrator": "integrators",
    "FitResult": "identify",
    "fit": "identify",
    "NonFiniteError": "_debug",
    "debug_checks": "_debug",
    "Params": "_params",
    "System": "systems",
    "TaskSpec": "systems",
    "get_system": "systems",
    "register_system": "systems",
}
"""Public names of the package and the submodule each is loaded from on first use."""

__all__ = [
    "INTEGRATORS",
    "AcrobotParams",
    "CartPoleParams",
    "ContinuousMountainCarParams",
    "FitResult",
    "Integrator",
    "MountainCarParams",
    "NonFiniteError",
    "Params",
    "PendulumParams",
    "System",
    "TaskSpec",
    "__version__",
    "acrobot",
    "cartpole",
    "continuous_mountain_car",
    "debug_checks",
    "fast",
    "fit",
    "get_integrator",
    "get_system",
    "identify",
    "implicit",
    "integrators",
    "mountain_car",
    "pendulum",
    "register_system",
    "solvers",
    "systems",
]

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from . import (
        acrobot,
        cartpole,
        continuous_mountain_car,
        fast,
        identify,
        implicit,
        integrators,
        mountain_car,
        pendulum,
        solvers,
        systems,
    )
    from ._debug import NonFiniteError, debug_checks
    from ._params import Params
    from .acrobot import AcrobotParams
    from .cartpole import CartPoleParams
    from .continuous_mountain_car import ContinuousMountainCarParams
    from .identify import FitResult, fit
    from .integrators import INTEGRATORS, Integrator, get_integrator
    from .mountain_car import MountainCarParams
    from .pendulum import PendulumParams
    from .systems import System, TaskSpec, get_system, register_system


make_lazy(__name__, _ATTRIBUTES, _SUBMODULES)

from ._gymnasium import register_on_gymnasium_import  # noqa: E402

register_on_gymnasium_import()
