"""Tests of diffsim.solvers.aim: targets met, input forms, the deprecated alias, input errors."""

import doctest
import warnings

import pytest
import torch

import diffsim.trebuchet as trebuchet
from diffsim import solvers
from diffsim.solvers import AimResult, aim

F64 = torch.float64


def _t(x):
    return torch.tensor(x, dtype=F64)


def test_aim_batched_broadcasts_and_flags_unreachable_targets():
    wind, target = _t([[0.0], [2.0]]), _t([60.0, 500.0])  # broadcast to (2, 2)
    res = aim(wind, target, steps=30, patience=5)
    assert isinstance(res, AimResult) and res.angle_deg.shape == (2, 2)
    assert res.reached.tolist() == [[True, False], [True, False]]
    assert bool((res.miss[:, 0].abs() <= 0.1).all())
    shot = trebuchet.shoot(wind[:, 0], res.angle_deg[:, 0], res.weight_lb[:, 0])
    torch.testing.assert_close(shot, res.distance[:, 0])
    torch.testing.assert_close(res.miss, res.distance - target)
    lo, hi = trebuchet.ANGLE_BOUNDS_DEG, trebuchet.WEIGHT_BOUNDS_LB
    assert bool(((res.angle_deg > lo[0]) & (res.angle_deg < lo[1])).all())
    assert bool(((res.weight_lb > hi[0]) & (res.weight_lb < hi[1])).all())
    assert res.seconds_per_aim > 0
    angle, weight = res
    assert angle is res.angle_deg and weight is res.weight_lb


def test_aim_takes_0_dim_tensors_and_floats_alike():
    # A few steps suffice: the batched test checks that targets are met.
    short_t, short_f = aim(_t(2.0), _t(70.0), steps=3), aim(2.0, 70.0, steps=3)
    assert short_t.angle_deg.shape == () and short_t.angle_deg.dtype == F64
    assert short_f.angle_deg.dtype == F64 and short_f.angle_deg.shape == ()
    shot = trebuchet.shoot(2.0, short_t.angle_deg, short_t.weight_lb)
    assert float(shot) == float(short_t.distance)
    assert float(short_t.miss) == float(short_t.distance) - 70.0
    for name in ("angle_deg", "weight_lb", "distance"):
        assert torch.equal(getattr(short_t, name), getattr(short_f, name)), name


def test_aim_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(aim, "aim", globs={"torch": torch, "aim": aim}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_trebuchet_aim_is_a_deprecated_alias_with_the_same_result():
    with pytest.warns(DeprecationWarning, match=r"diffsim\.solvers\.aim"):
        old = trebuchet.aim
    assert old is solvers.aim
    with pytest.warns(DeprecationWarning, match=r"diffsim\.solvers\.AimResult"):
        assert trebuchet.AimResult is solvers.AimResult
    with pytest.warns(DeprecationWarning):
        from diffsim.trebuchet import aim as imported
    assert imported is solvers.aim
    a, b = old(0.0, 60.0, steps=3), solvers.aim(0.0, 60.0, steps=3)
    assert torch.equal(a.angle_deg, b.angle_deg) and torch.equal(a.weight_lb, b.weight_lb)


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
        ((0.0, 50.0), {"steps": 0}, ValueError, "steps must be a positive int"),
        ((0.0, 50.0), {"patience": 1.5}, ValueError, "patience must be a positive int"),
        ((0.0, 50.0), {"lr": -0.1}, ValueError, "lr must be"),
        ((0.0, 50.0), {"angle0_deg": 90.0}, ValueError, "angle_bounds_deg .*start"),
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
        ((0.0, 50.0), {"weight0_lb": 700.0}, ValueError, "weight_bounds_lb .*start"),
    ],
)
def test_aim_bad_inputs_give_clear_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        aim(*args, **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_aim_refuses_inputs_on_two_devices():
    with pytest.raises(ValueError, match="one device"):
        aim(torch.tensor(0.0, dtype=F64), torch.tensor(50.0, dtype=F64, device="cuda"))
