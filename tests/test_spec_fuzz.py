"""Fuzzing the spec loader and `--set`: whatever the text, loading either returns a spec or
raises `SpecError` with a one-line message; no other exception escapes. And a spec that
loads also compiles: every constraint that building the experiment checks is checked when
the spec is validated.

Inputs: arbitrary text; arbitrary YAML documents (nested, unicode, huge and non-finite
numbers, non-text keys); documents full of anchors and aliases (shared, nested, recursive);
a valid spec with one value replaced at a random path; arbitrary and structured `--set`
strings.

Examples per property: `MARLSPEC_FUZZ_EXAMPLES` (CI default 60). `benchmarks/spec_fuzz.py`
runs every property with 10,000 or more and records the counts in
`benchmarks/results/spec_fuzz.md`.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marlspec.spec import SpecError, parse_spec

EXAMPLES = int(os.environ.get("MARLSPEC_FUZZ_EXAMPLES", "60"))
REPORT = os.environ.get("MARLSPEC_FUZZ_REPORT")
"""When set, a JSON file that receives, per property, how many examples loaded and how many were refused."""
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 200,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

OUTCOMES: dict[str, Counter[str]] = {}


def _record(prop: str, outcome: str) -> None:
    OUTCOMES.setdefault(prop, Counter())[outcome] += 1
    if REPORT:
        with open(REPORT, "w") as f:
            json.dump({k: dict(v) for k, v in OUTCOMES.items()}, f, indent=2)


def load_or_refuse(prop: str, text: str, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """The property: a spec, or a SpecError whose message is one non-empty line."""
    try:
        spec = parse_spec(text, "<fuzz>", list(overrides))
    except SpecError as err:
        message = str(err)
        assert message and len(message.splitlines()) == 1 and "\n" not in message, repr(message)
        _record(prop, "refused")
        return None
    _record(prop, "loaded")
    return spec


# ------------------------------------------------------------------- strategies

BASE: dict[str, Any] = {
    "name": "fuzz",
    "env": {"kind": "coordsum", "agents": 2, "actions": 3, "max_target": 4, "time_limit": 5},
    "algorithm": {"kind": "mappo", "num_minibatches": 2, "epochs": 1},
    "network": {"kind": "mlp", "hidden": [8]},
    "train": {"total_env_steps": 64, "num_envs": 2, "rollout_length": 4, "seeds": [0]},
    "eval": {"interval": 32, "episodes": 2},
    "log": {"progress": False},
}
FIELDS = sorted({"name", "env", "algorithm", "network", "train", "eval", "log", "kind", "task", "agents", "actions",
                 "max_target", "time_limit", "game", "payoff", "k", "episode_length", "scenario", "map", "kwargs",
                 "max_steps", "gamma", "clip_eps", "epochs", "num_minibatches", "buffer_size", "batch_size", "delta",
                 "joint_policy", "embed_dim", "heads", "hidden", "fc", "activation", "seeds", "num_envs", "lr",
                 "rollout_length", "total_env_steps", "interval", "episodes", "checkpoint_every", "share_parameters"})
KINDS = ["coordsum", "matrix", "predator_prey", "mpe", "smax", "pettingzoo", "mappo", "ippo", "qmix", "vdn", "fop",
         "macpf", "macpf_control", "happo", "mat", "magpo", "ctds", "mlp", "gru", "penalty", "custom", "climbing"]

SPECIAL_FLOATS = st.sampled_from([math.inf, -math.inf, math.nan, 1e39, -1e39, 3.5e38, 1e-45, 0.0, -0.0, 1e308])
HUGE_INTS = st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1, 2**32, 2**63, 10**20, 10**100, -(10**30)])
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 300), HUGE_INTS, st.floats(allow_nan=True, allow_infinity=True),
    SPECIAL_FLOATS, TEXT, st.sampled_from(KINDS), st.sampled_from(FIELDS),
)
KEYS = st.one_of(st.sampled_from(FIELDS), TEXT, st.integers(-3, 3), st.booleans(), st.none())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(KEYS, inner, max_size=4)), max_leaves=20)


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None)


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    """BASE with 1-3 values replaced (or keys added or removed) at random paths."""
    data = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 3))):
        node: Any = data
        for _ in range(draw(st.integers(0, 2))):
            children = [k for k, v in node.items() if isinstance(v, dict)] if isinstance(node, dict) else []
            if not children:
                break
            node = node[draw(st.sampled_from(sorted(children, key=repr)))]
        if not isinstance(node, dict):
            break
        action = draw(st.sampled_from(["set", "set", "set", "delete"]))
        key = draw(st.one_of(st.sampled_from(sorted(node, key=repr) or ["kind"]), KEYS))
        if action == "delete":
            node.pop(key, None)
        else:
            node[key] = draw(VALUES)
    return dump(data)


@st.composite
def aliased_documents(draw: st.DrawFn) -> str:
    """Documents whose values are anchors and aliases of earlier ones (fan-out, nesting,
    merge keys, self-reference), inside a spec-shaped mapping."""
    lines = []
    names: list[str] = []
    for i in range(draw(st.integers(1, 12))):
        name = f"a{i}"
        refs = draw(st.lists(st.sampled_from(names), max_size=12)) if names else []
        items = [f"*{r}" for r in refs] + [repr(x) for x in draw(st.lists(st.integers(), max_size=3))]
        if draw(st.booleans()) and i > 0 and draw(st.integers(0, 9)) == 0:
            items.append(f"*{name}")  # refers to itself: a recursive alias
        shape = draw(st.sampled_from(["list", "map", "merge"]))
        if shape == "list":
            body = "[" + ", ".join(items) + "]"
        elif shape == "map" or not refs:
            body = "{" + ", ".join(f"k{j}: {v}" for j, v in enumerate(items)) + "}"
        else:
            body = "{<<: *" + refs[0] + ", kind: mappo}"
        lines.append(f"{name}: &{name} {body}")
        names.append(name)
    where = draw(st.sampled_from(["env", "algorithm", "train", "network", "extra"]))
    lines.append(f"{where}: *{draw(st.sampled_from(names))}")
    return "\n".join(lines) + "\n" + dump({k: v for k, v in BASE.items() if k != where})


YAML_ALPHABET = st.sampled_from(list("abckindv:{}[],-&*!|>'\"#%@`?.=0123456789\n \t~<") + ["é", "\u2028", "\x85", "\x00"])
OVERRIDE_PATHS = st.lists(st.one_of(st.sampled_from(FIELDS), TEXT), min_size=0, max_size=4).map(".".join)


@st.composite
def structured_overrides(draw: st.DrawFn) -> str:
    path = draw(OVERRIDE_PATHS)
    value = draw(st.one_of(st.just(""), TEXT, VALUES.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()),
                           st.text(YAML_ALPHABET, max_size=20)))
    return f"{path}={value}"


# ---------------------------------------------------------------- properties


@FUZZ
@given(st.text(YAML_ALPHABET, max_size=120))
def test_arbitrary_text(text: str) -> None:
    load_or_refuse("arbitrary_text", text)


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_unicode(text: str) -> None:
    load_or_refuse("arbitrary_unicode", text)


@FUZZ
@given(VALUES)
def test_arbitrary_documents(data: Any) -> None:
    load_or_refuse("arbitrary_documents", dump(data))


@FUZZ
@given(mutated_specs())
def test_mutated_specs(text: str) -> None:
    load_or_refuse("mutated_specs", text)


@FUZZ
@given(aliased_documents())
def test_aliased_documents(text: str) -> None:
    load_or_refuse("aliased_documents", text)


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=30), structured_overrides()), min_size=1, max_size=4))
def test_overrides(overrides: list[str]) -> None:
    load_or_refuse("overrides", dump(BASE), overrides)


@FUZZ
@given(mutated_specs(), st.lists(structured_overrides(), max_size=3))
def test_mutated_specs_with_overrides(text: str, overrides: list[str]) -> None:
    load_or_refuse("mutated_specs_with_overrides", text, overrides)


# ------------------------------------------------ what validates also compiles

CHEAP_ENVS = [
    {"kind": "coordsum"}, {"kind": "matrix", "game": "penalty"}, {"kind": "matrix", "game": "climbing"},
    {"kind": "predator_prey"},
]
ALGORITHMS = ["ippo", "mappo", "vdn", "qmix", "fop", "macpf", "macpf_control", "happo", "mat", "magpo", "ctds"]


@st.composite
def plausible_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Specs near the edges of what compile builds: small and odd sizes, replay sizes around
    num_envs x (episode + 1), joint-policy widths and heads, agent and grid counts. Mostly
    valid values, so that many of them load and get compiled."""
    env = dict(draw(st.sampled_from(CHEAP_ENVS)))
    if env["kind"] == "coordsum":
        env.update(agents=draw(st.integers(2, 5)), actions=draw(st.integers(2, 6)), max_target=draw(st.integers(1, 9)),
                   time_limit=draw(st.integers(1, 12)))
    elif env["kind"] == "matrix":
        env["episode_length"] = draw(st.integers(1, 6))
    else:
        env.update(grid_size=draw(st.integers(3, 7)), predators=draw(st.integers(1, 4)), prey=draw(st.integers(1, 2)),
                   max_steps=draw(st.integers(1, 12)))
    kind = draw(st.sampled_from(ALGORITHMS))
    algorithm: dict[str, Any] = {"kind": kind}
    num_envs = draw(st.integers(1, 8))
    if kind in ("ippo", "mappo", "happo", "mat", "magpo", "ctds"):
        algorithm["num_minibatches"] = draw(st.integers(1, 4))
        algorithm["epochs"] = 1
    else:
        algorithm["buffer_size"] = draw(st.integers(1, 120))
        algorithm["batch_size"] = draw(st.integers(1, 8))
    if kind in ("mat", "magpo", "ctds"):
        algorithm["joint_policy"] = {"embed_dim": draw(st.integers(2, 12)), "heads": draw(st.integers(1, 4))}
    if kind == "happo":
        algorithm["share_parameters"] = draw(st.booleans())
    network = draw(st.one_of(
        st.builds(lambda h: {"kind": "mlp", "hidden": h}, st.lists(st.integers(0, 9), max_size=3)),
        st.builds(lambda fc, h: {"kind": "gru", "fc": fc, "hidden": h}, st.integers(1, 9), st.integers(1, 9)),
    ))
    train = {"num_envs": num_envs, "rollout_length": draw(st.integers(1, 8)),
             "total_env_steps": draw(st.integers(1, 400)), "seeds": [0]}
    return {"env": env, "algorithm": algorithm, "network": network, "train": train,
            "eval": {"interval": draw(st.integers(1, 100)), "episodes": 1}, "log": {"progress": False}}


@FUZZ
@given(plausible_specs())
def test_what_validates_compiles(data: dict[str, Any]) -> None:
    from marlspec.compile import compile as compile_spec

    spec = load_or_refuse("validates_then_compiles", dump(data))
    if spec is not None:
        compile_spec(spec)  # any exception here is a constraint that `validate` missed


def test_alias_bomb_is_refused_before_it_expands() -> None:
    """Nine levels of ten aliases stand for 10^9 values in 400 bytes; refused without expanding
    them (a linear-time count of the composed graph), so this takes milliseconds, not hours."""
    import time

    text = "a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
    t0 = time.perf_counter()
    try:
        parse_spec(text + dump(BASE))
    except SpecError as err:
        assert "expands to more than 100,000 values" in str(err)
    else:
        raise AssertionError("an alias bomb loaded")
    assert time.perf_counter() - t0 < 5.0
