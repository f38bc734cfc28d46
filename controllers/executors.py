"""Where independent jobs run: one after another in this process, or as Ray tasks.

A *job* is a picklable call, ``fn(**kwargs)`` with ``fn`` a module-level function, and a
key that names it (``"bptt/3"``). An executor runs a list of jobs and yields one
:class:`Outcome` per job as each finishes, in the order they finish; a job that raises
gives an outcome with ``error`` set, and the other jobs go on. :func:`diffsim.controllers.
compare.compare` and :func:`diffsim.controllers.sweep.sweep` are written against this one
contract.

- :class:`SerialExecutor` (``"serial"``): the jobs one after another, in order, in this
  process (the default, and what every result in ``docs/`` used unless it says otherwise).
- :class:`RayExecutor` (``"ray"``, the ``cluster`` extra): each job a Ray task with its own
  CPU (and optionally GPU) reservation. Without an address it starts a local Ray instance
  for the executor's lifetime (``num_cpus`` CPUs, no dashboard, usage statistics off, its
  session files under a short temporary directory of its own, removed at the end, since
  Ray's Unix socket paths must stay under 107 characters); with ``address="auto"`` or
  ``"HOST:PORT"`` it joins a running cluster and leaves it running. Ray is imported only
  when a :class:`RayExecutor` is made.

Each job sets torch's CPU thread count before it runs (``threads_per_job``; for Ray, the
default is the job's CPU reservation), so that a job's figures do not depend on how many
jobs share the machine: with ``SerialExecutor(threads_per_job=1)`` and
``RayExecutor(cpus_per_job=1)`` the jobs compute the same numbers.

On a cluster the jobs read and write their files (run directories) at the paths they are
given: those paths must be on a filesystem that every node mounts at the same place.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

EXECUTORS = ("serial", "ray")
"""The executor names :func:`make_executor` takes."""

RAY_MISSING = (
    "the ray executor needs Ray, which is not installed: pip install 'diffsim[cluster]' "
    "(or pip install 'ray>=2.10')"
)


@dataclass(frozen=True)
class Job:
    """One independent call, ``fn(**kwargs)``.

    Attributes:
        key: A name for the job, unique within one run (e.g. ``"bptt/3"``).
        fn: A module-level function (Ray pickles it by reference).
        kwargs: Its keyword arguments (picklable).
    """

    key: str
    fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What one job gave.

    Attributes:
        key: The job's key.
        value: What ``fn`` returned (``None`` when it raised).
        error: ``None`` on success, else the exception as ``"Type: message"``.
        traceback: The formatted traceback of a failed job (``""`` on success).
        seconds: Wall time of the call where it ran.
    """

    key: str
    value: Any = None
    error: Optional[str] = None
    traceback: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the job returned."""
        return self.error is None


class Executor(Protocol):
    """Runs jobs; a context manager that releases its resources on exit."""

    name: str
    in_process: bool
    """Whether jobs run in the calling process (their output, progress bars included, reaches
    its terminal)."""

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        """Run every job; yield one outcome per job as each finishes.

        Raises:
            ValueError: two jobs share a key (before any job runs).
        """
        ...

    def describe(self) -> dict[str, Any]:
        """The executor's name and options, as JSON values (recorded in result files)."""
        ...

    def close(self) -> None:
        """Release what the executor holds (a local Ray instance is shut down)."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


def call_job(fn: Callable[..., Any], kwargs: dict[str, Any], threads: Optional[int]) -> Outcome:
    """Call ``fn(**kwargs)`` with torch's thread count set; never raises (see :class:`Outcome`).

    Args:
        fn: The job's function.
        kwargs: Its keyword arguments.
        threads: Torch CPU threads for the call (``None``: leave torch's setting); the
            previous count is restored afterwards, so a serial job leaves the calling
            process as it found it.

    Returns:
        The outcome, without its key (the caller adds it).
    """
    started = time.perf_counter()
    previous: Optional[int] = None
    try:
        if threads is not None:
            import torch

            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
        value = fn(**kwargs)
    except Exception as exc:  # a failing job is reported, and the others go on
        return Outcome(
            key="",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            seconds=time.perf_counter() - started,
        )
    finally:
        if previous is not None:
            import torch

            torch.set_num_threads(previous)  # the caller's process keeps its own setting
    return Outcome(key="", value=value, seconds=time.perf_counter() - started)


def _import_modules(modules: tuple[str, ...]) -> None:
    """Import ``modules`` (a worker's warm-up task)."""
    for module in modules:
        importlib.import_module(module)


def _check_count(
    name: str, value: Optional[float], allow_zero: bool = False, integer: bool = False
) -> None:
    if value is None:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        expected = "an integer" if integer else "a number"
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    if value < 0 or (value == 0 and not allow_zero):
        expected = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {expected}, got {value}")


def _check_keys(jobs: Sequence[Job]) -> None:
    keys = [j.key for j in jobs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"job keys must be unique, repeated: {', '.join(repeated)}")


class SerialExecutor:
    """The jobs one after another, in order, in this process.

    Args:
        threads_per_job: Torch CPU threads each job sets (``None``: leave torch's setting);
            the process's own count is restored after each job.

    Raises:
        ValueError, TypeError: ``threads_per_job`` not a positive integer.
    """

    name = "serial"
    in_process = True

    def __init__(self, threads_per_job: Optional[int] = None):
        _check_count("threads_per_job", threads_per_job, integer=True)
        self.threads_per_job = threads_per_job

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "threads_per_job": self.threads_per_job}

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        _check_keys(jobs)
        for job in jobs:
            out = call_job(job.fn, job.kwargs, self.threads_per_job)
            yield Outcome(job.key, out.value, out.error, out.traceback, out.seconds)

    def close(self) -> None:
        pass

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RayExecutor:
    """Each job a Ray task (see the module docstring for how the instance is started).

    Args:
        address: ``None`` starts a local instance; ``"auto"`` or ``"HOST:PORT"`` joins a
            running cluster (``ray start --head`` on one node, ``ray start --address ...``
            on the others).
        num_cpus: CPUs of a local instance (default: this machine's count); refused with an
            address, where the cluster says what it has.
        cpus_per_job: CPUs Ray reserves for each job (may be fractional, > 0).
        gpus_per_job: GPUs Ray reserves for each job (0 to 1 or whole numbers; 0: none).
        threads_per_job: Torch CPU threads each job sets (default: ``cpus_per_job`` rounded
            up to an integer).
        max_retries: How often Ray reruns a job whose worker process died (a crash or a lost
            node; an exception raised by the job is not retried). A job that trains into a
            run directory resumes from its checkpoint when rerun.
        preload: Modules each worker imports as soon as the instance is up, one warm-up task
            per job slot, while the caller prepares its jobs (``compare`` and ``sweep`` name
            the training loop, which imports torch, so that the first job does not pay for
            the import).

    Raises:
        ImportError: Ray is not installed (the message says how to install it).
        ValueError, TypeError: an argument out of range or of the wrong type (each message
            names the argument); ``cpus_per_job`` above a local instance's ``num_cpus``, or
            ``gpus_per_job`` above its GPUs (no job could start; the instance is shut down).
    """

    name = "ray"
    in_process = False

    def __init__(
        self,
        address: Optional[str] = None,
        num_cpus: Optional[int] = None,
        cpus_per_job: float = 1,
        gpus_per_job: float = 0,
        threads_per_job: Optional[int] = None,
        max_retries: int = 2,
        preload: Sequence[str] = (),
    ):
        _check_count("num_cpus", num_cpus, integer=True)
        if isinstance(preload, str) or not all(isinstance(m, str) for m in preload):
            raise TypeError(f"preload must be a sequence of module names, got {preload!r}")
        missing = [m for m in preload if importlib.util.find_spec(m) is None]
        if missing:
            raise ValueError(f"preload names modules that cannot be found: {', '.join(missing)}")
        _check_count("cpus_per_job", cpus_per_job)
        _check_count("gpus_per_job", gpus_per_job, allow_zero=True)
        _check_count("threads_per_job", threads_per_job, integer=True)
        _check_count("max_retries", max_retries, allow_zero=True, integer=True)
        if address is not None and num_cpus is not None:
            raise ValueError(
                f"num_cpus={num_cpus} is for a local instance; with address={address!r} the "
                "cluster's own resources are used"
            )
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(f"address must be 'auto' or 'HOST:PORT', got {address!r}")
        local_cpus = (
            (num_cpus if num_cpus is not None else os.cpu_count() or 1) if address is None else None
        )
        if local_cpus is not None and cpus_per_job > local_cpus:
            raise ValueError(
                f"cpus_per_job={cpus_per_job} exceeds the local instance's num_cpus="
                f"{local_cpus}: no job could ever start"
            )
        try:
            import ray
        except ImportError as exc:
            raise ImportError(RAY_MISSING) from exc
        self._ray = ray
        self.cpus_per_job = cpus_per_job
        self.gpus_per_job = gpus_per_job
        self.threads_per_job = (
            threads_per_job if threads_per_job is not None else max(1, int(-(-cpus_per_job // 1)))
        )
        self.max_retries = max_retries
        self.address = address
        self.num_cpus = local_cpus
        self._temp_dir: Optional[str] = None
        self._started = False
        self._warm_refs: list[Any] = []
        self._ray_was_running = ray.is_initialized()
        if self._ray_was_running:
            pass  # the caller's instance: used as it is, and left running
        elif address is None:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            self._temp_dir = tempfile.mkdtemp(
                prefix="dsray", dir="/tmp" if os.name == "posix" else None
            )
            try:
                ray.init(
                    num_cpus=local_cpus,
                    include_dashboard=False,
                    _temp_dir=self._temp_dir,
                    log_to_driver=False,
                )
            except BaseException:
                self._remove_temp_dir()
                raise
        else:
            ray.init(address=address, log_to_driver=False)
        self._started = not self._ray_was_running
        if self._started and address is None and gpus_per_job > 0:
            gpus = ray.cluster_resources().get("GPU", 0)
            if gpus < gpus_per_job:
                self.close()
                raise ValueError(
                    f"gpus_per_job={gpus_per_job} but the local instance has {gpus:g} GPU(s): "
                    "no job could ever start"
                )
        if preload:
            self._warm_up(tuple(preload))

    def _warm_up(self, modules: tuple[str, ...]) -> None:
        """Start one task per job slot that imports ``modules`` (not awaited: the workers
        import while the caller goes on, and later jobs reuse the warm workers)."""
        ray = self._ray
        slots = int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_job)
        warm = ray.remote(_import_modules).options(num_cpus=self.cpus_per_job, max_retries=0)
        self._warm_refs = [warm.remote(modules) for _ in range(max(1, min(slots, 256)))]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "num_cpus": self.num_cpus,
            "cpus_per_job": self.cpus_per_job,
            "gpus_per_job": self.gpus_per_job,
            "threads_per_job": self.threads_per_job,
            "max_retries": self.max_retries,
        }

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        _check_keys(jobs)
        ray = self._ray
        remote = ray.remote(call_job).options(
            num_cpus=self.cpus_per_job,
            num_gpus=self.gpus_per_job,
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        pending = {remote.remote(job.fn, job.kwargs, self.threads_per_job): job.key for job in jobs}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                key = pending.pop(ref)
                try:
                    out = ray.get(ref)
                except Exception as exc:  # the worker died more often than max_retries allows
                    yield Outcome(key, error=f"{type(exc).__name__}: {exc}", traceback=str(exc))
                    continue
                yield Outcome(key, out.value, out.error, out.traceback, out.seconds)
        finally:  # the caller stopped early (an exception, Ctrl-C): nothing keeps running
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False
        self._remove_temp_dir()

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(name: str, **options: Any) -> Executor:
    """An executor by name.

    Args:
        name: ``"serial"`` or ``"ray"``.
        **options: The class's keyword arguments (:class:`SerialExecutor`,
            :class:`RayExecutor`).

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        TypeError: an option the executor does not take.
    """
    if name == "serial":
        return SerialExecutor(**options)
    if name == "ray":
        return RayExecutor(**options)
    raise ValueError(f"unknown executor {name!r}; expected one of: {', '.join(EXECUTORS)}")
