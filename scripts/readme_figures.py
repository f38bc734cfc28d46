"""Regenerate the README's pictures in ``docs/figures/``: one of each kind.

Usage, from the repository's root: ``python -m diffsim.scripts.readme_figures`` (about a
minute on a laptop CPU); from elsewhere, ``--root CHECKOUT`` or ``--out`` and ``--results``.
Every picture is drawn by the same functions as the ``diffsim`` commands:

- ``trajectory.png``: a CartPole policy trained here by BPTT (seed 0, a few seconds), three
  starts, the first second of their episodes (``diffsim plot trajectory RUN_DIR --starts 3``,
  the README's first command);
- ``shot.png``: three trebuchet shots and a target (``diffsim plot shot``);
- ``animation.gif``: the 2019 post's shot, -2 m/s, 45°, 200 lb (``diffsim animate
  trebuchet``);
- ``curves.png``: the learning curves of the committed comparisons,
  ``docs/results/{cartpole,pendulum}/results.json`` (``diffsim plot curves``), one row each,
  on log x-axes (transitions and seconds).

PNGs are stored with a 256-colour palette, which keeps each under 100 kB.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional

DPI = 80
SHOTS = [(-2.0, 45.0, 200.0), (2.0, 45.0, 200.0), (0.0, 30.0, 300.0)]
"""The shots of ``shot.png``: (wind m/s, release angle degrees, counterweight lb)."""
TARGET = 80.0
"""The target of ``shot.png``, m."""


def _save_png(fig, path: Path) -> None:
    """Save at :data:`DPI` with a 256-colour palette (figures have few colours)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)


def trajectory(out: Path) -> Path:
    """A trained CartPole's trajectory (trains a BPTT policy, seed 0, in a temporary dir)."""
    from diffsim.controllers import train

    from .plot import trajectory as trajectory_fig

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "cartpole_bptt_seed0"
        train("cartpole", seed=0, out=run, progress=False)
        fig = trajectory_fig(run, starts=3)
    path = out / "trajectory.png"
    _save_png(fig, path)
    return path


def shot(out: Path) -> Path:
    """Three shots and a target."""
    from .plots import shot_figure

    fig = shot_figure(SHOTS, target=TARGET, title="trebuchet shots (wind, angle, counterweight)")
    path = out / "shot.png"
    _save_png(fig, path)
    return path


def animation(out: Path) -> Path:
    """The 2019 post's shot as a GIF."""
    from .animate import DEFAULT_SHOT, animate

    return animate("trebuchet", out / "animation.gif", shot=DEFAULT_SHOT, target=TARGET)


README_COMPARISONS = ("cartpole", "pendulum")
"""The comparisons (folders of ``docs/results``) whose curves the README shows."""


def comparison_files(results: Path, names: tuple[str, ...] = README_COMPARISONS) -> list[Path]:
    """``results/<name>/results.json`` for each of ``names``.

    Raises:
        FileNotFoundError: naming every missing file.
    """
    files = [results / name / "results.json" for name in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"missing comparison results: {', '.join(missing)} (pass the repository checkout's "
            "docs/results with --results, or the checkout with --root)"
        )
    return files


def curves(out: Path, results: Path, names: tuple[str, ...] = README_COMPARISONS) -> Path:
    """The learning curves of the comparisons ``names`` under ``results``, one row each.

    Raises:
        FileNotFoundError: a comparison's ``results.json`` is missing.
    """
    from matplotlib.figure import Figure

    from .plot import load_curves
    from .plots import curves_figure

    files = comparison_files(results, names)
    fig = Figure(figsize=(10.5, 3.6 * len(files)), layout="constrained")
    rows = fig.subfigures(len(files), 1) if len(files) > 1 else [fig]
    for row, file in zip(rows, files):
        data = load_curves([file])
        curves_figure(
            data.curves,
            solved_return=data.solved_return,
            title=f"{data.env_id} ({file.parent.name}): median and range over seeds",
            ylabel=f"evaluation return ({data.eval_episodes}-episode mean)",
            fig=row,
        )
    path = out / "curves.png"
    _save_png(fig, path)
    return path


def main(argv: Optional[list[str]] = None) -> int:
    """Draw every picture; exit status 0 (2, before drawing, when a path is wrong)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        help="the repository checkout (default: the current directory)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder (default: ROOT/docs/figures)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="comparisons to draw (default: ROOT/docs/results)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        if not (args.root / "docs").is_dir():
            parser.error(
                f"{args.root.resolve()} is not a diffsim repository checkout (no docs/ "
                "folder): run from the checkout's root, or pass --root or --out"
            )
        args.out = args.root / "docs" / "figures"
    if args.results is None:
        args.results = args.root / "docs" / "results"
    try:
        comparison_files(args.results)
    except FileNotFoundError as err:
        parser.error(str(err))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in (
        trajectory(args.out),
        shot(args.out),
        animation(args.out),
        curves(args.out, args.results),
    ):
        print(f"wrote {path} ({path.stat().st_size / 1000:.0f} kB)")
    return 0


def __getattr__(name: str) -> Any:
    if name == "ROOT":
        warnings.warn(
            "readme_figures.ROOT is deprecated: it is the checkout only in an editable install; "
            "pass the checkout with --root (or --out and --results)",
            DeprecationWarning,
            stacklevel=2,
        )
        return Path(__file__).resolve().parents[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
