"""Tests of the trebuchet's co-design: the outer objective's gradient through aim's implicit
gradients against finite differences, a tiny run of the command, and bad input."""

import json

import pytest
import torch

from diffsim.controllers.codesign import CodesignProblem, codesign

F64 = torch.float64


def test_objective_gradient_matches_finite_differences():
    # three pairs of seed 0 (two on the ridge, one at the lightest weight), the sling only;
    # a small step: the distance is piecewise smooth (a step of 1e-4 crosses a kink here)
    problem = CodesignProblem.draw(3, seed=0, fields=("sling_length",))
    eps = 1e-6
    factors = torch.tensor([[1.0], [1.0 + eps], [1.0 - eps]], dtype=F64, requires_grad=True)
    j, res = problem.evaluate(factors)  # three candidate designs in one batched aim
    assert res.weight_lb.shape == (3, 3) and bool(res.reached.all())
    (g,) = torch.autograd.grad(j[0], factors)
    fd = float((j[1] - j[2]).detach() / (2 * eps))
    assert abs(fd) > 1.0  # the design matters
    assert float(g[0, 0]) == pytest.approx(fd, rel=1e-4)
    assert float(g[1:].abs().sum()) == 0.0  # candidates are independent


def test_codesign_command_writes_its_result_and_figure(tmp_path):
    from diffsim.scripts.main import main

    out = tmp_path / "cd"
    code = main(
        [
            "codesign",
            "trebuchet",
            "--targets",
            "2",
            "--iterations",
            "2",
            "--cmaes-budget",
            "4",
            "--popsize",
            "2",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads((out / "codesign.json").read_text())
    assert (out / "codesign.png").stat().st_size > 0
    grad, cma = result["runs"]
    assert grad["method"] == "gradient" and len(grad["history"]) == 2
    assert cma["method"] == "cmaes" and len(cma["history"]) == 4
    lo, hi = result["problem"]["bounds"]
    for run in (grad, cma):
        for entry in run["history"]:
            assert all(lo <= f <= hi for f in entry["factors"])
            assert entry["objective"] > 0
    assert result["weights"]["before"]["target"] == result["weights"]["after"]["target"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "positive int"),
        ({"fields": ("wingspan",)}, "unknown design field 'wingspan'"),
        ({"fields": ("swap_inertias",)}, "unknown design field"),
        ({"fields": ("sling_length", "sling_length")}, "distinct"),
        ({"bounds": (1.2, 1.5)}, "0 < low < 1 < high"),
        ({"preset": "best"}, "preset must be one of"),
        ({"kappa": -1.0}, "kappa"),
    ],
)
def test_bad_problems_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CodesignProblem.draw(**kwargs)


def test_bad_runs_are_refused():
    problem = CodesignProblem.draw(2)
    with pytest.raises(ValueError, match="iterations"):
        codesign(problem, iterations=0)
    with pytest.raises(ValueError, match="start must hold 2 factors"):
        codesign(problem, start=[1.0])
    with pytest.raises(ValueError, match="start must hold"):
        codesign(problem, start=[2.0, 1.0])
