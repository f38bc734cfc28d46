"""A hyperparameter search over any method's configuration, with early stopping (Optuna).

:func:`sweep` runs ``trials`` trainings of one method on one task, each with the same seed,
the same budget and ``stop_when_solved=False``, differing only in the hyperparameters drawn
from ``space`` (``{field: "loguniform(0.01, 3)", …}``; :func:`parse_dist` reads the syntax).
At every evaluation a trial reports its evaluation return to the study; the pruner stops a
trial whose curve falls behind the others' at the same evaluation. The trials run as jobs
of an executor (:mod:`diffsim.controllers.executors`): one after another in this process, or
as parallel Ray tasks on a local instance or a cluster. docs/sweep.md explains the choices.

Engine: Optuna's ask-and-tell interface. The driver (this process) asks the study for a
trial's parameters, hands them to a job, and tells the study the outcome; the job loads the
same study from its journal file (``OUT/study.journal``, Optuna's storage for processes
sharing a filesystem) to report each evaluation and ask whether to stop.

Determinism. Trials are asked in *waves* of ``parallel`` trials (1 for the serial executor,
the cluster's CPUs over ``cpus_per_trial`` for Ray). The sampler is re-seeded for every
trial with ``seed`` and the trial's number, so a trial's proposal depends only on the seed,
its number and the trials finished before its wave, not on the session or the timing; a
trial's pruner sees only the trials of earlier waves. Each trial's training is deterministic
(same seed, ``threads_per_trial`` torch threads), so the same command and wave size give
the same trials, states and figures with either executor.

Resume: rerunning on the same ``out`` with the same settings continues the study (finished
trials are kept, interrupted ones resume from their run directory's checkpoint, new ones are
asked up to ``trials``); other settings are refused, naming what differs.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
import shlex
import sys
import time
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
"""The distribution names ``--space NAME=DIST`` takes."""
OBJECTIVES = ("final", "best", "mean")
"""What a complete trial's value is: its final evaluation return, its best one, or the mean
over its evaluations (the area under its curve per evaluation)."""
PRUNERS = ("median", "halving", "none")
"""``median``: Optuna's MedianPruner; ``halving``: its SuccessiveHalvingPruner (ASHA's rule);
``none``: every trial runs its whole budget."""
SAMPLERS = ("tpe", "random")
"""``tpe``: Optuna's TPESampler (random for its first 10 trials); ``random``: RandomSampler."""
STUDY_NAME = "sweep"
JOURNAL = "study.journal"
OPTUNA_MISSING = (
    "diffsim sweep needs Optuna, which is not installed: pip install 'diffsim[sweep]' "
    "(or pip install 'optuna>=3.5')"
)


@dataclass(frozen=True)
class Dist:
    """One search dimension, parsed from ``uniform(a,b)``, ``loguniform(a,b)``, ``int(a,b)``
    or ``choice(x,y,…)``.

    Attributes:
        kind: One of :data:`DISTRIBUTIONS`.
        args: ``(low, high)`` for the ranges (floats; ints for ``int``), the values for
            ``choice`` (Python literals: numbers, strings, ``True``/``False``/``None``).
        text: The string it was parsed from, normalised (``"loguniform(0.01, 3)"``).
    """

    kind: str
    args: tuple[Any, ...]
    text: str

    def optuna(self) -> Any:
        """The equivalent Optuna distribution."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "choice":
            return CategoricalDistribution(list(self.args))
        if self.kind == "int":
            return IntDistribution(self.args[0], self.args[1])
        return FloatDistribution(self.args[0], self.args[1], log=self.kind == "loguniform")

    def samples(self) -> list[Any]:
        """Values of the type the distribution draws (to check them against a field): the
        bounds of a range, every value of a choice."""
        return list(self.args)


_DIST_RE = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$", re.S)


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word: a string choice such as adam


def parse_dist(text: str) -> Dist:
    """Read a distribution: ``uniform(a,b)``, ``loguniform(a,b)``, ``int(a,b)``,
    ``choice(x,y,…)``.

    ``uniform`` and ``loguniform`` draw floats in ``[a, b]`` (``loguniform`` uniformly in
    log space, so ``0 < a``); ``int`` draws integers in ``[a, b]``; ``choice`` one of its
    values (Python literals or bare words; numbers, strings, booleans or ``None``).

    Args:
        text: The distribution as written after ``NAME=``.

    Returns:
        The parsed :class:`Dist`.

    Raises:
        ValueError: the text is not one of these forms, or its bounds are not numbers with
            ``a < b`` (``0 < a`` for ``loguniform``), or a choice is empty, repeats a value
            or holds a value that is not a number, string, boolean or ``None``; the message
            quotes the text and says what was expected.
    """
    if not isinstance(text, str):
        raise TypeError(f"a distribution must be a string, got {text!r} ({type(text).__name__})")
    forms = "uniform(a,b), loguniform(a,b), int(a,b) or choice(x,y,...)"
    match = _DIST_RE.match(text)
    if match is None:
        raise ValueError(f"cannot read the distribution {text!r}: expected {forms}")
    kind, inner = match.group(1), match.group(2)
    if kind not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {kind!r} in {text!r}: expected {forms}")
    parts = [p.strip() for p in inner.split(",")]
    if parts and parts[-1] == "":
        parts.pop()  # a trailing comma
    if kind == "choice":
        if not parts or any(p == "" for p in parts):
            raise ValueError(f"{text!r}: choice(x,y,...) needs at least one value, none empty")
        values = tuple(_literal(p) for p in parts)
        for v in values:
            if v is not None and not isinstance(v, (bool, int, float, str)):
                raise ValueError(
                    f"{text!r}: a choice value must be a number, a string, True/False or "
                    f"None, got {v!r} ({type(v).__name__})"
                )
        if len(set(map(repr, values))) < len(values):
            raise ValueError(f"{text!r}: choice(...) repeats a value")
        return Dist(kind, values, f"choice({', '.join(map(str, parts))})")
    if len(parts) != 2:
        raise ValueError(f"{text!r}: {kind}(a,b) takes two bounds, got {len(parts)}")
    bounds = [_literal(p) for p in parts]
    if kind == "int":
        if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
            raise ValueError(f"{text!r}: int(a,b) needs integer bounds, got {parts[0]}, {parts[1]}")
    else:
        if not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds):
            raise ValueError(
                f"{text!r}: {kind}(a,b) needs numeric bounds, got {parts[0]}, {parts[1]}"
            )
        bounds = [float(b) for b in bounds]
        if not all(math.isfinite(b) for b in bounds):
            raise ValueError(f"{text!r}: {kind}(a,b) needs finite bounds")
    low, high = bounds
    if not low < high:
        raise ValueError(f"{text!r}: the bounds must satisfy a < b, got a={low!r}, b={high!r}")
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"{text!r}: loguniform(a,b) needs 0 < a, got a={low!r}")
    return Dist(kind, (low, high), f"{kind}({parts[0]}, {parts[1]})")


def parse_space(items: Union[Sequence[str], dict[str, str]]) -> dict[str, Dist]:
    """``["lr=loguniform(0.01, 3)", …]`` (or ``{"lr": "loguniform(0.01, 3)"}``) → ``{name: Dist}``.

    Raises:
        ValueError: an item is not ``NAME=DIST``, a name is repeated, the space is empty, or
            a distribution does not parse (:func:`parse_dist`).
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        for item in items:
            name, sep, dist = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"--space expects NAME=DIST, got {item!r}")
            pairs.append((name.strip(), dist))
    if not pairs:
        raise ValueError("the search space is empty: give at least one --space NAME=DIST")
    space: dict[str, Dist] = {}
    for name, dist in pairs:
        if name in space:
            raise ValueError(f"--space names {name!r} twice")
        try:
            space[name] = parse_dist(dist)
        except ValueError as exc:
            raise ValueError(f"--space {name}: {exc}") from None
    return space


def check_space(space: dict[str, Dist], config_class: type, method: str) -> None:
    """Check that every name is a field of ``config_class`` and that its distribution draws
    values of the field's type.

    Raises:
        ValueError: an unknown name (the message lists the valid fields).
        TypeError: a distribution of the wrong type for its field; the message names the
            field, its type and the distribution.
    """
    from diffsim._validation import check_choice

    from ._fields import _MISSING, _conform, describe

    fields = [f.name for f in dataclasses.fields(config_class)]
    hints = typing.get_type_hints(config_class)
    for name, dist in space.items():
        check_choice(f"{method} option", name, fields)
        hint = hints.get(name, Any)
        bad = [v for v in dist.samples() if _conform(v, hint) is _MISSING]
        if bad:
            draws = "floats" if dist.kind in ("uniform", "loguniform") else "ints"
            what = f"values such as {bad[0]!r}" if dist.kind == "choice" else draws
            raise TypeError(
                f"--space {name}={dist.text}: {config_class.__name__}.{name} is "
                f"{describe(hint)}, but {dist.text} draws {what}"
            )


def _make_sampler(kind: str, seed: int, number: int) -> Any:
    import optuna

    # One seed per trial number: a proposal does not depend on the session it was asked in.
    trial_seed = (seed * 1_000_003 + number) % 2**32
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=trial_seed)
    return optuna.samplers.TPESampler(seed=trial_seed)


def _make_pruner(kind: str, startup_trials: int, warmup_evals: int) -> Any:
    import optuna

    # Steps are evaluations after training, numbered from 1; the first warmup_evals of
    # them are never pruned.
    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=startup_trials, n_warmup_steps=warmup_evals + 1
        )
    if kind == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=warmup_evals + 1, reduction_factor=3
        )
    return optuna.pruners.NopPruner()


class _EarlierTrials:
    """A view of a study that shows its pruner only the trials numbered below ``before``."""

    def __init__(self, study: Any, before: int):
        self._study = study
        self._before = before

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        trials = self._study.get_trials(deepcopy=deepcopy, states=states)
        return [t for t in trials if t.number < self._before]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class _WavePruner:
    """``base``'s decision, judged against the trials of earlier waves only."""

    def __init__(self, base: Any, before: int):
        self.base = base
        self.before = before

    def prune(self, study: Any, trial: Any) -> bool:
        return self.base.prune(_EarlierTrials(study, self.before), trial)


def _journal(path: Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


def run_trial(
    *,
    journal: str,
    trial_id: int,
    before: int,
    pruner: dict[str, Any],
    env: str,
    method: str,
    seed: int,
    out: str,
    config: dict[str, Any],
    budget: int,
    eval_every: int,
    eval_episodes: int,
    device: str = "cpu",
) -> dict[str, Any]:
    """One trial (a job of the executor): train into ``out``, reporting each evaluation.

    At each evaluation after the first (the untrained policy's), the evaluation return is
    reported to the study at step ``transitions // eval_every`` (the evaluation's index on
    the schedule), and training stops if the pruner says so.

    Args:
        journal: Path of the study's journal file (on a filesystem the job's node sees).
        trial_id: The Optuna trial id the driver asked.
        before: Trial number of the first trial in this trial's wave (its pruner sees the
            trials numbered below it).
        pruner: ``{"kind", "startup_trials", "warmup_evals"}`` (see :data:`PRUNERS`).
        env, method, seed, budget, eval_every, eval_episodes, device: As for
            :func:`diffsim.controllers.training.train`.
        out: The trial's run directory.
        config: The method's config overrides (the trial's parameters and the fixed ones).

    Returns:
        ``{"evaluations": [{transitions, train_seconds, eval_return_mean}, …], "pruned":
        bool}``.
    """
    import optuna

    from .training import train

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = _make_pruner(pruner["kind"], pruner["startup_trials"], pruner["warmup_evals"])
    study = optuna.load_study(
        study_name=STUDY_NAME, storage=_journal(Path(journal)), pruner=_WavePruner(base, before)
    )
    trial = optuna.trial.Trial(study, trial_id)
    state = {"pruned": False}

    def on_evaluation(row: dict[str, float]) -> bool:
        # The step is the multiple of eval_every the evaluation reached: its index on the
        # schedule, the same after a resume. Step 0, the untrained policy, is not reported.
        step = int(row["transitions"]) // eval_every
        if step == 0:
            return False
        trial.report(float(row["eval_return_mean"]), step)
        state["pruned"] = trial.should_prune()
        return state["pruned"]

    result = train(
        env,
        method=method,
        seed=seed,
        out=out,
        config=config,
        budget=budget,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        stop_when_solved=False,
        progress=False,
        device=device,
        on_evaluation=on_evaluation,
    )
    keys = ("transitions", "train_seconds", "eval_return_mean")
    evaluations = [{k: float(row[k]) for k in keys} for row in result.metrics]
    finished = evaluations[-1]["transitions"] >= budget
    return {"evaluations": evaluations, "pruned": state["pruned"] and not finished}


def objective_value(evaluations: Sequence[dict[str, float]], objective: str) -> float:
    """A trial's value from its evaluations (see :data:`OBJECTIVES`)."""
    returns = [e["eval_return_mean"] for e in evaluations]
    if objective == "final":
        return float(returns[-1])
    if objective == "best":
        return float(max(returns))
    return float(sum(returns) / len(returns))


def train_command(
    env: str,
    method: str,
    seed: int,
    budget: int,
    eval_every: int,
    eval_episodes: int,
    config: dict[str, Any],
) -> str:
    """The ``diffsim train`` line that reruns a trial (``--no-stop``, every override)."""
    words = [
        "diffsim",
        "train",
        env,
        "--method",
        method,
        "--seed",
        str(seed),
        "--budget",
        str(budget),
        "--eval-every",
        str(eval_every),
        "--eval-episodes",
        str(eval_episodes),
        "--no-stop",
    ]
    for name, value in config.items():
        words += ["--set", f"{name}={value!r}"]
    return " ".join(shlex.quote(w) for w in words)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")


def _trial_row(frozen: Any, out: Path) -> dict[str, Any]:
    attrs = frozen.user_attrs
    return {
        "number": frozen.number,
        "params": dict(frozen.params),
        "state": {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}.get(
            frozen.state.name, frozen.state.name.lower()
        ),
        "value": frozen.value if frozen.state.name == "COMPLETE" else None,
        "evaluations": attrs.get("evaluations", []),
        "seconds": attrs.get("seconds"),
        "dir": str(Path("trials") / str(frozen.number)),
        "error": attrs.get("error"),
    }


def sweep(
    env: str,
    method: Optional[str] = None,
    space: Union[Sequence[str], dict[str, str], None] = None,
    trials: int = 16,
    out: Union[str, Path] = "sweep",
    *,
    budget: Optional[int] = None,
    seed: int = 0,
    eval_every: int = 1000,
    eval_episodes: Optional[int] = None,
    config: Optional[dict[str, Any]] = None,
    objective: str = "final",
    pruner: str = "median",
    startup_trials: int = 2,
    warmup_evals: int = 0,
    sampler: str = "tpe",
    executor: str = "serial",
    address: Optional[str] = None,
    num_cpus: Optional[int] = None,
    cpus_per_trial: float = 1,
    threads_per_trial: Optional[int] = None,
    parallel: Optional[int] = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Search ``space`` for the configuration of ``method`` on ``env`` with the best objective.

    Args:
        env: A task's short name or id (as for :func:`~diffsim.controllers.training.train`).
        method: A registered method (default: the task's default method).
        space: ``["NAME=DIST", …]`` or ``{NAME: DIST}``; each NAME a field of the method's
            config, each DIST as :func:`parse_dist` reads.
        trials: How many trials the study holds at the end (a rerun with more adds trials).
        out: The sweep's directory: ``study.journal``, ``trials/<n>/`` (run directories),
            ``sweep.json`` (written after each wave); the CLI adds ``summary.txt`` and
            ``trials.png``.
        budget: Training transitions of every trial (default: the method's per-task one).
        seed: Every trial's training seed, and the sampler's seed.
        eval_every: Evaluation interval in transitions (the pruner's steps).
        eval_episodes: Episodes per evaluation (default: the protocol's 100).
        config: Fixed overrides applied to every trial (not searched).
        objective: One of :data:`OBJECTIVES` (maximised).
        pruner: One of :data:`PRUNERS`.
        startup_trials: ``median``: trials that must complete before any is pruned.
        warmup_evals: Evaluations after training that a trial always gets before the pruner
            may stop it (0: it may stop at the first one); ``halving``: its first rung is
            the next evaluation.
        sampler: One of :data:`SAMPLERS`.
        executor: ``"serial"`` or ``"ray"`` (:mod:`~diffsim.controllers.executors`).
        address: Ray: ``None`` starts a local instance, ``"auto"``/``"HOST:PORT"`` joins one.
        num_cpus: Ray: CPUs of a local instance (default: this machine's).
        cpus_per_trial: Ray: CPUs reserved per trial.
        threads_per_trial: Torch threads of every trial (default: ``cpus_per_trial`` rounded
            up), with either executor.
        parallel: Trials per wave (default: 1 serial, Ray's CPUs // ``cpus_per_trial``).
        device: Torch device of the trainers.
        progress: Show a progress bar over the trials.

    Returns:
        The content of ``sweep.json``: the settings, ``trials`` (each trial's number,
        params, state ``complete``/``pruned``/``failed``, value, evaluations, seconds, dir,
        error), ``best`` (number, params, value, ``train_command``; ``None`` when no trial
        completed), ``command``, ``versions``, ``executor``, ``parallel``, ``seconds``.

    Raises:
        ImportError: Optuna (or, for ``executor="ray"``, Ray) is not installed.
        ValueError, TypeError: a bad argument (named, with what was expected), or ``out``
            holds a study with other settings.
    """
    from diffsim._validation import check_choice
    from diffsim.envs.rollout import resolve_env_id

    from . import training
    from ._names import default_method
    from .checkpoint import write_json
    from .evaluate import EVAL_EPISODES
    from .executors import EXECUTORS, Job, make_executor

    try:
        import optuna
    except ImportError as exc:
        raise ImportError(OPTUNA_MISSING) from exc

    env_id = resolve_env_id(env)
    method = default_method(env_id) if method is None else method
    m = training.get_method(method, env_id)
    parsed = parse_space(space or [])
    check_space(parsed, m.config_class, method)
    fixed = dict(config or {})
    clash = sorted(set(fixed) & set(parsed))
    if clash:
        raise ValueError(f"{', '.join(clash)}: both searched (--space) and fixed (--set)")
    training.build_config(m, env_id, fixed)  # unknown or ill-typed fixed overrides raise now
    check_choice("objective", objective, OBJECTIVES)
    check_choice("pruner", pruner, PRUNERS)
    check_choice("sampler", sampler, SAMPLERS)
    check_choice("executor", executor, EXECUTORS)
    _check_int("trials", trials, 1)
    _check_int("seed", seed, 0)
    _check_int("eval_every", eval_every, 1)
    _check_int("startup_trials", startup_trials, 0)
    _check_int("warmup_evals", warmup_evals, 0)
    budget = m.default_budget(env_id) if budget is None else budget
    _check_int("budget", budget, 1)
    eval_episodes = EVAL_EPISODES if eval_episodes is None else eval_episodes
    _check_int("eval_episodes", eval_episodes, 1)
    if parallel is not None:
        _check_int("parallel", parallel, 1)
    if threads_per_trial is None:
        threads_per_trial = max(1, math.ceil(cpus_per_trial))

    out = Path(out).resolve()
    (out / "trials").mkdir(parents=True, exist_ok=True)
    settings = {
        "env_id": env_id,
        "method": method,
        "space": {k: d.text for k, d in parsed.items()},
        "config": fixed,
        "seed": seed,
        "budget": budget,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "objective": objective,
        "pruner": pruner,
        "startup_trials": startup_trials,
        "warmup_evals": warmup_evals,
        "sampler": sampler,
        "device": device,
    }
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _journal(out / JOURNAL)
    study = optuna.create_study(
        storage=storage, study_name=STUDY_NAME, direction="maximize", load_if_exists=True
    )
    saved = study.user_attrs.get("settings")
    if saved is None:
        study.set_user_attr("settings", settings)
    else:
        # The journal stores JSON: compare what JSON gives back.
        import json

        now = json.loads(json.dumps(settings))
        differ = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
        if differ:
            details = "; ".join(
                f"{k}: saved {a!r}, requested {b!r}" for k, (a, b) in differ.items()
            )
            raise ValueError(
                f"{out} holds a sweep with other settings ({details}); choose another --out "
                "to start a new sweep"
            )
    distributions = {k: d.optuna() for k, d in parsed.items()}
    pruner_spec = {"kind": pruner, "startup_trials": startup_trials, "warmup_evals": warmup_evals}
    started = time.perf_counter()

    if executor == "serial":
        runner = make_executor("serial", threads_per_job=threads_per_trial)
    else:
        options: dict[str, Any] = {
            "address": address,
            "cpus_per_job": cpus_per_trial,
            "threads_per_job": threads_per_trial,
            "preload": ("diffsim.controllers.training",),
        }
        if num_cpus is not None:
            options["num_cpus"] = num_cpus
        runner = make_executor(executor, **options)
    from tqdm.auto import tqdm

    with runner:
        if parallel is None:
            parallel = 1
            if executor == "ray":
                import ray

                cpus = ray.cluster_resources().get("CPU", 1)
                parallel = max(1, int(cpus // cpus_per_trial))
        finished_states = ("COMPLETE", "PRUNED", "FAIL")
        done = sum(t.state.name in finished_states for t in study.get_trials(deepcopy=False))
        bar = tqdm(
            total=trials,
            initial=min(done, trials),
            unit="trial",
            desc="sweep",
            disable=not progress,
            dynamic_ncols=True,
        )
        while True:
            all_trials = study.get_trials(deepcopy=False)
            # Interrupted trials first (they resume from their checkpoint), then new ones.
            wave = [t for t in all_trials if t.state.name == "RUNNING"][:parallel]
            while len(wave) < parallel and len(all_trials) < trials:
                number = len(all_trials)
                study.sampler = _make_sampler(sampler, seed, number)
                asked = study.ask(distributions)
                before = wave[0].user_attrs["wave"] if wave else number
                asked.set_user_attr("wave", before)
                all_trials = study.get_trials(deepcopy=False)
                wave.append(next(t for t in all_trials if t.number == asked.number))
            if not wave:
                break
            jobs = []
            for t in wave:
                jobs.append(
                    Job(
                        str(t.number),
                        run_trial,
                        {
                            "journal": str(out / JOURNAL),
                            "trial_id": t._trial_id,
                            "before": t.user_attrs["wave"],
                            "pruner": pruner_spec,
                            "env": env_id,
                            "method": method,
                            "seed": seed,
                            "out": str(out / "trials" / str(t.number)),
                            "config": {**fixed, **t.params},
                            "budget": budget,
                            "eval_every": eval_every,
                            "eval_episodes": eval_episodes,
                            "device": device,
                        },
                    )
                )
            for outcome in runner.run(jobs):
                number = int(outcome.key)
                trial_id = next(t._trial_id for t in wave if t.number == number)
                storage.set_trial_user_attr(trial_id, "seconds", round(outcome.seconds, 3))
                if not outcome.ok:
                    storage.set_trial_user_attr(trial_id, "error", outcome.error)
                    study.tell(number, state=optuna.trial.TrialState.FAIL)
                else:
                    evaluations = outcome.value["evaluations"]
                    storage.set_trial_user_attr(trial_id, "evaluations", evaluations)
                    if outcome.value["pruned"]:
                        study.tell(number, state=optuna.trial.TrialState.PRUNED)
                    else:
                        study.tell(number, objective_value(evaluations, objective))
                bar.update(1)
                best = _best(study)
                if best is not None:
                    bar.set_postfix({"best": f"{best.value:.4g} (trial {best.number})"})
            result = _result(study, out, env, settings, executor, parallel, started)
            write_json(out / "sweep.json", result)
        bar.close()
    return _result(study, out, env, settings, executor, parallel, started)


def _best(study: Any) -> Any:
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return None
    return max(complete, key=lambda t: (t.value, -t.number))  # ties: the earliest trial


def _result(
    study: Any,
    out: Path,
    env: str,
    settings: dict[str, Any],
    executor: str,
    parallel: int,
    started: float,
) -> dict[str, Any]:
    from .training import versions

    rows = [_trial_row(t, out) for t in study.get_trials(deepcopy=False)]
    best = _best(study)
    best_row = None
    if best is not None:
        params = {**settings["config"], **best.params}
        best_row = {
            "number": best.number,
            "params": dict(best.params),
            "value": best.value,
            "train_command": train_command(
                env,
                settings["method"],
                settings["seed"],
                settings["budget"],
                settings["eval_every"],
                settings["eval_episodes"],
                params,
            ),
        }
    return {
        **settings,
        "trials": rows,
        "best": best_row,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "versions": versions(),
        "executor": executor,
        "parallel": parallel,
        "seconds": round(time.perf_counter() - started, 3),
    }


def format_summary(result: dict[str, Any]) -> str:
    """The results table: one line per trial (number, state, value, last evaluation return,
    evaluations, transitions, seconds, parameters), then the best trial and its train line."""
    names = list(result["space"])
    header = ["trial", "state", "objective", "last return", "evals", "transitions", "seconds"]
    header += names
    lines = [header]
    for t in result["trials"]:
        evals = t["evaluations"]
        last = evals[-1] if evals else None
        lines.append(
            [
                str(t["number"]),
                t["state"],
                "-" if t["value"] is None else f"{t['value']:.4g}",
                "-" if last is None else f"{last['eval_return_mean']:.4g}",
                str(len(evals)),
                "-" if last is None else f"{int(last['transitions'])}",
                "-" if t["seconds"] is None else f"{t['seconds']:.1f}",
            ]
            + [_show(t["params"].get(n)) for n in names]
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    text = [
        "  ".join(
            cell.rjust(w) if i != 1 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in lines
    ]
    counts = {
        s: sum(t["state"] == s for t in result["trials"]) for s in ("complete", "pruned", "failed")
    }
    text.append(
        f"{len(result['trials'])} trials: {counts['complete']} complete, {counts['pruned']} "
        f"pruned, {counts['failed']} failed; objective: {result['objective']} evaluation return"
    )
    best = result["best"]
    if best is None:
        text.append("no trial completed")
    else:
        text.append(f"best: trial {best['number']}, objective {best['value']:.6g}")
        text.append(best["train_command"])
    for t in result["trials"]:
        if t["error"]:
            text.append(f"trial {t['number']} failed: {t['error']}")
    return "\n".join(text)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def trials_figure(result: dict[str, Any], *, title: str = "") -> Any:
    """The trials of a sweep: objective against trial number, and the evaluation curves.

    Left: each complete trial's objective (dots), pruned trials' last reported return
    (crosses), failed trials as ticks on the x-axis, and the best value so far (a step
    line). Right: every trial's evaluation return against transitions, complete trials in
    colour (the best one thicker), pruned ones grey, dashed, with a cross where they were
    stopped; the x-axis is logarithmic (from the first evaluation after training) when the
    evaluations span more than a factor of 10.

    Args:
        result: A :func:`sweep` result (the content of ``sweep.json``).
        title: Figure title (default: the task, method and objective).

    Returns:
        A matplotlib ``Figure``.
    """
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.5, 3.9), layout="constrained")
    left, right = fig.subplots(1, 2)
    best = result["best"]
    running = -math.inf
    steps_x, steps_y = [], []
    for t in result["trials"]:
        evals = t["evaluations"]
        if t["state"] == "complete":
            left.plot(t["number"], t["value"], "o", color="C0")
            running = max(running, t["value"])
        elif t["state"] == "pruned" and evals:
            left.plot(t["number"], evals[-1]["eval_return_mean"], "x", color="0.45")
        elif t["state"] == "failed":
            left.plot(
                t["number"], 0, "|", color="C3", transform=left.get_xaxis_transform(), markersize=12
            )
        if running > -math.inf:
            steps_x.append(t["number"])
            steps_y.append(running)
    if steps_x:
        left.step(steps_x, steps_y, where="post", color="C1", lw=1.2, label="best so far")
    left.plot([], [], "o", color="C0", label="complete (objective)")
    left.plot([], [], "x", color="0.45", label="pruned (last return)")
    left.set_xlabel("trial")
    left.set_ylabel(f"{result['objective']} evaluation return")
    left.legend(fontsize=8)
    positive = [
        e["transitions"] for t in result["trials"] for e in t["evaluations"] if e["transitions"] > 0
    ]
    log_x = bool(positive) and max(positive) > 10 * min(positive)
    for k, t in enumerate(result["trials"]):
        xs = np.array([e["transitions"] for e in t["evaluations"]], dtype=float)
        ys = np.array([e["eval_return_mean"] for e in t["evaluations"]], dtype=float)
        if log_x:
            keep = xs > 0
            xs, ys = xs[keep], ys[keep]
        if not len(xs):
            continue
        if t["state"] == "pruned":
            right.plot(xs, ys, "--", color="0.6", lw=1)
            right.plot(xs[-1], ys[-1], "x", color="0.35")
        else:
            is_best = best is not None and t["number"] == best["number"]
            right.plot(
                xs,
                ys,
                "-",
                color=f"C{k % 10}",
                lw=2.4 if is_best else 1,
                label=f"trial {t['number']} (best)" if is_best else None,
            )
    if log_x:
        right.set_xscale("log")
    right.set_xlabel("environment transitions")
    right.set_ylabel("evaluation return")
    right.plot([], [], "--x", color="0.6", label="pruned")
    right.legend(fontsize=8)
    fig.suptitle(
        title
        or f"{result['env_id']} {result['method']}: {len(result['trials'])} "
        f"trials over {', '.join(result['space'])}"
    )
    return fig
