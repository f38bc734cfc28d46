"""Retrofitting a trained trebuchet aiming network on a step criterion, with Nevergrad.

``diffsim train trebuchet --method retrofit --from DIR`` refines a few parameters of the
aiming network of run ``DIR`` (:mod:`diffsim.controllers.aiming`, trained through the
differentiable shot on a squared relative miss) on a criterion with no useful gradient:
the **fraction of aims that miss by more than** ``threshold`` (0.1 % of the target
distance by default). That fraction is a sum of step functions of the network's outputs:
its gradient is zero almost everywhere, so it cannot be trained by backpropagation, and a
least-squares fit does not minimise it (squared loss pays for every error; the fraction
pays only for those past the threshold, and nothing more for the hopeless ones).

The retrofit pairs
    ``pairs`` (wind, target) pairs of the 2019 post's distribution (wind ~ N(0, 5²) m/s,
    target ~ U(20, 100) m; :func:`~diffsim.controllers.aiming.make_test_set` with seed
    ``1_000_003 + seed``), of which the pairs out of the trebuchet's reach are dropped by
    the reach grid of :func:`~diffsim.controllers.aiming._reachable` (``aim_check=False``:
    the grid alone). They stay fixed, so the criterion is deterministic. The held-out pairs
    (``test_pairs`` of seed ``seed``, reach decided the same way) are never used to choose a
    candidate; the metrics report them.

The validation pairs
    ``val_pairs`` more pairs of the same distribution (seed ``2_000_003 + seed``, reach
    decided the same way) that choose which candidate is kept. The optimiser sees only the
    retrofit pairs; each candidate that improves on the best value there so far is also
    shot at the validation pairs, and it is kept only if its value there (with the guard
    below, against the source's validation median) is lower than the kept one's. This is
    early stopping by a held-back set: a change that lowers the fraction on the retrofit
    pairs alone, by fitting those pairs, is not kept. ``val_pairs=0`` keeps the best
    candidate on the retrofit pairs (the default).

What is optimised (``parameters``)
    ``"last_layer"``: the weights and biases of the network's output layer (2 × 32 + 2 = 66
    numbers with the default hidden size). ``"output_scale"``: a gain and an offset per
    output logit, ``o_k → g_k · o_k + c_k`` (4 numbers), folded into the last layer when
    the policy is written. Every other weight stays as trained; the hidden features of the
    retrofit pairs are computed once, so a candidate costs one matrix product and one
    batched shot per pair.

The criterion and its guard
    A candidate's value is its fraction of missed pairs (a failed shot counts as a miss).
    With ``median_guard``, a candidate whose median relative miss over the retrofit pairs is
    larger than the bound (the source network's median times ``1 − median_margin``) is
    infeasible: its value is ``1 +`` its fraction, behind every feasible value, so that no
    infeasible candidate is kept. The kept policy never has a higher value than the
    source's, on the retrofit pairs nor on the validation pairs.

Cost
    Every candidate simulates one shot per retrofit pair, and each candidate shot at the
    validation pairs one more per validation pair: ``transitions`` counts both.
"""

from __future__ import annotations

import copy
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from diffsim._validation import check_choice

from ._fields import check_fields
from .aiming import ENV_ID, AimingAgent, AimingNetwork, _bounded, _reachable, make_test_set
from .checkpoint import CheckpointError, load_policy
from .gradient_free import check_optimizer, make_optimizer

PARAMETER_SETS = ("last_layer", "output_scale")
METHOD = "retrofit"

__all__ = [
    "PARAMETER_SETS",
    "AimingRetrofitConfig",
    "AimingRetrofitTrainer",
    "default_budget",
    "default_config",
    "load_aiming_source",
    "miss_statistics",
]


@dataclass
class AimingRetrofitConfig:
    """Hyperparameters of the aiming network's ``retrofit`` (see the module docstring).

    Attributes:
        source: The run directory of the trained aiming network (``--from DIR``).
        parameters: ``"last_layer"`` or ``"output_scale"``.
        threshold: A relative miss ``|d − t| / t`` above this is a miss (0.001 = 0.1 %).
        pairs: (wind, target) pairs drawn for the criterion (before the out-of-reach ones
            are dropped).
        test_pairs: Held-out pairs drawn for the reported test metrics.
        val_pairs: Validation pairs drawn to choose the kept candidate among those that
            improve on the retrofit pairs (0, the default: keep the best on the retrofit
            pairs).
        reach_check: Drop the pairs out of reach (``False``: keep every pair, each one out of
            reach then a miss for every candidate; for quick checks, as the reach grid
            takes seconds to compute).
        median_guard: Reject every candidate that raises the median miss over the
            retrofit pairs, or over the validation pairs (see the module docstring).
        median_margin: With ``median_guard``, a kept candidate's median miss must be at
            most ``1 − median_margin`` times the source's, on each set of pairs: the
            margin leaves room for the held-out pairs' median to differ from theirs.
        optimizer: A Nevergrad optimiser name (``"CMA"``: ``ParametrizedCMA``).
        popsize: Candidates per update.
        sigma: Initial step size on every optimised number (logit units: a change of the
            output layer's pre-activations; for ``output_scale``, the same on the gains
            and the offsets).
        evaluations: Nevergrad's budget in candidate evaluations (a planning hint; the
            training budget in shots is what stops training).
    """

    source: str = ""
    parameters: str = "last_layer"
    threshold: float = 1e-3
    pairs: int = 2000
    test_pairs: int = 4000
    val_pairs: int = 0
    reach_check: bool = True
    median_guard: bool = True
    median_margin: float = 0.0
    optimizer: str = "CMA"
    popsize: int = 16
    sigma: float = 1e-4
    evaluations: int = 960

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice("retrofit parameters", self.parameters, PARAMETER_SETS)
        if not 0 < self.threshold < 1:
            raise ValueError(
                f"threshold is a relative miss in (0, 1) (0.001 = 0.1 %), got {self.threshold}"
            )
        if self.pairs < 1 or self.test_pairs < 1 or self.popsize < 1:
            raise ValueError(
                f"pairs, test_pairs and popsize must be positive, got {self.pairs}, "
                f"{self.test_pairs}, {self.popsize}"
            )
        if self.val_pairs < 0:
            raise ValueError(f"val_pairs must be 0 (none) or positive, got {self.val_pairs}")
        if not 0 <= self.median_margin < 1:
            raise ValueError(f"median_margin must lie in [0, 1), got {self.median_margin}")
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise ValueError(f"sigma must be positive and finite, got {self.sigma}")
        check_optimizer(self.optimizer)


def default_config(env_id: str = ENV_ID) -> AimingRetrofitConfig:
    """The default configuration (``source`` still to give)."""
    return AimingRetrofitConfig()


def default_budget(env_id: str = ENV_ID) -> int:
    """Shots of the default run: 960 candidates × at most 2,000 retrofit pairs, and room for
    one validation check per generation (none by default)."""
    c = AimingRetrofitConfig()
    return c.evaluations * c.pairs + (c.evaluations // c.popsize) * c.val_pairs


def load_aiming_source(source: str) -> AimingNetwork:
    """The aiming network of run directory ``source``.

    Raises:
        ValueError: no ``source`` given.
        CheckpointError: ``source`` is not a run directory, or holds another kind of policy.
    """
    if not source:
        raise ValueError(
            "retrofit needs the run to start from: diffsim train trebuchet --method retrofit "
            "--from DIR, DIR holding an aiming network (diffsim train trebuchet --method bptt)"
        )
    path = Path(source)
    if not path.is_dir():
        raise CheckpointError(f"retrofit source {source!r} is not a directory")
    agent = load_policy(path)
    if not isinstance(agent, AimingAgent):
        raise CheckpointError(
            f"the trebuchet's retrofit refines an aiming network (a bptt or retrofit run of "
            f"{ENV_ID}); {path / 'policy.pt'} holds a {type(agent).__name__}"
        )
    return agent.policy


def miss_statistics(
    distance: torch.Tensor, target: torch.Tensor, threshold: float
) -> dict[str, torch.Tensor]:
    """Fraction of misses past ``threshold`` (and past 0.5 %) and the median relative miss.

    Args:
        distance: Landing distances ``[..., N]`` (m); NaN for a failed shot (a miss of 100 %).
        target: Target distances ``[N]`` (m).
        threshold: The relative miss that counts as a miss.

    Returns:
        ``{"miss_fraction", "miss_fraction_0.5%", "median_rel_miss"}``, each ``[...]``.
    """
    ok = torch.isfinite(distance)
    rel = torch.where(ok, (distance - target).abs() / target, torch.ones_like(distance))
    return {
        "miss_fraction": (rel > threshold).double().mean(-1),
        "miss_fraction_0.5%": (rel > 5e-3).double().mean(-1),
        "median_rel_miss": rel.median(-1).values,
    }


class _PairSet:
    """Fixed (wind, target) pairs and the source network's last hidden features on them."""

    def __init__(self, net: AimingNetwork, n: int, seed: int, reach_check: bool = True):
        wind, target = make_test_set(n, seed, "post")
        if reach_check:
            ok = _reachable(wind, target, aim_check=False)
        else:
            ok = np.ones(len(wind), dtype=bool)
        self.drawn, self.unreachable = int(n), int((~ok).sum())
        dtype = net.spec.torch_dtype
        self.wind = torch.as_tensor(wind[ok], dtype=dtype)
        self.target = torch.as_tensor(target[ok], dtype=dtype)
        obs = torch.stack((self.wind, self.target), -1).float()  # as the env observes
        with torch.no_grad():
            self.hidden = net.net[:-1](net._features(obs))


class AimingRetrofitTrainer:
    """Nevergrad on a few parameters of a trained aiming network (module docstring); a
    :class:`~diffsim.controllers.trainer.Trainer` whose objective is not the task's return.

    Args:
        env_id: ``"diffsim/Trebuchet-v0"``.
        config: The hyperparameters (``source`` required).
        seed: Seeds the retrofit pairs, the held-out pairs and the optimiser.
        device: Torch device (``"cpu"``; the shots run there).

    Raises:
        ValueError: another task, or no source.
        CheckpointError: the source is not an aiming-network run.
    """

    method = METHOD

    def __init__(
        self,
        env_id: str = ENV_ID,
        config: Optional[AimingRetrofitConfig] = None,
        seed: int = 0,
        device: str = "cpu",
    ):
        if env_id not in (ENV_ID, "trebuchet"):
            raise ValueError(f"the aiming retrofit trains the trebuchet ({ENV_ID}), got {env_id!r}")
        self.config = c = config if config is not None else AimingRetrofitConfig()
        self.device = torch.device(device)
        self.source = load_aiming_source(c.source)
        self.policy = copy.deepcopy(self.source).to(self.device).eval()
        self.dtype = self.policy.spec.torch_dtype
        last = self.policy.net[-1]
        self.w0 = last.weight.detach().clone()
        self.b0 = last.bias.detach().clone()
        if c.parameters == "last_layer":
            init = torch.cat((self.w0.reshape(-1), self.b0)).double().cpu().numpy()
        else:
            init = np.array([1.0, 1.0, 0.0, 0.0])
        self.train_set = _PairSet(self.policy, c.pairs, 1_000_003 + int(seed), c.reach_check)
        self.test_set = _PairSet(self.policy, c.test_pairs, int(seed), c.reach_check)
        self.val_set = (
            _PairSet(self.policy, c.val_pairs, 2_000_003 + int(seed), c.reach_check)
            if c.val_pairs
            else None
        )
        if len(self.train_set.wind) == 0:
            raise ValueError(f"none of the {c.pairs} retrofit pairs is within reach; raise pairs")
        self.optimizer = make_optimizer(
            c.optimizer, init, c.sigma, c.evaluations, c.popsize, int(seed)
        )
        self.best_z = init.copy()
        self.start = {
            "train": self._stats(init, self.train_set),
            "test": self._stats(init, self.test_set),
        }
        if self.val_set is not None:
            self.start["val"] = self._stats(init, self.val_set)
        self.best = copy.deepcopy(self.start)
        self.best_value = self.start["train"]["miss_fraction"]  # best on the retrofit pairs
        self.kept_value = self._kept_value(self.start)  # the kept candidate's
        self.evaluations = 0
        self.shots = 0

    def _layer(self, z: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The output layer's (weight ``[2, h]``, bias ``[2]``) of candidate ``z``."""
        zt = torch.as_tensor(np.asarray(z, dtype=np.float64), dtype=self.dtype, device=self.device)
        if self.config.parameters == "last_layer":
            k = self.w0.numel()
            return zt[:k].view_as(self.w0), zt[k:]
        gain, offset = zt[:2], zt[2:]
        return self.w0 * gain[:, None], self.b0 * gain + offset

    def _stats(self, z: np.ndarray, pairs: _PairSet) -> dict[str, float]:
        from diffsim.trebuchet import shoot

        weight, bias = self._layer(z)
        out = pairs.hidden @ weight.T + bias
        spec = self.policy.spec
        angle = _bounded(out[:, 0], spec.angle_bounds)
        mass = _bounded(out[:, 1], spec.weight_bounds)
        with torch.no_grad():
            d = shoot(pairs.wind, angle, mass, on_failure="nan")
        stats = miss_statistics(d, pairs.target, self.config.threshold)
        return {k: float(v) for k, v in stats.items()}

    def _value(self, stats: dict[str, float], pairs: str = "train") -> float:
        """The criterion on pair set ``pairs`` (``"train"`` or ``"val"``), guard included."""
        bound = (1 - self.config.median_margin) * self.start[pairs]["median_rel_miss"]
        if self.config.median_guard and stats["median_rel_miss"] > bound:
            return 1.0 + stats["miss_fraction"]  # infeasible: behind every feasible value
        return stats["miss_fraction"]

    def _kept_value(self, stats: dict[str, dict[str, float]]) -> float:
        """What a candidate must beat to be kept: the validation fraction (or, without
        validation pairs, the retrofit pairs' value) of the kept one."""
        if self.val_set is None:
            return stats["train"]["miss_fraction"]
        return stats["val"]["miss_fraction"]

    def _apply(self, z: np.ndarray) -> None:
        weight, bias = self._layer(z)
        last = self.policy.net[-1]
        with torch.no_grad():
            last.weight.copy_(weight)
            last.bias.copy_(bias)

    def update(self, max_transitions: Optional[int] = None) -> dict[str, float]:
        """One generation of ``popsize`` candidates on the retrofit pairs; each that beats
        the best value there so far is checked on the validation pairs and kept if it
        beats the kept one there too (module docstring).

        Args:
            max_transitions: Not used: a generation is the smallest unit of work.

        Returns:
            ``transitions`` (shots, validation shots included), the evaluations so far, and
            the source's and the kept policy's miss fraction and median on the retrofit,
            validation (``val_…``, with validation pairs) and held-out (``test_…``) pairs.
        """
        c = self.config
        shots = 0
        candidates = [self.optimizer.ask() for _ in range(c.popsize)]
        for cand in candidates:
            stats = self._stats(cand.value, self.train_set)
            shots += len(self.train_set.wind)
            value = self._value(stats)
            self.optimizer.tell(cand, value)
            if value >= self.best_value:
                continue
            self.best_value = value
            z = np.array(cand.value, dtype=np.float64)
            seen = {"train": stats}
            if self.val_set is not None:
                seen["val"] = self._stats(z, self.val_set)
                shots += len(self.val_set.wind)
                if self._value(seen["val"], "val") >= 1.0:  # raises the validation median
                    continue
            kept = self._kept_value(seen)
            if self.val_set is None or kept < self.kept_value:
                self.kept_value = kept
                self.best_z = z
                self.best = {**seen, "test": self._stats(z, self.test_set)}
                self._apply(z)
        self.evaluations += c.popsize
        self.shots += shots
        tr, te = self.best["train"], self.best["test"]
        tr0, te0 = self.start["train"], self.start["test"]
        val = {}
        if self.val_set is not None:
            val = {
                "val_miss_fraction_start": self.start["val"]["miss_fraction"],
                "val_miss_fraction": self.best["val"]["miss_fraction"],
                "val_median_rel_miss_start": self.start["val"]["median_rel_miss"],
                "val_median_rel_miss": self.best["val"]["median_rel_miss"],
            }
        return {
            "transitions": shots,
            "policy_evaluations": float(self.evaluations),
            "miss_fraction_start": tr0["miss_fraction"],
            "miss_fraction": tr["miss_fraction"],
            "median_rel_miss_start": tr0["median_rel_miss"],
            "median_rel_miss": tr["median_rel_miss"],
            "test_miss_fraction_start": te0["miss_fraction"],
            "test_miss_fraction": te["miss_fraction"],
            "test_miss_fraction_0.5%_start": te0["miss_fraction_0.5%"],
            "test_miss_fraction_0.5%": te["miss_fraction_0.5%"],
            "test_median_rel_miss_start": te0["median_rel_miss"],
            "test_median_rel_miss": te["median_rel_miss"],
            **val,
        }

    def agent(self) -> AimingAgent:
        """The kept network behind ``act(obs)``."""
        return AimingAgent(self.policy)

    def save(self, path: Union[str, Path]) -> None:
        """Write the kept network's ``policy.pt`` (kind ``"aiming_network"``, method
        ``"retrofit"``): ``load_policy`` and ``diffsim eval`` read it as any aiming run."""
        self.policy.save(path, method=METHOD)

    def state_dict(self) -> dict[str, Any]:
        """Optimiser (pickled), the kept network and parameters, the measured statistics."""
        return {
            "optimizer": pickle.dumps(self.optimizer),
            "policy": copy.deepcopy(self.policy.state_dict()),
            "best_z": self.best_z.copy(),
            "best": copy.deepcopy(self.best),
            "best_value": self.best_value,
            "kept_value": self.kept_value,
            "evaluations": self.evaluations,
            "shots": self.shots,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer = pickle.loads(state["optimizer"])
        self.policy.load_state_dict(state["policy"])
        self.best_z = np.asarray(state["best_z"])
        self.best = copy.deepcopy(state["best"])
        self.best_value = float(state["best_value"])
        self.kept_value = float(state["kept_value"])
        self.evaluations = int(state["evaluations"])
        self.shots = int(state["shots"])
