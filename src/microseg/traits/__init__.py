"""Traits: named per-customer values written in the rule language's expression half."""

from microseg.traits._catalog import BUILTIN_FILE, VALUE_FILE, TraitCatalog, walk_expr
from microseg.traits._compute import (
    TraitRun,
    TraitRunResult,
    compute_cuts,
    compute_traits,
    create_result,
    profile_traits,
)
from microseg.traits._follow import cluster_runs, model_outputs, score_models, uses_traits
from microseg.traits._generated import SPEND_SHARE_PREFIX

__all__ = [
    "BUILTIN_FILE",
    "SPEND_SHARE_PREFIX",
    "VALUE_FILE",
    "TraitCatalog",
    "TraitRun",
    "TraitRunResult",
    "cluster_runs",
    "compute_cuts",
    "compute_traits",
    "create_result",
    "model_outputs",
    "profile_traits",
    "score_models",
    "uses_traits",
    "walk_expr",
]
