"""Fixtures shared by several test modules."""

from __future__ import annotations

import os

import pytest


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
