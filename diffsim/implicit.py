"""Implicit differentiation: gradients of a solver's solution by the implicit function theorem.

A solver returns x*(θ) with ``F(x*, θ) = 0`` for an *optimality condition* F (a root, a
stationary point, a set of KKT conditions). Differentiating that identity gives

    ∂x*/∂θ = −(∂F/∂x)⁻¹ ∂F/∂θ,

so a loss L(x*) has ``dL/dθ = uᵀ ∂F/∂θ`` with ``(∂F/∂x)ᵀ u = −∂L/∂x*``: one linear solve
with the transposed Jacobian (the adjoint system) and one vector-Jacobian product of F,
whatever the solver did to find x*. Its iterations are never recorded. Source: Blondel et
al. 2022, "Efficient and Modular Implicit Differentiation" (NeurIPS; arXiv:2105.15183),
eqs. (1)-(3); ``docs/implicit.md`` explains the choices made here.

- :func:`root` attaches these gradients to a solution already computed.
- :func:`custom_root` wraps a solver ``solver(*params) -> x`` so that it runs without
  recording and its result carries the gradients.

Shapes: ``x`` has shape ``B + E``, where the first ``batch_dims`` dimensions ``B`` hold
independent problems (F's Jacobian is block-diagonal over them: the block of problem b
depends on ``x[b]`` only) and ``E`` is each problem's event shape (``()`` for a scalar
unknown; 0-dim ``x`` is one scalar problem). The adjoint system is solved per problem:

- ``"dense"``: the ``n × n`` Jacobian (``n = prod(E)``) built from n vector-Jacobian products
  and solved by LU (``torch.linalg.solve``): exact, for small n;
- ``"cg"``: conjugate gradients, matrix-free (for a symmetric positive-definite ∂F/∂x,
  e.g. F the gradient of a strictly convex objective);
- ``"gmres"``: restarted GMRES, matrix-free, for any non-singular ∂F/∂x;
- ``"auto"`` (default): dense for ``n <= 64``, else GMRES.

The backward pass is first-order only (the gradient itself carries no graph).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, Optional

import torch

__all__ = ["SOLVES", "ImplicitSolveWarning", "custom_root", "root"]

SOLVES: tuple[str, ...] = ("auto", "dense", "cg", "gmres")
"""The adjoint solves :func:`root` offers (see the module docstring)."""
_DENSE_MAX = 64  # "auto" builds the Jacobian up to this event size


class ImplicitSolveWarning(UserWarning):
    """An iterative adjoint solve stopped before reaching its tolerance."""


@dataclasses.dataclass(frozen=True)
class _Options:
    batch_dims: int
    solve: str
    tol: float
    maxiter: Optional[int]
    restart: int


def _check_options(
    batch_dims: object, solve: object, tol: object, maxiter: object, restart: object
) -> _Options:
    if isinstance(batch_dims, bool) or not isinstance(batch_dims, int) or batch_dims < 0:
        raise ValueError(f"batch_dims must be an int >= 0, got {batch_dims!r}")
    if solve not in SOLVES:
        raise ValueError(f"solve must be one of {list(SOLVES)}, got {solve!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
    if maxiter is not None and (
        isinstance(maxiter, bool) or not isinstance(maxiter, int) or maxiter < 1
    ):
        raise ValueError(f"maxiter must be a positive int or None, got {maxiter!r}")
    if isinstance(restart, bool) or not isinstance(restart, int) or restart < 1:
        raise ValueError(f"restart must be a positive int, got {restart!r}")
    return _Options(batch_dims, str(solve), float(tol), maxiter, restart)


# --------------------------------------------------------------------------------------
# Adjoint solves; each solves A u = b per problem, where A u is ``matvec(u)``, both [P, n]


def _dense(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor) -> torch.Tensor:
    p, n = b.shape
    eye = torch.eye(n, dtype=b.dtype, device=b.device)
    # column j of A (per problem) is A e_j
    cols = [matvec(eye[j].expand(p, n)) for j in range(n)]
    a = torch.stack(cols, -1)
    u, info = torch.linalg.solve_ex(a, b)
    if bool((info != 0).any()):
        bad = int((info != 0).nonzero()[0, 0])
        raise RuntimeError(
            "implicit.root: the optimality condition's Jacobian dF/dx is singular at the "
            f"solution of problem {bad} (flat index over the batch dimensions), so the "
            "solution does not depend smoothly on the parameters there; check that F "
            "determines x uniquely (add the missing condition, e.g. an active bound)"
        )
    return u


def _dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x * y).sum(-1)


def _cg(matvec, b, tol: float, maxiter: int) -> tuple[torch.Tensor, torch.Tensor]:
    u = torch.zeros_like(b)
    r = b.clone()
    d = r.clone()
    rr = _dot(r, r)
    stop = (tol * b.norm(dim=-1)) ** 2
    for _ in range(maxiter):
        if bool((rr <= stop).all()):
            break
        ad = matvec(d)
        dad = _dot(d, ad)
        alpha = torch.where(rr > stop, rr / torch.where(dad != 0, dad, 1.0), 0.0)
        u = u + alpha.unsqueeze(-1) * d
        r = r - alpha.unsqueeze(-1) * ad
        rr_new = _dot(r, r)
        beta = torch.where(rr > 0, rr_new / torch.where(rr > 0, rr, 1.0), 0.0)
        d = r + beta.unsqueeze(-1) * d
        rr = rr_new
    return u, (b - matvec(u)).norm(dim=-1) / b.norm(dim=-1).clamp_min(1e-300)


def _gmres(matvec, b, tol: float, maxiter: int, restart: int):
    """Restarted GMRES, batched over problems (Saad & Schultz 1986), Arnoldi with modified
    Gram-Schmidt and the small least-squares problem solved by ``torch.linalg.lstsq``."""
    p, n = b.shape
    m = min(restart, n)
    u = torch.zeros_like(b)
    bnorm = b.norm(dim=-1).clamp_min(1e-300)
    for _ in range(max(1, math.ceil(maxiter / m))):
        r = b - matvec(u)
        beta = r.norm(dim=-1)
        if bool((beta <= tol * bnorm).all()):
            break
        basis = [r / beta.clamp_min(1e-300).unsqueeze(-1)]
        h = torch.zeros(p, m + 1, m, dtype=b.dtype, device=b.device)
        k = 0
        for k in range(m):
            w = matvec(basis[k])
            for i in range(k + 1):
                h[:, i, k] = _dot(w, basis[i])
                w = w - h[:, i, k].unsqueeze(-1) * basis[i]
            h[:, k + 1, k] = w.norm(dim=-1)
            basis.append(w / h[:, k + 1, k].clamp_min(1e-300).unsqueeze(-1))
        rhs = torch.zeros(p, m + 1, 1, dtype=b.dtype, device=b.device)
        rhs[:, 0, 0] = beta
        y = torch.linalg.lstsq(h[:, : k + 2, : k + 1], rhs[:, : k + 2]).solution[..., 0]
        u = u + torch.einsum("pk,kpn->pn", y, torch.stack(basis[: k + 1], 0))
    return u, (b - matvec(u)).norm(dim=-1) / bnorm


# --------------------------------------------------------------------------------------
# The autograd function


class _ImplicitRoot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, optimality, opts, x, *params):  # type: ignore[override]
        ctx.optimality = optimality
        ctx.opts = opts
        ctx.save_for_backward(x, *params)
        return x.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_x):  # type: ignore[override]
        x, *params = ctx.saved_tensors
        opts: _Options = ctx.opts
        wanted = [i for i, need in enumerate(ctx.needs_input_grad[3:]) if need]
        grads: list[Optional[torch.Tensor]] = [None] * len(params)
        if not wanted:
            return (None, None, None, *grads)
        batch = x.shape[: opts.batch_dims]
        n_prob = math.prod(batch)
        n = x[(0,) * opts.batch_dims].numel() if n_prob else 0
        with torch.enable_grad():
            xd = x.detach().requires_grad_(True)
            pd = [
                p.detach().requires_grad_(True) if i in wanted else p.detach()
                for i, p in enumerate(params)
            ]
            f = ctx.optimality(xd, *pd)
            if not isinstance(f, torch.Tensor) or f.shape != x.shape:
                raise ValueError(
                    "implicit.root: the optimality condition must return a tensor of the "
                    f"solution's shape {tuple(x.shape)}, got "
                    f"{tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__}"
                )

            def matvec(v: torch.Tensor) -> torch.Tensor:  # (dF/dx)^T v, per problem
                (jt,) = torch.autograd.grad(f, xd, v.reshape(x.shape), retain_graph=True)
                return jt.reshape(n_prob, n)

            b = -grad_x.reshape(n_prob, n).to(x.dtype)
            solve = opts.solve
            if solve == "auto":
                solve = "dense" if n <= _DENSE_MAX else "gmres"
            maxiter = opts.maxiter if opts.maxiter is not None else 10 * n
            if solve == "dense":
                u = _dense(matvec, b)
            else:
                if solve == "cg":
                    u, rel = _cg(matvec, b, opts.tol, maxiter)
                else:
                    u, rel = _gmres(matvec, b, opts.tol, maxiter, opts.restart)
                worst = float(rel.max()) if rel.numel() else 0.0
                if not worst <= 10 * opts.tol:
                    warnings.warn(
                        f"implicit.root: the {solve} adjoint solve stopped at a relative "
                        f"residual of {worst:.2e} (tol {opts.tol:.1e}) after {maxiter} "
                        "iterations; the gradient is inexact (raise maxiter, or use "
                        "solve='dense' or 'gmres' if dF/dx is not symmetric positive definite)",
                        ImplicitSolveWarning,
                        stacklevel=2,
                    )
            got = torch.autograd.grad(
                f, [pd[i] for i in wanted], u.reshape(x.shape), allow_unused=True
            )
        for i, g in zip(wanted, got):
            grads[i] = torch.zeros_like(params[i]) if g is None else g
        return (None, None, None, *grads)


def root(
    optimality: Callable[..., torch.Tensor],
    solution: torch.Tensor,
    params: Sequence[torch.Tensor],
    *,
    batch_dims: int = 0,
    solve: str = "auto",
    tol: float = 1e-10,
    maxiter: Optional[int] = None,
    restart: int = 20,
) -> torch.Tensor:
    """Return ``solution`` carrying the implicit-function-theorem gradients w.r.t. ``params``.

    Args:
        optimality: ``F(x, *params) -> Tensor`` of ``x``'s shape, zero at the solution; a
            torch function of both (called again in the backward pass, with grad enabled).
        solution: The solution x* (used detached: the solver's graph, if any, is dropped),
            a float tensor of shape ``B + E`` (see the module docstring).
        params: The tensors θ the solution depends on; gradients flow to those that require
            grad. Other inputs of F are constants (close over them).
        batch_dims: How many leading dimensions of ``solution`` hold independent problems.
        solve: The adjoint solve, one of :data:`SOLVES`.
        tol: Relative residual at which the iterative solves stop.
        maxiter: Iterations of the iterative solves (default ``10 n``).
        restart: GMRES's restart length.

    Returns:
        A tensor equal to ``solution`` whose gradient w.r.t. ``params`` is
        ``−(∂F/∂x)⁻¹ ∂F/∂θ`` at the solution.

    Raises:
        TypeError: ``solution`` or an entry of ``params`` is not a tensor, or ``solution`` is
            not floating point.
        ValueError: a bad option, or ``batch_dims`` larger than ``solution.ndim``; in the
            backward pass, F returning another shape than ``solution``'s.
        RuntimeError: (backward, dense solve) ∂F/∂x singular at the solution.

    Warns:
        ImplicitSolveWarning: (backward) an iterative solve missed its tolerance.

    Example:
        >>> a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
        >>> x = root(lambda x, a: x**2 - a, a.detach().sqrt(), [a])  # x* = sqrt(a)
        >>> (dx,) = torch.autograd.grad(x, a)
        >>> round(float(dx), 6)  # 1 / (2 sqrt(2))
        0.353553
    """
    opts = _check_options(batch_dims, solve, tol, maxiter, restart)
    if not isinstance(solution, torch.Tensor) or not solution.is_floating_point():
        raise TypeError(
            f"solution must be a floating-point torch.Tensor, got {type(solution).__name__}"
            + (f" of dtype {solution.dtype}" if isinstance(solution, torch.Tensor) else "")
        )
    if batch_dims > solution.ndim:
        raise ValueError(
            f"batch_dims={batch_dims} exceeds the solution's {solution.ndim} dimensions "
            f"(shape {tuple(solution.shape)})"
        )
    params = tuple(params)
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise TypeError(
                f"params[{i}] must be a torch.Tensor, got {type(p).__name__} (close over "
                "constants in the optimality function instead)"
            )
    return _ImplicitRoot.apply(optimality, opts, solution.detach(), *params)


def custom_root(
    optimality: Callable[..., torch.Tensor], **options: Any
) -> Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]:
    """Decorate ``solver(*params) -> x`` so that its solution carries implicit gradients.

    The wrapped solver runs under ``torch.no_grad()`` (its iterations are not recorded);
    its solution goes through :func:`root` with ``optimality(x, *params)`` and the
    keyword ``options`` of :func:`root`. Every positional argument of the solver is a
    parameter (a tensor); pass constants by keyword.

    Example:
        >>> @custom_root(lambda x, a: x**3 - a)
        ... def cube_root(a):
        ...     return a.sign() * a.abs() ** (1 / 3)
        >>> a = torch.tensor([8.0, 27.0], dtype=torch.float64, requires_grad=True)
        >>> torch.autograd.grad(cube_root(a).sum(), a)[0].tolist()  # 1 / (3 x*^2)
        [0.08333333333333333, 0.037037037037037035]
    """
    _check_options(
        options.get("batch_dims", 0),
        options.get("solve", "auto"),
        options.get("tol", 1e-10),
        options.get("maxiter"),
        options.get("restart", 20),
    )

    def wrap(solver: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        @wraps(solver)
        def solved(*params: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            with torch.no_grad():
                x = solver(*params, **kwargs)
            return root(lambda xx, *pp: optimality(xx, *pp, **kwargs), x, params, **options)

        return solved

    return wrap
