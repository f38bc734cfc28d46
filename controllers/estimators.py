"""Gradient estimators for a binary (left/right) action, swappable by name.

A discrete policy outputs a real score ``u`` per decision (``u > 0`` favours +1, i.e. push
right). An estimator turns ``u`` into an action in [−1, 1] that the simulator can use, and
decides what gradient flows back to ``u``:

=================  ==============================================  ==============================
name               forward (training)                              backward (d action / d u)
=================  ==============================================  ==============================
``st_sign``        ``+1 if u ≥ 0 else −1``                         ``1`` (identity: straight-
                                                                   through, as in the 2019 post)
``st_gumbel``      ``+1 if u + L ≥ 0 else −1``, L ~ Logistic(0,1)  ``d/du [2·σ((u + L)/τ) − 1]``
                   (a Gumbel-max sample of Bernoulli(σ(u)))       (straight-through binary
                                                                   Gumbel-softmax, temperature τ)
``expected``       ``2·σ(u) − 1 = tanh(u/2)`` (the mean action of   its true derivative
                   Bernoulli(σ(u)); a relaxed, non-±1 push)        ``(1 − tanh²(u/2))/2``
=================  ==============================================  ==============================

At evaluation every estimator acts deterministically: ``+1 if u ≥ 0 else −1`` (greedy).
References: Bengio, Léonard & Courville (2013) for straight-through estimators; Jang, Gu &
Poole (2017) and Maddison, Mnih & Teh (2017) for the Gumbel-softmax / concrete relaxation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from diffsim._validation import check_choice


class _SignST(torch.autograd.Function):
    """Forward: ±1 (sign with 0 ↦ +1). Backward: the incoming gradient unchanged."""

    @staticmethod
    def forward(ctx, u: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.where(u >= 0, 1.0, -1.0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return grad


def hard_sign(u: torch.Tensor) -> torch.Tensor:
    """``+1 if u ≥ 0 else −1`` with no gradient (the deterministic action)."""
    return torch.where(u >= 0, 1.0, -1.0).to(u.dtype)


def st_sign(u: torch.Tensor) -> torch.Tensor:
    """Straight-through sign: forward ±1, backward identity."""
    return _SignST.apply(u)


def _straight_through(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    # The forward value is exactly `hard`; the gradient is soft's.
    return soft + (hard - soft).detach() if soft.requires_grad else hard


@dataclass(frozen=True)
class Estimator:
    """A named estimator: ``estimator(u, generator)`` → action in [−1, 1] (see the table)."""

    name: str
    temperature: float = 1.0

    def __call__(
        self,
        u: torch.Tensor,
        generator: Optional[torch.Generator] = None,
        deterministic: bool = False,
    ) -> torch.Tensor:
        """The training action for scores ``u`` (or the greedy one if ``deterministic``)."""
        if deterministic:
            return hard_sign(u)
        if self.name == "st_sign":
            return st_sign(u)
        if self.name == "expected":
            return torch.tanh(u / 2)
        # st_gumbel: Logistic noise = difference of two Gumbels (binary Gumbel-max).
        p = torch.rand(u.shape, generator=generator, dtype=u.dtype, device=u.device)
        p = p.clamp(1e-6, 1 - 1e-6)
        noisy = u + torch.log(p) - torch.log1p(-p)
        soft = 2 * torch.sigmoid(noisy / self.temperature) - 1
        return _straight_through(hard_sign(noisy), soft)


ESTIMATORS = ("st_sign", "st_gumbel", "expected")
"""Valid estimator names."""


def get_estimator(name: str, temperature: float = 1.0) -> Estimator:
    """The estimator named ``name`` (unknown names list the valid ones)."""
    check_choice("estimator", name, ESTIMATORS)
    if not temperature > 0:
        raise ValueError(f"the Gumbel-softmax temperature must be > 0, got {temperature}")
    return Estimator(name, temperature)
