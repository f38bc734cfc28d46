"""diffsim sweep: the search-space syntax, the checks against the method's config, a serial
and a Ray sweep of tiny trials on CartPole, pruning, failed trials and resuming."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from diffsim.controllers import sweep as sweep_mod  # noqa: E402
from diffsim.controllers.bptt import BPTTConfig  # noqa: E402
from diffsim.controllers.sweep import Dist, check_space, parse_dist, parse_space  # noqa: E402
from diffsim.scripts.main import build_parser, main  # noqa: E402
from diffsim.scripts.train import parse_overrides  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Four tiny trials: 1,500 transitions, evaluated every 500 on 3 episodes.
TINY = [
    "--budget",
    "1500",
    "--eval-every",
    "500",
    "--eval-episodes",
    "3",
    "--trials",
    "4",
    "--parallel",
    "2",
    "--startup-trials",
    "1",
    "--quiet",
]
SPACE = ["--space", "lr=loguniform(0.01, 3)", "--space", "horizon=int(5, 60)"]


def _strict_json(path: Path) -> dict:
    def refuse(name):
        raise AssertionError(f"{path} holds {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


# -- the DIST syntax ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "args"),
    [
        ("uniform(0, 1)", "uniform", (0.0, 1.0)),
        ("loguniform(1e-3,3)", "loguniform", (0.001, 3.0)),
        (" int( 2 , 64 ) ", "int", (2, 64)),
        ("choice(adam, normalized_sgd)", "choice", ("adam", "normalized_sgd")),
        ("choice(1, 2.5, None, True, 'a b')", "choice", (1, 2.5, None, True, "a b")),
    ],
)
def test_parse_dist_reads_each_form(text, kind, args):
    dist = parse_dist(text)
    assert (dist.kind, dist.args) == (kind, args)
    assert [type(a) for a in dist.args] == [type(a) for a in args]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("normal(0, 1)", r"unknown distribution 'normal' in 'normal\(0, 1\)': expected uniform"),
        ("0.1", r"cannot read the distribution '0.1': expected uniform\(a,b\), loguniform"),
        ("uniform(1)", r"'uniform\(1\)': uniform\(a,b\) takes two bounds, got 1"),
        ("uniform(0, 1, 2)", r"takes two bounds, got 3"),
        ("uniform(2, 1)", r"'uniform\(2, 1\)': the bounds must satisfy a < b, got a=2.0, b=1.0"),
        ("loguniform(0, 1)", r"loguniform\(a,b\) needs 0 < a, got a=0.0"),
        ("uniform(a, b)", r"uniform\(a,b\) needs numeric bounds, got a, b"),
        ("uniform(0, inf)", r"needs numeric bounds, got 0, inf"),
        ("int(1.5, 3)", r"'int\(1.5, 3\)': int\(a,b\) needs integer bounds, got 1.5, 3"),
        ("int(3, 3)", r"a < b, got a=3, b=3"),
        ("choice()", r"'choice\(\)': choice\(x,y,...\) needs at least one value"),
        ("choice(1, , 2)", r"needs at least one value, none empty"),
        ("choice(1, 1)", r"'choice\(1, 1\)': choice\(...\) repeats a value"),
        ("choice([1], 2)", r"a choice value must be a number, a string, True/False or None"),
    ],
)
def test_parse_dist_names_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_dist(text)


def test_parse_space_checks_names_and_pairs():
    space = parse_space(["lr=loguniform(0.01, 3)", "horizon=int(5, 60)"])
    assert space == {
        "lr": Dist("loguniform", (0.01, 3.0), "loguniform(0.01, 3)"),
        "horizon": Dist("int", (5, 60), "int(5, 60)"),
    }
    with pytest.raises(ValueError, match=r"--space expects NAME=DIST, got 'lr'"):
        parse_space(["lr"])
    with pytest.raises(ValueError, match=r"--space names 'lr' twice"):
        parse_space(["lr=uniform(0, 1)", "lr=uniform(1, 2)"])
    with pytest.raises(ValueError, match=r"--space lr: 'uniform\(1, 0\)': the bounds"):
        parse_space(["lr=uniform(1, 0)"])
    with pytest.raises(ValueError, match=r"the search space is empty"):
        parse_space([])


def test_unknown_field_lists_the_valid_ones():
    with pytest.raises(ValueError) as info:
        check_space(parse_space(["lrr=uniform(0.1, 1)"]), BPTTConfig, "bptt")
    message = str(info.value)
    assert message.startswith("unknown bptt option 'lrr'; expected one of: ")
    assert message.endswith(
        ", ".join(sorted(f.name for f in BPTTConfig.__dataclass_fields__.values()))
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "horizon=uniform(5, 60)",
            r"--space horizon=uniform\(5, 60\): BPTTConfig.horizon is an int, but "
            r"uniform\(5, 60\) draws floats",
        ),
        (
            "lr=choice(fast, 0.1)",
            r"BPTTConfig.lr is a float \(an int is accepted\), but choice\(fast, 0.1\) draws "
            r"values such as 'fast'",
        ),
        ("mirror_starts=int(0, 1)", r"BPTTConfig.mirror_starts is a bool .* draws ints"),
    ],
)
def test_distribution_of_the_wrong_type_names_field_and_distribution(item, message):
    with pytest.raises(TypeError, match=message):
        check_space(parse_space([item]), BPTTConfig, "bptt")
    # int(a,b) for a float field is fine (ints are floats there), as is None in an Optional.
    check_space(parse_space(["lr=int(1, 3)", "grad_clip=choice(None, 1.0)"]), BPTTConfig, "bptt")


def test_command_line_refuses_an_unknown_field_naming_it(tmp_path, capsys):
    code = main(
        [
            "sweep",
            "cartpole",
            "--method",
            "bptt",
            "--space",
            "lrr=uniform(0.1, 1)",
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "diffsim sweep: error: unknown bptt option 'lrr'; expected one of:" in err
    assert "horizon" in err and "lr" in err
    assert not (tmp_path / "s").exists()


def test_sweep_help_imports_neither_torch_nor_optuna_nor_ray():
    probe = (
        "import contextlib, io, sys\n"
        "from diffsim.scripts.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['sweep', '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('LOADED=' + ','.join(m for m in ('torch', 'optuna', 'ray') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT.parent
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LOADED="


def test_cli_choices_are_the_librarys():
    parser = build_parser(load_all=True)
    args = parser.parse_args(["sweep", "cartpole", "--space", "lr=uniform(0, 1)", "--out", "x"])
    assert args.objective == "final" and args.pruner == "median" and args.sampler == "tpe"
    sweep_parser = next(a for a in parser._actions if a.dest == "command").choices["sweep"]
    choices = {a.dest: tuple(a.choices) for a in sweep_parser._actions if a.choices}
    assert choices["objective"] == sweep_mod.OBJECTIVES
    assert choices["pruner"] == sweep_mod.PRUNERS
    assert choices["sampler"] == sweep_mod.SAMPLERS


# -- sweeps of tiny trials ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def serial_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "sweep"
    argv = ["sweep", "cartpole", "--method", "bptt", *SPACE, *TINY, "--out", str(out)]
    assert main(argv) == 0
    return out, _strict_json(out / "sweep.json")


def _figures(result):
    """What is deterministic in a sweep: every trial's params, state, value and curve."""
    return [
        (
            t["number"],
            t["params"],
            t["state"],
            t["value"],
            [(e["transitions"], e["eval_return_mean"]) for e in t["evaluations"]],
        )
        for t in result["trials"]
    ]


def test_serial_sweep_writes_every_file_and_a_ready_train_line(serial_sweep, capsys):
    out, result = serial_sweep
    assert sorted(p.name for p in out.iterdir()) == [
        "study.journal",
        "summary.txt",
        "sweep.json",
        "trials",
        "trials.png",
    ]
    assert (out / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0", "1", "2", "3"]
    assert [t["number"] for t in result["trials"]] == [0, 1, 2, 3]
    assert result["env_id"] == "diffsim/CartPole-v1" and result["method"] == "bptt"
    assert result["executor"] == "serial" and result["parallel"] == 2
    assert result["space"] == {"lr": "loguniform(0.01, 3)", "horizon": "int(5, 60)"}
    assert "torch" in result["versions"]
    for t in result["trials"]:
        assert t["state"] in ("complete", "pruned")
        assert set(t["params"]) == {"lr", "horizon"}
        assert 0.01 <= t["params"]["lr"] <= 3 and 5 <= t["params"]["horizon"] <= 60
        assert t["evaluations"][0]["transitions"] == 0
        rows = (out / t["dir"] / "metrics.csv").read_text().splitlines()
        assert len(rows) == 1 + len(t["evaluations"])
        if t["state"] == "complete":
            assert t["evaluations"][-1]["transitions"] == 1500
            assert t["value"] == t["evaluations"][-1]["eval_return_mean"]  # objective: final
        else:
            assert t["value"] is None and t["evaluations"][-1]["transitions"] < 1500
    complete = [t for t in result["trials"] if t["state"] == "complete"]
    best = max(complete, key=lambda t: t["value"])
    assert result["best"]["value"] == best["value"]
    assert result["best"]["params"] == result["trials"][result["best"]["number"]]["params"]
    summary = (out / "summary.txt").read_text()
    assert result["best"]["train_command"] in summary.splitlines()
    assert summary.splitlines()[0].split() == [
        "trial",
        "state",
        "objective",
        "last",
        "return",
        "evals",
        "transitions",
        "seconds",
        "lr",
        "horizon",
    ]


def test_best_configuration_reruns_to_the_reported_figure(serial_sweep, tmp_path):
    import torch

    from diffsim.controllers.training import train

    _, result = serial_sweep
    best = result["best"]
    words = best["train_command"].split()
    assert words[:2] == ["diffsim", "train"]
    args = build_parser().parse_args([*words[1:], "--out", str(tmp_path / "rerun")])
    assert (args.env, args.method, args.seed, args.budget) == ("cartpole", "bptt", 0, 1500)
    assert (args.eval_every, args.eval_episodes, args.no_stop) == (500, 3, True)
    overrides = parse_overrides(args.overrides)
    assert overrides == best["params"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as every trial ran
    try:
        rerun = train(
            args.env,
            method=args.method,
            seed=args.seed,
            out=args.out,
            config=overrides,
            budget=args.budget,
            eval_every=args.eval_every,
            eval_episodes=args.eval_episodes,
            stop_when_solved=False,
            progress=False,
        )
    finally:
        torch.set_num_threads(threads)
    assert rerun.metrics[-1]["eval_return_mean"] == best["value"]
    curve = [(r["transitions"], r["eval_return_mean"]) for r in rerun.metrics]
    trial = result["trials"][best["number"]]
    assert curve == [(e["transitions"], e["eval_return_mean"]) for e in trial["evaluations"]]


def test_ray_sweep_gives_the_serial_sweeps_trials(serial_sweep, ray_home, tmp_path):
    import ray

    _, serial = serial_sweep
    out = tmp_path / "ray"
    argv = [
        "sweep",
        "cartpole",
        "--method",
        "bptt",
        *SPACE,
        *TINY,
        "--out",
        str(out),
        "--executor",
        "ray",
        "--num-cpus",
        "2",
    ]
    assert main(argv) == 0
    assert not ray.is_initialized()
    result = _strict_json(out / "sweep.json")
    assert result["executor"] == "ray" and result["parallel"] == 2
    # Same wave size, seeded proposals, pruners that see only earlier waves, one torch thread
    # per trial: the same trials, states and figures.
    assert _figures(result) == _figures(serial)
    assert result["best"] == serial["best"]
    assert (out / "trials.png").exists() and (out / "summary.txt").exists()


# -- pruning, failures and resuming -------------------------------------------------------------


def _horizon_sweep(out, trials, budget=1000):
    return sweep_mod.sweep(
        "cartpole",
        "bptt",
        ["horizon=choice(5, 500)"],
        trials,
        out,
        budget=budget,
        eval_every=500,
        eval_episodes=3,
        startup_trials=1,
        progress=False,
    )


def test_pruner_stops_a_bad_trial_early_and_a_rerun_continues_the_study(tmp_path):
    out = tmp_path / "sweep"
    first = _horizon_sweep(out, 3)
    # The seeded sampler proposes the same horizons every time: 500 solves at once, a
    # 5-step horizon has not learnt after 500 transitions (measured: ~10 against 500).
    assert [t["params"]["horizon"] for t in first["trials"]] == [500, 500, 5]
    assert [t["state"] for t in first["trials"]] == ["complete", "complete", "pruned"]
    pruned = first["trials"][2]
    assert [e["transitions"] for e in pruned["evaluations"]] == [0, 500]  # budget 1000
    assert len((out / "trials" / "2" / "metrics.csv").read_text().splitlines()) == 1 + 2
    # Trials 0 and 1 have the same configuration and seed: the same figure; a tie goes to
    # the earlier trial.
    figures = _figures(first)
    assert figures[0][1:] == figures[1][1:]
    assert first["best"]["number"] == 0
    assert first["best"]["value"] == first["trials"][0]["evaluations"][-1]["eval_return_mean"]

    # Rerunning with more trials keeps the three and adds one.
    second = _horizon_sweep(out, 4)
    assert _figures(second)[:3] == _figures(first)
    assert len(second["trials"]) == 4
    assert _strict_json(out / "sweep.json")["trials"] == second["trials"]

    # Other settings are refused, naming what differs.
    with pytest.raises(
        ValueError,
        match=r"holds a sweep with other settings \(budget: saved "
        r"1000, requested 2000\); choose another --out",
    ):
        _horizon_sweep(out, 4, budget=2000)


def test_a_failing_trial_is_recorded_with_its_error(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = [
        "sweep",
        "cartpole",
        "--method",
        "bptt",
        "--space",
        "lr=uniform(-2, -1)",
        "--trials",
        "1",
        "--budget",
        "500",
        "--eval-episodes",
        "1",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    result = _strict_json(out / "sweep.json")
    (trial,) = result["trials"]
    assert trial["state"] == "failed" and trial["value"] is None
    assert trial["error"].startswith("ValueError: horizon, batch_size and lr must be positive")
    assert result["best"] is None
    printed = capsys.readouterr().out
    assert "no trial completed" in printed
    assert "trial 0 failed: ValueError: horizon, batch_size and lr must be positive" in printed


def test_sweep_refuses_bad_arguments_by_name(tmp_path):
    kwargs = dict(budget=500, eval_episodes=1, progress=False)
    with pytest.raises(ValueError, match=r"unknown pruner 'asha'; expected one of: halving"):
        sweep_mod.sweep(
            "cartpole", "bptt", ["lr=uniform(0.1, 1)"], 1, tmp_path / "a", pruner="asha", **kwargs
        )
    with pytest.raises(ValueError, match=r"unknown executor 'dask'; expected one of: ray, serial"):
        sweep_mod.sweep(
            "cartpole", "bptt", ["lr=uniform(0.1, 1)"], 1, tmp_path / "e", executor="dask", **kwargs
        )
    with pytest.raises(ValueError, match=r"trials must be at least 1, got 0"):
        sweep_mod.sweep("cartpole", "bptt", ["lr=uniform(0.1, 1)"], 0, tmp_path / "b", **kwargs)
    with pytest.raises(ValueError, match=r"lr: both searched \(--space\) and fixed \(--set\)"):
        sweep_mod.sweep(
            "cartpole",
            "bptt",
            ["lr=uniform(0.1, 1)"],
            1,
            tmp_path / "c",
            config={"lr": 0.5},
            **kwargs,
        )
    assert not any(tmp_path.iterdir())
