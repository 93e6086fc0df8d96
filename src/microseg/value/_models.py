"""The value models' public names in one place: purchase models, spend model, CLV, helpers.

The code lives by concept: :mod:`._bgnbd`, :mod:`._pareto`, :mod:`._gammagamma`,
:mod:`._clv`, :mod:`._simulate`, with the shared fitting machinery in :mod:`._base` and
the special functions in :mod:`._special`.
"""

from microseg.value._base import RFMRows, compress_rfm
from microseg.value._bgnbd import BGNBD
from microseg.value._clv import DAYS_PER_MONTH, PurchaseModel, churn_risk, clv, score
from microseg.value._gammagamma import GammaGamma
from microseg.value._pareto import ParetoNBD
from microseg.value._simulate import simulate_bgnbd, simulate_gamma_gamma, simulate_pareto_nbd

__all__ = [
    "BGNBD",
    "DAYS_PER_MONTH",
    "GammaGamma",
    "ParetoNBD",
    "PurchaseModel",
    "RFMRows",
    "churn_risk",
    "clv",
    "compress_rfm",
    "score",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "simulate_pareto_nbd",
]
