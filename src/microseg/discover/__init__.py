"""Micro-segment discovery: clusters inside macro segments, named and turned into rules.

See docs/discovery.md. :func:`discover` runs it on a workspace; runs are stored in
``discovery_runs`` under a name, a cluster's rule can be saved as a segment with
:func:`save_cluster`, and :func:`load_assigner` places new customers in a run's clusters.
"""

from microseg.discover._assign import ClusterAssigner, Encoder
from microseg.discover._cluster import (
    BisectingKMeansClusters,
    ClusterModel,
    GaussianMixtureClusters,
    HDBSCANClusters,
    KMeansClusters,
)
from microseg.discover._errors import DiscoveryError
from microseg.discover._features import (
    DEFAULT_ATTRIBUTE_FAMILIES,
    Feature,
    FeatureMatrix,
    build_features,
)
from microseg.discover._notes import NOTE_CODES, DiscoveryNote
from microseg.discover._rules import SurrogateRule, surrogate_rule
from microseg.discover._run import DiscoveryRun, DiscoveryRunResult, discover, merge_small
from microseg.discover._storage import (
    assignments,
    list_runs,
    load_assigner,
    load_run,
    save_cluster,
)

__all__ = [
    "DEFAULT_ATTRIBUTE_FAMILIES",
    "NOTE_CODES",
    "BisectingKMeansClusters",
    "ClusterAssigner",
    "ClusterModel",
    "DiscoveryError",
    "DiscoveryNote",
    "DiscoveryRun",
    "DiscoveryRunResult",
    "Encoder",
    "Feature",
    "FeatureMatrix",
    "GaussianMixtureClusters",
    "HDBSCANClusters",
    "KMeansClusters",
    "SurrogateRule",
    "assignments",
    "build_features",
    "discover",
    "list_runs",
    "load_assigner",
    "load_run",
    "merge_small",
    "save_cluster",
    "surrogate_rule",
]
