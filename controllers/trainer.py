"""The contract between a training method and the training loop.

:func:`diffsim.controllers.train` builds a method's trainer as ``trainer_class(env_id,
config, seed, device)`` and then uses only the members of :class:`Trainer`. A trainer of a
:class:`~diffsim.controllers.policies.ControlPolicy` gets ``agent`` and ``save`` from
:class:`ControlPolicyTrainer`; others (the aiming network, the SB3 agents) write their own,
through :func:`diffsim.controllers.checkpoint.write_policy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Protocol, Union, runtime_checkable

import torch

from .checkpoint import PolicyAgent, save_policy
from .evaluate import Agent
from .policies import ControlPolicy

TRAINER_MEMBERS = ("policy", "update", "agent", "save", "state_dict", "load_state_dict")
"""The members every trainer has (what :func:`check_trainer` looks for)."""


@runtime_checkable
class Trainer(Protocol):
    """What the training loop calls.

    Attributes:
        policy: The network being trained (a ``torch.nn.Module``); the loop puts it back in
            training mode (``policy.train()``) after each evaluation.
    """

    policy: torch.nn.Module

    def update(self, max_transitions: Optional[int] = None) -> dict[str, float]:
        """One training step.

        Args:
            max_transitions: The transitions left before the loop's next evaluation (or the
                budget); the update should stop there, or as soon after it as its unit of
                work allows. ``None``: no limit.

        Returns:
            Metrics; ``"transitions"`` (env steps simulated by this update, every batch
            element counted) is required, the others become ``metrics.csv`` columns.
        """
        ...

    def agent(self) -> Agent:
        """The current policy behind ``act(obs)`` in the env's action space."""
        ...

    def save(self, path: Union[str, Path]) -> None:
        """Write ``policy.pt`` (through :func:`~diffsim.controllers.checkpoint.write_policy`)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (model, optimiser, every generator)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        ...


def check_trainer(trainer: Any, method: str) -> Trainer:
    """``trainer``, checked against :class:`Trainer`.

    Args:
        trainer: A method's trainer instance.
        method: The method's name (for the message).

    Raises:
        TypeError: a member of :data:`TRAINER_MEMBERS` is missing (named in the message).
    """
    if isinstance(trainer, Trainer):
        return trainer
    missing = [name for name in TRAINER_MEMBERS if not hasattr(trainer, name)]
    raise TypeError(
        f"the trainer of method {method!r} ({type(trainer).__qualname__}) does not follow "
        f"diffsim.controllers.trainer.Trainer: it has no {', '.join(missing)} "
        f"(a trainer has {', '.join(TRAINER_MEMBERS)})"
    )


class ControlPolicyTrainer:
    """The defaults of a trainer whose :attr:`policy` is a
    :class:`~diffsim.controllers.policies.ControlPolicy`: :meth:`agent` and :meth:`save`.

    A subclass sets :attr:`policy`, :attr:`env_id` and :attr:`discrete` in its ``__init__``
    and names its method in :attr:`method`; it writes ``update``, ``state_dict`` and
    ``load_state_dict``.
    """

    method: str = ""
    """The method name written to ``policy.pt``."""
    policy: ControlPolicy
    """The policy being trained."""
    env_id: str
    """The registered id it trains on."""
    discrete: bool
    """Whether that task's action space is ``Discrete``."""

    def agent(self) -> PolicyAgent:
        """The current policy behind ``act(obs)`` (:class:`PolicyAgent`)."""
        return PolicyAgent(self.policy, self.env_id, self.discrete)

    def save(self, path: Union[str, Path]) -> None:
        """Write ``policy.pt`` of kind ``control_policy``
        (:func:`~diffsim.controllers.checkpoint.save_policy`)."""
        save_policy(Path(path), self.policy, self.env_id, self.discrete, self.method)


__all__ = ["TRAINER_MEMBERS", "ControlPolicyTrainer", "Trainer", "check_trainer"]
