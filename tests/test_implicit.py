"""Tests of diffsim.implicit: gradients against closed forms, finite differences and unrolled
differentiation of the same solver, for every adjoint solve, batched and 0-dim; errors."""

import doctest

import pytest
import torch

from diffsim import implicit

F64 = torch.float64


def _ridge_problem(p=3, m=8, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(p, m, n, dtype=F64, generator=g)
    b = torch.randn(p, m, dtype=F64, generator=g)
    return a, b


def _ridge_optimality(a):
    def f(x, lam, b):  # the gradient of |A x - b|^2 / 2 + lam |x|^2 / 2, per problem
        r = torch.einsum("pmn,pn->pm", a, x) - b
        return torch.einsum("pmn,pm->pn", a, r) + lam[:, None] * x

    return f


def _ridge_closed_form(a, lam, b):
    n = a.shape[-1]
    h = a.transpose(1, 2) @ a + lam[:, None, None] * torch.eye(n, dtype=F64)
    return torch.linalg.solve(h, torch.einsum("pmn,pm->pn", a, b))


@pytest.mark.parametrize("solve", ["dense", "cg", "gmres", "auto"])
def test_scalar_root_of_a_0_dim_tensor_has_the_exact_gradient(solve):
    # x* = sqrt(a): dx*/da = 1 / (2 sqrt(a)); torchopt's CG returned 0 here
    a = torch.tensor(2.0, dtype=F64, requires_grad=True)
    x = implicit.root(lambda x, a: x**2 - a, a.detach().sqrt(), [a], solve=solve)
    assert x.shape == ()
    (g,) = torch.autograd.grad(x, a)
    assert float(g) == pytest.approx(1 / (2 * 2**0.5), rel=1e-12)


@pytest.mark.parametrize("solve", ["dense", "cg", "gmres"])
def test_batched_ridge_regression_matches_the_closed_form_gradient(solve):
    a, b = _ridge_problem()
    lam = torch.tensor([0.5, 1.0, 2.0], dtype=F64, requires_grad=True)
    bb = b.clone().requires_grad_(True)
    weights = torch.randn(3, 4, dtype=F64, generator=torch.Generator().manual_seed(1))
    ref = torch.autograd.grad((_ridge_closed_form(a, lam, bb) * weights).sum(), (lam, bb))
    with torch.no_grad():
        x_star = _ridge_closed_form(a, lam, bb)
    x = implicit.root(_ridge_optimality(a), x_star, [lam, bb], batch_dims=1, solve=solve)
    got = torch.autograd.grad((x * weights).sum(), (lam, bb))
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-12)


def test_gradient_matches_finite_differences_and_unrolled_newton():
    # x* solves x + a sin(x) = c (one scalar problem per entry); the solver is Newton's method
    a = torch.tensor([0.3, 0.5, 0.9], dtype=F64, requires_grad=True)
    c = torch.tensor([1.0, -2.0, 0.5], dtype=F64, requires_grad=True)

    def optimality(x, a, c):
        return x + a * torch.sin(x) - c

    def newton(a, c, iters=30):
        x = torch.zeros_like(c)
        for _ in range(iters):
            x = x - optimality(x, a, c) / (1 + a * torch.cos(x))
        return x

    solver = implicit.custom_root(optimality, batch_dims=1)(newton)
    x = solver(a, c)
    assert type(x.grad_fn).__name__ == "_ImplicitRootBackward"  # not the recorded iterations
    g_imp = torch.autograd.grad(x.sum(), (a, c))
    g_unrolled = torch.autograd.grad(newton(a, c).sum(), (a, c))
    eps = 1e-6
    with torch.no_grad():
        fd_a = (newton(a + eps, c) - newton(a - eps, c)) / (2 * eps)
        fd_c = (newton(a, c + eps) - newton(a, c - eps)) / (2 * eps)
    for g, u, fd in zip(g_imp, g_unrolled, (fd_a, fd_c)):
        torch.testing.assert_close(g, u, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(g, fd, rtol=1e-7, atol=1e-9)


def test_gmres_handles_a_non_symmetric_jacobian_where_cg_warns():
    g = torch.Generator().manual_seed(2)
    n = 70  # above the dense threshold: "auto" takes GMRES
    m = torch.eye(n, dtype=F64) * 3 + 0.5 * torch.randn(n, n, dtype=F64, generator=g) / n**0.5
    theta = torch.randn(n, dtype=F64, generator=g, requires_grad=True)

    def optimality(x, theta):
        return m @ x - torch.tanh(theta)

    with torch.no_grad():
        x_star = torch.linalg.solve(m, torch.tanh(theta))
    ref = torch.autograd.grad(torch.linalg.solve(m, torch.tanh(theta)).sum(), theta)[0]
    x = implicit.root(optimality, x_star, [theta])  # auto -> gmres
    torch.testing.assert_close(torch.autograd.grad(x.sum(), theta)[0], ref, rtol=1e-8, atol=1e-10)
    x = implicit.root(optimality, x_star, [theta], solve="cg", maxiter=5)
    with pytest.warns(implicit.ImplicitSolveWarning, match="relative residual"):
        torch.autograd.grad(x.sum(), theta)


def test_parameters_without_grad_and_unused_ones_get_none_and_zeros():
    a = torch.tensor(4.0, dtype=F64, requires_grad=True)
    unused = torch.tensor(1.0, dtype=F64, requires_grad=True)
    const = torch.tensor(3.0, dtype=F64)
    x = implicit.root(
        lambda x, a, u, k: x**2 - a + 0 * k, torch.tensor(2.0, dtype=F64), [a, unused, const]
    )
    ga, gu = torch.autograd.grad(x, (a, unused))
    assert float(ga) == pytest.approx(0.25) and float(gu) == 0.0


def test_singular_jacobian_raises_a_clear_error():
    a = torch.tensor(0.0, dtype=F64, requires_grad=True)
    x = implicit.root(lambda x, a: x**2 - a, torch.tensor(0.0, dtype=F64), [a])
    with pytest.raises(RuntimeError, match="singular"):
        torch.autograd.grad(x, a)


def test_optimality_of_the_wrong_shape_raises():
    a = torch.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    x = implicit.root(lambda x, a: (x - a).sum(), a.detach().clone(), [a])
    with pytest.raises(ValueError, match=r"solution's shape \(2,\)"):
        torch.autograd.grad(x.sum(), a)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"solve": "lu"}, ValueError, "solve must be one of"),
        ({"batch_dims": -1}, ValueError, "batch_dims"),
        ({"batch_dims": 2}, ValueError, "exceeds the solution's 1 dimensions"),
        ({"tol": 0.0}, ValueError, "tol"),
        ({"maxiter": 0}, ValueError, "maxiter"),
        ({"restart": 0}, ValueError, "restart"),
    ],
)
def test_bad_options_are_refused(kwargs, error, match):
    a = torch.tensor([1.0], dtype=F64, requires_grad=True)
    with pytest.raises(error, match=match):
        implicit.root(lambda x, a: x - a, a.detach(), [a], **kwargs)


def test_bad_solution_and_params_are_refused():
    a = torch.tensor([1.0], dtype=F64, requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        implicit.root(lambda x, a: x - a, torch.tensor([1]), [a])
    with pytest.raises(TypeError, match=r"params\[0\] must be a torch.Tensor"):
        implicit.root(lambda x, a: x - a, a.detach(), [1.0])
    with pytest.raises(ValueError, match="solve must be one of"):
        implicit.custom_root(lambda x: x, solve="qr")


def test_docstring_examples_run():
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    tries = 0
    for obj, name in ((implicit.root, "root"), (implicit.custom_root, "custom_root")):
        for test in finder.find(obj, name, globs={"torch": torch, **vars(implicit)}):
            runner.run(test)
            tries += test.examples.__len__()
    assert runner.failures == 0 and tries > 0


def test_the_docs_examples_run():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "implicit.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/implicit.md python block {i}", "exec"), {})
