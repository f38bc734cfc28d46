"""Tests of diffsim.solvers.aim: the unique solution and its conditions, implicit gradients
against finite differences of the solve, input forms, the deprecated alias, input errors."""

import doctest
import warnings

import pytest
import torch

import diffsim.trebuchet as trebuchet
from diffsim import solvers
from diffsim.solvers import aim

F64 = torch.float64


def _t(x):
    return torch.tensor(x, dtype=F64)


# One batched solve serves most tests (each solve costs seconds, whatever its batch): the
# base pairs, then each interior pair perturbed by +-EPS in wind, target and sling length
BASE = [  # (wind m/s, target m, the condition expected)
    (0.0, 80.0, solvers.RIDGE),
    (-2.0, 70.0, solvers.RIDGE),
    (4.0, 95.0, solvers.RIDGE),
    (0.0, 30.0, solvers.LIGHTEST),
    (0.0, 3.0, solvers.TOO_SHORT),
    (0.0, 150.0, solvers.TOO_FAR),
]
EPS = 1e-4
SLING = trebuchet.TrebuchetParams().sling_length
FD_BASES = (0, 1, 3)


def _batch():
    wind = [w for w, _, _ in BASE]
    target = [t for _, t, _ in BASE]
    sling = [SLING] * len(BASE)
    for i in FD_BASES:
        w, t, _ = BASE[i]
        for dw, dt, ds in (
            (EPS, 0, 0),
            (-EPS, 0, 0),
            (0, EPS, 0),
            (0, -EPS, 0),
            (0, 0, EPS),
            (0, 0, -EPS),
        ):
            wind.append(w + dw)
            target.append(t + dt)
            sling.append(SLING + ds)
    return _t(wind), _t(target), _t(sling)


@pytest.fixture(scope="module")
def solved():
    wind, target, sling = (v.requires_grad_(True) for v in _batch())
    params = trebuchet.TrebuchetParams(sling_length=sling)
    res = aim(wind, target, params)
    k = len(BASE)
    grads = {}
    for name in ("angle_deg", "weight_lb"):
        out = getattr(res, name)[:k].sum()
        grads[name] = torch.autograd.grad(out, (wind, target, sling), retain_graph=True)
    return res, grads


def test_aim_meets_each_condition_and_hits_to_the_tolerance(solved):
    res, _ = solved
    k = len(BASE)
    assert res.condition[:k].tolist() == [c for _, _, c in BASE]
    hits = res.condition[:k] <= solvers.EDGE
    assert res.reached[:k].tolist() == hits.tolist()
    assert float(res.miss[:k][hits].detach().abs().max()) <= 1e-8 * 100
    wind, target, _ = _batch()
    shot = trebuchet.shoot(wind[:k], res.angle_deg[:k].detach(), res.weight_lb[:k].detach())
    torch.testing.assert_close(shot, res.distance[:k].detach())
    torch.testing.assert_close(res.miss.detach(), (res.distance - target).detach())
    # the closest shots of the out-of-reach targets
    assert res.angle_deg[4].item() == trebuchet.ANGLE_BOUNDS_DEG[1]
    assert res.weight_lb[4].item() == trebuchet.WEIGHT_BOUNDS_LB[0]
    assert float(res.distance[4]) > 3.0 and float(res.distance[5]) < 150.0
    angle, weight = res
    assert angle is res.angle_deg and weight is res.weight_lb


def test_the_solution_is_the_least_counterweight_and_then_the_steepest_angle(solved):
    res, _ = solved
    angles = torch.linspace(5.0, 85.0, 321, dtype=F64)
    for i in (0, 1, 2):  # on the ridge: 1 lb less reaches nowhere near the target
        w, t, _ = BASE[i]
        lighter = float(res.weight_lb[i]) - 1.0
        d = trebuchet.shoot(w, angles, lighter, on_failure="nan")
        assert float(d.nan_to_num(-1).max()) < t
    w, t, _ = BASE[3]  # at the lightest weight, the steeper of the two angles that hit
    d = trebuchet.shoot(w, angles, trebuchet.WEIGHT_BOUNDS_LB[0])
    steeper = angles > float(res.angle_deg[3]) + 0.5
    assert float(d[steeper].max()) < t
    assert float(res.weight_lb[3]) == trebuchet.WEIGHT_BOUNDS_LB[0]


def test_implicit_gradients_agree_with_finite_differences_of_the_solve(solved):
    res, grads = solved
    k = len(BASE)
    for j, i in enumerate(FD_BASES):
        off = k + 6 * j
        for name in ("angle_deg", "weight_lb"):
            v = getattr(res, name).detach()
            fd = [(v[off + 2 * q] - v[off + 2 * q + 1]) / (2 * EPS) for q in range(3)]
            for q, wrt in enumerate(("wind", "target", "sling_length")):
                got = float(grads[name][q][i])
                assert got == pytest.approx(float(fd[q]), rel=1e-4, abs=1e-7), (i, name, wrt)
    for name in ("angle_deg", "weight_lb"):  # out of reach: the closest shot, held
        for q in range(3):
            assert float(grads[name][q][5]) == 0.0
            assert float(grads[name][q][4]) == 0.0
    # at the lightest weight the counterweight does not move
    assert all(float(grads["weight_lb"][q][3]) == 0.0 for q in range(3))


def test_aim_takes_0_dim_tensors_and_floats_alike(solved):
    res, _ = solved
    zero_d, floats = aim(_t(-2.0), _t(70.0)), aim(-2.0, 70.0)
    assert zero_d.angle_deg.shape == () and zero_d.angle_deg.dtype == F64
    assert floats.angle_deg.shape == () and zero_d.condition.shape == ()
    for name in ("angle_deg", "weight_lb", "distance"):
        assert torch.equal(getattr(zero_d, name), getattr(floats, name)), name
        torch.testing.assert_close(
            getattr(zero_d, name), getattr(res, name)[1].detach(), rtol=1e-9, atol=1e-9
        )
    assert not zero_d.angle_deg.requires_grad


def test_aim_broadcasts_and_keeps_float32():
    wind = torch.tensor([[0.0], [2.0]], dtype=torch.float32)
    res = aim(wind, torch.tensor([60.0, 500.0], dtype=torch.float32))
    assert res.angle_deg.shape == (2, 2) and res.angle_deg.dtype == torch.float32
    assert res.reached.tolist() == [[True, False], [True, False]]
    assert res.seconds_per_aim > 0 and res.steps > 0


def test_aim_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(aim, "aim", globs={"torch": torch, "aim": aim}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_trebuchet_aim_is_a_deprecated_alias():
    with pytest.warns(DeprecationWarning, match=r"diffsim\.solvers\.aim"):
        old = trebuchet.aim
    assert old is solvers.aim
    with pytest.warns(DeprecationWarning, match=r"diffsim\.solvers\.AimResult"):
        assert trebuchet.AimResult is solvers.AimResult
    with pytest.warns(DeprecationWarning):
        from diffsim.trebuchet import aim as imported
    assert imported is solvers.aim


def test_other_trebuchet_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert trebuchet.shoot is not None and trebuchet.ANGLE_BOUNDS_DEG
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        trebuchet.nope  # noqa: B018


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (("x", 50.0), {}, TypeError, "wind"),
        ((0.0, torch.tensor([50, 60])), {}, ValueError, "target_m .* float32 or float64.*int64"),
        ((torch.tensor(0.0, dtype=torch.float16), 50.0), {}, ValueError, "wind .*float16"),
        ((0.0, float("inf")), {}, ValueError, "target_m .*must be finite"),
        ((float("nan"), 50.0), {}, ValueError, "wind .*must be finite"),
        ((0.0, _t([50.0, -1.0])), {}, ValueError, r"target_m .*must be > 0"),
        ((0.0, 0.0), {}, ValueError, r"target_m .*must be > 0"),
        ((_t([0.0, 1.0]), _t([50.0, 60.0, 70.0])), {}, ValueError, r"broadcast.*\(2,\).*\(3,\)"),
        ((0.0, 50.0), {"params": "ref"}, TypeError, "TrebuchetParams"),
        ((0.0, 50.0), {"max_iter": 0}, ValueError, "max_iter must be a positive int"),
        ((0.0, 50.0), {"rtol": 0.01}, ValueError, r"rtol must be in \(0, 1e-3\]"),
        ((0.0, 50.0), {"tolerance_m": -1.0}, ValueError, "tolerance_m must be"),
        (
            (0.0, 50.0),
            {"params": trebuchet.TrebuchetParams(sling_length=_t([2.0, 2.1]))},
            ValueError,
            "must broadcast to the targets' shape",
        ),
        (
            (0.0, 50.0),
            {"angle_bounds_deg": (-10.0, 85.0)},
            ValueError,
            r"angle_bounds_deg must lie within \[0.0, 90.0\]",
        ),
        ((0.0, 50.0), {"angle_bounds_deg": (80.0, 20.0)}, ValueError, "low < high"),
        (
            (0.0, 50.0),
            {"weight_bounds_lb": (0.0, 400.0)},
            ValueError,
            "weight_bounds_lb .*positive",
        ),
        ((0.0, 50.0), {"weight_bounds_lb": 400.0}, ValueError, "weight_bounds_lb must be a pair"),
    ],
)
def test_aim_bad_inputs_give_clear_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        aim(*args, **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_aim_refuses_inputs_on_two_devices():
    with pytest.raises(ValueError, match="one device"):
        aim(torch.tensor(0.0, dtype=F64), torch.tensor(50.0, dtype=F64, device="cuda"))


def test_the_aiming_example_of_the_trebuchet_docs_runs(capsys):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "trebuchet.md").read_text()
    section = text.split("## Aiming", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    exec(compile(block, "docs/trebuchet.md aiming example", "exec"), {"torch": torch})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("[True, False] [0, 4] [")  # a hit on the ridge; out of reach
    hit_gradient, far_gradient = (float(v) for v in printed[1].strip("[]").split(","))
    assert hit_gradient < 0 and far_gradient == 0.0  # a tailwind needs less; held: zero
