"""Likelihood-free inference: ABC rejection, SMC-ABC and the Posterior result (see DESIGN.md §6)."""
from ._stream import ABCWarning
from .epsilon import EPSILONS, AcceptanceRateEpsilon, Epsilon, ListEpsilon, QuantileEpsilon, get_epsilon
from .fidelity import FidelityReport, FidelityWarning, check_fidelity
from .history import History, Population
from .kernels import MultivariateNormalKernel
from .posterior import Posterior, weighted_quantile
from .rejection import ABCRejection
from .bolfi import BOLFI
from .replenishment import ReplenishmentSMCABC
from .smc import SMCABC
from .tasks import ProposalBatch, SimulateSummarise

__all__ = ["ABCRejection", "SMCABC", "Posterior", "ABCWarning", "MultivariateNormalKernel",
           "SimulateSummarise", "ProposalBatch", "weighted_quantile",
           "check_fidelity", "FidelityReport", "FidelityWarning",
           "History", "Population", "Epsilon", "QuantileEpsilon", "ListEpsilon", "AcceptanceRateEpsilon",
           "EPSILONS", "get_epsilon", "BOLFI", "ReplenishmentSMCABC"]
