"""Run directories: ``policy.pt``, ``config.json``, ``metrics.csv``, ``checkpoint.pt``.

Every method writes the same layout:

- ``config.json``: the environment id, method, seed, budget, evaluation schedule, the
  task's solved return (``null`` for a task without one, the trebuchet), the method's full
  configuration, the command line, the library versions and the run format
  (``run_format``, ``diffsim_version``); strict JSON (no ``NaN`` or ``Infinity``);
- ``metrics.csv``: one row per evaluation (``transitions``, ``updates``, ``train_seconds``,
  ``eval_seconds``, ``eval_return_mean``, ``eval_return_std``, ``eval_length_mean``; on the
  trebuchet also ``eval_miss_median_pct`` and ``eval_miss_p95_pct``, the relative miss in
  percent, which other tasks omit; then the method's own columns);
- ``policy.pt``: the trained policy, written by :func:`write_policy` for every method: the
  same top-level keys (:data:`POLICY_KEYS`: format tag, run format ``version``, the diffsim
  version, the policy ``kind``, environment id, action kind, method) and a kind-specific
  ``payload`` (a ControlPolicy's spec and weights; the aiming network's; SB3's zip);
- ``checkpoint.pt``: the trainer's full state (model, optimiser, every generator) and the
  loop's counters, for resuming an interrupted run exactly, with the run format.

Run formats (:data:`RUN_FORMAT`): 1 is what diffsim 0.1.0 wrote before the format was
recorded (``policy.pt`` with ``"version": 1`` and the kind's fields at the top level;
``config.json`` and ``checkpoint.pt`` without ``run_format``; the earliest ``config.json``
files have ``"solved_return": Infinity``); 2 adds the ``payload`` and the recorded versions.
``metrics.csv`` carries no version of its own (``config.json``'s is the directory's): its
columns are read by name, and the columns of both formats are the same.
Files of format 1 are upgraded in memory when read (:func:`read_policy_file`,
:func:`read_run_config`, :func:`read_checkpoint`); a format this diffsim does not know
raises :class:`CheckpointError` naming the format found, the formats read here, and what
to do.

Every one of these files (and a comparison's ``results.json``) is written atomically by
:func:`write_atomically`: into a temporary file in the same directory, then renamed over the
old one with ``os.replace``, so an interruption during a write (a signal, a full disk, an
exception in the serializer) leaves the previous version intact and never a truncated file.

:func:`load_policy` returns an object with ``act(obs)`` for any user's own loop; it finds
the loader of the file's policy kind in :mod:`diffsim.controllers.methods`.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Optional, Union

import numpy as np
import torch

from diffsim import __version__

from . import methods
from .policies import ControlPolicy, PolicySpec

POLICY_FORMAT = "diffsim-policy"
"""The ``format`` tag of every ``policy.pt``."""

RUN_FORMAT = 2
"""The run-directory format this diffsim writes (see the module docstring)."""

RUN_FORMATS_READ = (1, 2)
"""The run-directory formats this diffsim reads (older ones are upgraded in memory)."""

POLICY_VERSION = RUN_FORMAT
"""``policy.pt``'s ``version``: the run format."""

POLICY_KEYS = ("format", "version", "diffsim_version", "kind", "env_id", "discrete", "method")
"""The top-level keys of every ``policy.pt``, besides its ``payload``."""


class CheckpointError(ValueError):
    """A run directory or checkpoint is missing, corrupt, of an unknown format or does not
    match."""


def check_observations(obs: Any, obs_size: int, dtype: Any = np.float32) -> tuple[np.ndarray, bool]:
    """One observation ``[obs_size]`` or a batch ``[B, obs_size]`` as a batch, for ``act``.

    Args:
        obs: Array-like observations.
        obs_size: The length of one observation.
        dtype: The NumPy dtype of the returned batch.

    Returns:
        ``(batch, single)``: the observations as an array ``[B, obs_size]`` (``B = 1`` for a
        single one) and whether a single observation was given.

    Raises:
        ValueError: ``obs`` has another shape (the message gives the shapes expected).
    """
    array = np.asarray(obs, dtype=dtype)
    if array.ndim not in (1, 2) or array.shape[-1] != obs_size:
        raise ValueError(
            f"expected observations of shape [{obs_size}] or [B, {obs_size}], got {array.shape}"
        )
    single = array.ndim == 1
    return (array[None] if single else array), single


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
        """The deterministic action of one observation or a batch (see the class).

        Raises:
            ValueError: ``obs`` is not ``[obs_size]`` or ``[B, obs_size]``.
        """
        batch, single = check_observations(obs, self.policy.spec.obs_size)
        param = next(self.policy.parameters())
        with torch.no_grad():
            a = self.policy.deterministic(torch.as_tensor(batch, dtype=param.dtype))
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


def write_policy(
    path: Union[str, Path],
    kind: str,
    payload: dict[str, Any],
    *,
    env_id: str,
    discrete: bool,
    method: str,
) -> None:
    """Write ``policy.pt``, atomically: the one writer of every method's policy file.

    Args:
        path: The file.
        kind: The policy kind (:data:`~diffsim.controllers.methods.CONTROL_POLICY`,
            ``"aiming_network"``, ``"sb3"``, a user's own): the key of its loader in
            :mod:`diffsim.controllers.methods`.
        payload: What that loader needs (tensors, plain values, bytes: what
            ``torch.load(weights_only=True)`` reads).
        env_id: The registered id the policy acts in.
        discrete: Whether that id's action space is ``Discrete``.
        method: The training method's name.
    """
    save_torch(
        path,
        {
            "format": POLICY_FORMAT,
            "version": RUN_FORMAT,
            "diffsim_version": __version__,
            "kind": kind,
            "env_id": env_id,
            "discrete": bool(discrete),
            "method": method,
            "payload": payload,
        },
    )


def save_policy(
    path: Union[str, Path], policy: ControlPolicy, env_id: str, discrete: bool, method: str
) -> None:
    """Write a :class:`ControlPolicy`'s ``policy.pt`` (kind ``control_policy``: its spec and
    weights) through :func:`write_policy`."""
    write_policy(
        path,
        methods.CONTROL_POLICY,
        {
            "spec": policy.spec.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
        },
        env_id=env_id,
        discrete=discrete,
        method=method,
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


def check_run_format(path: Path, found: Any, written_by: Any = None) -> int:
    """The run format ``found`` in ``path``, if this diffsim reads it.

    Args:
        path: The file (for the message).
        found: Its recorded run format.
        written_by: The diffsim version that wrote it, where recorded.

    Raises:
        CheckpointError: a format outside :data:`RUN_FORMATS_READ`; the message names the
            format found, the formats read here, and what to do.
    """
    if isinstance(found, int) and not isinstance(found, bool) and found in RUN_FORMATS_READ:
        return found
    by = f", written by diffsim {written_by}" if written_by else ""
    if isinstance(found, int) and found > RUN_FORMAT:
        fix = (
            f"install the diffsim version that wrote it ({written_by})"
            if written_by
            else "install a newer diffsim"
        )
    else:
        fix = "install the diffsim version that wrote it"
    raise CheckpointError(
        f"{path} has run format {found!r}{by}; this diffsim ({__version__}) reads run "
        f"formats {', '.join(map(str, RUN_FORMATS_READ))}. To use it, {fix}, or train "
        f"anew into another directory (diffsim train ENV --method METHOD --out NEW_DIR)"
    )


def read_policy_file(path: Union[str, Path]) -> dict[str, Any]:
    """The contents of a ``policy.pt``, in the current layout (older formats upgraded).

    Returns:
        A dict with the keys of :data:`POLICY_KEYS` and ``payload``; a format-1 file's
        kind-specific fields are moved into ``payload`` and its ``diffsim_version`` is
        ``None`` (not recorded).

    Raises:
        CheckpointError: the file is missing, unreadable, not a diffsim policy, or of a run
            format this diffsim does not read.
    """
    path = Path(path)
    data = _load(path)
    if data.get("format") != POLICY_FORMAT:
        raise CheckpointError(
            f"{path} is not a diffsim policy (format {data.get('format')!r}, "
            f"expected {POLICY_FORMAT!r})"
        )
    version = check_run_format(path, data.get("version"), data.get("diffsim_version"))
    if version == 1:
        common = ("format", "version", "kind", "env_id", "discrete", "method")
        data = {
            **{k: data.get(k) for k in common},
            "diffsim_version": None,
            "payload": {k: v for k, v in data.items() if k not in common},
        }
    missing = [k for k in (*POLICY_KEYS, "payload") if k not in data]
    if missing or not isinstance(data["payload"], dict):
        raise CheckpointError(
            f"{path} lacks {', '.join(missing) or 'a payload dict'}: it may be corrupt"
        )
    return data


def load_control_policy(path: Path, data: dict[str, Any]) -> PolicyAgent:
    """The loader of ``policy.pt`` files of kind ``control_policy`` (``data`` as
    :func:`read_policy_file` gives it).

    Raises:
        CheckpointError: the weights do not fit the spec.
    """
    payload = data["payload"]
    try:
        spec = dict(payload["spec"])
        if spec.get("extra") == {}:  # an unused field of the first format-1 files
            del spec["extra"]
        policy = ControlPolicy(PolicySpec(**spec))
        policy.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the weights do not match the policy spec: {exc}") from None
    return PolicyAgent(policy, data["env_id"], bool(data["discrete"]))


def load_policy(run_dir: Union[str, Path]) -> Any:
    """The trained policy of a run directory, behind ``act(obs)``.

    Returns:
        A :class:`PolicyAgent` for a ControlPolicy; the agent of the file's policy kind
        otherwise (:func:`diffsim.controllers.methods.policy_loader`: the aiming network's,
        SB3's).

    Raises:
        CheckpointError: the directory or its ``policy.pt`` is missing, corrupt, of another
            format, of a run format this diffsim does not read, of an unknown policy kind,
            or its weights do not fit its spec.
    """
    path = Path(run_dir) / "policy.pt"
    data = read_policy_file(path)
    return load_policy_kind(data["kind"], path, data)


def load_policy_kind(kind: Any, path: Path, data: dict[str, Any]) -> Any:
    """The agent that the loader of policy kind ``kind`` makes of ``policy.pt``'s ``data``.

    Raises:
        CheckpointError: no loader is registered for ``kind``
            (:func:`diffsim.controllers.methods.policy_kinds` lists those that are).
    """
    loader = methods.policy_loader(kind) if isinstance(kind, str) else None
    if loader is None:
        raise CheckpointError(
            f"{path}: unknown policy kind {kind!r}; this installation reads "
            f"{', '.join(methods.policy_kinds())}"
        )
    return loader(path, data)


def read_run_config(path: Union[str, Path]) -> dict[str, Any]:
    """A ``config.json``, in the current layout (format 1 upgraded in memory).

    Format 1: no ``run_format`` (it becomes 1), ``diffsim_version`` read from its
    ``versions`` where recorded, ``"solved_return": Infinity`` (the earliest files) read
    as ``None``. Files without ``stop_margin_se`` (written before it existed) read it as 0,
    the rule they stopped by.

    Raises:
        CheckpointError: the file is missing, unreadable, not valid JSON, not a JSON object,
            or of a run format this diffsim does not read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} does not exist: a diffsim run directory holds config.json next to policy.pt"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None
    try:
        config = json.loads(text)  # Infinity accepted: format-1 files may hold it
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{path} holds a JSON {type(config).__name__}, expected an object with env_id and "
            "method"
        )
    versions = config.get("versions")
    written_by = config.get("diffsim_version")
    if written_by is None and isinstance(versions, dict):
        written_by = versions.get("diffsim")
    found = check_run_format(path, config.get("run_format", 1), written_by)
    config = {**config, "run_format": found, "diffsim_version": written_by}
    if config.get("solved_return") == math.inf:  # format 1's "no solved return"
        config["solved_return"] = None
    # Runs written before the stop margin existed stopped on reaching the solved return.
    config.setdefault("stop_margin_se", 0.0)
    return config


def save_checkpoint(path: Union[str, Path], trainer_state: Any, loop: dict[str, Any]) -> None:
    """Write ``checkpoint.pt`` (the trainer's state and the loop's counters), atomically."""
    save_torch(
        path,
        {
            "run_format": RUN_FORMAT,
            "diffsim_version": __version__,
            "trainer": trainer_state,
            "loop": loop,
        },
    )


def read_checkpoint(path: Union[str, Path]) -> dict[str, Any]:
    """A ``checkpoint.pt``'s contents, with ``run_format`` (1 where it is not recorded).

    Raises:
        CheckpointError: unreadable, not a dict with ``trainer`` and ``loop``, or of a run
            format this diffsim does not read.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CheckpointError(
            f"{path} cannot be resumed from ({type(exc).__name__}: {exc}); it may be corrupt"
        ) from None
    if not isinstance(state, dict) or not {"trainer", "loop"} <= set(state):
        raise CheckpointError(
            f"{path} cannot be resumed from (no trainer state and loop counters); it may be corrupt"
        )
    found = check_run_format(path, state.get("run_format", 1), state.get("diffsim_version"))
    return {**state, "run_format": found, "diffsim_version": state.get("diffsim_version")}


def check_run_config(run_dir: Union[str, Path]) -> dict[str, Any]:
    """The ``config.json`` of a run directory, checked against its ``policy.pt``.

    Args:
        run_dir: A run directory (``policy.pt`` and ``config.json``).

    Returns:
        The parsed ``config.json`` (:func:`read_run_config`: format 1 upgraded).

    Raises:
        CheckpointError: ``config.json`` is missing, unreadable, not valid JSON or not a JSON
            object, of a run format this diffsim does not read, or its ``env_id`` or
            ``method`` differs from the one ``policy.pt`` was saved with (a config copied
            from another run, or a policy from another run); also whatever
            :func:`read_policy_file` raises for ``policy.pt`` itself. Each message is one
            line naming the file.
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    config = read_run_config(path)
    policy = read_policy_file(run_dir / "policy.pt")
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
    """A JSON file's contents.

    Raises:
        CheckpointError: the file is missing or not valid JSON.
    """
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
