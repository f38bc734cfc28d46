"""Categorical (k-way) gradient estimators and the categorical policy head.

Each rule's forward value and backward gradient is checked against an independent
computation: the softmax surrogate's Jacobian by ``torch.autograd.functional.jacobian`` of a
plain
``softmax(z) · v``, the expected action's gradient by float64 central differences, the
Gumbel sample by redrawing the documented noise from a generator in the same state.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffsim.controllers.estimators import (
    CATEGORICAL_ESTIMATORS,
    get_categorical_estimator,
    get_estimator,
    hard_argmax,
    st_argmax,
)
from diffsim.controllers.policies import (
    ControlPolicy,
    PolicySpec,
    build_policy,
    head_settings,
    spec_for_task,
)
from diffsim.envs.rollout import get_task

F64 = torch.float64
VALUES = torch.tensor([-2.0, 0.5, 3.0], dtype=F64)  # deliberately not symmetric
LOGITS = torch.tensor(
    [[0.3, -1.2, 0.9], [2.0, 0.1, -0.4], [-0.7, 1.5, 1.4], [0.0, 0.2, -3.0]], dtype=F64
)
UPSTREAM = torch.tensor([1.0, -0.5, 2.0, 0.25], dtype=F64)


def _surrogate_vjp(scores: torch.Tensor, values: torch.Tensor, upstream, tau: float = 1.0):
    """upstream · d/dz [softmax(z/τ) · v], row by row, through a plain softmax's Jacobian."""

    def soft(z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(z / tau, dim=-1) @ values

    rows = [torch.autograd.functional.jacobian(soft, z) for z in scores]
    return torch.stack([g * j for g, j in zip(upstream, rows)])


# -- forward and backward of each rule ---------------------------------------------------
def test_st_argmax_forward_is_the_argmax_value_and_backward_the_softmax_jacobian():
    z = LOGITS.clone().requires_grad_()
    a = st_argmax(z, VALUES)
    # argmax per row: 2, 0, 1, 1 (read off LOGITS).
    assert a.tolist() == [3.0, -2.0, 0.5, 0.5]
    a.backward(UPSTREAM)
    torch.testing.assert_close(z.grad, _surrogate_vjp(LOGITS, VALUES, UPSTREAM))
    # The estimator object gives the same rule.
    z2 = LOGITS.clone().requires_grad_()
    get_categorical_estimator("st_argmax")(z2, VALUES).backward(UPSTREAM)
    torch.testing.assert_close(z2.grad, z.grad)


def test_expected_action_is_the_softmax_mean_with_its_true_gradient():
    z = LOGITS.clone().requires_grad_()
    a = get_categorical_estimator("expected")(z, VALUES)
    e = np.exp(LOGITS.numpy())
    mean = (e * VALUES.numpy()).sum(1) / e.sum(1)
    np.testing.assert_allclose(a.detach().numpy(), mean, rtol=1e-12)
    a.backward(UPSTREAM)

    def mean_action(row: np.ndarray) -> float:
        w = np.exp(row)
        return float((w * VALUES.numpy()).sum() / w.sum())

    h = 1e-6
    fd = np.zeros_like(LOGITS.numpy())
    for i, row in enumerate(LOGITS.numpy()):
        for j in range(row.size):
            step = np.zeros_like(row)
            step[j] = h
            slope = (mean_action(row + step) - mean_action(row - step)) / (2 * h)
            fd[i, j] = UPSTREAM[i].item() * slope
    np.testing.assert_allclose(z.grad.numpy(), fd, rtol=1e-7, atol=1e-9)


def test_st_argmax_and_expected_share_the_softmax_gradient():
    """Straight-through argmax passes exactly the expected action's derivative."""
    z1 = LOGITS.clone().requires_grad_()
    z2 = LOGITS.clone().requires_grad_()
    get_categorical_estimator("st_argmax")(z1, VALUES).backward(UPSTREAM)
    get_categorical_estimator("expected")(z2, VALUES).backward(UPSTREAM)
    torch.testing.assert_close(z1.grad, z2.grad)


def test_st_gumbel_samples_the_perturbed_argmax_and_passes_its_softmax_gradient():
    tau = 0.7
    z = LOGITS.clone().requires_grad_()
    a = get_categorical_estimator("st_gumbel", temperature=tau)(
        z, VALUES, torch.Generator().manual_seed(3)
    )
    # The documented noise: G = −log(−log U), U = torch.rand(z.shape, generator).
    u = torch.rand(LOGITS.shape, generator=torch.Generator().manual_seed(3), dtype=F64)
    perturbed = LOGITS - torch.log(-torch.log(u))
    assert a.tolist() == VALUES[perturbed.argmax(1)].tolist()
    a.backward(UPSTREAM)
    torch.testing.assert_close(z.grad, _surrogate_vjp(perturbed, VALUES, UPSTREAM, tau))


def test_st_gumbel_action_frequencies_match_the_softmax():
    """Gumbel-max: over 100,000 draws each action's frequency is within 0.006 of its softmax
    probability (about four standard errors, sqrt(p(1 − p)/N) <= 0.0016)."""
    z = torch.tensor([0.5, -1.0, 1.2])
    values = torch.tensor([-1.0, 0.0, 1.0])
    n = 100_000
    a = get_categorical_estimator("st_gumbel")(
        z.expand(n, 3), values, torch.Generator().manual_seed(0)
    )
    freq = torch.stack([(a == v).double().mean() for v in values])
    assert float(freq.sum()) == 1.0  # every action is one of the values
    e = [math.exp(x) for x in z.tolist()]
    probs = torch.tensor([x / sum(e) for x in e], dtype=F64)
    assert (freq - probs).abs().max() < 0.006


@pytest.mark.parametrize("name", CATEGORICAL_ESTIMATORS)
def test_deterministic_action_is_the_argmax_with_ties_to_the_lowest_index(name):
    z = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, 3.0, 3.0], [-1.0, 0.5, 0.2]])
    values = torch.tensor([-1.0, 0.0, 1.0])
    expected = [-1.0, 0.0, -1.0, 0.0]
    est = get_categorical_estimator(name)
    assert est(z, values, deterministic=True).tolist() == expected
    assert hard_argmax(z, values).tolist() == expected
    # A batch with leading dimensions keeps them.
    assert est(z.reshape(2, 2, 3), values, deterministic=True).shape == (2, 2)


# -- the binary estimators are unchanged -----------------------------------------------------
def test_binary_estimators_keep_their_values_and_gradients():
    u = torch.tensor([-1.5, -0.2, 0.0, 0.7, 2.5], dtype=F64)
    g = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0], dtype=F64)

    x = u.clone().requires_grad_()
    a = get_estimator("st_sign")(x)
    assert a.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    a.backward(g)
    assert x.grad.tolist() == g.tolist()

    x = u.clone().requires_grad_()
    a = get_estimator("expected")(x)
    mean = [2 / (1 + math.exp(-v)) - 1 for v in u.tolist()]  # 2σ(u) − 1
    torch.testing.assert_close(a, torch.tensor(mean, dtype=F64))
    a.backward(g)
    torch.testing.assert_close(x.grad, g * (1 - torch.tanh(u / 2) ** 2) / 2)

    # st_gumbel: Logistic noise from the clamped uniform draw, the binary Gumbel-softmax.
    tau = 0.5
    x = u.clone().requires_grad_()
    a = get_estimator("st_gumbel", temperature=tau)(x, torch.Generator().manual_seed(7))
    p = torch.rand(u.shape, generator=torch.Generator().manual_seed(7), dtype=F64)
    p = p.clamp(1e-6, 1 - 1e-6)
    noisy = u + torch.log(p) - torch.log1p(-p)
    assert a.tolist() == torch.where(noisy >= 0, 1.0, -1.0).tolist()
    a.backward(g)
    s = torch.sigmoid(noisy / tau)
    torch.testing.assert_close(x.grad, g * 2 * s * (1 - s) / tau)

    # A binary spec that names no estimator still gets st_sign, and saves it by name.
    spec = PolicySpec(obs_size=4, head="binary")
    assert spec.estimator == "st_sign" and spec.to_dict()["estimator"] == "st_sign"


# -- the categorical head ------------------------------------------------------------------
def test_a_categorical_policy_on_acrobot_can_apply_zero_torque():
    from diffsim.controllers.checkpoint import PolicyAgent

    task = get_task("diffsim/Acrobot-v1")
    spec = spec_for_task(task, {"kind": "linear"})
    assert spec.head == "categorical" and spec.actions == (-1.0, 0.0, 1.0)
    assert spec.estimator == "st_argmax"
    policy = ControlPolicy(spec)
    last = policy.net[-1]
    assert last.out_features == 3
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, 2.0, 0.0]))
    obs = torch.randn(5, task.obs_size, generator=torch.Generator().manual_seed(0))
    a = policy(obs)
    assert a.tolist() == [0.0] * 5 and policy.deterministic(obs).tolist() == [0.0] * 5
    a.sum().backward()
    # d/dz [softmax(z)·v] at z = (0, 2, 0), v = (−1, 0, 1): p ⊙ v = (−p0, 0, p0) per row.
    p0 = 1 / (2 + math.exp(2))
    torch.testing.assert_close(last.bias.grad, torch.tensor([-5 * p0, 0.0, 5 * p0]))
    # The envs' agent maps it to Acrobot's index 1 (zero torque).
    agent = PolicyAgent(policy, task.env_id, True)
    assert agent.act(obs[0].numpy()) == 1


def test_derived_configs_give_three_action_tasks_a_categorical_head():
    from diffsim.controllers import bptt

    for name in ("acrobot", "mountaincar"):
        policy = bptt.derived_config(name)["policy"]
        assert policy == {"head": "categorical", "actions": (-1.0, 0.0, 1.0)}
        derived = bptt.BPTTConfig(**bptt.derived_config(name))
        spec = bptt.policy_spec_for(get_task(name), derived)
        assert (spec.head, spec.estimator, spec.actions) == (
            "categorical",
            "st_argmax",
            (-1.0, 0.0, 1.0),
        )
    assert bptt.derived_config("cartpole")["policy"] == {"head": "binary", "action_scale": 1.0}
    assert bptt.derived_config("pendulum")["policy"] == {"head": "tanh", "action_scale": 2.0}


def test_cmaes_plays_a_population_of_categorical_policies():
    from diffsim.controllers.gradient_free import CMAES_GENERIC, CMAES_TUNED, _Batched, _play

    task = get_task("mountaincar")
    assert task.system.name not in CMAES_TUNED  # CMAESTrainer's spec: the generic settings'
    spec = spec_for_task(task, CMAES_GENERIC["policy"])
    assert spec.head == "categorical" and spec.actions == (-1.0, 0.0, 1.0)
    policy = build_policy(spec, torch.Generator().manual_seed(0)).double()
    batched = _Batched(policy)
    gen = torch.Generator().manual_seed(1)
    theta = torch.randn(4, batched.size, generator=gen, dtype=F64)
    obs = torch.randn(4, 2, task.obs_size, generator=gen, dtype=F64)
    logits = batched.scores(theta, obs)
    assert logits.shape == (4, 2, 3)
    for i in range(4):  # candidate i's logits are the policy's with weights theta[i]
        batched.assign(theta[i].numpy())
        torch.testing.assert_close(logits[i], policy.score(obs[i]))
    starts = task.sample_initial(2, gen, F64)
    returns, lengths, transitions = _play(
        task, starts, 4, lambda o: batched.scores(theta, o), batched.head
    )
    assert returns.shape == lengths.shape == (4, 2)
    assert transitions == int(lengths.sum())


def test_head_settings_and_spec_for_task_pick_the_head_from_the_actions():
    # The old call (no actions) is unchanged.
    assert head_settings(True, -1.0, 1.0) == {"head": "binary", "action_scale": 1.0}
    assert head_settings(True, -1.0, 1.0, actions=(-1.0, 1.0)) == {
        "head": "binary",
        "action_scale": 1.0,
    }
    assert head_settings(True, -1.0, 1.0, actions=(-1, 0, 1)) == {
        "head": "categorical",
        "actions": (-1.0, 0.0, 1.0),
    }
    with pytest.raises(ValueError, match="continuous task"):
        head_settings(False, -1.0, 1.0, actions=(-1.0, 0.0, 1.0))
    # A configured head is kept: a binary one on Acrobot pushes ±1, a categorical one on
    # CartPole picks among its two pushes.
    binary = spec_for_task(get_task("acrobot"), {"head": "binary"})
    assert (binary.head, binary.action_scale, binary.actions) == ("binary", 1.0, ())
    two = spec_for_task(get_task("cartpole"), {"head": "categorical"})
    assert (two.head, two.actions, two.estimator) == ("categorical", (-1.0, 1.0), "st_argmax")
    cartpole = spec_for_task(get_task("cartpole"), {})
    assert (cartpole.head, cartpole.actions, cartpole.estimator) == ("binary", (), "st_sign")


def test_a_categorical_policy_file_round_trips(tmp_path):
    from diffsim.controllers import load_policy
    from diffsim.controllers.checkpoint import save_policy

    task = get_task("acrobot")
    spec = spec_for_task(task, {"hidden": (8,), "estimator": "st_gumbel", "temperature": 0.5})
    policy = build_policy(spec, torch.Generator().manual_seed(1))
    save_policy(tmp_path / "policy.pt", policy, task.env_id, True, "bptt")
    agent = load_policy(tmp_path)
    assert agent.policy.spec == spec
    obs = torch.randn(16, task.obs_size, generator=torch.Generator().manual_seed(2))
    assert torch.equal(agent.policy.deterministic(obs), policy.deterministic(obs))
    assert agent.act(obs.numpy()).tolist() == (policy.deterministic(obs) + 1).long().tolist()


def test_specs_saved_before_the_categorical_head_still_load():
    old = {
        "obs_size": 4,
        "kind": "linear",
        "hidden": [64, 64],
        "activation": "tanh",
        "head": "binary",
        "action_scale": 1.0,
        "action_offset": 0.0,
        "estimator": "expected",
        "temperature": 1.0,
        "obs_scale": None,
        "init_scale": 0.0,
        "bias": False,
    }
    spec = PolicySpec(**old)
    assert spec.actions == () and spec.estimator == "expected"
    assert ControlPolicy(spec).net[-1].out_features == 1
    assert spec.to_dict() == {**old, "actions": []}


# -- errors --------------------------------------------------------------------------------
def test_bad_names_and_temperatures_raise_listing_what_is_valid():
    with pytest.raises(ValueError, match="expected, st_argmax, st_gumbel"):
        get_categorical_estimator("st_sign")
    with pytest.raises(ValueError, match="expected, st_gumbel, st_sign"):
        get_estimator("st_argmax")
    for tau in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature must be > 0"):
            get_categorical_estimator("st_gumbel", temperature=tau)
        with pytest.raises(ValueError, match="temperature must be > 0"):
            PolicySpec(obs_size=2, head="categorical", actions=(0.0, 1.0), temperature=tau)
    with pytest.raises(ValueError, match="categorical head 'st_sign'.*st_argmax"):
        PolicySpec(obs_size=2, head="categorical", estimator="st_sign", actions=(0.0, 1.0))
    with pytest.raises(ValueError, match="estimator 'st_argmax'.*st_sign"):
        PolicySpec(obs_size=2, head="binary", estimator="st_argmax")


def test_bad_shapes_and_actions_raise_saying_what_was_expected():
    est = get_categorical_estimator("st_argmax")
    values = torch.tensor([-1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"logits of shape \[\.\.\., 3\].*\[4, 2\]"):
        est(torch.zeros(4, 2), values)
    with pytest.raises(ValueError, match=r"logits of shape \[\.\.\., 3\].*\[\]"):
        est(torch.tensor(0.0), values)
    with pytest.raises(ValueError, match="k >= 2.*\\[1\\]"):
        est(torch.zeros(4, 1), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="k >= 2.*\\[1, 3\\]"):
        st_argmax(torch.zeros(4, 3), values[None])
    with pytest.raises(ValueError, match="at least two actions"):
        PolicySpec(obs_size=2, head="categorical")
    with pytest.raises(ValueError, match="at least two actions"):
        PolicySpec(obs_size=2, head="categorical", actions=(1.0,))
    with pytest.raises(ValueError, match="at least two actions"):
        PolicySpec(obs_size=2, head="categorical", actions=(0.0, float("inf")))
    with pytest.raises(ValueError, match="distinct"):
        PolicySpec(obs_size=2, head="categorical", actions=(0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="only used by a categorical head"):
        PolicySpec(obs_size=2, head="binary", actions=(-1.0, 1.0))
