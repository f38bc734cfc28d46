"""The compiled fast path (diffsim.fast) against the eager path.

Stated tolerance (diffsim.fast's docstring), float32, element-wise, SI units:
``|fast − eager| ≤ 1e-5 · (|eager| + 1)`` over 50 CartPole steps and 20 Pendulum steps
(gradients relative to their largest entry); over 50 Pendulum steps, whose swing amplifies
rounding faster, ``≤ 1e-3`` and within 10× of float32 eager's own distance from float64.
Fused kernels are not bitwise equal to eager ones.
Compiling takes seconds per function and input signature; the tests share one batch size
so that each function compiles once per process (``diffsim.fast`` caches them; Inductor's
disk cache helps later runs). The default run keeps one equivalence test per path (the
traced step of each system, a block, a transition, the vector env, the gradient path of a
rollout, which the BPTT trainer's test reuses, and tensor parameters); the further cases of
the block and the rollout, which only compile more of the same, are marked ``slow``.
"""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from diffsim import cartpole, fast, pendulum
from diffsim.controllers.bptt import BPTTConfig, BPTTTrainer
from diffsim.controllers.policies import PolicySpec, build_policy
from diffsim.envs import rollout
from diffsim.integrators import get_integrator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:torch")
B = 64
SYSTEMS = {"cartpole": cartpole, "pendulum": pendulum}
HORIZON = {"cartpole": 50, "pendulum": 20}  # steps within the 1e-5 tolerance
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def assert_within(fast_value: torch.Tensor, eager: torch.Tensor, rtol: float = 1e-5) -> None:
    """The module's tolerance: |fast − eager| ≤ rtol·(|eager| + 1)."""
    bound = rtol * (eager.abs() + 1)
    excess = ((fast_value - eager).abs() / bound).max().item()
    assert excess <= 1, f"fast differs from eager by {excess:.3g}× the tolerance"


def assert_grads_within(fast_grads, eager_grads, rtol: float = 1e-5) -> None:
    for gf, ge in zip(fast_grads, eager_grads):
        scale = ge.abs().max().clamp_min(1e-12)
        assert_within(gf / scale, ge / scale, rtol)


def _open_loop(system, fn, state, actions):
    for t in range(actions.shape[0]):
        state = fn(state, actions[t])
    return state


def _eager(system):
    integrator = get_integrator(system.DEFAULT_INTEGRATOR)
    return lambda s, a: system._step(s, a, system.DEFAULT_PARAMS, integrator)


def _start(system, seed, horizon, device="cpu"):
    g = torch.Generator(device=device).manual_seed(seed)
    state = fast.component_major(system.sample_initial(B, generator=g, device=device))
    scale = 1.0 if system is cartpole else 2.0
    return state, (torch.rand(horizon, B, generator=g, device=device) * 2 - 1) * scale


@pytest.mark.parametrize("name", SYSTEMS)
def test_compiled_step_equals_eager(name):
    system = SYSTEMS[name]
    state, actions = _start(system, 0, HORIZON[name])
    step = fast.compile_step(name)
    eager = _open_loop(system, _eager(system), state, actions)
    assert_within(_open_loop(system, step, state, actions), eager)
    assert fast.compile_step(name) is step  # cached


@pytest.mark.parametrize(
    "name", ["pendulum", pytest.param("cartpole", marks=pytest.mark.slow)]
)  # one system by default: the block is built the same way for both (6 s more to compile)
def test_compiled_block_equals_eager(name):
    system = SYSTEMS[name]
    state, actions = _start(system, 0, HORIZON[name])
    eager = _open_loop(system, _eager(system), state, actions)
    block, step = fast.compile_block(name, block=8), fast.compile_step(name)
    blocked = fast.step_open_loop(block, step, state, actions, 8)  # blocks, then single steps
    assert_within(blocked, eager)


def test_pendulum_50_steps_as_close_as_float32_rounding_allows():
    state, actions = _start(pendulum, 1, 50)
    eager = _open_loop(pendulum, _eager(pendulum), state, actions)
    reference = _open_loop(pendulum, _eager(pendulum), state.double(), actions.double())
    fast_value = _open_loop(pendulum, fast.compile_step("pendulum"), state, actions)
    assert_within(fast_value, eager, 1e-3)
    own = ((eager.double() - reference).abs() / (reference.abs() + 1)).max().item()
    assert_within(fast_value, eager, 10 * max(own, 1e-6))


@pytest.mark.parametrize("name", SYSTEMS)
def test_compiled_transition_equals_eager(name):
    system = SYSTEMS[name]
    g = torch.Generator().manual_seed(1)
    state = fast.component_major(system.sample_initial(B, generator=g, dtype=torch.float64))
    action = torch.rand(B, generator=g, dtype=torch.float64) * 2 - 1
    next_state, reward, terminated = fast.compile_transition(system)(state, action)
    eager = system.step(state, action)
    assert_within(next_state, eager, 1e-12)
    assert_within(reward, system.reward(state, action, eager), 1e-12)
    assert torch.equal(terminated, system.terminated(eager))


def _policy(obs_size: int, head: str) -> torch.nn.Module:
    spec = PolicySpec(obs_size=obs_size, hidden=(16, 16), head=head, action_scale=1.0)
    return build_policy(spec, torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "task,head,on_terminate",
    [
        # By default the one case whose compiled per-step function (its key: the rollout,
        # pendulum, its parameters and integrator, "mask") the BPTT trainer's test reuses.
        ("pendulum", "tanh", "mask"),
        # Each further case compiles a forward and a backward graph: ~25 s cold.
        pytest.param("cartpole", "binary", "mask", marks=pytest.mark.slow),
        pytest.param("pendulum", "tanh", "continue", marks=pytest.mark.slow),
    ],
)
def test_rollout_fast_equals_eager_forward_and_gradient(task, head, on_terminate):
    horizon = HORIZON[task]
    policy = _policy(4 if task == "cartpole" else 3, head)
    init = (cartpole if task == "cartpole" else pendulum).sample_initial(
        B, generator=torch.Generator().manual_seed(2)
    )

    def run(fast_path: bool):
        policy.zero_grad()
        out = rollout(policy, task, init, horizon, on_terminate=on_terminate, fast=fast_path)
        loss = (out.states[1:] ** 2).sum(0).mean() - out.returns.mean()
        loss.backward()
        return out, [p.grad.clone() for p in policy.parameters()]

    (fast_out, fast_grads), (eager_out, eager_grads) = run(True), run(False)
    assert_within(fast_out.states, eager_out.states)
    assert_within(fast_out.rewards, eager_out.rewards)
    assert torch.equal(fast_out.alive, eager_out.alive)
    assert fast_out.transitions == eager_out.transitions
    assert_grads_within(fast_grads, eager_grads)


def test_tensor_parameters_take_the_guarded_compiler_and_get_gradients():
    length = torch.tensor(0.5, requires_grad=True)
    params = cartpole.CartPoleParams(length=length)
    step = fast.compile_step("cartpole", params)
    assert not step.traceable
    state = fast.component_major(cartpole.sample_initial(B, generator=torch.Generator()))
    action = torch.full((B,), 0.3)
    (grad_fast,) = torch.autograd.grad(step(state, action).sum(), length)
    (grad_eager,) = torch.autograd.grad(cartpole.step(state, action, params).sum(), length)
    assert_within(grad_fast, grad_eager)
    with pytest.raises(ValueError, match="cannot be specialised"):
        step.specialize(state, action)


@pytest.mark.parametrize("env_id", ["diffsim/CartPole-v1", "diffsim/Pendulum-v1"])
def test_vector_env_fast_matches_numpy(env_id):
    kwargs = dict(num_envs=B, vectorization_mode="vector_entry_point", max_episode_steps=30)
    envs = [gym.make_vec(env_id, **kwargs), gym.make_vec(env_id, fast=True, **kwargs)]
    obs = [e.reset(seed=3)[0] for e in envs]
    np.testing.assert_array_equal(*obs)
    envs[0].action_space.seed(3)
    terminated = truncated = 0
    for _ in range(40):  # terminations, truncation at 30 and autoresets on the way
        a = envs[0].action_space.sample()
        (o1, r1, te1, tr1, _), (o2, r2, te2, tr2, _) = (e.step(a) for e in envs)
        np.testing.assert_allclose(o2, o1, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(r2, r1, rtol=1e-12)
        np.testing.assert_array_equal(te2, te1)
        np.testing.assert_array_equal(tr2, tr1)
        terminated, truncated = terminated + te1.sum(), truncated + tr1.sum()
    if "CartPole" in env_id:
        assert terminated > 0  # random pushes topple poles within 40 steps
    else:  # a pendulum never terminates: each of the B envs is truncated once, at step 30
        assert (terminated, truncated) == (0, B)


def test_bptt_trainer_fast_flag_matches_eager():
    config = dict(horizon=20, batch_size=B, loss="return", policy=dict(hidden=(16, 16)))
    trainers = [
        BPTTTrainer("pendulum", BPTTConfig(**config, fast=fast_path), seed=0)
        for fast_path in (False, True)
    ]
    for _ in range(2):
        metrics = [t.update() for t in trainers]
        assert metrics[0]["transitions"] == metrics[1]["transitions"] == 20 * B
        assert metrics[1]["loss"] == pytest.approx(metrics[0]["loss"], rel=1e-5)
    for pe, pf in zip(trainers[0].policy.parameters(), trainers[1].policy.parameters()):
        assert_within(pf.detach(), pe.detach())


def test_a_system_its_name_and_its_module_give_the_same_compiled_function():
    by_name = fast.compile_step("pendulum")
    assert fast.compile_step(pendulum.SYSTEM) is by_name and fast.compile_step(pendulum) is by_name
    system, params, integrator = fast.resolve(cartpole, None, None)
    assert system is cartpole.SYSTEM and params == cartpole.DEFAULT_PARAMS
    assert integrator.name == cartpole.DEFAULT_INTEGRATOR
    assert fast.key_of("step", cartpole, params, integrator)[:2] == ("step", "cartpole")


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown system 'trebuchet'; expected one of: cartpole"):
        fast.compile_step("trebuchet")
    with pytest.raises(TypeError, match="registered system name"):
        fast.compile_step(gym)
    with pytest.raises(TypeError, match="CartPoleParams"):
        fast.compile_step("cartpole", pendulum.PendulumParams())
    with pytest.raises(ValueError, match="block"):
        fast.compile_block("cartpole", block=0)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            fast.CudaGraphIteration(lambda: torch.zeros(()), [])


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("name", SYSTEMS)
def test_cuda_compiled_step_equals_eager(name):
    system = SYSTEMS[name]
    state, actions = _start(system, 0, HORIZON[name], "cuda")
    eager = _open_loop(system, _eager(system), state, actions)
    assert_within(_open_loop(system, fast.compile_step(name), state, actions), eager)


@pytest.mark.cuda
@cuda
def test_cuda_graph_iteration_equals_eager():
    policy = _policy(3, "tanh").cuda()
    start = pendulum.sample_initial(1024, generator=torch.Generator().manual_seed(0)).cuda()

    def iteration():
        out = rollout(policy, "pendulum", start, 20, fast=True)
        return -out.returns.mean(), out.returns.detach()

    graphed = fast.CudaGraphIteration(iteration, policy.parameters())
    loss, _ = graphed()
    fast_grads = [p.grad.clone() for p in policy.parameters()]
    for p in policy.parameters():
        p.grad = None
    eager_loss = -rollout(policy, "pendulum", start, 20).returns.mean()
    eager_loss.backward()
    assert_within(loss, eager_loss.detach())
    assert_grads_within(fast_grads, [p.grad for p in policy.parameters()])
    start.copy_(pendulum.sample_initial(1024, generator=torch.Generator().manual_seed(1)).cuda())
    again, _ = graphed()  # a replay on new inputs
    assert not torch.equal(again, loss)


@pytest.mark.cuda
@cuda
def test_cuda_bptt_trainer_fast_matches_eager():
    config = dict(horizon=20, batch_size=256, loss="return", policy=dict(hidden=(16, 16)))
    trainers = [
        BPTTTrainer("pendulum", BPTTConfig(**config, fast=f), seed=0, device="cuda")
        for f in (False, True)
    ]
    assert trainers[1]._graphable()
    for _ in range(3):
        metrics = [t.update() for t in trainers]
        assert metrics[1]["loss"] == pytest.approx(metrics[0]["loss"], rel=1e-4)


@pytest.mark.slow  # compiles a BPTT iteration: ~15 s with Inductor's disk cache warm, more cold
def test_bench_quick_fast_path_writes_valid_json(tmp_path):
    from diffsim.scripts.main import main

    out = tmp_path / "bench.json"
    args = ["bench", "--quick", "--paths", "eager,fast", "--systems", "pendulum", "--no-envs"]
    assert main([*args, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert not result["errors"]
    rows = {(r["kind"], r["path"], r["batch"]): r for r in result["results"]}
    assert {k[:2] for k in rows} == {
        ("step", "eager"),
        ("step", "fast"),
        ("bptt", "eager"),
        ("bptt", "fast"),
    }
    assert all(r["steps_per_s"] > 0 and r["first_call_s"] > 0 for r in rows.values())
