"""Gradient estimators for discrete actions, swappable by name.

Two action heads use them (:mod:`diffsim.controllers.policies`); the estimator names valid
for each are :data:`ESTIMATORS` and :data:`CATEGORICAL_ESTIMATORS`.

**Binary** (``head="binary"``, two actions: CartPole's left/right push). The policy outputs
a real score ``u`` per decision (``u > 0`` favours +1, i.e. push right). An estimator turns
``u`` into an action in [−1, 1] that the simulator can use, and decides what gradient flows
back to ``u``:

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

At evaluation every binary estimator acts deterministically: ``+1 if u ≥ 0 else −1``
(greedy).

**Categorical** (``head="categorical"``, k ≥ 2 actions with physical values ``v``: the system
description's ``discrete_actions``, e.g. three torques −1, 0, +1). The policy outputs logits
``z`` of shape ``[..., k]``; ``p = softmax(z)`` is the policy's distribution over the
actions. Each rule returns a physical action ``[...]`` and passes a gradient to ``z`` (``v``
gets none):

=================  ==============================================  ==============================
name               forward (training)                              backward (d action / d z)
=================  ==============================================  ==============================
``st_argmax``      ``v[argmax_i z_i]``                             ``d/dz [softmax(z)·v]``
                                                                   ``= p ⊙ (v − p·v)`` (straight-
                                                                   through, softmax surrogate)
``st_gumbel``      ``v[argmax_i (z_i + G_i)]``, G_i ~ Gumbel(0,1)  ``d/dz [softmax((z + G)/τ)·v]``
                   i.i.d. (Gumbel-max: a sample of                 ``= q ⊙ (v − q·v)/τ``, ``q =
                   Categorical(p))                                 softmax((z + G)/τ)`` (straight-
                                                                   through Gumbel-softmax)
``expected``       ``softmax(z)·v`` (the mean action under p; a     its true derivative
                   relaxed action between the values)              ``p ⊙ (v − p·v)``
=================  ==============================================  ==============================

The Gumbel noise is ``G = −log(−log U)`` with ``U = torch.rand(z.shape, generator=…)``
(clamped below at the dtype's smallest normal number, so that G is finite). At evaluation
every categorical estimator acts deterministically: ``v[argmax_i z_i]``, ties going to the
lowest index. The binary rules are not the k = 2 case of these: a binary head has one score
(``u`` plays the part of ``z_1 − z_0``), and ``st_sign`` passes the identity, not a
softmax's derivative.

References: Bengio, Léonard & Courville (2013), "Estimating or propagating gradients through
stochastic neurons for conditional computation", for straight-through estimators; Jang, Gu &
Poole (2017), "Categorical reparameterization with Gumbel-softmax" (ICLR; its
straight-through variant, section 2.2) and Maddison, Mnih & Teh (2017), "The concrete
distribution" (ICLR), for the Gumbel-softmax / concrete relaxation and the Gumbel-max
trick.
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


CATEGORICAL_ESTIMATORS = ("st_argmax", "st_gumbel", "expected")
"""Valid estimator names of a categorical head."""


class _ArgmaxST(torch.autograd.Function):
    """Forward: ``values[argmax(scores)]``, exactly. Backward: the vector-Jacobian product of
    ``softmax(scores / temperature) · values`` with respect to ``scores``."""

    @staticmethod
    def forward(  # noqa: D102
        ctx, scores: torch.Tensor, values: torch.Tensor, temperature: float
    ) -> torch.Tensor:
        ctx.save_for_backward(scores, values)
        ctx.temperature = temperature
        return values[scores.argmax(-1)]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[Optional[torch.Tensor], None, None]:  # noqa: D102
        scores, values = ctx.saved_tensors
        q = torch.softmax(scores / ctx.temperature, dim=-1)
        mean = (q * values).sum(-1, keepdim=True)
        return grad[..., None] * q * (values - mean) / ctx.temperature, None, None


def _check_categorical(logits: torch.Tensor, values: torch.Tensor) -> None:
    if values.ndim != 1 or values.shape[0] < 2:
        raise ValueError(
            "a categorical estimator needs the physical values of k >= 2 actions as a 1-D "
            f"tensor [k], got shape {list(values.shape)}"
        )
    k = values.shape[0]
    if logits.ndim < 1 or logits.shape[-1] != k:
        raise ValueError(
            f"expected logits of shape [..., {k}] (one per action of {k}), "
            f"got shape {list(logits.shape)}"
        )


def hard_argmax(logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``values[argmax(logits)]`` with no gradient (the deterministic action; ties: the lowest
    index).

    Args:
        logits: ``[..., k]``.
        values: The physical value of each action, ``[k]``.

    Returns:
        The actions, ``[...]``.

    Raises:
        ValueError: for fewer than two values, or logits whose last size is not k.
    """
    _check_categorical(logits, values)
    return values[logits.detach().argmax(-1)]


def st_argmax(logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Straight-through argmax: forward ``values[argmax(logits)]``, backward the gradient of
    ``softmax(logits) · values`` (see the module docstring).

    Args:
        logits: ``[..., k]``.
        values: The physical value of each action, ``[k]`` (receives no gradient).

    Returns:
        The actions, ``[...]``.

    Raises:
        ValueError: for fewer than two values, or logits whose last size is not k.
    """
    _check_categorical(logits, values)
    return _ArgmaxST.apply(logits, values, 1.0)


@dataclass(frozen=True)
class CategoricalEstimator:
    """A named categorical estimator: ``estimator(logits, values, generator)`` → physical
    action (see the module docstring's second table)."""

    name: str
    temperature: float = 1.0

    def __call__(
        self,
        logits: torch.Tensor,
        values: torch.Tensor,
        generator: Optional[torch.Generator] = None,
        deterministic: bool = False,
    ) -> torch.Tensor:
        """The training action for ``logits [..., k]`` over the actions ``values [k]`` (the
        argmax's value if ``deterministic``), ``[...]``.

        Raises:
            ValueError: for fewer than two values, or logits whose last size is not k.
        """
        _check_categorical(logits, values)
        if deterministic:
            return values[logits.detach().argmax(-1)]
        if self.name == "st_argmax":
            return _ArgmaxST.apply(logits, values, 1.0)
        if self.name == "expected":
            return (torch.softmax(logits, dim=-1) * values).sum(-1)
        # st_gumbel: Gumbel-max sampling, the perturbed softmax's gradient.
        u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
        gumbel = -torch.log(-torch.log(u.clamp(min=torch.finfo(u.dtype).tiny)))
        return _ArgmaxST.apply(logits + gumbel, values, self.temperature)


def get_categorical_estimator(name: str, temperature: float = 1.0) -> CategoricalEstimator:
    """The categorical estimator named ``name``.

    Args:
        name: One of :data:`CATEGORICAL_ESTIMATORS`.
        temperature: The Gumbel-softmax temperature τ > 0 (used by ``st_gumbel``).

    Raises:
        ValueError: for an unknown name (the message lists the valid ones) or τ <= 0.
    """
    check_choice("categorical estimator", name, CATEGORICAL_ESTIMATORS)
    if not temperature > 0:
        raise ValueError(f"the Gumbel-softmax temperature must be > 0, got {temperature}")
    return CategoricalEstimator(name, temperature)
