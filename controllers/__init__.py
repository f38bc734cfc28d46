"""Controllers: policies, gradient estimators, the BPTT trainer, evaluation and run files.

What a user imports::

    from diffsim.controllers import train, load_policy, evaluate
    result = train("cartpole", method="bptt", seed=0, out="runs/cp")
    agent = load_policy("runs/cp")          # agent.act(obs) -> action in the env's space
"""

from .bptt import BPTTConfig, BPTTTrainer, NonFiniteTrainingError
from .checkpoint import CheckpointError, PolicyAgent, load_policy, read_metrics
from .estimators import ESTIMATORS, get_estimator, st_sign
from .evaluate import EvalResult, evaluate
from .policies import ControlPolicy, PolicySpec, build_policy
from .training import METHODS, TrainResult, train

__all__ = [
    "ESTIMATORS",
    "METHODS",
    "BPTTConfig",
    "BPTTTrainer",
    "CheckpointError",
    "ControlPolicy",
    "EvalResult",
    "NonFiniteTrainingError",
    "PolicyAgent",
    "PolicySpec",
    "TrainResult",
    "build_policy",
    "evaluate",
    "get_estimator",
    "load_policy",
    "read_metrics",
    "st_sign",
    "train",
]
