"""A system defined outside the package works everywhere the built-in ones do.

The toy system here is a damped point mass on a line pushed by a force: state ``(x, v)``
(m, m/s), action a force F (N) clipped to ±max_force, ``m·dv/dt = F − c·v``, stepped by
semi-implicit Euler (``v' = v + dt·(F − c·v)/m``, ``x' = x + dt·v'``), reward ``−x'²``,
never terminating. A second system adds a training loss and a discrete interface (push 0 or
2 N). They are registered with :func:`diffsim.systems.register_system` from this test module
only (no package file names them), for this module only (the registry is restored after).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import gymnasium as gym
import numpy as np
import pytest
import torch

from diffsim import systems
from diffsim._params import Params
from diffsim.systems import System, TaskSpec

F64 = torch.float64
NAME, LOSS_NAME = "pointmass", "pointmassloss"
ENV_ID, LOSS_ENV_ID, DISCRETE_ENV_ID = (
    "test/PointMass-v0",
    "test/PointMassLoss-v0",
    "test/PointMassDiscrete-v0",
)
STEPS = 20


@dataclasses.dataclass(frozen=True)
class PointMassParams(Params):
    """mass (kg), damping c (N·s/m), dt (s), max_force (N)."""

    mass: Any = 1.0
    damping: Any = 0.5
    dt: Any = 0.05
    max_force: Any = 2.0
    _positive = ("mass", "dt", "max_force")


def _xp(state: Any) -> Any:
    return torch if isinstance(state, torch.Tensor) else np


def _step(state, action, params, integrator):
    xp = _xp(state)
    force = xp.clip(action, -params.max_force, params.max_force)

    def accel(q, v):
        return ((force - params.damping * v[0]) / params.mass,)

    (x,), (v,) = integrator(accel, (state[..., 0],), (state[..., 1],), params.dt)
    return xp.stack((x, v), -1)


def _public_step(state, action, params=None, integrator="semi_implicit_euler"):
    from diffsim.integrators import get_integrator

    params = DEFAULT if params is None else params
    return _step(state, action, params, get_integrator(integrator))


def _reward(state, action, next_state, params=None):
    return -(next_state[..., 0] ** 2)


def _terminated(state, params=None):
    if isinstance(state, torch.Tensor):
        return torch.zeros(state.shape[:-1], dtype=torch.bool, device=state.device)
    return np.zeros(np.shape(state)[:-1], dtype=bool) if np.ndim(state) > 1 else False


def _observe(state):
    return state * 1


def _sample_initial(batch_shape=(), *, generator=None, dtype=None, device=None):
    shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
    if isinstance(generator, np.random.Generator):
        return generator.uniform(-0.5, 0.5, (*shape, 2))
    return torch.rand((*shape, 2), generator=generator, dtype=dtype, device=device) - 0.5


def _reset_state(np_random: np.random.Generator, options: Optional[dict] = None) -> np.ndarray:
    return np_random.uniform(-0.5, 0.5, 2)


def _distance_loss(states, alive, params):
    return (states[1:, :, 0] ** 2 * alive).sum(0)


DEFAULT = PointMassParams()
COMMON = dict(
    module=__name__,
    state_names=("x", "v"),
    state_units=("m", "m/s"),
    observation_names=("x", "v"),
    params_type=PointMassParams,
    default_params=DEFAULT,
    dt_field="dt",
    default_integrator="semi_implicit_euler",
    action_unit="N",
    action_bounds=lambda p: (-float(p.max_force), float(p.max_force)),
    step=_public_step,
    step_unchecked=_step,
    reward=_reward,
    terminated=_terminated,
    observe=_observe,
    observation_high=lambda p: (math.inf, math.inf),
    sample_initial=_sample_initial,
    reset_state=_reset_state,
)
POINT_MASS = System(name=NAME, title="PointMass", **COMMON)
POINT_MASS_LOSS = System(
    name=LOSS_NAME,
    title="PointMassLoss",
    training_loss=_distance_loss,
    discrete_actions=(0.0, 2.0),
    **COMMON,
)


@pytest.fixture(scope="module", autouse=True)
def registered():
    """Register the two systems for this module; restore every registry afterwards."""
    saved = dict(systems._SYSTEMS), dict(systems._TASKS)
    saved_gym = set(gym.registry)
    common = dict(max_episode_steps=STEPS, solved_return=-0.01)
    systems.register_system(NAME, POINT_MASS, [TaskSpec(ENV_ID, NAME, "pointmass", **common)])
    systems.register_system(
        LOSS_NAME,
        POINT_MASS_LOSS,
        [
            TaskSpec(LOSS_ENV_ID, LOSS_NAME, "pointmass-loss", **common),
            TaskSpec(DISCRETE_ENV_ID, LOSS_NAME, "pointmass-discrete", "discrete", **common),
        ],
    )
    yield
    for registry, old in zip((systems._SYSTEMS, systems._TASKS), saved):
        registry.clear()
        registry.update(old)
    for env_id in set(gym.registry) - saved_gym:
        del gym.registry[env_id]


def _by_hand(s0: torch.Tensor, w: torch.Tensor, steps: int, p: PointMassParams):
    """The toy's equations written out (module docstring), for a linear policy tanh."""
    x, v = s0[:, 0], s0[:, 1]
    total = torch.zeros_like(x)
    for _ in range(steps):
        force = torch.clamp(2.0 * torch.tanh(torch.stack((x, v), -1) @ w), -2.0, 2.0)
        v = v + p.dt * ((force - p.damping * v) / p.mass)
        x = x + p.dt * v
        total = total - x**2
    return torch.stack((x, v), -1), total


def test_the_task_reads_its_description():
    from diffsim.envs.rollout import SHORT_NAMES, TASKS, get_task

    task = get_task("pointmass")
    assert task is get_task(ENV_ID) and task is TASKS[ENV_ID]
    assert SHORT_NAMES["pointmass"] == ENV_ID
    assert task.system is POINT_MASS
    assert (task.obs_size, task.state_size, task.dt) == (2, 2, 0.05)
    assert (task.action_low, task.action_high, task.discrete) == (-2.0, 2.0, False)
    assert (task.max_episode_steps, task.solved_return) == (STEPS, -0.01)
    assert task.integrator.name == "semi_implicit_euler"
    discrete = get_task("pointmass-discrete")
    assert discrete.discrete and (discrete.action_low, discrete.action_high) == (0.0, 2.0)


def test_rollout_equals_the_equations_stepped_by_hand():
    from diffsim.envs.rollout import rollout

    s0 = torch.tensor([[0.3, -0.1], [-0.4, 0.2], [0.05, 0.0]], dtype=F64)
    w = torch.tensor([-1.5, -0.7], dtype=F64)
    out = rollout(lambda o: 2.0 * torch.tanh(o @ w), "pointmass", s0)
    end, total = _by_hand(s0, w, STEPS, DEFAULT)
    assert out.states.shape == (STEPS + 1, 3, 2) and out.transitions == STEPS * 3
    torch.testing.assert_close(out.states[-1], end, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.returns, total, rtol=1e-12, atol=1e-12)
    assert out.alive.eq(1).all() and not out.terminated.any()


@pytest.mark.slow  # it compiles; tests/test_fast.py covers the compiled path by default
def test_fast_rollout_equals_eager():
    from diffsim.envs.rollout import rollout

    s0 = _sample_initial(32, generator=torch.Generator().manual_seed(0))
    w = torch.tensor([-1.5, -0.7])
    policy = lambda o: 2.0 * torch.tanh(o @ w)  # noqa: E731
    with torch.no_grad():
        eager = rollout(policy, "pointmass", s0, 10)
        fast = rollout(policy, "pointmass", s0, 10, fast=True)
    torch.testing.assert_close(fast.states, eager.states, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.rewards, eager.rewards, rtol=1e-5, atol=1e-6)


def test_gradients_through_the_rollout_match_finite_differences():
    from diffsim.envs.rollout import rollout

    s0 = _sample_initial(3, generator=torch.Generator().manual_seed(1), dtype=F64)
    w = torch.tensor([-0.8, 0.3], dtype=F64, requires_grad=True)
    mass = torch.tensor(1.3, dtype=F64, requires_grad=True)

    def returns(w, mass):
        params = PointMassParams(mass=mass)
        policy = lambda o: 2.0 * torch.tanh(o @ w)  # noqa: E731
        return rollout(policy, "pointmass", s0, 12, params=params).returns

    assert torch.autograd.gradcheck(returns, (w, mass))


def test_bptt_defaults_are_derived_from_the_description():
    from diffsim.controllers import bptt

    plain = bptt.default_config("pointmass")
    assert (plain.horizon, plain.loss) == (STEPS, "return")
    assert plain.policy == {"head": "tanh", "action_scale": 2.0}
    assert bptt.default_config("pointmass-loss").loss == "balance"
    discrete = bptt.default_config("pointmass-discrete").policy
    assert discrete == {"head": "binary", "action_scale": 1.0, "action_offset": 1.0}
    assert bptt.default_budget("pointmass") == bptt.DERIVED_BUDGET
    with pytest.raises(ValueError, match="PointMass system .* has none"):
        bptt.BPTTTrainer("pointmass", bptt.BPTTConfig(loss="balance"), seed=0)


def test_bptt_differentiates_the_systems_training_loss():
    from diffsim.controllers import bptt

    trainer = bptt.BPTTTrainer("pointmass-loss", bptt.default_config("pointmass-loss"), seed=0)
    s0 = _sample_initial(4, generator=torch.Generator().manual_seed(2))
    out = trainer._rollout(s0, trainer.generator.get_state(), STEPS)
    expected = (out.states[1:, :, 0] ** 2).sum(0).mean()  # alive throughout: no termination
    torch.testing.assert_close(trainer._loss(out), expected)


def test_discrete_agent_maps_the_physical_action_to_the_nearest_index():
    from diffsim.controllers import bptt
    from diffsim.controllers.checkpoint import PolicyAgent

    trainer = bptt.BPTTTrainer("pointmass-discrete", bptt.default_config(DISCRETE_ENV_ID), 0)
    agent = PolicyAgent(trainer.policy, DISCRETE_ENV_ID, True)
    obs = np.array([[0.3, 0.1], [-0.3, -0.1]], dtype=np.float32)
    physical = trainer.policy.deterministic(torch.as_tensor(obs)).numpy()
    assert set(physical.tolist()) <= {0.0, 2.0}
    np.testing.assert_array_equal(agent.act(obs), (physical == 2.0).astype(np.int64))


def test_train_with_bptt_defaults_writes_a_run(tmp_path):
    import json

    from diffsim.controllers.checkpoint import load_policy
    from diffsim.controllers.training import train

    out = tmp_path / "run"
    config = {"batch_size": 4}
    result = train(
        "pointmass",
        "bptt",
        out=out,
        config=config,
        budget=160,
        eval_every=80,
        eval_episodes=3,
        progress=False,
    )
    saved = json.loads((out / "config.json").read_text())
    assert saved["env_id"] == ENV_ID and saved["config"]["horizon"] == STEPS
    assert saved["config"]["policy"] == {"head": "tanh", "action_scale": 2.0}
    assert saved["solved_return"] == -0.01
    assert [r["transitions"] for r in result.metrics][-1] >= 160
    agent = load_policy(out)
    assert agent.env_id == ENV_ID and agent.act(np.zeros(2, dtype=np.float32)).shape == (1,)


def test_train_without_a_method_defaults_to_bptt(tmp_path):
    from diffsim.controllers._names import default_method
    from diffsim.controllers.training import train

    assert default_method("pointmass-discrete") == "bptt"
    result = train(
        "pointmass-discrete",
        out=tmp_path,
        config={"batch_size": 2},
        budget=40,
        eval_every=40,
        eval_episodes=2,
        progress=False,
    )
    assert result.metrics and result.agent.discrete


def test_cmaes_builds_its_generic_default_and_runs_a_generation():
    pytest.importorskip("nevergrad")
    from diffsim.controllers import gradient_free as gf

    config = gf.cmaes_default_config(ENV_ID)
    assert config.policy == gf.CMAES_GENERIC["policy"]
    assert (config.popsize, config.episodes) == (16, 8)
    assert gf.cmaes_default_budget(ENV_ID) == gf.CMAES_GENERIC_BUDGET
    assert gf.retrofit_default_config(ENV_ID).objective == "return"
    trainer = gf.CMAESTrainer(ENV_ID, dataclasses.replace(config, popsize=4, episodes=2), seed=0)
    metrics = trainer.update()
    assert metrics["transitions"] == 4 * 2 * STEPS  # never terminates: the full time limit
    assert metrics["train_return"] <= 0


def test_registry_views_and_name_tables_list_the_new_tasks():
    from diffsim.controllers import _names, zoo
    from diffsim.envs.rollout import SHORT_NAMES, TASKS

    assert {ENV_ID, LOSS_ENV_ID, DISCRETE_ENV_ID} <= set(TASKS)
    assert _names.TASK_NAMES == SHORT_NAMES and _names.TASK_NAMES["pointmass"] == ENV_ID
    assert "pointmass: bptt" in _names.defaults_help()
    assert zoo.entry("ppo", ENV_ID) is None  # no Gymnasium twin, no zoo entry


def test_unknown_names_raise_errors_listing_the_valid_ones():
    from diffsim import fast
    from diffsim.controllers import _names
    from diffsim.envs.rollout import get_task, rollout

    with pytest.raises(ValueError, match=r"unknown environment 'pointmas'.*pointmass"):
        get_task("pointmas")
    with pytest.raises(
        ValueError,
        match=r"unknown system 'pointmas'; expected one of: cartpole, pendulum.*pointmass",
    ):
        fast.compile_step("pointmas")
    with pytest.raises(ValueError, match=r"unknown environment 'pointmas'.*pointmass"):
        _names.default_method("pointmas")
    with pytest.raises(ValueError, match="one-shot task"):
        rollout(lambda o: o[:, 0], "trebuchet", horizon=2, batch_size=2)
    with pytest.raises(TypeError, match="registered system name"):
        fast.compile_step(object())
