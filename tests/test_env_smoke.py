"""A short training run per environment kind, end to end from its spec file in `specs/`:
load, compile, train a couple of thousand steps through `marlspec.train.runner.run`,
evaluate, and write the run directory. Checks that the files are there and the
numbers in them are finite (this is not a learning test; see tests/slow/ for those)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import jax
import pytest

from marlspec.spec import load_spec
from marlspec.train.runner import run

SPECS = Path(__file__).resolve().parent.parent / "specs"

RUNS = {
    # spec file: extra overrides that keep the run short (time limits bound the eval scan)
    "mappo_smax_3m.yaml": ["env.max_steps=40"],
    "mappo_mpe_speaker_listener.yaml": [],
    "mappo_lbf.yaml": ["env.time_limit=40"],
    "mappo_rware.yaml": ["env.time_limit=40"],
    "mappo_connector.yaml": ["env.time_limit=20"],
    "mappo_mabrax_ant.yaml": ["env.episode_length=40"],
    "mappo_predator_prey.yaml": ["env.max_steps=40"],
    "ippo_pettingzoo_spread.yaml": [],
}

SMALL_NETWORK = "network={kind: mlp, hidden: [16], activation: tanh}"
"""A small feed-forward torso: these runs test the environment and the runner, and the
spec files' recurrent torsos would only add compile time (their own tests cover them)."""

NO_BRAX = importlib.util.find_spec("brax") is None


def _params() -> list:
    out = []
    for name in RUNS:
        marks = [pytest.mark.skip(reason="brax is not installed (pip install marlspec[mabrax])")] \
            if "mabrax" in name and NO_BRAX else []
        out.append(pytest.param(name, marks=marks, id=name.removesuffix(".yaml")))
    return out


def _finite(value: object) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


@pytest.fixture
def quick_compile():
    """Compile with XLA's expensive optimisations off (these runs are tiny; compiling dominates)."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


@pytest.mark.parametrize("name", _params())
def test_spec_trains_end_to_end(name: str, tiny_overrides: list[str], tmp_path: Path, quick_compile: None) -> None:
    overrides = [*tiny_overrides, "train.total_env_steps=2048", "eval.interval=1024", SMALL_NETWORK, *RUNS[name]]
    spec = load_spec(SPECS / name, overrides)
    rundir = run(spec, tmp_path / "run", progress=False)
    summary = json.loads((rundir.path / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["env_steps_per_seed"] == 2048
    assert math.isfinite(summary["final_return"])
    records = [json.loads(line) for line in (rundir.path / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 3  # before training and after each of the two chunks
    for record in records:
        assert all(_finite(v) for k, v in record.items() if k != "sps"), record
    trained = records[-1]
    assert any(k.endswith("loss") for k in trained), "the update's losses are logged"
    assert (rundir.path / "checkpoint.eqx").exists()
    if spec.env.kind in ("smax", "connector"):
        assert summary.get("final_win_rate") is not None, "SMAX and Connector report a win rate"
