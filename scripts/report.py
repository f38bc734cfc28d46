"""Generate ``docs/benchmarks.md`` from the comparison result files under ``docs/results/``.

Usage: ``python -m diffsim.scripts.report [--results docs/results] [--out docs/benchmarks.md]
[--readme README.md]``. Only ``--out`` is written, and the README given by ``--readme`` (its
total time, between the ``<!-- benchmarks-time -->`` markers): no README is touched unless
one is named. An unreadable ``--readme`` or one without both markers is refused (exit 2)
before anything is written.

Every ``results.json`` written by ``diffsim compare`` under ``--results`` (one folder per
comparison, with its ``curves.png``) is read; the page gives, all computed from those files:

- how to regenerate each comparison (its command, and how long it took here);
- per task, the methods side by side (seeds solved, transitions and training seconds to
  solve, final return) and each method's cost relative to the gradient-based one;
- the equivalence check: each baseline on this project's environment and on Gymnasium's own;
- the 2019 post's claims, checked (CartPole in about five episodes; the pendulum in one
  episode, with and without the torque limit);
- every comparison in full, with its machine, versions and learning curves.

The discussion's figures and its comparative words ("fewer", "more") are computed as well,
so that regenerating the page from new result files cannot leave a stale claim behind.
Nothing in the generated page is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

from diffsim.controllers.compare import load_result

GRADIENT_METHODS = ("bptt", "shac")
"""Methods that learn from gradients through the simulator (the rest are baselines)."""

CARTPOLE_STEPS = 500
PENDULUM_STEPS = 200


def _cell(stats: Optional[dict[str, float]], spec: str) -> str:
    if stats is None:
        return "—"
    return f"{stats['median']:{spec}} [{stats['min']:{spec}}, {stats['max']:{spec}}]"


def _median(summary: dict[str, Any], key: str) -> Optional[float]:
    stats = summary.get(key)
    return None if stats is None else stats["median"]


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{_times(a / b)}×"


def _times(x: float) -> str:
    """A ratio with two significant digits, never in exponent form (440, 63, 8.2, 0.044)."""
    return f"{x:.0f}" if x >= 10 else f"{x:.2g}"


def _is_gymnasium(env_id: str) -> bool:
    """Whether ``env_id`` is Gymnasium's own twin of a diffsim id (``CartPole-v1``)."""
    from diffsim.envs.rollout import GYMNASIUM_TWINS

    return env_id in GYMNASIUM_TWINS


def _load_all(results_dir: Path) -> dict[str, dict[str, Any]]:
    files = sorted(results_dir.glob("*/results.json"))
    if not files:
        raise FileNotFoundError(f"no */results.json under {results_dir}")
    return {path.parent.name: load_result(path) for path in files}


def _gradient_method(result: dict[str, Any]) -> Optional[str]:
    """The gradient-based method of a comparison that solved with the fewest transitions."""
    best, best_value = None, None
    for method in result["methods"]:
        if method not in GRADIENT_METHODS:
            continue
        value = _median(result["summary"][method], "transitions_to_solve")
        if best is None or (value is not None and (best_value is None or value < best_value)):
            best, best_value = method, value
    return best


def _minutes(result: dict[str, Any]) -> str:
    return f"{_cost_seconds(result) / 60:.1f} min"


def _cost_seconds(result: dict[str, Any]) -> float:
    """Training plus evaluation seconds of every run of a comparison.

    This is what regenerating it costs, also when it was run in several resumed parts (its
    ``wall_seconds`` only covers the last part); never less than that wall-clock.
    """
    cells = sum(c["curve"]["train_seconds"][-1] + c["eval_seconds_total"] for c in result["cells"])
    return max(cells, result["wall_seconds"])


def _regenerate(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "## Regenerating these figures",
        "",
        'From a fresh clone, after `pip install -c constraints.txt -e ".[baselines]"`, each '
        "comparison below is one command (its time on the machine named in its section: the "
        "training and evaluation time of all its runs); then copy `OUT/results.json`, "
        "`summary.txt` and `curves.png` into `docs/results/<name>/` and run "
        "`python -m diffsim.scripts.report --readme README.md` (which also updates the total "
        "time in README.md).",
        "",
        "| name | command | wall-clock here |",
        "|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | `{r['command']}` | {_minutes(r)} |")
    total = sum(_cost_seconds(r) for r in results.values()) / 60
    lines += ["", f"All of them together: about {total:.0f} minutes here.", ""]
    return lines


def _optima(results_dir: Path) -> dict[str, dict[str, Any]]:
    """Env id → the ``diffsim optimum`` result (``optimum_*.json``) evaluated on it."""
    import json

    out = {}
    for f in sorted(results_dir.glob("optimum_*.json")):
        data = json.loads(f.read_text())
        if not {"env_id", "optimum", "episodes", "grids", "command"} <= set(data):
            raise ValueError(f"{f} is not a diffsim optimum result (env_id, optimum, ... missing)")
        out[data["env_id"]] = {**data, "file": f.name}
    return out


def _gap(final: dict[str, float], optimum: float) -> str:
    """The final return's shortfall from the optimum, % of |optimum|: median [min, max]."""

    def pct(x: float) -> float:
        return (optimum - x) / abs(optimum) * 100

    return f"{pct(final['median']):.1f} % [{pct(final['max']):.1f}, {pct(final['min']):.1f}]"


def _headline(
    results: dict[str, dict[str, Any]], optima: Optional[dict[str, dict[str, Any]]] = None
) -> list[str]:
    optima = optima or {}
    lines = ["## Methods side by side", ""]
    for name, r in results.items():
        if len(r["methods"]) < 2 or _is_gymnasium(r["env_id"]):
            continue
        opt = optima.get(r["env_id"])
        if opt is not None and opt["episodes"] != r["eval_episodes"]:
            opt = None  # another set of starts: not this table's reference
        ref = _gradient_method(r)
        ref_tr = _median(r["summary"][ref], "transitions_to_solve") if ref else None
        ref_s = _median(r["summary"][ref], "seconds_to_solve") if ref else None
        lines += [
            f"### {r['env_id']} ({name})",
            "",
            f"Solved: 100-episode mean return ≥ {r['solved_return']}. Medians with [min, max] "
            f"over {len(r['seeds'])} seeds; 'to solve' is the first evaluation that passed "
            f"(evaluations every {r['eval_every']} transitions, or after every update where one "
            "update consumes more); seconds are training time only, on "
            f"{r['machine']['torch_threads']} torch thread(s). The × columns divide a method's "
            f"median by {ref}'s" + (" (computed over the seeds that solved)." if ref else "."),
            "",
            "| method | seeds solved | transitions to solve | × transitions | training s to "
            "solve | × seconds | final return |" + (" gap to optimum |" if opt else ""),
            "|---|---|---|---|---|---|---|" + ("---|" if opt else ""),
        ]
        for method, s in r["summary"].items():
            lines.append(
                f"| {method} | {s['seeds_solved']}/{s['seeds']} | "
                f"{_cell(s['transitions_to_solve'], '.0f')} | "
                f"{_ratio(_median(s, 'transitions_to_solve'), ref_tr)} | "
                f"{_cell(s['seconds_to_solve'], '.2f')} | "
                f"{_ratio(_median(s, 'seconds_to_solve'), ref_s)} | "
                f"{_cell(s['final_return'], '.1f')} |"
                + (f" {_gap(s['final_return'], opt['optimum'])} |" if opt else "")
            )
        if opt:
            finest = opt["grids"][-1]["grid"]
            convergence = ", ".join(
                f"{g['grid'][0]}×{g['grid'][1]}: {g['eval_return_mean']:.2f}" for g in opt["grids"]
            )
            lines += [
                "",
                f"The optimum on these {opt['episodes']} starts: {opt['optimum']:.2f} (`"
                f"{opt['command']}`, `{opt['file']}`): the return of the greedy policy of "
                f"finite-horizon dynamic programming on a {finest[0]} × {finest[1]} grid of "
                "states, which a policy reaches, so the true optimum is at least as good "
                f"(by grid: {convergence}). The gap is (optimum − final return) / |optimum|.",
            ]
        lines += ["", *_discussion(r, ref), ""]
    return lines


def _discussion(r: dict[str, Any], ref: Optional[str]) -> list[str]:
    """Sentences comparing every other method with the gradient-based one, from the table."""
    if ref is None:
        return []
    s_ref = r["summary"][ref]
    out = []
    for method, s in r["summary"].items():
        if method == ref:
            continue
        if s["seeds_solved"] == 0:
            final = _median(s, "final_return")
            out.append(
                f"- {method} solved none of its {s['seeds']} seeds within its budget (median "
                f"final return {final:.1f}); {ref} solved {s_ref['seeds_solved']}/"
                f"{s_ref['seeds']}."
            )
            continue
        tr = _median(s, "transitions_to_solve") / _median(s_ref, "transitions_to_solve")
        sec = _median(s, "seconds_to_solve") / _median(s_ref, "seconds_to_solve")
        word_tr = "more" if tr >= 1 else "fewer"
        word_s = "longer" if sec >= 1 else "shorter"
        out.append(
            f"- {method} needed {_times(max(tr, 1 / tr))}× {word_tr} transitions than {ref} and "
            f"trained {_times(max(sec, 1 / sec))}× {word_s} to solve ({s['seeds_solved']}/"
            f"{s['seeds']} seeds solved, against {s_ref['seeds_solved']}/{s_ref['seeds']})."
        )
    return out


def _equivalence(results: dict[str, dict[str, Any]]) -> list[str]:
    from diffsim.envs.rollout import GYMNASIUM_TWINS

    lines = [
        "## The environments are Gymnasium's, not easier ones",
        "",
        "The RL baselines also ran on Gymnasium's own environments, with the same "
        "hyperparameters, seeds and evaluation. If this project's environments were easier, "
        "the baselines would solve them sooner than Gymnasium's; the figures below agree "
        "within the spread across seeds. The last column counts the seeds whose learning "
        "curves (every evaluation's mean return) are equal to the last digit on both. That "
        "takes trajectories equal bit for bit and the same arithmetic in the training: two "
        "runs of a seed on different CPUs (torch's kernels round differently; each part of a "
        "comparison records its machine in its `results.json`), or in different versions "
        "of this project, take different courses, and only their spread can be compared.",
        "",
        "| task | method | this project: solved, transitions to solve, final return | "
        "Gymnasium's: solved, transitions to solve, final return | seeds with equal "
        "curves |",
        "|---|---|---|---|---|",
    ]
    found = False
    by_env: dict[str, list[dict[str, Any]]] = {}
    for r in results.values():
        by_env.setdefault(r["env_id"], []).append(r)
    for gym_id, gym_results in by_env.items():
        if not _is_gymnasium(gym_id):
            continue
        for g in gym_results:
            for method in g["methods"]:
                ours = [
                    r for r in by_env.get(GYMNASIUM_TWINS[gym_id], []) if method in r["summary"]
                ]
                if not ours:
                    continue
                found = True
                a, b = ours[0]["summary"][method], g["summary"][method]
                equal, paired = _equal_curves(ours, g, method)
                lines.append(
                    f"| {gym_id} | {method} | {a['seeds_solved']}/{a['seeds']}, "
                    f"{_cell(a['transitions_to_solve'], '.0f')}, "
                    f"{_cell(a['final_return'], '.1f')} | {b['seeds_solved']}/{b['seeds']}, "
                    f"{_cell(b['transitions_to_solve'], '.0f')}, "
                    f"{_cell(b['final_return'], '.1f')} | {equal}/{paired} |"
                )
    return lines + [""] if found else []


def _equal_curves(
    ours: list[dict[str, Any]], theirs: dict[str, Any], method: str
) -> tuple[int, int]:
    """How many of ``method``'s seeds in ``theirs`` have a learning curve (the mean return of
    every evaluation) equal to that of the same seed in one of ``ours``, of the seeds both
    hold (a seed rerun in another of ours, e.g. on the other comparison's CPU, counts)."""

    def curves(result: dict[str, Any]) -> dict[int, list[float]]:
        return {
            c["seed"]: c["curve"]["eval_return_mean"]
            for c in result["cells"]
            if c["method"] == method
        }

    b = curves(theirs)
    mine: dict[int, list[list[float]]] = {}
    for r in ours:
        for seed, curve in curves(r).items():
            mine.setdefault(seed, []).append(curve)
    paired = sorted(set(mine) & set(b))
    return sum(b[s] in mine[s] for s in paired), len(paired)


def _cross_eval(results_dir: Path) -> list[str]:
    """The table of ``cross_eval*.json`` (written by ``diffsim.scripts.cross_eval``)."""
    import json

    files = sorted(results_dir.glob("cross_eval*.json"))
    if not files:
        return []
    rows = [row for f in files for row in json.loads(f.read_text())["runs"]]
    same = max(abs(r["return_gymnasium"] - r["return_diffsim_same_starts"]) for r in rows)
    shift = [r["return_diffsim_default"] - r["return_gymnasium"] for r in rows]
    names = ", ".join(f"`{f.name}`" for f in files)
    lines = [
        "### The same final policies, evaluated on both environments from the same starts",
        "",
        f"`python -m diffsim.scripts.cross_eval` ({names}) re-evaluates every final "
        "policy on Gymnasium's env and on diffsim's twin, both as Gymnasium's `SyncVectorEnv` "
        "(the same 100 starts), and by diffsim's default evaluation (its own vector env, which "
        "draws the starts of Gymnasium's default evaluation of the same id: "
        "`CartPoleVectorEnv`'s for CartPole, `SyncVectorEnv`'s for Pendulum; "
        "[parity.md](parity.md)). Over "
        f"{len(rows)} policies the largest difference between the first two is {same:.2g} "
        "(return units); the default evaluation differs from the first by "
        f"{min(shift):+.1f} to {max(shift):+.1f}, where Gymnasium's own two start sets differ.",
        "",
        "Each file's runs (how they were trained: [protocol.md](protocol.md)):",
        "",
    ]
    for f in files:
        data = json.loads(f.read_text())
        runs = [r["run"] for r in data["runs"]]
        lines.append(f"- `{f.name}`: {len(runs)} runs, `{runs[0]}` … `{runs[-1]}`")
    lines += [
        "",
        "| method | seed | trained on | on Gymnasium's env | on diffsim's, same starts | "
        "on diffsim's, its default evaluation | solved on Gymnasium's env |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        threshold = _solved_threshold(r["trained_on"])
        solved = (
            "—" if threshold is None else ("yes" if r["return_gymnasium"] >= threshold else "no")
        )
        lines.append(
            f"| {r['method']} | {r['seed']} | {r['trained_on']} | {r['return_gymnasium']:.1f} | "
            f"{r['return_diffsim_same_starts']:.1f} | {r['return_diffsim_default']:.1f} | "
            f"{solved} |"
        )
    return lines + [""]


def _solved_threshold(env_id: str) -> Optional[float]:
    from diffsim.controllers.compare import _solved_return

    return _solved_return(env_id)


def _post_claims(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "## The 2019 post's claims, checked",
        "",
    ]
    cart = [
        r
        for r in results.values()
        if r["env_id"] == "diffsim/CartPole-v1" and "bptt" in r["summary"]
    ]
    if cart:
        r = max(cart, key=lambda r: len(r["seeds"]))
        s = r["summary"]["bptt"]
        tr = _median(s, "transitions_to_solve")
        batch = next(c for c in r["cells"] if c["method"] == "bptt")["config"]["batch_size"]
        if tr is not None:
            lines.append(
                f"- **CartPole in about five episodes.** BPTT solved {s['seeds_solved']}/"
                f"{s['seeds']} seeds at a median of {tr:.0f} training transitions, i.e. "
                f"{tr / CARTPOLE_STEPS:.1f} full-length ({CARTPOLE_STEPS}-step) episodes' worth "
                f"of simulation, in {_median(s, 'seconds_to_solve'):.2f} s of training "
                f"(range {_cell(s['transitions_to_solve'], '.0f')} transitions). Each update "
                f"simulates {batch} episode(s), cut short when the pole falls, so the training "
                f"episodes number {batch} × the updates: median "
                f"{batch * _median_updates(r, 'bptt'):.0f}."
            )
    for env_id, label in (
        ("diffsim/Pendulum2019-v1", "with the post's unclipped torque"),
        ("diffsim/Pendulum-v1", "on the real, torque-limited Pendulum-v1"),
    ):
        rs = [r for r in results.values() if r["env_id"] == env_id and "bptt" in r["summary"]]
        if not rs:
            continue
        s = rs[0]["summary"]["bptt"]
        tr = _median(s, "transitions_to_solve")
        config = next(c for c in rs[0]["cells"] if c["method"] == "bptt")["config"]
        how = f"BPTT over {config['horizon']}-step rollouts from {config['batch_size']} starts"
        if tr is not None:
            episodes = tr / PENDULUM_STEPS
            verdict = "in one episode, as the post says" if episodes <= 1 else "but not in one"
            text = (
                f"{how} solved {s['seeds_solved']}/{s['seeds']} seeds at a median of {tr:.0f} "
                f"transitions ({_cell(s['transitions_to_solve'], '.0f')}), {episodes:.0f} "
                f"{PENDULUM_STEPS}-step episodes' worth: solved, {verdict}; median final return "
                f"{_median(s, 'final_return'):.1f}"
            )
        else:
            last = rs[0]["cells"][0]["curve"]["transitions"][-1]
            text = (
                f"{how} solved none of {s['seeds']} seeds: median final return "
                f"{_median(s, 'final_return'):.1f} after {last} transitions"
            )
        lines.append(f"- **Pendulum in one episode, {label}.** {text}.")
    lines.append("")
    return lines


def _median_updates(r: dict[str, Any], method: str) -> float:
    import statistics

    ups = [
        c["solved_at"]["updates"] for c in r["cells"] if c["method"] == method and c["solved_at"]
    ]
    return statistics.median(ups) if ups else float("nan")


def _details(results: dict[str, dict[str, Any]], out: Path, results_dir: Path) -> list[str]:
    lines = ["## Every comparison in full", ""]
    for name, r in results.items():
        m = r["machine"]
        lines += [
            f"### {r['env_id']} — {', '.join(r['methods'])} ({name})",
            "",
            f"- command: `{r['command']}`",
            f"- machine: {m['cpu']}, {m['cores']} cores, GPU {m.get('gpu') or 'none'}, "
            f"{m['torch_threads']} torch thread(s); torch {m['torch']}, gymnasium "
            f"{m['gymnasium']}, stable-baselines3 {m.get('stable_baselines3', '—')}, nevergrad "
            f"{m.get('nevergrad', '—')}, python {m['python']}",
            f"- seeds {r['seeds']}; budgets {r['budget']}; evaluation every {r['eval_every']} "
            f"transitions; training time over all runs "
            f"{sum(c['curve']['train_seconds'][-1] for c in r['cells']):.0f} s, evaluation "
            f"time {sum(c['eval_seconds_total'] for c in r['cells']):.0f} s",
            "",
            "| method | seeds solved | transitions to solve | training seconds to solve |"
            " final return |",
            "|---|---|---|---|---|",
        ]
        for method, s in r["summary"].items():
            lines.append(
                f"| {method} | {s['seeds_solved']}/{s['seeds']} | "
                f"{_cell(s['transitions_to_solve'], '.0f')} | "
                f"{_cell(s['seconds_to_solve'], '.2f')} | {_cell(s['final_return'], '.1f')} |"
            )
        png = results_dir / name / "curves.png"
        if png.exists():
            rel = (
                Path("..") / png
                if not png.is_relative_to(out.parent)
                else png.relative_to(out.parent)
            )
            lines += ["", f"![learning curves of {name}]({rel.as_posix()})"]
        lines.append("")
    return lines


def render(
    results_dir: Path,
    out: Path,
    notes: str = "",
    results: Optional[dict[str, dict[str, Any]]] = None,
) -> str:
    """The Markdown page for every comparison under ``results_dir`` (read unless given)."""
    results = _load_all(results_dir) if results is None else results
    lines = [
        "# Benchmarks: BPTT against RL and gradient-free search",
        "",
        "Generated by `python -m diffsim.scripts.report` from the `results.json` files under",
        f"`{results_dir.as_posix()}/`, each written by `diffsim compare` following",
        "the project's benchmark protocol ([protocol.md](protocol.md)): the same "
        "evaluation for every method (100 episodes, fixed seed, deterministic policy), every "
        "simulated step counted as a transition, training time measured without evaluation. "
        "No figure on this page is typed by hand.",
        "",
    ]
    if notes:
        lines += [notes.strip(), ""]
    lines += _headline(results, _optima(results_dir))
    lines += _post_claims(results)
    lines += _equivalence(results)
    lines += _cross_eval(results_dir)
    lines += _codesign(results_dir)
    lines += _regenerate(results)
    lines += _details(results, out, results_dir)
    return "\n".join(lines)


def _codesign(results_dir: Path) -> list[str]:
    """The trebuchet's co-design, gradient through aim against CMA-ES (``docs/implicit.md``),
    from ``codesign/seed*/codesign.json`` when they exist."""
    files = sorted(results_dir.glob("codesign/seed*/codesign.json"))
    if not files:
        return []
    from .report_docs import render_codesign

    seeds = {int(p.parent.name.removeprefix("seed")): json.loads(p.read_text()) for p in files}
    return [
        "## Gradients through a solver: the trebuchet's co-design against CMA-ES",
        "",
        "The outer objective is the mean least counterweight that `diffsim.solvers.aim` needs "
        "over a fixed sample of the post's (wind, target) pairs; the gradient method descends "
        "it through aim's implicit gradients, CMA-ES searches it directly "
        "([implicit.md](implicit.md#co-design-of-the-trebuchet)). One outer evaluation is "
        "one batched aim over the sample (and, for the gradient, its implicit backward pass).",
        "",
        render_codesign({"codesign": dict(sorted(seeds.items()))}),
        "",
    ]


NOTES = """\
**How to read these tables.** A transition is one simulated step of one environment, counted
the same way for every method: a BPTT rollout of B starts × T steps costs B·T, a CMA-ES
generation costs every step of every candidate's episodes, an SB3 agent every env step it
takes. Evaluation episodes are not counted and their time is not included. Seconds were
measured on the 2-core CPU named in each section, on one torch thread per run. The comparisons
on diffsim's ids were all regenerated on 2026-12-01 after the vector envs' seeding changed to
Gymnasium's (which moved the 100 evaluation starts): `cartpole` and `pendulum` ran side by
side, with other work on the machine (load average 2.5 to 5 on its 2 cores), and the three
small ones after `cartpole`, beside `pendulum`; their seconds are inflated relative to a quiet
machine, the more so for the short runs (BPTT's), so compare seconds with care. The comparisons
of Acrobot and the two mountain cars ran on 2026-12-01 and 2026-12-02, one method per sitting
(`--merge`), with another comparison often beside them. The comparisons on Gymnasium's own ids
(`*_gymnasium`) ran in several sittings, some with earlier versions of the code and on other
CPUs (AMD EPYC and Intel Xeon machines; each part's machine is in its `results.json`). One
method and seed trained on both ids on the same machine with the same code give the same run,
evaluations included (`tests/test_baselines.py`), so where the two columns below differ, the
code or the CPU between the two runs differs, not the environments. Transitions do not depend
on the load.

**What the numbers say** (each sentence under a table is computed from it):

- *CartPole*, the straight-through/relaxed-action BPTT of `controllers/bptt.py` against PPO
  and DQN with the RL Zoo's tuned hyperparameters and against CMA-ES on the same linear
  policy: gradients through the simulator need an order of magnitude fewer transitions than
  either RL method, and several times less training time. CMA-ES, which evaluates a whole
  generation in one batched rollout, is competitive on wall-clock but not on transitions.
- *Pendulum-v1 with its ±2 N·m torque limit* is where plain BPTT fails (it does not solve at
  all); the short-window `shac` method solves it in seconds of training but needs far more
  transitions than SAC, whose final return is also better. Which one "wins" depends on
  whether simulation or wall-clock is the scarce resource.
- *The 2019 post's pendulum* (torque never clipped, unbounded policy) is easy for BPTT; the
  torque limit, not BPTT, is what makes Pendulum-v1 hard.
- *Acrobot and the two mountain cars* have sparse rewards: BPTT trains on each system's
  differentiable stand-in (`System.training_loss`) and is judged on the return. It solves all
  three in every seed, in a fraction of the RL baselines' training seconds; in transitions it
  is ahead of them on Acrobot, behind DQN on the discrete car and behind PPO's lucky early
  passes on the continuous one (PPO's final policies there mostly stand still). Where a
  task has an optimum file, the gap column says how far each final policy is from the best
  possible on the same 100 starts: on both cars BPTT ends closer to it than every baseline,
  but on the discrete car every method is far from it.
"""
"""Hand-written prose placed under the title (no figures: those come from the results)."""


def main(argv: Optional[list[str]] = None) -> int:
    """Write the benchmarks page (and, with ``--readme PATH``, that README's total time).

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``); see ``--help``.

    Returns:
        0 on success.

    Raises:
        SystemExit: code 2 for bad arguments, among them a ``--readme`` that cannot be read
            or lacks the markers (checked before anything is written).
        FileNotFoundError: when ``--results`` holds no ``results.json``.
    """
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--results",
        type=Path,
        default=Path("docs/results"),
        help="folder of comparison folders (default: docs/results)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("docs/benchmarks.md"),
        help="page to write (default: docs/benchmarks.md)",
    )
    p.add_argument(
        "--readme",
        type=Path,
        default=None,
        metavar="PATH",
        help="also update the total time between the markers of this README "
        "(default: no README is touched)",
    )
    args = p.parse_args(argv)
    if args.readme is not None:
        problem = _readme_problem(args.readme)
        if problem:
            p.error(f"--readme {args.readme}: {problem}")
    results = _load_all(args.results)
    args.out.write_text(render(args.results, args.out, NOTES, results))
    print(f"wrote {args.out}")
    if args.readme is not None:
        update_readme(args.readme, results)
        print(f"updated the total time in {args.readme}")
    return 0


README_MARK = ("<!-- benchmarks-time -->", "<!-- /benchmarks-time -->")


def total_time_text(results: dict[str, dict[str, Any]]) -> str:
    """The README's sentence on how long regenerating every comparison took here."""
    minutes = sum(_cost_seconds(r) for r in results.values()) / 60
    return f"all of them: about {minutes:.0f} minutes here"


def _readme_problem(readme: Path) -> Optional[str]:
    """Why ``readme`` cannot take the total time (None when it can): missing, unreadable or
    without both markers."""
    try:
        text = readme.read_text()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc}); expected an existing README file"
    missing = [mark for mark in README_MARK if mark not in text]
    if missing:
        expected = " ... ".join(README_MARK)
        return f"has no {' and no '.join(missing)} marker; expected both {expected}"
    return None


def update_readme(readme: Path, results: dict[str, dict[str, Any]]) -> bool:
    """Replace the text between the README's markers; False when it has no markers."""
    text = readme.read_text()
    start, end = README_MARK
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}{total_time_text(results)}{end}{tail}")
    return True


if __name__ == "__main__":
    sys.exit(main())
