"""Pieces shared by the subcommands."""

from __future__ import annotations


def env_help() -> str:
    from diffsim.envs.rollout import SHORT_NAMES

    return "a short name (" + ", ".join(SHORT_NAMES) + ") or a registered id of this project"
