"""The profile: what every analysis reads about customers.

One row per customer at an instant (attributes as of, value-model outputs, cluster
assignments) for batch work, and one customer's attributes and events for the per-profile
interpreter. See :class:`ProfileAssembler`.
"""

from microseg.profile._assembler import BatchInputs, ProfileAssembler
from microseg.profile._attributes import Attributes
from microseg.profile._providers import (
    ClusterProvider,
    ModelProvider,
    ScoreProvider,
    TraitProvider,
)
from microseg.profile._snapshot import ProfileSnapshot

__all__ = [
    "Attributes",
    "BatchInputs",
    "ClusterProvider",
    "ModelProvider",
    "ProfileAssembler",
    "ProfileSnapshot",
    "ScoreProvider",
    "TraitProvider",
]
