"""Tests of diffsim.trebuchet: known figures, gradients, physics, batching, failures, errors."""

import dataclasses
import doctest
import inspect
import math

import pytest
import torch

import diffsim.trebuchet as trebuchet
from diffsim.trebuchet import TrebuchetParams

F64 = torch.float64
POST_POINT = (-2.0, 45.0, 200.0)
POST_GRADIENT = (4.02, -0.99, 0.051)  # the 2019 FluxML post, d distance / d (wind, deg, lb)


def _t(x, grad=False):
    return torch.tensor(x, dtype=F64, requires_grad=grad)


def _input_grads(wind, angle, weight, params=None):
    xs = [_t(wind, True), _t(angle, True), _t(weight, True)]
    d = trebuchet.shoot(*xs, params)
    d.backward()
    return float(d.detach()), [float(x.grad) for x in xs]


def _input_fd(wind, angle, weight, h=(1e-4, 1e-4, 1e-3), params=None):
    """Central differences of the distance in each input, all in one batched call."""
    base = torch.tensor([wind, angle, weight], dtype=F64)
    step = torch.diag(torch.tensor(h, dtype=F64))
    pts = torch.cat((base + step, base - step))
    d = trebuchet.shoot(pts[:, 0], pts[:, 1], pts[:, 2], params)
    return [float((d[i] - d[i + 3]) / (2 * h[i])) for i in range(3)]


# --- known answers --------------------------------------------------------------------


def test_post_gradient_reproduced_to_2_percent():
    d, grads = _input_grads(*POST_POINT)
    assert 70.0 < d < 80.0
    for got, want in zip(grads, POST_GRADIENT):
        assert got == pytest.approx(want, rel=0.02)


def test_presets_and_quirk():
    ref, cor = TrebuchetParams.reference(), TrebuchetParams.corrected()
    assert ref == TrebuchetParams() and ref.swap_inertias and not ref.smooth_liftoff
    assert not cor.swap_inertias and cor.smooth_liftoff
    assert ref.weight_inertia == pytest.approx(0.0421401, rel=1e-5)
    assert ref.inertias_used == (ref.weight_inertia, ref.arm_inertia)
    assert cor.inertias_used == (cor.arm_inertia, cor.weight_inertia)
    d_ref = trebuchet.shoot(*POST_POINT)
    d_cor = trebuchet.shoot(*POST_POINT, cor)
    assert torch.isfinite(d_cor) and abs(float(d_cor - d_ref)) > 0.1


def test_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs = {"torch": torch, **vars(trebuchet)}
    for name in ("shoot", "simulate"):  # aim's example: tests/test_solvers.py
        for test in finder.find(getattr(trebuchet, name), name, globs=globs):
            runner.run(test)
    assert runner.failures == 0


# --- gradients against central finite differences (float64) ---------------------------


@pytest.mark.parametrize("params", [None, TrebuchetParams.corrected()], ids=["ref", "corrected"])
def test_input_gradients_match_finite_differences(params):
    point = (1.5, 38.0, 150.0)
    _, ad = _input_grads(*point, params)
    fd = _input_fd(*point, params=params)
    for a, f in zip(ad, fd):
        assert a == pytest.approx(f, rel=1e-4, abs=1e-7)


def test_gradient_where_events_cross_step_boundaries():
    """Scan the angle, find where the release and landing steps change, check gradients there."""
    dt = TrebuchetParams().dt

    def step_index(angles, event):
        res = trebuchet.simulate(0.0, angles, 200.0)
        start = res.liftoff_time if event == "release_time" else res.release_time
        return torch.floor((getattr(res, event) - start) / dt)

    for event in ("release_time", "landing_time"):
        lo, hi, n = 30.0, 40.0, 101
        for _ in range(2):  # refine a grid around the first change of the step index
            angles = torch.linspace(lo, hi, n, dtype=F64)
            n = 41
            k = step_index(angles, event)
            i = int((k[1:] != k[:-1]).nonzero()[0])
            lo, hi = float(angles[i]), float(angles[i + 1])
        mid, h = 0.5 * (lo + hi), 0.5 * (hi - lo)  # mid +- h lie on both sides of the switch
        assert step_index(torch.tensor([mid - h, mid + h], dtype=F64), event).unique().numel() == 2
        _, ad = _input_grads(0.0, mid, 200.0)
        d = trebuchet.shoot(0.0, torch.tensor([mid + h, mid - h], dtype=F64), 200.0)
        fd = float((d[0] - d[1]) / (2 * h))
        assert ad[1] == pytest.approx(fd, rel=1e-3)


@pytest.mark.parametrize("preset", ["reference", "corrected"])
def test_parameter_gradients_match_finite_differences(preset):
    base = getattr(TrebuchetParams, preset)()
    names = [f.name for f in dataclasses.fields(base) if f.name not in base._flags]
    point = (1.0, 40.0, 180.0)
    leaves = {n: _t(float(getattr(base, n)), True) for n in names}
    d = trebuchet.shoot(*point, base.replace(**leaves))
    grads = torch.autograd.grad(d, list(leaves.values()))
    # all central differences in one batched shot: row 2i is +h on field i, row 2i+1 is -h
    rel = 1e-6
    batched = {}
    for i, n in enumerate(names):
        v = torch.full((2 * len(names),), float(getattr(base, n)), dtype=F64)
        v[2 * i] *= 1 + rel
        v[2 * i + 1] *= 1 - rel
        batched[n] = v
    dd = trebuchet.shoot(*point, base.replace(**batched))
    for i, (n, g) in enumerate(zip(names, grads)):
        h = rel * float(getattr(base, n))
        fd = float((dd[2 * i] - dd[2 * i + 1]) / (2 * h))
        assert float(g) == pytest.approx(fd, rel=1e-4, abs=1e-6), n


@pytest.mark.parametrize("preset", ["reference", "corrected"])
def test_second_derivatives_match_finite_differences_of_the_gradient(preset):
    # the event locator's second Newton step makes the located times exact to second order
    params = getattr(TrebuchetParams, preset)()
    wind, angle, weight = 1.0, 30.0, 150.0
    a, w, v = _t(angle, True), _t(weight, True), _t(wind, True)
    d = trebuchet.shoot(v, a, w, params)
    (ga,) = torch.autograd.grad(d, a, create_graph=True)
    hessian_row = torch.autograd.grad(ga, (a, w, v))  # d2d/da2, d2d/da dw, d2d/da dwind
    h = (1e-4, 1e-3, 1e-4)
    for k, (name, step) in enumerate(zip(("angle", "weight", "wind"), h)):
        plus = [v.detach().clone(), a.detach().clone(), w.detach().clone()]
        minus = [x.clone() for x in plus]
        j = {"wind": 0, "angle": 1, "weight": 2}[name]
        plus[j] += step
        minus[j] -= step
        slopes = []
        for point in (plus, minus):
            aa = point[1].requires_grad_(True)
            (g,) = torch.autograd.grad(trebuchet.shoot(point[0], aa, point[2], params), aa)
            slopes.append(float(g))
        fd = (slopes[0] - slopes[1]) / (2 * step)
        assert float(hessian_row[k]) == pytest.approx(fd, rel=1e-4, abs=1e-8), name


def test_gradients_flow_through_event_times():
    w = _t(200.0, True)
    res = trebuchet.simulate(0.0, 45.0, w)
    (g_release,) = torch.autograd.grad(res.release_time, w, retain_graph=True)
    (g_landing,) = torch.autograd.grad(res.landing_time, w)
    assert float(g_release) != 0.0 and float(g_landing) != 0.0


# --- physics ---------------------------------------------------------------------------


@pytest.mark.parametrize("dt, rel", [(1 / 60, 5e-3), (1 / 300, 1e-3)])
def test_vacuum_ballistic_range_without_wind_or_drag(dt, rel):
    p = TrebuchetParams(drag_coefficient=0.0, dt=dt)
    res = trebuchet.simulate(0.0, 45.0, 200.0, p)
    (x0, y0), (vx, vy) = res.release_position.tolist(), res.release_velocity.tolist()
    g, a = p.gravity, p.pivot_height
    t = (vy + math.sqrt(vy**2 + 2 * g * (y0 + a))) / g
    assert float(res.distance) == pytest.approx(x0 + vx * t, rel=rel)
    # wind has no effect without drag
    assert float(trebuchet.shoot(5.0, 45.0, 200.0, p)) == pytest.approx(float(res.distance))


def test_energy_conserved_in_arm_stages_to_first_order():
    """Explicit Euler: the energy error at lift-off and at release halves with the step."""
    steps = [1 / 60, 1 / 120, 1 / 240, 1 / 480]
    p = TrebuchetParams(drag_coefficient=0.0)
    m_w = 200.0 * trebuchet.LB
    e0 = float(trebuchet._mechanical_energy(trebuchet.initial_state(p), m_w, p))
    res = trebuchet.simulate(0.0, 45.0, 200.0, p.replace(dt=_t(steps)))  # one batched call
    lift = trebuchet._mechanical_energy(res.liftoff_state, m_w, p) - e0
    release = trebuchet._mechanical_energy(res.release_state, m_w, p) - e0
    for i in range(3):
        assert float(lift[i] / lift[i + 1]) == pytest.approx(2.0, rel=0.15)
    for i in range(1, 3):  # at 1/60 s the hang stage is not yet in the asymptotic regime
        assert float(release[i] / release[i + 1]) == pytest.approx(2.0, rel=0.15)
    drop = m_w * p.gravity * (p.arm_short + p.weight_rod)  # the counterweight's potential drop
    assert abs(float(release[-1])) < 0.03 * drop


def test_tail_wind_carries_further():
    d = trebuchet.shoot(torch.tensor([-5.0, 0.0, 5.0], dtype=F64), 45.0, 200.0)
    assert bool((d[1:] > d[:-1]).all())


def test_simulate_result_is_consistent():
    res = trebuchet.simulate(*POST_POINT)
    assert not bool(res.failed) and res.reasons == ["ok"]
    assert 0 < float(res.liftoff_time) < float(res.release_time) < float(res.landing_time)
    valid = res.stage > 0
    stages = res.stage[valid]
    assert bool((stages[1:] >= stages[:-1]).all()) and set(stages.tolist()) == {1, 2, 3}
    times = res.time[valid]
    assert bool((times[1:] >= times[:-1]).all())
    assert float(times[-1]) == pytest.approx(float(res.landing_time))
    last = res.projectile[valid][-1]
    assert float(last[0]) == pytest.approx(float(res.distance))
    assert float(last[1]) == pytest.approx(-TrebuchetParams().pivot_height, abs=1e-9)
    for name in ("arm_tip", "counterweight", "sling_end", "projectile"):
        assert getattr(res, name).shape == res.time.shape + (2,)
        assert bool(torch.isfinite(getattr(res, name)[valid]).all())
    # the sling end starts on the ground and leaves it at the located lift-off
    assert float(res.sling_end[0, 1]) == pytest.approx(-TrebuchetParams().pivot_height)


def test_simulate_and_shoot_share_one_stage_loop():
    """simulate (which records) and shoot (which does not) run the same loop: same bits."""
    xs = (_t([-4.0, 0.0, 3.0, 1.0]), _t([30.0, 45.0, 60.0, 36.5]), _t([150.0, 200.0, 250.0, 120.0]))
    for dtype in (F64, torch.float32):
        for p in (TrebuchetParams.reference(), TrebuchetParams.corrected()):
            inputs = [x.to(dtype) for x in xs]
            assert torch.equal(trebuchet.simulate(*inputs, p).distance, trebuchet.shoot(*inputs, p))


# --- batching ---------------------------------------------------------------------------


def test_batched_equals_one_at_a_time():
    winds = [-4.0, 0.0, 3.0, 1.0, -1.0, 6.0]
    angles = [30.0, 45.0, 60.0, 36.5, 50.0, 20.0]
    weights = [150.0, 200.0, 250.0, 120.0, 300.0, 180.0]
    batched = trebuchet.shoot(_t(winds), _t(angles), _t(weights))
    single = torch.stack([trebuchet.shoot(*x) for x in zip(winds, angles, weights)])
    torch.testing.assert_close(batched, single, rtol=1e-10, atol=1e-10)
    grid = trebuchet.shoot(_t(winds[:2])[:, None], _t(angles[:3])[None, :], 200.0)
    assert grid.shape == (2, 3)
    assert float(grid[1, 1]) == pytest.approx(float(trebuchet.shoot(0.0, 45.0, 200.0)))


def test_batched_parameters():
    p = TrebuchetParams(sling_length=_t([2.0, 2.0827, 2.2]))
    d = trebuchet.shoot(0.0, 45.0, 200.0, p)
    assert d.shape == (3,)
    assert float(d[0]) == pytest.approx(
        float(trebuchet.shoot(0.0, 45.0, 200.0, p.replace(sling_length=2.0)))
    )


# --- failures ---------------------------------------------------------------------------


def test_too_light_counterweight_raises_and_is_flagged():
    with pytest.raises(trebuchet.ShotFailedError, match="slack sling"):
        trebuchet.shoot(0.0, 45.0, 10.0)
    weights = _t([200.0, 10.0, 150.0], True)
    res = trebuchet.simulate(0.0, 45.0, weights)
    assert res.failed.tolist() == [False, True, False]
    assert res.failure_code.tolist() == [0, trebuchet.SLACK_SLING, 0]
    assert "slack sling" in res.reasons[1] and res.reasons[0] == "ok"
    assert math.isnan(float(res.distance[1].detach()))
    assert math.isnan(float(res.release_time[1].detach()))
    stuck = trebuchet.simulate(0.0, 45.0, 15.5)  # balanced: the arm never lifts the projectile
    assert stuck.failure_code.tolist() == trebuchet.NO_LIFTOFF and bool(stuck.failed)
    with pytest.raises(trebuchet.ShotFailedError, match=r"shot 1: slack sling"):
        trebuchet.shoot(0.0, 45.0, weights)
    d = trebuchet.shoot(0.0, 45.0, weights, on_failure="nan")
    assert math.isnan(float(d[1].detach()))
    torch.where(torch.isfinite(d), d, 0.0).sum().backward()
    assert bool(torch.isfinite(weights.grad).all()) and float(weights.grad[1]) == 0.0


# --- inputs and errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (("x", 45.0, 200.0), {}, TypeError, "wind"),
        ((0.0, 45.0, -1.0), {}, ValueError, "weight_lb must be > 0"),
        ((0.0, float("nan"), 200.0), {}, ValueError, "angle_deg must be finite"),
        ((0.0, torch.tensor([45]), 200.0), {}, TypeError, "floating dtype"),
        ((0.0, _t([40.0, 45.0]), _t([1.0, 2.0, 3.0])), {}, ValueError, "broadcast"),
        ((0.0, 45.0, 200.0), {"params": "ref"}, TypeError, "TrebuchetParams"),
        ((0.0, 45.0, 200.0), {"on_failure": "ignore"}, ValueError, "nan, raise"),
    ],
)
def test_bad_inputs_give_clear_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        trebuchet.shoot(*args, **kwargs)


def test_bad_parameters_give_clear_errors():
    with pytest.raises(ValueError, match="sling_length must be > 0"):
        TrebuchetParams(sling_length=0.0)
    with pytest.raises(ValueError, match="drag_coefficient must be >= 0"):
        TrebuchetParams(drag_coefficient=-1.0)
    with pytest.raises(ValueError, match="pivot_height must be smaller than arm_long"):
        TrebuchetParams(pivot_height=3.0)
    with pytest.raises(TypeError, match="swap_inertias must be a bool"):
        TrebuchetParams(swap_inertias=1)
    with pytest.raises(ValueError, match="unknown TrebuchetParams field"):
        TrebuchetParams().replace(length=1.0)


def test_float32_works():
    xs = [torch.tensor(v, dtype=torch.float32, requires_grad=True) for v in POST_POINT]
    d = trebuchet.shoot(*xs)
    assert d.dtype == torch.float32
    assert float(d.detach()) == pytest.approx(float(trebuchet.shoot(*POST_POINT)), rel=1e-3)
    d.backward()
    for x, want in zip(xs, POST_GRADIENT):
        assert float(x.grad) == pytest.approx(want, rel=0.05)


def test_bounds_have_one_source():
    from diffsim import solvers
    from diffsim.envs import trebuchet_env

    lo, hi = trebuchet.ANGLE_BOUNDS_DEG, trebuchet.WEIGHT_BOUNDS_LB
    space = trebuchet_env.action_space()
    assert space.low.tolist() == [lo[0], hi[0]] and space.high.tolist() == [lo[1], hi[1]]
    assert trebuchet_env.ANGLE_RANGE is lo and trebuchet_env.WEIGHT_RANGE is hi
    defaults = inspect.signature(solvers.aim).parameters
    assert defaults["angle_bounds_deg"].default is lo
    assert defaults["weight_bounds_lb"].default is hi
    limits = trebuchet.ANGLE_LIMITS_DEG
    assert limits[0] <= lo[0] < lo[1] <= limits[1] and 0 < hi[0] < hi[1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    xs = [torch.tensor(v, dtype=F64, device="cuda", requires_grad=True) for v in POST_POINT]
    d = trebuchet.shoot(*xs)
    assert d.device.type == "cuda"
    assert float(d.detach()) == pytest.approx(float(trebuchet.shoot(*POST_POINT)), rel=1e-9)
    d.backward()
    assert float(xs[0].grad) == pytest.approx(POST_GRADIENT[0], rel=0.02)
