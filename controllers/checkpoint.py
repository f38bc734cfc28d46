"""Run directories: ``policy.pt``, ``config.json``, ``metrics.csv``, ``checkpoint.pt``.

Every method writes the same layout:

- ``config.json``: the environment id, method, seed, budget, evaluation schedule, the
  task's solved return (``null`` for a task without one, the trebuchet), the method's full
  configuration, the command line and the library versions; strict JSON (no ``NaN`` or
  ``Infinity``);
- ``metrics.csv``: one row per evaluation (``transitions``, ``updates``, ``train_seconds``,
  ``eval_seconds``, ``eval_return_mean``, ``eval_return_std``, ``eval_length_mean``; on the
  trebuchet also ``eval_miss_median_pct`` and ``eval_miss_p95_pct``, the relative miss in
  percent, which other tasks omit; then the method's own columns);
- ``policy.pt``: the trained policy with everything needed to rebuild it (format tag,
  environment id, policy spec, weights);
- ``checkpoint.pt``: the trainer's full state (model, optimiser, every generator) and the
  loop's counters, for resuming an interrupted run exactly.

Every one of these files (and a comparison's ``results.json``) is written atomically by
:func:`write_atomically`: into a temporary file in the same directory, then renamed over the
old one with ``os.replace``, so an interruption during a write (a signal, a full disk, an
exception in the serializer) leaves the previous version intact and never a truncated file.

:func:`load_policy` returns an object with ``act(obs)`` for any user's own loop.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Optional, Union

import numpy as np
import torch

from .policies import ControlPolicy, PolicySpec

POLICY_FORMAT = "diffsim-policy"
POLICY_VERSION = 1


class CheckpointError(ValueError):
    """A run directory or checkpoint is missing, corrupt or does not match."""


class PolicyAgent:
    """A trained policy behind Gymnasium's action space: ``act(obs)`` → action.

    ``obs`` is one observation ``[obs]`` or a batch ``[B, obs]`` (numpy). For a discrete
    task the action is an int, the index of the discrete action nearest to the policy's
    physical action (CartPole: 0 = left, 1 = right), or an ``int64`` array for a batch; for
    a Box space a ``float32`` array of shape ``(1,)`` (or ``[B, 1]``).

    Args:
        policy: The trained policy.
        env_id: The environment it acts in.
        discrete: Whether that environment's action space is ``Discrete``.
        actions: The physical action of each discrete index; default: the registered
            system's :attr:`~diffsim.systems.System.discrete_actions` for ``env_id`` (or its
            Gymnasium twin), else ``(-1.0, 1.0)``.
    """

    def __init__(
        self,
        policy: ControlPolicy,
        env_id: str,
        discrete: bool,
        actions: Optional[Sequence[float]] = None,
    ):
        self.policy = policy.eval()
        self.env_id = env_id
        self.discrete = discrete
        if discrete and actions is None:
            actions = discrete_actions(env_id)
        self.actions = None if actions is None else np.asarray(actions, dtype=np.float64)

    def act(self, obs: np.ndarray) -> Union[int, np.ndarray]:
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        if obs.ndim not in (1, 2) or obs.shape[-1] != self.policy.spec.obs_size:
            raise ValueError(
                f"expected observations of shape [{self.policy.spec.obs_size}] or "
                f"[B, {self.policy.spec.obs_size}], got {obs.shape}"
            )
        param = next(self.policy.parameters())
        with torch.no_grad():
            a = self.policy.deterministic(
                torch.as_tensor(obs[None] if single else obs, dtype=param.dtype)
            )
        a = a.cpu().numpy()
        if self.discrete:
            # The nearest discrete action (ties: the lower index, so 0 maps to CartPole's 0).
            a = np.abs(a[:, None].astype(np.float64) - self.actions[None]).argmin(1)
            a = a.astype(np.int64)
            return int(a[0]) if single else a
        a = a.astype(np.float32)[:, None]
        return a[0] if single else a


def discrete_actions(env_id: str) -> tuple[float, ...]:
    """The physical action of each discrete index of ``env_id`` (a registered task's id or
    its Gymnasium twin's), read from its system's description; ``(-1.0, 1.0)`` for an id
    the registry does not know (a policy loaded without its system registered).
    """
    from diffsim import systems

    for spec in systems.task_specs().values():
        if env_id in (spec.env_id, spec.gymnasium_id) and spec.system in systems.system_names():
            actions = systems.get_system(spec.system).discrete_actions
            if actions:
                return tuple(float(a) for a in actions)
    return (-1.0, 1.0)


@functools.lru_cache(maxsize=1)
def _file_mode() -> int:
    umask = os.umask(0o022)  # read the process's umask (there is no call that only reads it)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(
    path: Union[str, Path], write: Callable[[IO[Any]], None], *, text: bool = False
) -> None:
    """Write ``path`` all at once or not at all: ``write(f)`` fills a temporary file in the
    same directory, which then replaces ``path`` (``os.replace``, atomic on POSIX and Windows).

    Args:
        path: The file to write (its directory must exist).
        write: Writes the whole content to the open file ``f``.
        text: Open ``f`` in text mode (UTF-8, newlines as written) instead of binary.

    Raises:
        Whatever ``write`` or the file system raises; the temporary file is then removed and
        ``path`` keeps its previous content (or stays absent).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        opened = os.fdopen(fd, "w", encoding="utf-8", newline="") if text else os.fdopen(fd, "wb")
        with opened as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_torch(path: Union[str, Path], obj: Any) -> None:
    """``torch.save(obj)`` into ``path`` through :func:`write_atomically`."""
    write_atomically(path, lambda f: torch.save(obj, f))


def save_policy(
    path: Path, policy: ControlPolicy, env_id: str, discrete: bool, method: str
) -> None:
    """Write ``policy.pt`` (see the module docstring), atomically."""
    save_torch(
        path,
        {
            "format": POLICY_FORMAT,
            "version": POLICY_VERSION,
            "kind": "control_policy",
            "env_id": env_id,
            "discrete": discrete,
            "method": method,
            "spec": policy.spec.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
        },
    )


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(
            f"{path} does not exist: is {path.parent} a diffsim run "
            "directory (policy.pt, config.json, metrics.csv)?"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}: "
            f"{exc}); it may be truncated or corrupt"
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, expected a dict")
    return data


def load_policy(run_dir: Union[str, Path]) -> PolicyAgent:
    """The trained policy of a run directory, as a :class:`PolicyAgent`.

    Raises:
        CheckpointError: the directory or its ``policy.pt`` is missing, corrupt, of another
            format or version, or its weights do not fit its spec.
    """
    path = Path(run_dir) / "policy.pt"
    data = _load(path)
    if data.get("format") != POLICY_FORMAT:
        raise CheckpointError(
            f"{path} is not a diffsim policy (format {data.get('format')!r}, "
            f"expected {POLICY_FORMAT!r})"
        )
    if data.get("version") != POLICY_VERSION:
        raise CheckpointError(
            f"{path} has version {data.get('version')}, this diffsim reads version {POLICY_VERSION}"
        )
    kind = data.get("kind")
    if kind == "control_policy":
        try:
            spec = PolicySpec(**data["spec"])
            policy = ControlPolicy(spec)
            policy.load_state_dict(data["state_dict"])
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: the weights do not match the policy spec: {exc}"
            ) from None
        return PolicyAgent(policy, data["env_id"], bool(data["discrete"]))
    from . import _loaders, aiming, baselines  # noqa: F401  (they register their loaders)

    return _loaders.load(kind, path, data)


def check_run_config(run_dir: Union[str, Path]) -> dict[str, Any]:
    """The ``config.json`` of a run directory, checked against its ``policy.pt``.

    Args:
        run_dir: A run directory (``policy.pt`` and ``config.json``).

    Returns:
        The parsed ``config.json``.

    Raises:
        CheckpointError: ``config.json`` is missing, unreadable, not valid JSON or not a JSON
            object, or its ``env_id`` or ``method`` differs from the one ``policy.pt`` was
            saved with (a config copied from another run, or a policy from another run);
            also whatever :func:`load_policy` raises for ``policy.pt`` itself. Each message
            is one line naming ``config.json``.
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} does not exist: a diffsim run directory holds config.json next to policy.pt"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None
    try:
        config = json.loads(text)  # Infinity accepted: runs written before JSON was strict
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{path} holds a JSON {type(config).__name__}, expected an object with env_id and "
            "method"
        )
    policy = _load(run_dir / "policy.pt")
    for key in ("env_id", "method"):
        if config.get(key) != policy.get(key):
            raise CheckpointError(
                f"{path} does not belong to its policy.pt: {key} is {config.get(key)!r} in "
                f"config.json but {policy.get(key)!r} in policy.pt"
            )
    return config


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON (keys sorted), atomically.

    Raises:
        ValueError: ``data`` holds a NaN or an infinity, which JSON cannot represent (write
            ``None`` instead); the file is then left as it was.
    """
    text = json.dumps(data, indent=2, sort_keys=True, default=str, allow_nan=False) + "\n"
    write_atomically(path, lambda f: f.write(text), text=True)


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from None


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write every row of ``metrics.csv`` (columns: the union, in first-seen order),
    atomically."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]

    def write(f: IO[str]) -> None:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

    write_atomically(path, write, text=True)


def read_metrics(path: Union[str, Path]) -> list[dict[str, float]]:
    """The rows of a ``metrics.csv`` as dicts of floats (empty cells are NaN)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    with path.open() as f:
        rows = [
            {k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()}
            for row in csv.DictReader(f)
        ]
    if not rows:
        raise CheckpointError(f"{path} has no evaluation rows")
    return rows
