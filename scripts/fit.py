"""``diffsim fit SYSTEM DATA.npz --params NAME[,NAME...]``: physical parameters from data.

Least squares through the differentiable simulator (:func:`diffsim.identify.fit`; the
trebuchet's :func:`diffsim.identify.fit_shots`), with a standard deviation and a 95 %
interval for each estimate, and the parameters the data do not determine reported as
such. ``DATA.npz`` holds ``observations [E, T+1, obs_dim]``, ``actions [E, T]`` (indices)
or ``[E, T, act_dim]`` and optionally ``mask [E, T]``, as ``diffsim record`` writes them;
for the trebuchet, ``angle_deg [N]``, ``weight_lb [N]`` and ``distance_m [N]``.
Writes ``DIR/fit.json`` and prints a table::

    diffsim record CartPole-v1 --episodes 50 --set-attr length=0.8 --out runs/cp.npz
    diffsim fit cartpole runs/cp.npz --params length,masspole --out runs/fit-cp
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_threads_option, apply_threads


def name_list(text: str) -> list[str]:
    """``--params``: comma-separated parameter names."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected parameter names separated by commas, got {text!r}"
        )
    return names


def assignment(text: str) -> tuple[str, float]:
    """``--init NAME=VALUE``."""
    name, sep, value = text.partition("=")
    try:
        if not sep or not name.strip():
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE with a number, got {text!r}"
        ) from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from diffsim.systems import system_names

    p = subparsers.add_parser(
        "fit",
        help="estimate a system's physical parameters from recorded data (system identification)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("system", choices=[*system_names(), "trebuchet"], help="the system")
    p.add_argument("data", type=Path, help="the .npz of recorded data")
    p.add_argument(
        "--params",
        type=name_list,
        required=True,
        help="fields of the system's parameters to estimate, e.g. length,masspole "
        "(trebuchet: wind and/or TrebuchetParams fields)",
    )
    p.add_argument(
        "--init",
        type=assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a starting value (repeatable; default: the system's default parameters)",
    )
    p.add_argument(
        "--known",
        type=assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter held at a known value other than the default (repeatable)",
    )
    p.add_argument(
        "--window", type=int, default=20, help="most transitions per shooting window (default: 20)"
    )
    p.add_argument("--out", type=Path, required=True, help="directory to write fit.json into")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from diffsim.controllers.checkpoint import write_json
    from diffsim.controllers.training import versions
    from diffsim.identify import fit, fit_shots, load_data
    from diffsim.systems import get_system
    from diffsim.trebuchet import TrebuchetParams

    apply_threads(args)
    init = dict(args.init)
    known = dict(args.known)
    if args.system == "trebuchet":
        if not args.data.is_file():
            raise FileNotFoundError(f"no data file {args.data}")
        with np.load(args.data, allow_pickle=False) as d:
            missing = [k for k in ("angle_deg", "weight_lb", "distance_m") if k not in d.files]
            if missing:
                raise ValueError(
                    f"{args.data} lacks {', '.join(missing)}: the trebuchet's data are "
                    "angle_deg [N], weight_lb [N] and distance_m [N]"
                )
            result = fit_shots(
                d["angle_deg"],
                d["weight_lb"],
                d["distance_m"],
                args.params,
                init=init,
                progress=not args.quiet,
                wind=known.pop("wind", 0.0),
                base=TrebuchetParams.reference().replace(**known),
            )
    else:
        data = load_data(args.data, args.system)
        result = fit(
            args.system,
            data.observations,
            data.actions,
            args.params,
            mask=data.mask,
            init=init,
            window=args.window,
            progress=not args.quiet,
            base=get_system(args.system).default_params.replace(**known),
        )
    out = {
        "command": " ".join(["diffsim", *sys.argv[1:]]),
        "data": str(args.data),
        "machine": versions(),
        **result.to_dict(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "fit.json", out)
    print(result.table())
    print(
        f"{result.n_transitions} {'shots' if args.system == 'trebuchet' else 'transitions'}, "
        f"{result.iterations} iterations{'' if result.converged else ' (not converged)'}; "
        f"wrote {args.out / 'fit.json'}"
    )
    return 0
