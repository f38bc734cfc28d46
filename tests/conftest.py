"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread (SB3's small networks gain nothing from more),
    restoring the previous count afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def ray_home(tmp_path_factory):
    """One temporary HOME for every Ray instance the tests start, for the whole session.

    Ray writes an auth token to ``$HOME/.ray/auth_token`` when it starts a local instance, so
    HOME points into the session's temporary directory instead of the user's home. It must
    be the same directory for every instance of the session: Ray keeps the first token it
    read for the life of the process, and a later instance started under another HOME waits
    for its GCS server until it times out.
    """
    pytest.importorskip("ray", reason="the ray executor needs Ray (pip install 'diffsim[cluster]')")
    home = tmp_path_factory.mktemp("ray_home")
    saved = {name: os.environ.get(name) for name in ("HOME", "RAY_USAGE_STATS_ENABLED")}
    os.environ["HOME"] = str(home)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


_session_tmp: dict = {}


def pytest_configure(config):
    """Every temporary file of the session goes to one directory of its own.

    ``tempfile``'s directory (and ``TMPDIR``, for subprocesses) point into a fresh
    ``diffsim-tests-*`` directory, created before collection: pytest's ``tmp_path``, the
    libraries that write to the system's temporary directory (torch.compile's cache, whose
    header directory is fixed when inductor is imported; SB3; Ray) all write there. It is
    removed when the session passes, and kept (its path printed) when it fails.
    """
    root = tempfile.mkdtemp(prefix="diffsim-tests-")
    _session_tmp.update(
        root=root, tempdir=tempfile.tempdir, environ=os.environ.get("TMPDIR"), created=True
    )
    tempfile.tempdir = root
    os.environ["TMPDIR"] = root


def pytest_sessionfinish(session, exitstatus):
    if not _session_tmp.get("created"):
        return
    tempfile.tempdir = _session_tmp["tempdir"]
    if _session_tmp["environ"] is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = _session_tmp["environ"]
    if exitstatus == 0:
        shutil.rmtree(_session_tmp["root"], ignore_errors=True)
    else:
        print(f"\ntemporary files of this session kept in {_session_tmp['root']}")
    _session_tmp["created"] = False
