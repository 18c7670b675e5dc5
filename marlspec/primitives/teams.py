"""REFIL's imagined sub-teams (Iqbal et al. 2021, section 4.2; used by MIPI, section 4.3).

Per episode, draw p ~ U(0, 1) and put every entity in group A with probability p (group B
holds the rest). An agent's *within-group* view keeps the entities of its own group and its
*interaction* view those of the other group; each is AND-ed with what the agent can see.
Utilities computed on the two views, mixed together, are trained to explain the real
return (`algorithms.mipi`, REFIL's imagined loss), and MIPI reads the within-group view as
an imagined team composition s* ~ rho-hat(s* | s+) for its marginal policy (eq. 17).
"""

from __future__ import annotations

import jax
from jaxtyping import Array, Bool, Int, PRNGKeyArray


def imagined_groups(key: PRNGKeyArray, n_entities: int) -> Bool[Array, " G"]:
    """REFIL's random split of the G global entities: True = group A. p ~ U(0, 1), then each
    entity is in A with probability p, independently."""
    k_p, k_g = jax.random.split(key)
    p = jax.random.uniform(k_p)
    return jax.random.bernoulli(k_g, p, (n_entities,))


def group_masks(
    groups: Bool[Array, " G"], entity_ids: Int[Array, "N E"],
) -> tuple[Bool[Array, "N E"], Bool[Array, "N E"]]:
    """(within, interaction) masks over each agent's entity rows: row e of agent i (global entity
    `entity_ids[i, e]`) is within-group when it lies in agent i's group (agent slot i is global
    entity i), else it is an interaction row. The two masks partition the rows."""
    n = entity_ids.shape[0]
    same = groups[entity_ids] == groups[:n, None]
    return same, ~same
