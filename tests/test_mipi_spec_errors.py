"""Bad input for dynamic teams and MIPI: one line naming the field, the value and the fix,
exit code 2, no traceback (the style of tests/test_spec_errors.py, whose checker is reused)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from marlspec.cli import app
from tests.test_spec_errors import check_one_line

TEAMS = "env: {kind: smax_teams, allies: [3, 5], slots: 6}\nalgorithm: {kind: mipi, buffer_size: 2000}\nnetwork: {kind: entity}\n"
MATRIX = "env: {kind: team_matrix}\nalgorithm: {kind: mipi}\nnetwork: {kind: entity}\n"

CASES = {
    "composition_larger_than_slots": (TEAMS.replace("kind: mipi,", "kind: mipi, attack_head: slots,")
                                      + "eval: {compositions: {8v8: {allies: [8, 8]}}}\n",
                                      "eval.compositions.8v8.allies", "does not fit in env.slots = 6"),
    "composition_unknown_unit": (TEAMS + "eval: {compositions: {x: {unit_types: [colossus]}}}\n",
                                 "eval.compositions.x.unit_types", "unknown SMAX unit type 'colossus'"),
    "composition_reversed_range": (TEAMS + "eval: {compositions: {x: {allies: [5, 3]}}}\n",
                                   "eval.compositions.x.allies", "low <= high"),
    "composition_unknown_team": (MATRIX + "eval: {compositions: {CC: {teams: [CC]}}}\n",
                                 "eval.compositions.CC.teams", "types from 'AB'"),
    "composition_changes_shape": (TEAMS + "eval: {compositions: {x: {slots: 8}}}\n",
                                  "eval.compositions.x.slots", "may only set allies"),
    "composition_without_teams": ("env: {kind: coordsum}\nalgorithm: {kind: mappo}\n"
                                  "eval: {compositions: {x: {agents: 4}}}\n", "eval.compositions.x", "no team compositions"),
    "fixed_n_network_on_dynamic_teams": ("env: {kind: smax_teams}\nalgorithm: {kind: qmix}\nnetwork: {kind: gru}\n",
                                         "network.kind", "sized to a fixed number of agents"),
    "mipi_with_fixed_n_network": ("env: {kind: team_matrix}\nalgorithm: {kind: mipi}\nnetwork: {kind: mlp}\n",
                                  "network.kind", "kind: entity"),
    "mipi_without_entity_view": ("env: {kind: matrix}\nalgorithm: {kind: mipi}\nnetwork: {kind: entity}\n",
                                 "env.kind", "use team_matrix or smax_teams"),
    "entity_network_elsewhere": ("env: {kind: coordsum}\nalgorithm: {kind: mappo}\nnetwork: {kind: entity}\n",
                                 "network.kind", "mipi only"),
    "value_ablation_with_alpha": ("env: {kind: team_matrix}\nalgorithm: {kind: mipi, regularizer: none, alpha: 0.5}\n"
                                  "network: {kind: entity}\n", "algorithm.alpha", "alpha = 0"),
    "ba_iterations_without_mi": ("env: {kind: team_matrix}\nalgorithm: {kind: mipi, regularizer: entropy,"
                                 " ba_iterations: 4}\nnetwork: {kind: entity}\n", "algorithm.ba_iterations", "regularizer 'mi'"),
    "standardised_entity_state": ("env: {kind: team_matrix}\nalgorithm: {kind: mipi, normalize_state: true}\n"
                                  "network: {kind: entity}\n", "algorithm.normalize_state", "normalize_state: false"),
    "agent_id_on_dynamic_teams": ("env: {kind: smax_teams, agent_id: true}\nalgorithm: {kind: mipi, buffer_size: 2000}\n"
                                  "network: {kind: entity}\n", "env.agent_id", "remove it"),
    "team_range_over_slots": ("env: {kind: smax_teams, allies: [3, 9], slots: 8}\nalgorithm: {kind: mipi}\n"
                              "network: {kind: entity}\n", "env.allies", "raise env.slots"),
    "entity_heads": (MATRIX.replace("{kind: entity}", "{kind: entity, embed: 10, heads: 4}"), "network.heads",
                     "do not divide"),
    "replay_too_small": ("env: {kind: smax_teams}\nalgorithm: {kind: mipi, buffer_size: 100}\nnetwork: {kind: entity}\n",
                         "algorithm.buffer_size", "use at least 1616"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_team_spec(name, tmp_path):
    text, path, fix = CASES[name]
    f = tmp_path / f"{name}.yaml"
    f.write_text(text)
    check_one_line(CliRunner().invoke(app, ["validate", str(f)]), path, fix)


def test_the_good_specs_validate(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text(TEAMS + "eval: {compositions: {6v6: {allies: [6, 6]}, msz: {units: msz}}}\n")
    result = CliRunner().invoke(app, ["validate", str(f)])
    assert result.exit_code == 0, result.output
