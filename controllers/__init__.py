"""Controllers: policies, gradient estimators, the BPTT trainer, evaluation and run files.

What a user imports::

    from diffsim.controllers import train, load_policy, evaluate
    result = train("cartpole", method="bptt", seed=0, out="runs/cp")
    agent = load_policy("runs/cp")          # agent.act(obs) -> action in the env's space

A method of one's own: :func:`register_method` with a :class:`Method` whose trainer follows
:class:`Trainer` (the example: :mod:`diffsim.controllers.methods`).

The names below load on first use (PEP 562 module ``__getattr__``), so that light modules of
this package (:mod:`diffsim.controllers._names`, the table of methods and tasks the command
line's help lists) import without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diffsim._lazy import make_lazy

_ATTRIBUTES: dict[str, str] = {
    "BPTTConfig": "bptt",
    "BPTTTrainer": "bptt",
    "NonFiniteTrainingError": "bptt",
    "CheckpointError": "checkpoint",
    "PolicyAgent": "checkpoint",
    "load_policy": "checkpoint",
    "read_metrics": "checkpoint",
    "ESTIMATORS": "estimators",
    "get_estimator": "estimators",
    "st_sign": "estimators",
    "EvalResult": "evaluate",
    "evaluate": "evaluate",
    "ControlPolicy": "policies",
    "PolicySpec": "policies",
    "build_policy": "policies",
    "METHODS": "methods",
    "Method": "methods",
    "register_method": "methods",
    "TrainResult": "training",
    "train": "training",
    "Trainer": "trainer",
}
"""Public names of the package and the submodule each is loaded from on first use."""

__all__ = [
    "ESTIMATORS",
    "METHODS",
    "BPTTConfig",
    "BPTTTrainer",
    "CheckpointError",
    "ControlPolicy",
    "EvalResult",
    "Method",
    "NonFiniteTrainingError",
    "PolicyAgent",
    "PolicySpec",
    "TrainResult",
    "Trainer",
    "build_policy",
    "evaluate",
    "get_estimator",
    "load_policy",
    "read_metrics",
    "register_method",
    "st_sign",
    "train",
]

if TYPE_CHECKING:
    from .bptt import BPTTConfig, BPTTTrainer, NonFiniteTrainingError
    from .checkpoint import CheckpointError, PolicyAgent, load_policy, read_metrics
    from .estimators import ESTIMATORS, get_estimator, st_sign
    from .evaluate import EvalResult, evaluate
    from .methods import METHODS, Method, register_method
    from .policies import ControlPolicy, PolicySpec, build_policy
    from .trainer import Trainer
    from .training import TrainResult, train


make_lazy(__name__, _ATTRIBUTES, functions=("evaluate",))
