"""System identification: physical parameters estimated from recorded trajectories.

:func:`fit` estimates any subset of a system's parameter fields (``length`` and
``masspole`` of CartPole, ``m`` and ``l`` of Pendulum, …) from observed trajectories by
weighted least squares through the differentiable simulator. :func:`fit_shots` does the
same for the trebuchet from landing distances (the wind, or any ``TrebuchetParams`` field).
``docs/identify.md`` states the method and the measured recoveries.

**The data** (:func:`check_data`, :func:`load_data`; ``diffsim record`` writes it from any
Gymnasium env):

- ``observations``: float ``[E, T+1, obs_dim]``, E episodes of T steps, exactly as the
  Gymnasium env returns them (the reset observation first);
- ``actions``: ``[E, T]`` action indices for a discrete action space, or
  ``[E, T, act_dim]`` for a continuous one, exactly as passed to ``env.step``;
- ``mask`` (optional): bool ``[E, T]``, True where the step was taken; an episode that
  ended early is padded (any finite values) and masked. Omitted: every step is valid.

Observations map to states through :attr:`System.state_from_observation` (Pendulum's
``(cos θ, sin θ, θ̇) → (θ, θ̇)``); residuals are formed in observation space, so an angle
needs no unwrapping.

**The estimator.** The valid steps of each episode are cut into windows of at most
``window`` transitions (short windows keep a chaotic or clipped trajectory's gradients
useful). Every window has its own initial state, a free unknown (so that noise on the
observation a window starts from biases nothing: this is *multiple shooting* without
continuity constraints), and all windows share the parameters. The residuals are
``(observe(x_k) − y_k) / σ_d`` for every observation ``y_k`` of every window, ``σ_d`` the
noise level of observation entry ``d``. Levenberg–Marquardt minimises their sum of
squares, eliminating the windows' states by a Schur complement (each window's block is
``n × n``), so the cost of an iteration grows linearly with the data. Positive parameters
(those a container lists in ``_positive``) are fitted as logarithms. ``σ_d`` is estimated
from the residuals and the fit repeated (``rounds``), so the weights and the uncertainty
need no noise level from the user.

**Uncertainty and identifiability.** At the solution, the parameters' covariance is the
inverse of the Schur complement ``S`` of the Gauss–Newton matrix (a Laplace / Gauss–Newton
approximation; exact for a linear model with Gaussian noise). A direction of ``S`` whose
eigenvalue is below ``rcond`` times the largest (on the log scale, after scaling ``S`` to
unit diagonal) is one the data do not determine: each parameter with a component in it is
reported *not identifiable* (value ``None``), and the direction as exponents (Pendulum's
``g``, ``m``, ``l`` together: the dynamics depend only on ``g/l`` and ``1/(m l²)``, so
``g · m⁻² · l`` changes nothing). A positive parameter (fitted as a logarithm) whose
relative standard deviation exceeds ``max_rel_std`` is reported not identifiable from this
data as well; a signed one (the trebuchet's wind) is judged by the eigenvalues only, since
an estimate near zero has a large relative spread however well it is determined.

Sources: Levenberg (1944), Marquardt (1963); multiple shooting: Bock & Plitt (1984);
the Schur elimination of per-window states is that of bundle adjustment (Triggs et al.
2000, "Bundle adjustment — a modern synthesis", §6).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from ._choice import check_choice
from .integrators import get_integrator
from .systems import System, get_system

Z95 = 1.959963984540054
"""The two-sided 95 % quantile of the standard normal distribution."""

MIN_TRANSITIONS = 10
"""The fewest valid transitions :func:`fit` accepts."""


@dataclasses.dataclass(frozen=True)
class Trajectories:
    """Checked trajectories (see the module docstring for the layout).

    Attributes:
        observations: float64 ``[E, T+1, obs_dim]``.
        actions: ``[E, T]`` int64 indices (discrete) or float64 ``[E, T, act_dim]``.
        mask: bool ``[E, T]``.
    """

    observations: np.ndarray
    actions: np.ndarray
    mask: np.ndarray

    @property
    def n_transitions(self) -> int:
        """The number of valid transitions (True entries of ``mask``)."""
        return int(self.mask.sum())


def check_data(
    system: Union[str, System],
    observations: Any,
    actions: Any,
    mask: Any = None,
    *,
    min_transitions: int = MIN_TRANSITIONS,
) -> Trajectories:
    """Check recorded trajectories against a system and return them as float64 arrays.

    Args:
        system: A :class:`System` or its registry name (``"cartpole"``).
        observations: ``[E, T+1, obs_dim]`` finite floats.
        actions: ``[E, T]`` integer indices for a discrete system (in
            ``range(len(system.discrete_actions))``), or ``[E, T, act_dim]`` finite floats.
        mask: ``[E, T]`` bool, or None (every step valid).
        min_transitions: The fewest valid transitions accepted.

    Returns:
        The :class:`Trajectories`.

    Raises:
        ValueError: naming the array and the expected shape, for a wrong number of
            dimensions, a wrong observation size, inconsistent E or T, non-finite values,
            an action index out of range, a non-bool mask, or fewer than
            ``min_transitions`` valid transitions.
    """
    system = get_system(system) if isinstance(system, str) else system
    obs_dim = len(system.observation_names)
    obs = np.asarray(observations)
    if obs.ndim != 3 or obs.shape[-1] != obs_dim:
        raise ValueError(
            f"observations must have shape [E, T+1, {obs_dim}] for {system.title} "
            f"({', '.join(system.observation_names)}), got {list(obs.shape)}"
        )
    if not np.issubdtype(obs.dtype, np.floating):
        raise ValueError(f"observations must be floats, got dtype {obs.dtype}")
    if not np.isfinite(obs).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(obs))[0])
        raise ValueError(f"observations must be finite, got {obs[bad]} at index {list(bad)}")
    episodes, steps = obs.shape[0], obs.shape[1] - 1
    if steps < 1:
        raise ValueError(
            f"observations must hold T+1 >= 2 observations per episode, got {steps + 1}"
        )
    act = np.asarray(actions)
    discrete = bool(system.discrete_actions) and np.issubdtype(act.dtype, np.integer)
    if discrete:
        if act.shape != (episodes, steps):
            raise ValueError(
                f"actions must have shape [E, T] = [{episodes}, {steps}] (discrete indices; "
                f"observations are [{episodes}, {steps + 1}, {obs_dim}]), got {list(act.shape)}"
            )
        k = len(system.discrete_actions)
        if act.min() < 0 or act.max() >= k:
            raise ValueError(
                f"actions must be indices in 0..{k - 1} for {system.title}, got values in "
                f"{int(act.min())}..{int(act.max())}"
            )
        act = act.astype(np.int64)
    else:
        if act.ndim != 3 or act.shape[:2] != (episodes, steps):
            raise ValueError(
                f"actions must have shape [E, T, act_dim] = [{episodes}, {steps}, act_dim] "
                f"(continuous; observations are [{episodes}, {steps + 1}, {obs_dim}])"
                + (", or [E, T] integer indices (discrete)" if system.discrete_actions else "")
                + f", got {list(act.shape)} of dtype {act.dtype}"
            )
        if act.shape[-1] != 1:
            raise ValueError(
                f"actions' last dimension must be 1 for {system.title}, got {act.shape[-1]}"
            )
        if not np.issubdtype(act.dtype, np.floating) or not np.isfinite(act).all():
            raise ValueError(f"actions must be finite floats, got dtype {act.dtype}")
        act = act.astype(np.float64)
    if mask is None:
        m = np.ones((episodes, steps), dtype=bool)
    else:
        m = np.asarray(mask)
        if m.dtype != np.bool_:
            raise ValueError(f"mask must be bool, got dtype {m.dtype}")
        if m.shape != (episodes, steps):
            raise ValueError(
                f"mask must have shape [E, T] = [{episodes}, {steps}], got {list(m.shape)}"
            )
    n = int(m.sum())
    if n < min_transitions:
        raise ValueError(
            f"the data hold {n} valid transitions; at least {min_transitions} are needed"
        )
    return Trajectories(obs.astype(np.float64), act, m)


def load_data(path: Union[str, Path], system: Union[str, System]) -> Trajectories:
    """Read and check an ``.npz`` of trajectories (``observations``, ``actions``, ``mask``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a missing array (naming it), or any error of :func:`check_data`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ("observations", "actions") if k not in data.files]
        if missing:
            raise ValueError(
                f"{path} lacks the array(s) {', '.join(missing)}; it holds {', '.join(data.files)} "
                "(expected observations [E, T+1, obs_dim], actions [E, T] or [E, T, act_dim], "
                "optional mask [E, T])"
            )
        mask = data["mask"] if "mask" in data.files else None
        return check_data(system, data["observations"], data["actions"], mask)


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` or :func:`fit_shots` found.

    Attributes:
        params: Estimate of each fitted parameter (SI units, as the container's field);
            None for one the data do not identify.
        std: Its standard deviation (Gauss–Newton covariance); None when not identified.
        interval95: Its 95 % interval ``(low, high)`` (on the log scale for a positive
            parameter, so ``low > 0``); None when not identified.
        identifiable: Whether each parameter was identified.
        unidentified: The directions the data do not determine: each a mapping from
            parameter name to its exponent (log scale) or coefficient, largest magnitude 1.
        noise_std: The estimated noise level of each observation entry (or of the distance).
        loss: The final mean squared residual in the observations' units, per entry.
        n_transitions: Valid transitions (or shots) used.
        n_windows: Windows the trajectories were cut into (0 for shots).
        iterations: Levenberg–Marquardt iterations over all rounds.
        converged: Whether the last round met its tolerance.
        settings: The options of the fit.
    """

    params: dict[str, Optional[float]]
    std: dict[str, Optional[float]]
    interval95: dict[str, Optional[tuple[float, float]]]
    identifiable: dict[str, bool]
    unidentified: list[dict[str, float]]
    noise_std: dict[str, float]
    loss: float
    n_transitions: int
    n_windows: int
    iterations: int
    converged: bool
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (intervals as lists)."""
        out = dataclasses.asdict(self)
        out["interval95"] = {k: (list(v) if v else None) for k, v in self.interval95.items()}
        return out

    def table(self, truth: Optional[Mapping[str, float]] = None) -> str:
        """A plain-text table: estimate, std, 95 % interval (and truth and error if given)."""
        head = f"{'parameter':<14}{'estimate':>12}{'std':>11}{'95 % interval':>26}"
        if truth:
            head += f"{'truth':>11}{'error':>9}"
        lines = [head]
        for name, value in self.params.items():
            if value is None:
                lines.append(f"{name:<14}{'not identifiable from this data':>49}")
                continue
            lo, hi = self.interval95[name]
            row = f"{name:<14}{value:>12.6g}{self.std[name]:>11.3g}{f'[{lo:.6g}, {hi:.6g}]':>26}"
            if truth and name in truth:
                row += f"{truth[name]:>11.6g}{(value - truth[name]) / truth[name]:>+9.2%}"
            lines.append(row)
        for direction in self.unidentified:
            combo = " · ".join(f"{k}^{v:+.3g}" for k, v in direction.items() if abs(v) > 1e-3)
            lines.append(f"not determined by the data: {combo} (any change along it fits equally)")
        return "\n".join(lines)


def _physical_actions(system: System, actions: np.ndarray) -> np.ndarray:
    """The physical action ``[E, T]`` of recorded actions (indices or ``[E, T, 1]`` values)."""
    if actions.ndim == 2:
        return np.asarray(system.discrete_actions, dtype=np.float64)[actions]
    # The envs hand the physics the action in env_action_dtype (float32: as Gymnasium).
    return actions[..., 0].astype(system.env_action_dtype).astype(np.float64)


def _windows(data: Trajectories, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut the valid runs of steps into windows: (episode, first step, transitions) ``[W]``."""
    valid = np.concatenate(
        [
            np.zeros((data.mask.shape[0], 1), bool),
            data.mask,
            np.zeros((data.mask.shape[0], 1), bool),
        ],
        axis=1,
    ).astype(np.int8)
    edges = np.diff(valid, axis=1)
    starts = np.argwhere(edges == 1)
    ends = np.argwhere(edges == -1)
    ep, s0, length = starts[:, 0], starts[:, 1], ends[:, 1] - starts[:, 1]
    count = -(-length // window)
    ep = np.repeat(ep, count)
    offsets = np.concatenate([np.arange(c) for c in count]) * window
    first = np.repeat(s0, count) + offsets
    n = np.minimum(window, np.repeat(s0 + length, count) - first)
    return ep, first, n


def _schur_step(
    A: torch.Tensor, B: Optional[torch.Tensor], r: torch.Tensor, lam: float
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The damped Gauss–Newton step of residuals ``r [W, M]`` with Jacobians ``A [W, M, p]``
    (shared unknowns) and ``B [W, M, n]`` (each window's own), by eliminating ``B``'s."""
    htt = torch.einsum("wmi,wmj->ij", A, A)
    gt = torch.einsum("wmi,wm->i", A, r)
    if B is None:
        h = htt + lam * torch.diag(torch.diagonal(htt).clamp_min(1e-300))
        return -torch.linalg.solve(h, gt), None
    htx = torch.einsum("wmi,wmj->wij", A, B)
    hxx = torch.einsum("wmi,wmj->wij", B, B)
    gx = torch.einsum("wmi,wm->wi", B, r)
    d = torch.diagonal(hxx, dim1=-2, dim2=-1).clamp_min(1e-300)
    hxx = hxx + lam * torch.diag_embed(d)
    rhs = torch.cat([htx.transpose(1, 2), gx.unsqueeze(-1)], dim=-1)
    sol = torch.linalg.solve(hxx, rhs)  # [W, n, p+1]
    s = htt - torch.einsum("wij,wjk->ik", htx, sol[..., :-1])
    b = gt - torch.einsum("wij,wj->i", htx, sol[..., -1])
    s = s + lam * torch.diag(torch.diagonal(htt).clamp_min(1e-300))
    dz = -torch.linalg.lstsq(s, b.unsqueeze(-1)).solution[:, 0]
    dx = -(sol[..., -1] + torch.einsum("wij,j->wi", sol[..., :-1], dz))
    return dz, dx


def _schur(A: torch.Tensor, B: Optional[torch.Tensor]) -> torch.Tensor:
    """The undamped Schur complement ``S`` (the shared unknowns' information matrix)."""
    htt = torch.einsum("wmi,wmj->ij", A, A)
    if B is None:
        return htt
    htx = torch.einsum("wmi,wmj->wij", A, B)
    hxx = torch.einsum("wmi,wmj->wij", B, B)
    return htt - torch.einsum("wij,wjk->ik", htx, torch.linalg.solve(hxx, htx.transpose(1, 2)))


ResidualFn = Callable[[torch.Tensor, Optional[torch.Tensor]], torch.Tensor]


def _jacobians(
    residual: ResidualFn, z: torch.Tensor, x: Optional[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """Residuals ``[W, M]`` and their Jacobians ``[W, M, p]``, ``[W, M, n]`` by reverse mode.

    One forward pass and one batched backward pass (``is_grads_batched``: the M cotangents
    vmapped). Every window gets its own copy of the shared unknowns, so that the gradient
    of residual m summed over windows gives each window's own row. ``residual`` takes
    ``z [..., p]`` (broadcast against the windows' batch) and ``x [W, n]``.
    """
    w_count = 1 if x is None else x.shape[0]
    zr = z.detach().expand(w_count, z.shape[-1]).clone().requires_grad_(True)
    xr = None if x is None else x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        r = residual(zr, xr)
        m = r.shape[-1]
        eye = torch.eye(m, dtype=r.dtype, device=r.device)[:, None, :].expand(m, w_count, m)
        inputs = (zr,) if xr is None else (zr, xr)
        grads = torch.autograd.grad(r, inputs, grad_outputs=eye, is_grads_batched=True)
    a = grads[0].permute(1, 0, 2)
    b = None if xr is None else grads[1].permute(1, 0, 2)
    return r.detach(), a, b


def _tick(bar: Any, cost: float) -> None:
    bar.update(1)
    bar.set_postfix(cost=f"{cost:.4g}", refresh=False)


JacobianFn = Callable[
    [torch.Tensor, Optional[torch.Tensor]],
    tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]],
]


def _levenberg_marquardt(
    residual: ResidualFn,
    jacobians: JacobianFn,
    z: torch.Tensor,
    x: Optional[torch.Tensor],
    *,
    max_iter: int,
    tol: float,
    progress: Optional[Callable[[float], None]] = None,
) -> tuple[torch.Tensor, Optional[torch.Tensor], int, bool]:
    """Minimise ``sum(residual(z, x)²)`` from ``(z, x)``; returns ``(z, x, iterations,
    converged)``. Marquardt's diagonal damping, raised ×10 on a rejected step, lowered ÷3 on
    an accepted one."""
    lam = 1e-3
    r, A, B = jacobians(z, x)
    cost = float((r**2).sum())
    for it in range(1, max_iter + 1):
        while True:
            dz, dx = _schur_step(A, B, r, lam)
            if float(dz.abs().max()) <= 1e-12 * (1.0 + float(z.abs().max())):
                return z, x, it, True  # the parameters no longer move
            zn = z + dz
            xn = None if x is None else x + dx
            with torch.no_grad():
                rn = residual(zn, xn)
            cn = float((rn**2).sum())
            if math.isfinite(cn) and cn <= cost:
                break
            lam *= 10.0
            if lam > 1e12:
                return z, x, it, True  # no step lowers the cost: a minimum to precision
        decrease = cost - cn
        z, x, cost = zn, xn, cn
        lam = max(lam / 3.0, 1e-12)
        if progress is not None:
            progress(cost)
        if decrease <= tol * max(cost, 1e-300) or cost == 0.0:
            return z, x, it, True
        r, A, B = jacobians(z, x)
    return z, x, max_iter, False


def _report(
    names: Sequence[str],
    logs: Sequence[bool],
    z: torch.Tensor,
    S: torch.Tensor,
    scale: float,
    rcond: float,
    max_rel_std: float,
) -> tuple[dict, dict, dict, dict, list]:
    """Estimates, standard deviations, intervals and identifiability from ``S``."""
    d = torch.diagonal(S).clamp_min(1e-300).rsqrt()
    c = d[:, None] * S * d[None, :]
    evals, evecs = torch.linalg.eigh(c)
    keep = evals > rcond * evals.max().clamp_min(1e-300)
    null = evecs[:, ~keep]
    inv = (evecs[:, keep] / evals[keep]) @ evecs[:, keep].T
    cov = d[:, None] * inv * d[None, :] * scale
    params, std, interval, ident = {}, {}, {}, {}
    for j, name in enumerate(names):
        in_null = bool(null.shape[1]) and float(null[j].abs().max()) > 1e-3
        zj, sj = float(z[j]), math.sqrt(max(float(cov[j, j]), 0.0))
        value = math.exp(zj) if logs[j] else zj
        if in_null or (logs[j] and sj > max_rel_std):  # sj: the log's std, a relative one
            params[name] = std[name] = interval[name] = None
            ident[name] = False
            continue
        params[name], ident[name] = value, True
        if logs[j]:
            std[name] = value * sj
            interval[name] = (math.exp(zj - Z95 * sj), math.exp(zj + Z95 * sj))
        else:
            std[name] = sj
            interval[name] = (zj - Z95 * sj, zj + Z95 * sj)
    directions = []
    for k in range(null.shape[1]):
        v = null[:, k] * d  # back from the unit-diagonal scaling: S (d u) = 0
        v = v / v.abs().max()
        if float(v[v.abs().argmax()]) < 0:
            v = -v
        directions.append({n: round(float(v[j]), 6) for j, n in enumerate(names)})
    return params, std, interval, ident, directions


def _check_names(
    system_title: str, params_type: type, names: Sequence[str], extra: Sequence[str] = ()
) -> None:
    if not names:
        raise ValueError("params must name at least one parameter to fit")
    if len(set(names)) != len(names):
        raise ValueError(f"params names a parameter twice: {list(names)}")
    fields = [f for f in params_type.field_names() if f not in params_type._flags]
    for name in names:
        check_choice(f"{system_title} parameter", name, (*extra, *fields))


def fit(
    system: Union[str, System],
    observations: Any,
    actions: Any,
    params: Sequence[str],
    *,
    mask: Any = None,
    base: Any = None,
    init: Optional[Mapping[str, float]] = None,
    window: int = 20,
    rounds: int = 3,
    max_iter: int = 100,
    tol: float = 1e-10,
    rcond: float = 1e-9,
    max_rel_std: float = 1.0,
    integrator: Optional[str] = None,
    progress: bool = False,
) -> FitResult:
    """Estimate parameter fields of ``system`` from recorded trajectories (module docstring).

    Args:
        system: A :class:`System` or its name (``"cartpole"``, ``"pendulum"``, …).
        observations, actions, mask: The data, as :func:`check_data` takes them.
        params: The fields of ``system.params_type`` to estimate (``["length",
            "masspole"]``); the others keep ``base``'s values.
        base: The parameters the fit starts from and keeps fixed elsewhere (default: the
            system's ``default_params``).
        init: Starting values of some fitted fields (default: ``base``'s).
        window: The most transitions per window (≥ 1).
        rounds: Fits, each re-weighting the residuals by the noise level the previous one
            estimated (≥ 1; the first weights each observation entry by its spread).
        max_iter: Levenberg–Marquardt iterations per round.
        tol: Stop a round when an accepted step lowers the cost by less than ``tol`` times it.
        rcond: Eigenvalue ratio below which a direction counts as undetermined.
        max_rel_std: A positive parameter with a larger relative standard deviation is
            reported not identifiable (signed ones are judged by ``rcond`` only).
        integrator: The integrator's name (default: the system's).
        progress: Show a progress bar (tqdm) over the iterations.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: bad data (:func:`check_data`), an unknown or repeated parameter name
            (the message lists the valid ones), a system whose observations cannot be
            mapped to states, ``window``/``rounds``/``max_iter`` below 1, a non-positive
            starting value of a positive field.
    """
    system = get_system(system) if isinstance(system, str) else system
    data = check_data(system, observations, actions, mask)
    names = list(params)
    ptype = system.params_type
    _check_names(system.title, ptype, names)
    for what, value in (("window", window), ("rounds", rounds), ("max_iter", max_iter)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    n_state = len(system.state_names)
    to_state = system.state_from_observation
    if to_state is None and len(system.observation_names) != n_state:
        raise ValueError(
            f"{system.title} has no state_from_observation: its observations cannot be "
            "mapped to states"
        )
    base = system.default_params if base is None else base
    start = {n: float(getattr(base, n)) for n in names}
    for n, v in (init or {}).items():
        check_choice("init parameter", n, names)
        start[n] = float(v)
    logs = [n in ptype._positive for n in names]
    for n, lg in zip(names, logs):
        if lg and start[n] <= 0:
            raise ValueError(f"the starting value of {n} must be > 0, got {start[n]}")
    integ = integrator or system.default_integrator
    stepper = get_integrator(integ)
    dt = torch.float64

    ep, first, length = _windows(data, window)
    w_count, m_steps = len(ep), int(length.max())
    idx = first[:, None] + np.arange(m_steps + 1)[None, :]
    valid = np.arange(m_steps + 1)[None, :] <= length[:, None]
    idx = np.minimum(idx, data.observations.shape[1] - 1)
    y = torch.as_tensor(data.observations[ep[:, None], idx], dtype=dt)  # [W, K+1, obs]
    weight = torch.as_tensor(valid, dtype=dt)
    phys = _physical_actions(system, data.actions)
    a_idx = np.minimum(idx[:, :-1], phys.shape[1] - 1)
    a = torch.as_tensor(np.where(valid[:, 1:], phys[ep[:, None], a_idx], 0.0), dtype=dt)
    y0 = y[:, 0]
    x = (to_state(y0) if to_state is not None else y0).clone()
    obs_names = list(system.observation_names)
    spread = y[weight.bool()].std(0).clamp_min(1e-12)
    sigma = spread.clone()

    def residual(z: torch.Tensor, x0: Optional[torch.Tensor]) -> torch.Tensor:
        # z [..., p]: one value per field, broadcast against the windows' batch [W]
        values = {
            n: (z[..., j].exp() if lg else z[..., j]) for j, (n, lg) in enumerate(zip(names, logs))
        }
        p = base.replace(**values)
        s = x0
        outs = [system.observe(s)]
        for k in range(m_steps):
            s = system.step_unchecked(s, a[:, k], p, stepper)
            outs.append(system.observe(s))
        pred = torch.stack(outs, -2)
        return ((pred - y) / sigma * weight[..., None]).flatten(-2)

    z = torch.tensor(
        [math.log(start[n]) if lg else start[n] for n, lg in zip(names, logs)], dtype=dt
    )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"fitting {system.name}", unit="it")
    total_iter, converged = 0, False
    n_res = int(weight.sum()) * len(obs_names)
    dof = max(n_res - len(names) - w_count * n_state, 1)
    for _ in range(rounds):
        z, x, its, converged = _levenberg_marquardt(
            residual,
            lambda z, x: _jacobians(residual, z, x),
            z,
            x,
            max_iter=max_iter,
            tol=tol,
            progress=(lambda c: _tick(bar, c)) if bar is not None else None,
        )
        total_iter += its
        with torch.no_grad():
            r = residual(z, x).reshape(w_count, m_steps + 1, -1) * sigma
        rss = (r**2).sum((0, 1))
        sigma = (rss / (weight.sum() * dof / n_res)).sqrt().clamp_min(1e-12 * spread)
    if bar is not None:
        bar.close()
    _, A, B = _jacobians(residual, z, x)
    S = _schur(A, B)
    est, std, interval, ident, directions = _report(names, logs, z, S, 1.0, rcond, max_rel_std)
    with torch.no_grad():
        r = residual(z, x).reshape(w_count, m_steps + 1, -1) * sigma
    loss = float((r**2).sum() / n_res)
    return FitResult(
        params=est,
        std=std,
        interval95=interval,
        identifiable=ident,
        unidentified=directions,
        noise_std={n: float(s) for n, s in zip(obs_names, sigma)},
        loss=loss,
        n_transitions=data.n_transitions,
        n_windows=w_count,
        iterations=total_iter,
        converged=converged,
        settings={
            "system": system.name,
            "params": names,
            "start": start,
            "window": window,
            "rounds": rounds,
            "max_iter": max_iter,
            "tol": tol,
            "rcond": rcond,
            "max_rel_std": max_rel_std,
            "integrator": integ,
        },
    )


def fit_shots(
    angle_deg: Any,
    weight_lb: Any,
    distance_m: Any,
    params: Sequence[str] = ("wind",),
    *,
    wind: float = 0.0,
    base: Any = None,
    init: Optional[Mapping[str, float]] = None,
    rounds: int = 2,
    max_iter: int = 50,
    tol: float = 1e-12,
    rcond: float = 1e-9,
    max_rel_std: float = 1.0,
    progress: bool = False,
) -> FitResult:
    """Estimate the wind (and/or ``TrebuchetParams`` fields) from observed landing distances.

    The 2019 post's suggestion: the data of shots at known controls inform a simulated
    wind. Least squares on ``shoot(wind, angle, weight, params) − distance`` by
    Levenberg–Marquardt, its Jacobian by reverse mode (one backward pass: every shot gets
    its own copy of the unknowns), the noise level of the distances estimated from the
    residuals, the uncertainty and identifiability as in :func:`fit`.

    Args:
        angle_deg, weight_lb, distance_m: ``[N]`` release angles (degrees, in [0, 90]),
            counterweights (lb, > 0) and observed landing distances (m); finite, N ≥ 2.
        params: ``"wind"`` (m/s, towards the target positive) and/or fields of
            :class:`~diffsim.trebuchet.TrebuchetParams`.
        wind: The wind held fixed when ``"wind"`` is not fitted, and its start otherwise.
        base: The trebuchet (default :meth:`TrebuchetParams.reference`, as ``shoot``'s).
        init: Starting values of some fitted parameters.
        rounds, max_iter, tol, rcond, max_rel_std, progress: As :func:`fit`.

    Returns:
        A :class:`FitResult` (``noise_std`` has the one entry ``"distance"``;
        ``n_transitions`` counts shots).

    Raises:
        ValueError: arrays of other shapes or lengths, non-finite values, fewer than 2
            shots, an unknown or repeated parameter name.
        diffsim.trebuchet.ShotFailedError: a shot fails at the starting parameters.
    """
    from .trebuchet import TrebuchetParams, shoot

    arrays = {}
    for name, value in (
        ("angle_deg", angle_deg),
        ("weight_lb", weight_lb),
        ("distance_m", distance_m),
    ):
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim != 1 or not np.isfinite(arr).all():
            raise ValueError(f"{name} must be a finite 1-D array [N], got shape {list(arr.shape)}")
        arrays[name] = arr
    n = len(arrays["distance_m"])
    if any(len(a) != n for a in arrays.values()) or n < 2:
        raise ValueError(
            "angle_deg, weight_lb and distance_m must have one equal length N >= 2, got "
            + ", ".join(f"{k} [{len(a)}]" for k, a in arrays.items())
        )
    names = list(params)
    _check_names("Trebuchet", TrebuchetParams, names, extra=("wind",))
    base = TrebuchetParams.reference() if base is None else base
    start = {k: (float(wind) if k == "wind" else float(getattr(base, k))) for k in names}
    for k, v in (init or {}).items():
        check_choice("init parameter", k, names)
        start[k] = float(v)
    logs = [k != "wind" and k in TrebuchetParams._positive for k in names]
    dt = torch.float64
    angle = torch.as_tensor(arrays["angle_deg"], dtype=dt)
    weight = torch.as_tensor(arrays["weight_lb"], dtype=dt)
    dist = torch.as_tensor(arrays["distance_m"], dtype=dt)
    sigma = torch.as_tensor(max(float(dist.std()), 1e-12), dtype=dt)
    floor = 1e-12 * float(sigma)

    def residual(z: torch.Tensor, x: Optional[torch.Tensor]) -> torch.Tensor:
        values = {
            k: (z[..., j].exp() if lg else z[..., j]) for j, (k, lg) in enumerate(zip(names, logs))
        }
        w = values.pop("wind", float(wind))
        d = shoot(w, angle, weight, base.replace(**values) if values else base)
        return ((d - dist) / sigma).reshape(1, -1)

    def jacobians(
        z: torch.Tensor, x: Optional[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, None]:
        zs = z.detach().expand(n, len(names)).clone().requires_grad_(True)
        r = residual(zs, None)
        (g,) = torch.autograd.grad(r.sum(), zs)
        return r.detach(), g.unsqueeze(0), None

    z = torch.tensor(
        [math.log(start[k]) if lg else start[k] for k, lg in zip(names, logs)], dtype=dt
    )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="fitting trebuchet shots", unit="it")
    total, converged = 0, False
    dof = max(n - len(names), 1)
    for _ in range(rounds):
        z, _, its, converged = _levenberg_marquardt(
            residual,
            jacobians,
            z,
            None,
            max_iter=max_iter,
            tol=tol,
            progress=(lambda c: _tick(bar, c)) if bar is not None else None,
        )
        total += its
        with torch.no_grad():
            rss = float(((residual(z, None) * sigma) ** 2).sum())
        sigma = torch.as_tensor(max(math.sqrt(rss / dof), floor), dtype=dt)
    if bar is not None:
        bar.close()
    _, A, _ = jacobians(z, None)
    est, std, interval, ident, directions = _report(
        names, logs, z, _schur(A, None), 1.0, rcond, max_rel_std
    )
    with torch.no_grad():
        loss = float(((residual(z, None) * sigma) ** 2).mean())
    return FitResult(
        params=est,
        std=std,
        interval95=interval,
        identifiable=ident,
        unidentified=directions,
        noise_std={"distance": float(sigma)},
        loss=loss,
        n_transitions=n,
        n_windows=0,
        iterations=total,
        converged=converged,
        settings={
            "system": "trebuchet",
            "params": names,
            "start": start,
            "wind": float(wind),
            "rounds": rounds,
            "max_iter": max_iter,
            "tol": tol,
            "rcond": rcond,
            "max_rel_std": max_rel_std,
        },
    )
