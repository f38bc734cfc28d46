"""The command line: each subcommand runs on a tiny input and writes what it says."""

import json

import numpy as np
import pytest

from diffsim.scripts.main import main


def _png_pixels(path):
    from matplotlib.image import imread

    return imread(path)


def test_bench_quick_writes_json_and_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(
        [
            "bench",
            "--batches",
            "1,8",
            "--steps",
            "5",
            "--repeats",
            "1",
            "--gym-steps",
            "200",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    result = json.loads(out.read_text())
    assert {r["system"] for r in result["results"]} == {"cartpole", "pendulum"}
    assert {r["mode"] for r in result["results"]} == {"forward", "forward+backward"}
    assert all(r["steps_per_s"] > 0 for r in result["results"])
    assert result["reference"]["gymnasium_cartpole_single"] > 0
    assert "torch" in result["machine"]
    assert "vs gym 1 env" in capsys.readouterr().out


@pytest.mark.parametrize("env,starts", [("cartpole", 3), ("pendulum", 2), ("pendulum-2019", 1)])
def test_plot_trajectory_writes_nonblank_png(tmp_path, env, starts):
    out = tmp_path / "t.png"
    assert (
        main(
            [
                "plot",
                "trajectory",
                env,
                "--starts",
                str(starts),
                "--steps",
                "60",
                "--policy",
                "random",
                "--out",
                str(out),
                "--dpi",
                "50",
            ]
        )
        == 0
    )
    img = _png_pixels(out)
    assert img.shape[0] > 100 and img.shape[1] > 200
    assert np.std(img[..., :3]) > 0.05  # not a blank canvas


def test_plot_unknown_env_is_a_clear_error(capsys):
    assert main(["plot", "trajectory", "cartpol"]) == 2
    assert "expected one of: cartpole" in capsys.readouterr().err
