"""sciope_abs: simulation-based exploration and inference on stochastic reaction networks.

Importing the package is cheap: TensorFlow and Dask are imported only by the submodules that
need them (``abstraction``/``surrogates`` and ``engine``).
"""
from ._version import __version__

__all__ = ["__version__"]
