"""Optional trackers (`log.tensorboard`, `log.wandb`): each holds what metrics.jsonl holds.

One tiny run with both trackers on; the TensorBoard event files and the W&B offline run file are
read back here with their own protobuf classes and compared with metrics.jsonl, value by value."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest

import marlspec.train.runner as runner
from marlspec.spec import SpecError, parse_spec

pytest.importorskip("tensorboardX")
pytest.importorskip("wandb")

TINY = """
name: tiny
env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}
algorithm: {kind: mappo, num_minibatches: 2, epochs: 2}
network: {kind: mlp, hidden: [16]}
train: {total_env_steps: 192, num_envs: 4, rollout_length: 16, seeds: [0, 1]}
eval: {interval: 64, episodes: 4}
log: {progress: false, tensorboard: true, wandb: {project: marlspec-test}}
"""


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    rundir = runner.run(parse_spec(TINY), tmp_path_factory.mktemp("run") / "a")
    return rundir.path


def expected(path: Path) -> dict[tuple[int, str], float]:
    """metrics.jsonl as {(env_steps, "seed_<s>/<key>"): value}, finite numbers only."""
    out = {}
    for line in (path / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        for k, v in r.items():
            if k not in ("env_steps", "seed") and isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                out[(r["env_steps"], f"seed_{r['seed']}/{k}")] = float(v)
    return out


def test_tensorboard_events_hold_every_metric(tracked_run: Path) -> None:
    from tensorboardX.proto.event_pb2 import Event

    got = {}
    for f in (tracked_run / "tensorboard").glob("events.out.tfevents.*"):
        data = f.read_bytes()
        pos = 0
        while pos < len(data):  # TFRecord: u64 length, u32 crc, payload, u32 crc
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            event = Event.FromString(data[pos + 12:pos + 12 + n])
            pos += 16 + n
            for v in event.summary.value:
                got[(event.step, v.tag)] = v.simple_value
    want = expected(tracked_run)
    assert len(want) > 40 and set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key  # float32 in the event file


def _leveldb_records(data: bytes) -> list[bytes]:
    """Records of W&B's run file: a 7-byte header, then LevelDB log blocks of 32 KiB holding
    [u32 crc, u16 length, u8 type] + payload, type 1 full, 2/3/4 first/middle/last."""
    out, pending, pos, block = [], b"", 7, 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        payload = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0:  # zero padding at the end of the file
            break
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):
            out.append(pending)
    return out


def test_wandb_offline_run_holds_every_metric(tracked_run: Path) -> None:
    from wandb.proto.wandb_internal_pb2 import Record

    files = list((tracked_run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    got, config, summary = {}, None, {}
    for raw in _leveldb_records(files[0].read_bytes()):
        record = Record.FromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
            step = items.pop("env_steps")
            assert record.history.step.num == step
            got.update({(step, k): v for k, v in items.items() if not k.startswith("_")})
        elif kind == "run":  # the run record carries the config (the resolved spec)
            config = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.run.config.update}
        elif kind == "summary":
            summary.update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.summary.update})
    want = expected(tracked_run)
    assert got == pytest.approx(want)
    assert config is not None and config["train"]["seeds"] == [0, 1]
    final = json.loads((tracked_run / "summary.json").read_text())
    assert summary["final_return"] == pytest.approx(final["final_return"])


def test_no_tracker_files_unless_asked(tmp_path: Path) -> None:
    spec = parse_spec(TINY.replace(", tensorboard: true, wandb: {project: marlspec-test}", ""))
    assert spec.log.tensorboard is False and spec.log.wandb is None
    rundir = runner.run(spec, tmp_path / "plain")
    assert not (rundir.path / "tensorboard").exists() and not (rundir.path / "wandb").exists()


def test_missing_extra_is_a_one_line_spec_error(monkeypatch) -> None:
    import marlspec.spec.experiment as experiment

    monkeypatch.setattr(experiment, "_installed", lambda module: False)
    with pytest.raises(SpecError, match=r"log.tensorboard: .*pip install -e \"\.\[tensorboard\]\""):
        parse_spec(TINY)
    with pytest.raises(SpecError, match=r"log.wandb: .*pip install -e \"\.\[wandb\]\""):
        parse_spec(TINY.replace("tensorboard: true", "tensorboard: false"))


def test_a_resumed_run_keeps_feeding_its_trackers(tmp_path: Path, monkeypatch) -> None:
    """A run interrupted after its first chunk and resumed: the TensorBoard events and the W&B run
    (the same one, by its id) hold the steps trained after the resume too."""
    real = runner._compile_chunk
    calls = {"n": 0}

    def interrupt_second_chunk(*a, **kw):  # type: ignore[no-untyped-def]
        call, seconds = real(*a, **kw)

        def wrapped(state, size):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            return call(state, size)

        return wrapped, seconds

    monkeypatch.setattr(runner, "_compile_chunk", interrupt_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        runner.run(parse_spec(TINY), tmp_path / "r")
    run_id = (tmp_path / "r" / "wandb" / "run_id").read_text()
    monkeypatch.setattr(runner, "_compile_chunk", real)
    runner.resume(tmp_path / "r")
    from tensorboardX.proto.event_pb2 import Event

    steps = set()
    for f in (tmp_path / "r" / "tensorboard").glob("events.out.tfevents.*"):
        data, pos = f.read_bytes(), 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            steps |= {Event.FromString(data[pos + 12:pos + 12 + n]).step}
            pos += 16 + n
    assert max(r["env_steps"] for r in map(json.loads, (tmp_path / "r" / "metrics.jsonl").read_text().splitlines())) == 192
    assert 192 in steps
    assert (tmp_path / "r" / "wandb" / "run_id").read_text() == run_id
    assert len(list((tmp_path / "r" / "wandb").glob(f"offline-run-*-{run_id}"))) >= 1
