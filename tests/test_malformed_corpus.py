"""A corpus of malformed specs and overrides: every one is rejected by `marlspec validate`
with exit code 2, one line on stderr naming the field (or the YAML problem) and a fix, and
no traceback.

Each case is (YAML text, --set overrides, substrings the message must contain). The needles
name the field and the reason, so a case passes only when it is rejected for its own
reason, not for some other mistake in it. `tests/test_spec_errors.py` covers the message
format in detail; this file is about coverage: YAML tricks, types that lax validation would
coerce, non-finite and unrepresentable numbers, constraints that the run checks, and
overrides.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from marlspec.cli import app

OK = "env: {kind: coordsum, task: 3x10-30}\nalgorithm: {kind: mappo}\n"
MATRIX = "env: {kind: matrix, game: penalty}\n"
QMIX = "env: {kind: coordsum, task: 3x10-30}\nalgorithm: {kind: qmix}\n"
MAGPO = "env: {kind: coordsum, task: 3x10-30}\nalgorithm: {kind: magpo}\n"
LAUGHS = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))

Case = tuple[str, list[str], list[str]]

CASES: dict[str, Case] = {
    # ------------------------------------------------------------------ YAML itself
    "duplicate_top_key": (OK + "env: {kind: matrix}\n", [], ["duplicate key 'env'", "line 3", "line 1"]),
    "duplicate_nested_key": ("env: {kind: coordsum}\nalgorithm:\n  kind: mappo\n  epochs: 2\n  epochs: 3\n", [],
                             ["duplicate key 'epochs'", "line 5"]),
    "duplicate_flow_key": ("env: {kind: coordsum, kind: matrix}\nalgorithm: {kind: mappo}\n", [], ["duplicate key 'kind'"]),
    "duplicate_via_yaml11_booleans": (OK + "train: {seeds: [0]}\nlog: {yes: 1, on: 2}\n", [], ["key 'yes' is read as bool"]),
    "integer_key": (OK + "train: {3: 4}\n", [], ["key '3' is read as int", "quote it"]),
    "null_key": (OK + "train: {~: 4}\n", [], ["key '~' is read as NoneType"]),
    "float_key": (OK + "eval: {1.5: x}\n", [], ["key '1.5' is read as float"]),
    "bool_key_in_kwargs": ("env: {kind: pettingzoo, env: 'a.b:c', kwargs: {true: 1}}\nalgorithm: {kind: mappo}\n", [],
                           ["key 'true' is read as bool"]),
    "recursive_alias": ("env: &e {kind: coordsum, inner: *e}\nalgorithm: {kind: mappo}\n", [], ["recursive alias"]),
    "recursive_list_alias": (OK + "x: &x [1, *x]\n", [], ["recursive alias"]),
    "billion_laughs": (OK + LAUGHS, [], ["expands to more than 100,000 values"]),
    "deep_nesting": (OK + "train: " + "[" * 80 + "]" * 80 + "\n", [], ["nested more than 64 levels deep"]),
    "very_deep_nesting": (OK + "train: " + "[" * 2000 + "]" * 2000 + "\n", [], ["nested more than 64 levels deep"]),
    "deep_mapping_nesting": (OK + "train: " + "{a: " * 70 + "1" + "}" * 70 + "\n", [], ["nested more than 64"]),
    "unclosed_bracket": ("env: {kind: coordsum\nalgorithm: [\n", [], ["invalid YAML", "line"]),
    "tab_indentation": ("env:\n\tkind: coordsum\nalgorithm: {kind: mappo}\n", [], ["invalid YAML"]),
    "bad_date": (OK + "name: 2024-13-01\n", [], ["cannot read a value", "month"]),
    "two_documents": (OK + "---\n" + OK, [], ["invalid YAML", "another document"]),
    "python_tag": (OK + "name: !!python/object:os.system ls\n", [], ["invalid YAML", "constructor"]),
    "unknown_tag": (OK + "name: !custom x\n", [], ["invalid YAML", "constructor"]),
    "binary_name": (OK + "name: !!binary '@@@'\n", [], ["name", "must be text"]),
    "empty_file": ("", [], ["spec is empty"]),
    "only_comments": ("# nothing\n", [], ["spec is empty"]),
    "top_level_list": ("- env\n- algorithm\n", [], ["must be a mapping", "got list"]),
    "top_level_scalar": ("hello\n", [], ["must be a mapping", "got str"]),
    "merge_of_a_list": ("base: &b [1]\nenv:\n  <<: *b\n  kind: coordsum\nalgorithm: {kind: mappo}\n", [], ["invalid YAML"]),
    # ---------------------------------------------- strict types: nothing coerced
    "bool_as_float": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, gamma: true}\n", [],
                      ["algorithm.gamma", "must be a number", "true and false are not numbers"]),
    "string_as_int": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, epochs: '4'}\n", [],
                      ["algorithm.epochs", "whole number", "write 4 without quotes"]),
    "float_as_int": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, epochs: 4.0}\n", [],
                     ["algorithm.epochs", "whole number", "write 4"]),
    "fraction_as_int": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, epochs: 4.5}\n", [], ["algorithm.epochs", "whole number"]),
    "quoted_num_envs": (OK + "train: {num_envs: '16'}\n", [], ["train.num_envs", "whole number"]),
    "exponent_budget": (OK + "train: {total_env_steps: 1e6}\n", [], ["train.total_env_steps", "write 1000000"]),
    "dotted_exponent_budget": (OK + "train: {total_env_steps: 1.0e+6}\n", [], ["train.total_env_steps", "write 1000000"]),
    "quoted_lr": (OK + "train: {lr: '0.001'}\n", [], ["train.lr", "must be a number", "without quotes"]),
    "bool_as_bool_int": (OK + "train: {anneal_lr: 0}\n", [], ["train.anneal_lr", "true or false"]),
    "quoted_bool": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, normalize_advantages: 'yes'}\n", [],
                    ["algorithm.normalize_advantages", "true or false"]),
    "null_float": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, clip_eps: null}\n", [], ["algorithm.clip_eps", "number"]),
    "seeds_scalar": (OK + "train: {seeds: 0}\n", [], ["train.seeds", "must be a list"]),
    "seeds_string_item": (OK + "train: {seeds: [0, '1']}\n", [], ["train.seeds.1", "whole number"]),
    "seeds_float_item": (OK + "train: {seeds: [0, 1.5]}\n", [], ["train.seeds.1", "whole number"]),
    "seeds_bool_item": (OK + "train: {seeds: [true]}\n", [], ["train.seeds.0", "whole number"]),
    "name_number": (OK + "name: 123\n", [], ["name", "must be text"]),
    "name_list": (OK + "name: [a]\n", [], ["name", "must be text"]),
    "name_spaces": (OK + "name: has space\n", [], ["name", "pattern"]),
    "name_empty": (OK + "name: ''\n", [], ["name", "at least 1"]),
    "hidden_string_item": (OK + "network: {kind: mlp, hidden: ['64']}\n", [], ["network.hidden.0", "whole number"]),
    "hidden_float_item": (OK + "network: {kind: mlp, hidden: [64.0]}\n", [], ["network.hidden.0", "write 64"]),
    "hidden_bool_item": (OK + "network: {kind: mlp, hidden: [true]}\n", [], ["network.hidden.0", "whole number"]),
    "hidden_scalar": (OK + "network: {kind: mlp, hidden: 64}\n", [], ["network.hidden", "must be a list"]),
    "agent_id_string": (OK + "network: {kind: mlp, agent_id: 'true'}\n", [], ["network.agent_id", "true or false"]),
    "progress_string": (OK + "log: {progress: 'false'}\n", [], ["log.progress", "true or false"]),
    "kwargs_not_mapping": ("env: {kind: pettingzoo, env: 'a.b:c', kwargs: [1]}\nalgorithm: {kind: mappo}\n", [],
                           ["env.kwargs", "mapping"]),
    # ------------------------------------------- non-finite and unrepresentable numbers
    "lr_inf": (OK + "train: {lr: .inf}\n", [], ["train.lr", "finite"]),
    "lr_nan": (OK + "train: {lr: .nan}\n", [], ["train.lr", "finite"]),
    "lr_float32_overflow": (OK + "train: {lr: 1.0e+39}\n", [], ["train.lr", "float32"]),
    "ent_coef_nan": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, ent_coef: .nan}\n", [], ["algorithm.ent_coef", "finite"]),
    "ent_coef_inf": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, ent_coef: .inf}\n", [], ["algorithm.ent_coef", "finite"]),
    "vf_coef_huge": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, vf_coef: 1e300}\n", [], ["algorithm.vf_coef", "float32"]),
    "value_clip_inf": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, value_clip_eps: .inf}\n", [],
                       ["algorithm.value_clip_eps", "finite"]),
    "grad_norm_inf": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, max_grad_norm: .inf}\n", [],
                      ["algorithm.max_grad_norm", "finite"]),
    "penalty_k_neg_inf": ("env: {kind: matrix, game: penalty, k: -.inf}\nalgorithm: {kind: mappo}\n", [], ["env.k", "finite"]),
    "penalty_k_huge": ("env: {kind: matrix, game: penalty, k: -1.0e+39}\nalgorithm: {kind: mappo}\n", [], ["env.k", "float32"]),
    "payoff_nan": ("env: {kind: matrix, game: custom, payoff: [[1, .nan], [0, 1]]}\nalgorithm: {kind: mappo}\n", [],
                   ["env.payoff", "finite"]),
    "payoff_inf": ("env: {kind: matrix, game: custom, payoff: [[1, .inf], [0, 1]]}\nalgorithm: {kind: mappo}\n", [],
                   ["env.payoff", "finite"]),
    "payoff_huge": ("env: {kind: matrix, game: custom, payoff: [[1, 1.0e+39], [0, 1]]}\nalgorithm: {kind: mappo}\n", [],
                    ["env.payoff", "float32"]),
    "payoff_bool": ("env: {kind: matrix, game: custom, payoff: [[true, 0], [0, 1]]}\nalgorithm: {kind: mappo}\n", [],
                    ["env.payoff", "nested list of numbers"]),
    "payoff_string": ("env: {kind: matrix, game: custom, payoff: [['1', 0], [0, 1]]}\nalgorithm: {kind: mappo}\n", [],
                      ["env.payoff", "nested list of numbers"]),
    "payoff_huge_int": ("env: {kind: matrix, game: custom, payoff: [[1, 10000000000], [0, 1]]}\nalgorithm: {kind: mappo}\n",
                        [], ["env.payoff", "32-bit"]),
    "prey_penalty_nan": ("env: {kind: predator_prey, penalty: .nan}\nalgorithm: {kind: mappo}\n", [], ["env.penalty", "finite"]),
    "capture_reward_huge": ("env: {kind: predator_prey, capture_reward: 1.0e+39}\nalgorithm: {kind: mappo}\n", [],
                            ["env.capture_reward", "float32"]),
    "step_cost_neg_inf": ("env: {kind: predator_prey, step_cost: -.inf}\nalgorithm: {kind: mappo}\n", [],
                          ["env.step_cost", "finite"]),
    "budget_overflow": (OK + "train: {total_env_steps: 3000000000}\n", [], ["train.total_env_steps", "32-bit"]),
    "budget_1e39": (OK + "train: {total_env_steps: 1e39}\n", [], ["train.total_env_steps", "whole number"]),
    "eval_interval_overflow": (OK + "eval: {interval: 10000000000}\n", [], ["eval.interval", "32-bit"]),
    "buffer_overflow": ("env: {kind: coordsum}\nalgorithm: {kind: qmix, buffer_size: 99999999999}\n", [],
                        ["algorithm.buffer_size", "32-bit"]),
    "seed_too_large": (OK + "train: {seeds: [4294967296]}\n", [], ["train.seeds.0", "<= 2147483647"]),
    "seed_10e20": (OK + "train: {seeds: [100000000000000000000]}\n", [], ["train.seeds.0", "<= 2147483647"]),
    "seed_negative": (OK + "train: {seeds: [-1]}\n", [], ["train.seeds.0", ">= 0"]),
    "batch_product_overflow": (OK + "train: {num_envs: 100000, rollout_length: 100000, total_env_steps: 2000000000}\n", [],
                               ["train.rollout_length", "32-bit"]),
    "magpo_delta_inf": ("env: {kind: coordsum}\nalgorithm: {kind: magpo, delta: .inf}\n", [], ["algorithm.delta", "finite"]),
    "alpha_nan": ("env: {kind: coordsum}\nalgorithm: {kind: fop, alpha_start: .nan}\n", [], ["algorithm.alpha_start", "finite"]),
    # --------------------------------------------------------------- value ranges
    "hidden_negative": (OK + "network: {kind: mlp, hidden: [64, -8]}\n", [], ["network.hidden.1", ">= 1"]),
    "hidden_zero": (OK + "network: {kind: mlp, hidden: [0]}\n", [], ["network.hidden.0", ">= 1"]),
    "gru_fc_zero": (OK + "network: {kind: gru, fc: 0}\n", [], ["network.fc", ">= 1"]),
    "gru_hidden_negative": (OK + "network: {kind: gru, hidden: -4}\n", [], ["network.hidden", ">= 1"]),
    "gamma_above_one": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, gamma: 1.5}\n", [], ["algorithm.gamma", "<= 1"]),
    "clip_eps_range": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, clip_eps: 1.5}\n", [], ["algorithm.clip_eps", "< 1"]),
    "negative_lr": (OK + "train: {lr: -0.1}\n", [], ["train.lr", "> 0"]),
    "zero_envs": (OK + "train: {num_envs: 0}\n", [], ["train.num_envs", ">= 1"]),
    "zero_episodes": (OK + "eval: {episodes: 0}\n", [], ["eval.episodes", ">= 1"]),
    "zero_checkpoint_every": (OK + "log: {checkpoint_every: 0}\n", [], ["log.checkpoint_every", ">= 1"]),
    "magpo_delta_one": ("env: {kind: coordsum}\nalgorithm: {kind: magpo, delta: 1.0}\n", [], ["algorithm.delta", "> 1"]),
    "epochs_too_many": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, epochs: 1000}\n", [], ["algorithm.epochs", "<= 100"]),
    "epsilon_above_one": ("env: {kind: coordsum}\nalgorithm: {kind: qmix, epsilon_start: 2}\n", [],
                          ["algorithm.epsilon_start", "<= 1"]),
    "seeds_repeated": (OK + "train: {seeds: [0, 0]}\n", [], ["train.seeds", "distinct"]),
    "seeds_empty": (OK + "train: {seeds: []}\n", [], ["train.seeds", "at least one seed"]),
    # ------------------------------------ constraints the run checks, checked first
    "replay_smaller_than_envs": ("env: {kind: coordsum, task: 3x10-30}\nalgorithm: {kind: qmix, buffer_size: 1000,"
                                 " batch_size: 8}\ntrain: {num_envs: 16}\n", [],
                                 ["algorithm.buffer_size", "use at least 1616"]),
    "replay_smaller_than_batch": ("env: {kind: coordsum}\nalgorithm: {kind: qmix, buffer_size: 10, batch_size: 32}\n", [],
                                  ["algorithm.batch_size", "exceeds buffer_size"]),
    "replay_vs_connector_default_limit": ("env: {kind: connector, task: con-15x15x23a}\n"
                                          "algorithm: {kind: vdn, buffer_size: 1000}\ntrain: {num_envs: 8}\n", [],
                                          ["algorithm.buffer_size", "use at least 1808"]),
    "replay_vs_pettingzoo_max_cycles": ("env: {kind: pettingzoo, env: 'mpe2.simple_spread_v3:parallel_env',"
                                        " kwargs: {max_cycles: 200}}\nalgorithm: {kind: qmix, buffer_size: 100}\n", [],
                                        ["algorithm.buffer_size", "use at least"]),
    "minibatches_not_dividing": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, num_minibatches: 3}\n", [],
                                 ["algorithm.num_minibatches", "does not divide"]),
    "heads_not_dividing": ("env: {kind: coordsum}\nalgorithm: {kind: mat, joint_policy: {embed_dim: 10, heads: 3}}\n", [],
                           ["algorithm.joint_policy.heads", "do not divide"]),
    "happo_shared": ("env: {kind: coordsum}\nalgorithm: {kind: happo, share_parameters: true}\n", [],
                     ["algorithm.share_parameters", "per-agent"]),
    "magpo_continuous": ("env: {kind: mabrax, scenario: hopper_3x1}\nalgorithm: {kind: magpo}\n", [],
                         ["algorithm.kind", "needs discrete actions"]),
    "qmix_continuous": ("env: {kind: mpe, scenario: simple_facmac_3a}\nalgorithm: {kind: qmix}\n", [],
                        ["algorithm.kind", "needs discrete actions"]),
    "unknown_mpe_scenario": ("env: {kind: mpe, scenario: simple_spread_continuous}\nalgorithm: {kind: mappo}\n", [],
                             ["env.scenario", "unknown MPE scenario"]),
    "budget_below_update": (OK + "train: {total_env_steps: 10}\n", [], ["train.total_env_steps", "less than one update"]),
    "custom_without_payoff": ("env: {kind: matrix, game: custom}\nalgorithm: {kind: mappo}\n", [], ["env.payoff", "needs a payoff"]),
    "payoff_with_named_game": ("env: {kind: matrix, game: climbing, payoff: [[1, 0], [0, 1]]}\nalgorithm: {kind: mappo}\n", [],
                               ["env.payoff", "only read for game 'custom'"]),
    "payoff_ragged": ("env: {kind: matrix, game: custom, payoff: [[1, 2], [3]]}\nalgorithm: {kind: mappo}\n", [],
                      ["env.payoff", "ragged"]),
    "payoff_one_agent": ("env: {kind: matrix, game: custom, payoff: [1, 2]}\nalgorithm: {kind: mappo}\n", [],
                         ["env.payoff", "at least 2 agents"]),
    "payoff_not_square": ("env: {kind: matrix, game: custom, payoff: [[1, 2, 3], [3, 4, 5]]}\nalgorithm: {kind: mappo}\n", [],
                          ["env.payoff", "same number of actions"]),
    "positive_penalty": ("env: {kind: matrix, game: penalty, k: 5}\nalgorithm: {kind: mappo}\n", [], ["env.k", "k <= 0"]),
    "mpe_agents_not_spread": ("env: {kind: mpe, scenario: simple_tag, agents: 3}\nalgorithm: {kind: mappo}\n", [],
                              ["env.agents", "only read for simple_spread"]),
    "grid_too_small": ("env: {kind: predator_prey, grid_size: 3, predators: 4, prey: 2}\nalgorithm: {kind: mappo}\n", [],
                       ["env.grid_size", "too small"]),
    "unknown_coordsum_task": ("env: {kind: coordsum, task: 3x10-31}\nalgorithm: {kind: mappo}\n", [], ["env.task", "did you mean"]),
    "smax_map_not_in_smax": ("env: {kind: smax, map: MMM2}\nalgorithm: {kind: mappo}\n", [], ["env.map", "not in SMAX"]),
    "lbf_unknown_task": ("env: {kind: lbf, task: 9x9}\nalgorithm: {kind: mappo}\n", [], ["env.task", "unknown LBF task"]),
    "pettingzoo_path_form": ("env: {kind: pettingzoo, env: 'not a path'}\nalgorithm: {kind: mappo}\n", [],
                             ["env.env", "module:factory"]),
    "pettingzoo_missing_env": ("env: {kind: pettingzoo}\nalgorithm: {kind: mappo}\n", [], ["env.env", "missing"]),
    # ------------------------------------------------------ unknown keys and kinds
    "unknown_top_level_key": (OK + "trainer: {}\n", [], ["trainer", "did you mean 'train'"]),
    "misspelt_train_key": (OK + "train: {num_env: 8}\n", [], ["train.num_env", "did you mean 'num_envs'"]),
    "key_of_another_kind": ("env: {kind: coordsum}\nalgorithm: {kind: mappo, buffer_size: 100}\n", [],
                            ["algorithm.buffer_size", "unknown key"]),
    "unknown_algorithm_kind": ("env: {kind: coordsum}\nalgorithm: {kind: qmixx}\n", [], ["algorithm.kind", "did you mean 'qmix'"]),
    "unknown_network_kind": (OK + "network: {kind: cnn}\n", [], ["network.kind", "choices"]),
    "unknown_activation": (OK + "network: {kind: mlp, activation: sigmoid}\n", [], ["network.activation", "choices"]),
    "missing_algorithm": ("env: {kind: coordsum}\n", [], ["algorithm", "missing"]),
    "missing_env_kind": ("env: {task: 3x10-30}\nalgorithm: {kind: mappo}\n", [], ["env", "add kind"]),
    "kind_not_text": ("env: {kind: 3}\nalgorithm: {kind: mappo}\n", [], ["env"]),
    "section_scalar": (OK + "train: 5\n", [], ["train", "mapping"]),
    "section_list": ("env: {kind: coordsum}\nalgorithm: [kind, mappo]\n", [], ["algorithm", "mapping"]),
    "section_null": (OK + "eval: null\n", [], ["eval", "mapping"]),
    # ------------------------------------------------------------------ overrides
    "override_empty_value": (OK, ["env.task="], ["env.task=", "no value after '='"]),
    "override_blank_value": (OK, ["name=   "], ["no value after '='"]),
    "override_no_equals": (OK, ["algorithm.clip_eps"], ["dotted.path=value"]),
    "override_empty_path": (OK, ["=3"], ["empty key"]),
    "override_leading_dot": (OK, [".train=1"], ["empty key"]),
    "override_double_dot": (OK, ["train..lr=1"], ["empty key"]),
    "override_into_value": (OK + "train: {seeds: [0]}\n", ["train.seeds.0=1"], ["'train.seeds' is a value, not a section"]),
    "override_creates_wrong_section": (OK, ["train.seeds.0=1"], ["train.seeds", "must be a list"]),
    "override_unknown_kind": (OK, ["algorithm.kind=mapo"], ["algorithm.kind", "did you mean 'mappo'", "[--set]"]),
    "override_nan": (OK, ["train.lr=.nan"], ["train.lr", "finite", "[--set]"]),
    "override_text_for_number": (OK, ["train.lr=abc"], ["train.lr", "must be a number"]),
    "override_quoted_int": (OK, ["algorithm.epochs='4'"], ["algorithm.epochs", "whole number"]),
    "override_bool_for_number": (OK, ["algorithm.gamma=true"], ["algorithm.gamma", "true and false are not numbers"]),
    "override_repeated_seeds": (OK, ["train.seeds=[0,0]"], ["train.seeds", "distinct"]),
    "override_invalid_yaml": (OK, ["train.seeds=[0,"], ["not valid YAML"]),
    "override_recursive_alias": (OK, ["train.seeds=&x [*x]"], ["recursive alias"]),
    "override_alias_bomb": (OK, ["name=" + LAUGHS.replace("\n", ", ").join("{}")], ["expands to more than"]),
    "override_duplicate_key": (OK, ["train={lr: 0.1, lr: 0.2}"], ["duplicate key 'lr'"]),
    "override_non_text_key": (OK, ["train={1: 2}"], ["key '1' is read as int"]),
    "override_negative_width": (OK + "network: {kind: mlp}\n", ["network.hidden=[64,-1]"],
                                ["network.hidden.1", ">= 1", "[--set]"]),
    "override_section_without_kind": (OK, ["network.hidden=[64]"], ["network", "missing 'kind'"]),
    "override_kind_keeps_bad_key": (OK, ["algorithm.kind=qmix", "algorithm.clip_eps=0.1"],
                                    ["algorithm.clip_eps", "unknown key", "[--set]"]),
    "override_custom_needs_payoff": (MATRIX + "algorithm: {kind: mappo}\n", ["env.game=custom"], ["env.payoff", "needs a payoff"]),
    "override_replay_too_small": (QMIX, ["train.num_envs=64", "algorithm.buffer_size=1000"], ["use at least 6464"]),
    "override_budget_overflow": (OK, ["train.total_env_steps=1e12"], ["train.total_env_steps", "whole number"]),
    "override_huge_int": (OK, ["train.total_env_steps=100000000000000000000"], ["train.total_env_steps", "32-bit"]),
    "override_date": (OK, ["name=2024-13-01"], ["cannot read a value"]),
    "override_section_to_scalar": (OK, ["env=3"], ["env", "mapping"]),
    "override_magpo_bad_heads": (MAGPO, ["algorithm.joint_policy.heads=3"], ["algorithm.joint_policy.heads", "divide"]),
    "override_unicode_key": (OK, ["train.lř=0.1"], ["train.lř", "unknown key"]),
    "override_newline_in_value": (OK, ["name=a\nb"], ["name"]),
}


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 100


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_rejects_in_one_line(name: str, cli: CliRunner, tmp_path) -> None:
    text, overrides, needles = CASES[name]
    f = tmp_path / f"{name}.yaml"
    f.write_text(text)
    args = ["validate", str(f)] + [a for o in overrides for a in ("--set", o)]
    result = cli.invoke(app, args)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    out = result.output.strip()
    assert len(out.splitlines()) == 1 and "\n" not in out, out
    assert out.startswith("error: ") and "Traceback" not in out, out
    for needle in needles:
        assert needle in out, (needle, out)


def test_real_processes_print_one_line_on_stderr(tmp_path) -> None:
    """A sample of the corpus through real processes: stdout empty, one stderr line, exit 2."""
    for name in ("billion_laughs", "payoff_nan", "override_empty_value"):
        text, overrides, needles = CASES[name]
        f = tmp_path / f"{name}.yaml"
        f.write_text(text)
        args = [sys.executable, "-m", "marlspec.cli", "validate", str(f)] + [a for o in overrides for a in ("--set", o)]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (name, proc.stderr)
        assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, (name, proc.stderr)
        assert needles[0] in proc.stderr
