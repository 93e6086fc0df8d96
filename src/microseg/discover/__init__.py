"""Micro-segment discovery: clusters inside macro segments, named and turned into rules.

See docs/discovery.md. :func:`discover` runs it on a workspace; runs are stored in
``discovery_runs`` and a cluster's rule can be saved as a segment with :func:`save_cluster`.
"""

from microseg.discover._cluster import (
    ClusterModel,
    GaussianMixtureClusters,
    KMeansClusters,
)
from microseg.discover._errors import DiscoveryError
from microseg.discover._features import Feature, FeatureMatrix, build_features
from microseg.discover._rules import SurrogateRule, surrogate_rule
from microseg.discover._run import DiscoveryRun, discover, merge_small
from microseg.discover._storage import assignments, list_runs, load_run, save_cluster

__all__ = [
    "ClusterModel",
    "DiscoveryError",
    "DiscoveryRun",
    "Feature",
    "FeatureMatrix",
    "GaussianMixtureClusters",
    "KMeansClusters",
    "SurrogateRule",
    "assignments",
    "build_features",
    "discover",
    "list_runs",
    "load_run",
    "merge_small",
    "save_cluster",
    "surrogate_rule",
]
