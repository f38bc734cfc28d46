"""diffsim: differentiable physics for control, in PyTorch.

Physics lives in one module per system, as pure batched functions over tensors:

- :mod:`diffsim.cartpole` — Gymnasium's CartPole-v1, with a continuous action in [−1, 1].
- :mod:`diffsim.pendulum` — Gymnasium's Pendulum-v1 (and the 2019 Gym.jl variant).
- :mod:`diffsim.integrators` — explicit Euler, semi-implicit Euler and RK4, by name.
- :mod:`diffsim.fast` — the opt-in compiled path (compiled steps, CUDA graphs).

The physics takes torch tensors (gradients, GPU) or NumPy arrays (no gradients; several
times faster for one small state) and returns the input's library.

Subpackages: :mod:`diffsim.envs` (Gymnasium environments), :mod:`diffsim.controllers`
(policies and trainers), :mod:`diffsim.scripts` (the ``diffsim`` command line).
"""

from . import cartpole, fast, integrators, pendulum
from ._debug import NonFiniteError, debug_checks
from .cartpole import CartPoleParams
from .integrators import INTEGRATORS, Integrator, get_integrator
from .pendulum import PendulumParams

__version__ = "0.1.0"

__all__ = [
    "INTEGRATORS",
    "CartPoleParams",
    "Integrator",
    "NonFiniteError",
    "PendulumParams",
    "__version__",
    "cartpole",
    "debug_checks",
    "fast",
    "get_integrator",
    "integrators",
    "pendulum",
]
from . import envs  # noqa: E402,F401  (registers the Gymnasium ids)
