"""marlspec keeps XLA's CPU Eigen pool single-threaded unless told otherwise (marlspec/_xla.py)."""

from __future__ import annotations

import pytest

from marlspec._xla import FLAG, avoid_eigen_deadlock


def test_flag_is_added_once_and_keeps_other_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARLSPEC_EIGEN_THREADS", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    avoid_eigen_deadlock()
    avoid_eigen_deadlock()
    assert __import__("os").environ["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {FLAG}"


def test_a_users_own_eigen_setting_and_the_opt_out_are_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("MARLSPEC_EIGEN_THREADS", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
    avoid_eigen_deadlock()
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=true"
    monkeypatch.setenv("MARLSPEC_EIGEN_THREADS", "multi")
    monkeypatch.delenv("XLA_FLAGS")
    avoid_eigen_deadlock()
    assert "XLA_FLAGS" not in os.environ
