"""The spec is the one source of truth (issue 19): every field of every algorithm spec is read.

For each algorithm kind, each field of its spec (and of its nested sections, e.g.
`joint_policy`) is changed to another valid value on a small spec, and the compiled
`Experiment`'s algorithm must change (algorithms hold only static configuration, so `==`
compares every setting they were built with). A change that validation rejects with a
"not read" message counts too (a field explicitly marked as not applying). A field whose change
reaches nothing is a setting that is silently dropped: it fails the test unless it is in
DROPPED, with the reason.

Also: `train.anneal_lr: true` is read only by the PPO family and is rejected at validation for
the off-policy kinds (it was silently dropped)."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel

from marlspec.compile import compile as compile_spec
from marlspec.spec import SpecError, parse_spec
from marlspec.spec.registry import ALGORITHM_SPECS, BUILT_IN

COORDSUM = """
env: {kind: coordsum, agents: 2, actions: 4, max_target: 6, time_limit: 8}
network: {kind: mlp, hidden: [16]}
train: {total_env_steps: 320, num_envs: 4, rollout_length: 16}
"""
TEAMS = """
env: {kind: team_matrix, teams: [AB, BA]}
network: {kind: entity, embed: 8, heads: 1, hidden: 8}
train: {total_env_steps: 320, num_envs: 4, rollout_length: 1}
"""

DROPPED: dict[tuple[str, str], str] = {
    # (kind, field): why its change reaches no compiled setting (each one is an issue-19 finding)
}
FIXED: dict[tuple[str, str], str] = {
    # (kind, field): fields with one valid value on that kind (validation says so)
    ("happo", "share_parameters"): "HAPPO needs per-agent parameters: only false validates",
    ("mipi", "normalize_state"): "MIPI's entity rows must not be standardised: only false validates",
}


def _candidates(value: Any, annotation: Any) -> list[Any]:
    """Other values of a field's type to try, the likeliest valid first."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return [a for a in args if a != value]
    options = [a for a in args if a is not type(None)] if args else [annotation]
    out: list[Any] = []
    if type(None) in args and value is not None:
        out.append(None)
    for t in options:
        if typing.get_origin(t) is typing.Literal:
            out += [a for a in typing.get_args(t) if a != value]
        elif t is bool:
            out.append(not value)
        elif t is int:
            base = value if isinstance(value, int) else 4
            out += [base + 1, base * 2, max(base - 1, 1), max(base // 2, 1), 1000]
        elif t is float:
            base = value if isinstance(value, float | int) and value is not None else 0.5
            out += [base * 0.5, base * 0.9, base * 1.1, 0.3, 0.7, 2.0]
    return [c for c in out if c != value or type(c) is not type(value)]


def _fields(model: BaseModel, prefix: str = "algorithm") -> list[tuple[str, Any, Any]]:
    """(dotted path, value, annotation) of every field, nested sections walked."""
    out = []
    for name, info in type(model).model_fields.items():
        if name == "kind":
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out += _fields(value, f"{prefix}.{name}")
        else:
            out.append((f"{prefix}.{name}", value, info.annotation))
    return out


def _yaml(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value) \
        if not isinstance(value, str) else value


def _base(kind: str) -> str:
    body = TEAMS if kind == "mipi" else COORDSUM
    replay = ", buffer_size: 40, batch_size: 4" if "buffer_size" in ALGORITHM_SPECS[kind].model_fields else ""
    extra = f"{{kind: {kind}{replay}}}"
    return f"name: walk\nalgorithm: {extra}\n{body}"


@pytest.mark.parametrize("kind", sorted(BUILT_IN))
def test_every_algorithm_field_is_read(kind: str) -> None:
    walk(kind)


def walk(kind: str, text: str | None = None) -> None:
    """Change every field of `kind`'s spec in turn; each must reach the compiled algorithm
    (or be rejected as not read). `text`: the base spec (default: a small one for `kind`)."""
    text = text or _base(kind)
    spec = parse_spec(text)
    built = compile_spec(spec).algorithm
    silent, untried = [], []
    for path, value, annotation in _fields(spec.algorithm):
        outcome, last = None, ""
        for candidate in _candidates(value, annotation):
            try:
                changed = parse_spec(text, overrides=[f"{path}={_yaml(candidate)}"])
            except SpecError as err:
                if "not read" in str(err) or "is read only" in str(err):
                    outcome = "rejected"
                    break
                last = str(err)
                continue  # out of bounds or inconsistent: try the next value
            outcome = "read" if compile_spec(changed).algorithm != built else "dropped"
            break
        if outcome is None and (kind, path.removeprefix("algorithm.")) not in FIXED:
            untried.append(f"{path} ({last})")
        elif outcome == "dropped" and (kind, path.removeprefix("algorithm.")) not in DROPPED:
            silent.append(path)
    assert not silent, f"{kind}: changing these fields changes nothing that is compiled: {silent}"
    assert not untried, f"{kind}: no other valid value found for {untried}; teach _candidates"


@pytest.mark.parametrize("kind", ["qmix", "fop"])
def test_anneal_lr_is_rejected_off_policy(kind: str) -> None:
    with pytest.raises(SpecError, match=r"train.anneal_lr: is read only by the PPO-family algorithms"):
        parse_spec(_base(kind), overrides=["train.anneal_lr=true"])
    parse_spec(_base(kind), overrides=["train.anneal_lr=false"])  # what a dumped spec.yaml holds
    mappo = parse_spec(_base("mappo"), overrides=["train.anneal_lr=true"])
    assert compile_spec(mappo).algorithm != compile_spec(parse_spec(_base("mappo"))).algorithm


# ------------------------------------------------------------------ config-class defaults

def _config_classes() -> list[type]:
    from marlspec.algorithms.agentmixer import AgentMixerConfig
    from marlspec.algorithms.magpo import MAGPOConfig
    from marlspec.algorithms.mat import MATConfig
    from marlspec.algorithms.mipi import MIPIConfig
    from marlspec.algorithms.off_policy import OffPolicyConfig
    from marlspec.algorithms.ppo import PPOConfig
    from marlspec.nn.entity import EntityNetConfig

    return [PPOConfig, MATConfig, MAGPOConfig, OffPolicyConfig, AgentMixerConfig, MIPIConfig, EntityNetConfig]


def test_config_classes_declare_no_defaults() -> None:
    """The spec is the one source of every default: the implementation-side configs
    (`PPOConfig`, `OffPolicyConfig`, ...) declare none, so `compile` must pass every value, and
    a value the spec does not give cannot silently come from a second default."""
    import dataclasses

    classes = _config_classes()
    assert len(classes) >= 7
    with_default = [f"{c.__name__}.{f.name}" for c in classes for f in dataclasses.fields(c)
                    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
    assert not with_default, f"config fields with a default of their own (put it in the spec): {with_default}"


def test_off_policy_configs_hold_the_spec_values_and_none_elsewhere() -> None:
    """Built from a spec, an off-policy config holds the spec's value of every field the kind's
    spec has, and None (does not apply) for the fields it does not have."""
    import dataclasses

    from marlspec.algorithms.off_policy import OffPolicyConfig
    from marlspec.compile import off_policy_config

    train_side = {"lr", "agent_id", "num_envs"}  # from the train and network sections
    checked = 0
    for kind in sorted(BUILT_IN):
        spec = parse_spec(_base(kind))
        if not hasattr(spec.algorithm, "buffer_size") or kind == "mipi":  # MIPI sets its alpha in compile
            continue
        config = off_policy_config(spec)
        section = spec.algorithm.model_dump()
        for f in dataclasses.fields(OffPolicyConfig):
            if f.name in train_side:
                continue
            expected = section.get(f.name)
            assert getattr(config, f.name) == expected, (kind, f.name)
        checked += 1
    assert checked >= 5


def test_every_shipped_spec_survives_its_run_directory_copy() -> None:
    """`marlspec eval` and `run --resume` reload the run directory's spec.yaml, which `dump_spec`
    writes with every default filled in: that copy must load and equal the spec. (AgentMixer's
    set-only checks used to refuse the defaults that the dump added, e.g. `rank`.)"""
    from pathlib import Path

    from marlspec.spec import dump_spec, load_spec

    root = Path(__file__).resolve().parent.parent / "specs"
    checked = 0
    for path in sorted(root.rglob("*.yaml")):
        try:
            spec = load_spec(path)
        except SpecError:
            continue  # test_spec_errors checks that shipped specs load
        assert parse_spec(dump_spec(spec), str(path)) == spec, path
        checked += 1
    assert checked >= 40, checked
