"""The training loop shared by every method: budget, evaluation schedule, run directory.

A method is an entry of :mod:`diffsim.controllers.methods` (its trainer, config and
defaults, loaded on first use); its trainer follows :class:`diffsim.controllers.trainer.
Trainer` (``update(max_transitions) -> metrics`` with ``metrics["transitions"]`` = env steps
that update consumed, ``policy``, ``agent()``, ``save(path)``, ``state_dict`` /
``load_state_dict``), checked when :func:`train` builds it. :func:`train` drives it:

- it counts transitions (every simulated step of every batch element) and training
  seconds (update time only; evaluation is timed separately);
- it evaluates with :func:`diffsim.controllers.evaluate.evaluate` (100 episodes, fixed
  seed, deterministic policy) before the first update and then each time the transition
  count passes the next multiple of ``eval_every``; an update that consumes more than
  ``eval_every`` transitions is therefore followed by an evaluation at the count it reached.
  Each update is told how many transitions are left before the next evaluation
  (``max_transitions``) and stops there or as soon after as its unit of work allows (SB3 at
  the end of its current rollout), so evaluations fall on the schedule;
- after each evaluation it writes ``metrics.csv``, ``policy.pt`` (the trainer's ``save``)
  and ``checkpoint.pt``, each atomically
  (:func:`~diffsim.controllers.checkpoint.write_atomically`);
- given the directory of an interrupted run with the same configuration, it resumes from
  ``checkpoint.pt`` (model, optimiser and every generator restored), so the result equals an
  uninterrupted run's; a run directory of an earlier run format is read as described in
  :mod:`diffsim.controllers.checkpoint`;
- it stops at the budget, or, when ``stop_when_solved`` is set, at the first evaluation
  whose mean return passes the task's solved return by its ``stop_margin_se`` standard
  errors (:attr:`diffsim.systems.TaskSpec.stop_margin_se`: 0 by default, reaching it; each
  task's entry in :mod:`diffsim.systems`' registry sets its own), or when the caller's
  ``on_evaluation`` hook asks it to (a hyperparameter sweep's pruner:
  :mod:`diffsim.controllers.sweep`).

The trebuchet's return (−|miss| in metres, averaged) rounds to 0.0 as soon as the network
aims well, so its evaluation rows (and progress bar) also give the median and the 95th
percentile of the relative miss ``|distance − target| / target`` over the evaluation shots, in
percent (``eval_miss_median_pct``, ``eval_miss_p95_pct``; a failed shot misses by 100 %).
Other tasks have no such columns (:data:`EVAL_COLUMNS` says which task has which).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from diffsim import __version__, systems
from diffsim.envs.rollout import TASKS, gymnasium_twins, resolve_env_id

from ._names import default_method
from .checkpoint import (
    RUN_FORMAT,
    CheckpointError,
    read_checkpoint,
    read_run_config,
    save_checkpoint,
    write_json,
    write_metrics,
)
from .evaluate import EVAL_EPISODES, EVAL_SEED, Agent, EvalResult, evaluate
from .methods import METHODS, Method, build_config, get_method, register_method
from .trainer import Trainer, check_trainer

__all__ = [
    "EVAL_COLUMNS",
    "METHODS",
    "Method",
    "TrainResult",
    "build_config",
    "describe_evaluation",
    "finished_run",
    "get_method",
    "outcome",
    "register_method",
    "train",
]
"""The loop's public names; ``METHODS``, ``Method``, ``build_config``, ``get_method`` and
``register_method`` are :mod:`diffsim.controllers.methods`' (re-exported here, where they
were first)."""

TREBUCHET_ID = "diffsim/Trebuchet-v0"


def trebuchet_miss_pct(result: EvalResult) -> dict[str, float]:
    """The trebuchet's evaluation columns: median and 95th percentile of the relative miss.

    The env's reward is ``−|distance − target|`` (m; ``−target`` for a failed shot) and each
    episode is one shot, so an episode's relative miss is ``−return / target`` with the target
    read from its first observation ``(wind, target)``.

    Returns:
        ``{"eval_miss_median_pct": …, "eval_miss_p95_pct": …}``, in percent of the target.
    """
    rel = -result.returns / result.first_obs[:, 1].astype(np.float64) * 100.0
    return {
        "eval_miss_median_pct": float(np.median(rel)),
        "eval_miss_p95_pct": float(np.percentile(rel, 95)),
    }


EVAL_COLUMNS: dict[str, Callable[[EvalResult], dict[str, float]]] = {
    TREBUCHET_ID: trebuchet_miss_pct,
}
"""Extra evaluation columns per env id (a function of the :class:`EvalResult`); the ids not
listed have only the common columns."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        agent: The trained policy behind ``act(obs)``.
        metrics: Every evaluation row (the rows of ``metrics.csv``), in order.
        out: The run directory.
        solved_at: ``None`` if no evaluation reached the solved return, else a dict with the
            first such evaluation's ``transitions``, ``train_seconds``, ``updates`` and
            ``eval_return_mean``.
        env_id: The registered id trained on.
        solved_return: The task's solved return (``None``: the task has none, e.g. the
            trebuchet).
    """

    agent: Agent
    metrics: list[dict[str, float]]
    out: Path
    solved_at: Optional[dict[str, float]]
    env_id: str = ""
    solved_return: Optional[float] = None


def describe_evaluation(row: dict[str, float]) -> str:
    """One evaluation row in words: the mean return ± std, and on the trebuchet the median
    and 95th-percentile relative miss (e.g. ``"median miss 0.12 %, p95 0.85 % of the target
    (return -0.05 ± 0.04 m)"``)."""
    ret = f"{row['eval_return_mean']:.1f} ± {row['eval_return_std']:.1f}"
    if "eval_miss_median_pct" in row:
        return (
            f"median miss {row['eval_miss_median_pct']:.3g} %, p95 "
            f"{row['eval_miss_p95_pct']:.3g} % of the target (return "
            f"{row['eval_return_mean']:.3g} ± {row['eval_return_std']:.3g} m)"
        )
    return f"return {ret}"


def outcome(result: TrainResult) -> str:
    """One line saying how the run ended.

    Solved: ``"solved at 4096 transitions, 1.23 s"`` (the first evaluation at or above the
    solved return). Not solved: ``"not solved: best eval -412.3 at 81,920 transitions (solved
    means >= -200)"``. A task without a solved return (the trebuchet): its best evaluation
    (the highest mean return; for the trebuchet with its relative misses).
    """
    solved = result.solved_at
    if solved:
        return (
            f"solved at {int(solved['transitions'])} transitions, {solved['train_seconds']:.2f} s"
        )
    best = max(result.metrics, key=lambda r: r["eval_return_mean"])
    if "eval_miss_median_pct" in best:
        what = describe_evaluation(best)
    else:
        what = f"{best['eval_return_mean']:.1f}"
    where = f"best eval {what} at {int(best['transitions']):,} transitions"
    if result.solved_return is None:
        return f"{where} ({result.env_id or 'this task'} has no solved return)"
    return f"not solved: {where} (solved means >= {result.solved_return:g})"


def versions() -> dict[str, Any]:
    """The machine and library versions (see :func:`diffsim._machine.machine_info`)."""
    from diffsim._machine import machine_info

    return machine_info()


def default_run_dir(env: str, method: str, seed: int) -> Path:
    """``runs/<env>__<method>__<seed>__<YYYYmmdd-HHMMSS>``."""
    short = env.split("/")[-1]
    return Path("runs") / f"{short}__{method}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    env: str,
    method: Optional[str] = None,
    seed: int = 0,
    out: Union[str, Path, None] = None,
    config: Optional[dict[str, Any]] = None,
    budget: Optional[int] = None,
    eval_every: int = 1000,
    eval_episodes: int = EVAL_EPISODES,
    stop_when_solved: bool = True,
    progress: bool = True,
    device: str = "cpu",
    max_updates: Optional[int] = None,
    on_evaluation: Optional[Callable[[dict[str, float]], bool]] = None,
) -> TrainResult:
    """Train ``method`` on ``env`` and write the run directory (see the module docstring).

    Args:
        env: A short name (``cartpole``, ``pendulum`` …) or a registered id of this project
            (or, for the SB3 baselines' equivalence check, Gymnasium's ``CartPole-v1`` /
            ``Pendulum-v1``).
        method: A registered method (``bptt``, ``shac``, the baselines ``ppo``, ``a2c``,
            ``dqn``, ``sac``, ``td3``, ``cmaes``, ``retrofit``); ``None`` (the default) takes
            the task's solving method (:func:`diffsim.controllers._names.default_method`:
            ``shac`` on Pendulum-v1, ``bptt`` on the other diffsim tasks).
        seed: Seeds every generator of the trainer (evaluation uses its own fixed seed).
        out: The run directory (default: ``runs/<env>__<method>__<seed>__<time>``).
        config: Overrides of the method's tuned configuration (unknown names raise).
        budget: Training transitions (default: the method's per-task default).
        eval_every: Evaluation interval in transitions.
        eval_episodes: Episodes per evaluation.
        stop_when_solved: Stop at the first evaluation that passes the solved return by the
            task's stop margin (:attr:`diffsim.systems.TaskSpec.stop_margin_se` standard
            errors of the evaluation's mean; 0: reaching it).
        progress: Show a progress bar.
        device: Torch device of the trainer.
        max_updates: Stop after this many updates in this call (for tests and interruption).
        on_evaluation: Called with each new evaluation row (a copy of the row written to
            ``metrics.csv``), after the run directory has been saved; returning ``True``
            stops training there. The run directory is then left as an interrupted run's
            (rerunning :func:`train` on it resumes). It is not called for the rows read back
            when resuming, nor after the final evaluation.

    Returns:
        The :class:`TrainResult`; ``metrics`` holds the evaluations made so far.

    Raises:
        ValueError: an unknown env, method or config field, a task the method does not train
            (the message names those it does), a non-positive budget or schedule, or a run
            directory holding another configuration or one this diffsim cannot resume
            (:class:`~diffsim.controllers.checkpoint.CheckpointError`).
        TypeError: the method's trainer does not follow
            :class:`~diffsim.controllers.trainer.Trainer` (the message names what it lacks).
    """
    m, cfg, settings = _plan(
        env, method, seed, config, budget, eval_every, eval_episodes, stop_when_solved, device
    )
    env_id, method, budget = settings["env_id"], settings["method"], settings["budget"]
    stop_when_solved = settings["stop_when_solved"]
    task_threshold = _solved_return(env_id)
    margin = settings["stop_margin_se"]
    out = Path(out) if out is not None else default_run_dir(env_id, method, seed)
    trainer = check_trainer(m.trainer_class(env_id, cfg, seed, device), method)
    loop = {
        "transitions": 0,
        "updates": 0,
        "train_seconds": 0.0,
        "next_eval": 0,
        "rows": [],
        "solved_at": None,
        "done": False,
    }
    out.mkdir(parents=True, exist_ok=True)
    if (out / "checkpoint.pt").exists():
        loop = _resume(out, settings, trainer)
    else:
        write_json(
            out / "config.json",
            {
                **settings,
                "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "versions": versions(),
                "run_format": RUN_FORMAT,
                "diffsim_version": __version__,
            },
        )

    from tqdm.auto import tqdm

    bar = tqdm(
        total=budget,
        initial=min(loop["transitions"], budget),
        unit="tr",
        desc=f"{method} {env_id.split('/')[-1]} seed {seed}",
        disable=not progress,
        dynamic_ncols=True,
    )
    last: dict[str, float] = {}
    updates_here = 0
    while not loop["done"]:
        if loop["transitions"] >= loop["next_eval"]:
            row = _evaluate_row(trainer, env_id, eval_episodes, loop, last)
            loop["rows"].append(row)
            loop["next_eval"] = (loop["transitions"] // eval_every + 1) * eval_every
            solved = row["eval_return_mean"] >= task_threshold
            if solved and loop["solved_at"] is None:
                loop["solved_at"] = {
                    k: row[k]
                    for k in ("transitions", "train_seconds", "updates", "eval_return_mean")
                }
            passed = solved and passes(row, eval_episodes, task_threshold, margin)
            loop["done"] = loop["transitions"] >= budget or (passed and stop_when_solved)
            _save(out, trainer, loop)
            bar.set_postfix(_postfix(row))
            if loop["done"]:
                break
            if on_evaluation is not None and on_evaluation(dict(row)):
                break
        if max_updates is not None and updates_here >= max_updates:
            break
        left = min(loop["next_eval"], budget) - loop["transitions"]
        start = time.perf_counter()
        last = trainer.update(max_transitions=left)
        loop["train_seconds"] += time.perf_counter() - start
        if "transitions" not in last:
            raise TypeError(
                f"{type(trainer).__qualname__}.update() returned no 'transitions' (it returned "
                f"{', '.join(map(repr, last)) or 'nothing'}); a Trainer's update reports the "
                "env steps it simulated"
            )
        loop["transitions"] += int(last["transitions"])
        loop["updates"] += 1
        updates_here += 1
        if loop["transitions"] >= budget:
            loop["next_eval"] = loop["transitions"]  # always evaluate the final policy
        bar.update(min(loop["transitions"], budget) - bar.n)
    bar.close()
    return TrainResult(
        trainer.agent(),
        loop["rows"],
        out,
        loop["solved_at"],
        env_id,
        settings["solved_return"],
    )


def _plan(
    env: str,
    method: Optional[str],
    seed: int,
    config: Optional[dict[str, Any]],
    budget: Optional[int],
    eval_every: int,
    eval_episodes: int,
    stop_when_solved: bool,
    device: str,
) -> tuple[Method, Any, dict[str, Any]]:
    """What :func:`train` would run: the method, its config and the settings that
    ``config.json`` records (and a resumed run must match); raises what train raises."""
    env_id = resolve_env_id(env)
    if method is None:
        method = default_method(env_id)
    m = get_method(method, env_id)  # raises for a task the method does not train
    # A method whose objective is not the task's (retrofit) never stops at "solved".
    stop_when_solved = stop_when_solved and m.stops_when_solved
    cfg = build_config(m, env_id, config)
    budget = m.default_budget(env_id) if budget is None else int(budget)
    if budget < 1 or eval_every < 1 or eval_episodes < 1:
        raise ValueError(
            f"budget, eval_every and eval_episodes must be positive, got "
            f"{budget}, {eval_every}, {eval_episodes}"
        )
    task_threshold = _solved_return(env_id)
    settings = {
        "env_id": env_id,
        "method": method,
        "seed": seed,
        "budget": budget,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "eval_seed": EVAL_SEED,
        "stop_when_solved": stop_when_solved,
        "solved_return": None if math.isinf(task_threshold) else task_threshold,
        "stop_margin_se": _stop_margin(env_id),
        "device": device,
        "config": _jsonable(dataclasses.asdict(cfg)),
    }
    return m, cfg, settings


def _spec(env_id: str) -> Optional[systems.TaskSpec]:
    """The registered task of an id or of a Gymnasium twin's id (None for neither)."""
    return systems.task_specs().get(gymnasium_twins().get(env_id, env_id))


def _solved_return(env_id: str) -> float:
    """The task's solved return (its rollout task's), ``inf`` for a task without one."""
    spec = _spec(env_id)
    if spec is None:
        return math.inf
    if spec.env_id in TASKS:
        solved = TASKS[spec.env_id].solved_return
    else:
        solved = spec.solved_return if spec.solved_return is not None else spec.reward_threshold
    return math.inf if solved is None else float(solved)


def _stop_margin(env_id: str) -> float:
    """The task's stop margin in standard errors (0 for a task without a spec)."""
    spec = _spec(env_id)
    return 0.0 if spec is None else float(spec.stop_margin_se)


def passes(row: dict[str, float], episodes: int, threshold: float, margin_se: float) -> bool:
    """Whether an evaluation row's mean return passes ``threshold`` by ``margin_se``
    standard errors of that mean.

    The standard error is ``eval_return_std / sqrt(episodes - 1)`` (the row's standard
    deviation is over its episodes, without Bessel's correction); a single-episode
    evaluation has no spread to estimate, so it passes on its mean alone.

    Args:
        row: An evaluation row (``eval_return_mean``, ``eval_return_std``).
        episodes: The number of episodes the evaluation averaged.
        threshold: The solved return.
        margin_se: The margin in standard errors (>= 0).
    """
    se = row["eval_return_std"] / math.sqrt(episodes - 1) if episodes > 1 else 0.0
    return row["eval_return_mean"] - margin_se * se >= threshold


def _evaluate_row(
    trainer: Trainer,
    env_id: str,
    episodes: int,
    loop: dict[str, Any],
    last: dict[str, float],
) -> dict[str, float]:
    result = evaluate(trainer.agent(), env_id, episodes)
    trainer.policy.train()
    row = {
        "transitions": loop["transitions"],
        "updates": loop["updates"],
        "train_seconds": round(loop["train_seconds"], 6),
        "eval_seconds": round(result.seconds, 6),
        "eval_return_mean": result.mean,
        "eval_return_std": result.std,
        "eval_length_mean": float(result.lengths.mean()),
    }
    extra = EVAL_COLUMNS.get(env_id)
    if extra is not None:
        row.update(extra(result))
    row.update({k: v for k, v in last.items() if k != "transitions"})
    return row


def _postfix(row: dict[str, float]) -> dict[str, str]:
    """The progress bar's figures: the mean return, and the relative miss where measured."""
    if "eval_miss_median_pct" in row:
        return {
            "miss": f"median {row['eval_miss_median_pct']:.3g}% p95 {row['eval_miss_p95_pct']:.3g}%"
        }
    return {"eval": f"{row['eval_return_mean']:.1f}"}


def _save(out: Path, trainer: Trainer, loop: dict[str, Any]) -> None:
    write_metrics(out / "metrics.csv", loop["rows"])
    trainer.save(out / "policy.pt")
    save_checkpoint(out / "checkpoint.pt", trainer.state_dict(), loop)


def finished_run(
    out: Union[str, Path],
    env: str,
    method: Optional[str] = None,
    seed: int = 0,
    config: Optional[dict[str, Any]] = None,
    budget: Optional[int] = None,
    eval_every: int = 1000,
    eval_episodes: int = EVAL_EPISODES,
    stop_when_solved: bool = True,
    device: str = "cpu",
) -> Optional[dict[str, Any]]:
    """The saved state of a finished run: what :func:`train` with these arguments and
    ``out`` would return without training, read without building the trainer.

    Args:
        out: The run directory.
        env, method, seed, config, budget, eval_every, eval_episodes, stop_when_solved,
            device: As for :func:`train` (checked the same way).

    Returns:
        ``None`` when ``out`` holds no ``checkpoint.pt`` or its run has not reached its end
        (budget, or solved with ``stop_when_solved``); else the loop state saved with the
        last evaluation: ``rows`` (the rows of ``metrics.csv``), ``solved_at`` (as
        :attr:`TrainResult.solved_at`), ``transitions``, ``updates``, ``train_seconds``.

    Raises:
        CheckpointError: ``out`` holds a run of another configuration, or its checkpoint
            cannot be read.
        ValueError: an argument :func:`train` refuses.
    """
    _, _, settings = _plan(
        env, method, seed, config, budget, eval_every, eval_episodes, stop_when_solved, device
    )
    out = Path(out)
    if not (out / "checkpoint.pt").is_file():
        return None
    saved = _check_saved_settings(out, settings)
    loop = _load_checkpoint(out, None, saved)["loop"]
    return loop if loop["done"] else None


def _check_saved_settings(out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """``config.json`` (upgraded to the current format), checked against ``settings``."""
    saved = read_run_config(out / "config.json")
    mismatch = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
    if mismatch:
        details = "; ".join(f"{k}: saved {a!r}, requested {b!r}" for k, (a, b) in mismatch.items())
        raise CheckpointError(
            f"{out} holds a run with another configuration ({details}); "
            "choose another --out to start a new run"
        )
    return saved


def _load_checkpoint(
    out: Path, trainer: Optional[Trainer] = None, saved: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    """``checkpoint.pt``'s contents (loaded into ``trainer`` if given).

    Raises:
        CheckpointError: it cannot be read or loaded; for a checkpoint of an earlier run
            format whose trainer state this diffsim's trainer does not take, the message
            names both formats and what to do.
    """
    path = out / "checkpoint.pt"
    state = read_checkpoint(path)
    try:
        if trainer is not None:
            trainer.load_state_dict(state["trainer"])
        state["loop"]["done"]  # noqa: B018 (a checkpoint without its loop state is corrupt)
        return state
    except Exception as exc:
        found = state["run_format"]
        if found < RUN_FORMAT:
            written_by = (saved or {}).get("diffsim_version") or state.get("diffsim_version")
            by = f"diffsim {written_by}" if written_by else "the diffsim that wrote it"
            raise CheckpointError(
                f"{path} has run format {found} and this diffsim ({__version__}) writes run "
                f"format {RUN_FORMAT}; its trainer state does not fit this diffsim's trainer "
                f"({type(exc).__name__}: {exc}). Its policy.pt and metrics.csv still load; to "
                f"continue training, resume it with {by}, or train anew into another "
                "directory (diffsim train ENV --method METHOD --out NEW_DIR)"
            ) from None
        raise CheckpointError(
            f"{path} cannot be resumed from ({type(exc).__name__}: {exc}); it may be corrupt"
        ) from None


def _resume(out: Path, settings: dict[str, Any], trainer: Trainer) -> dict[str, Any]:
    saved = _check_saved_settings(out, settings)
    return _load_checkpoint(out, trainer, saved)["loop"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
