"""Packaging for sciope_abs."""
import platform
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "sciope_abs" / "_version.py").read_text()).group(1)

# tensorflow-cpu wheels exist for Linux/Windows x86-64; elsewhere the plain wheel is the CPU build.
_TF = "tensorflow-cpu>=2.19,<2.22" if platform.machine().lower() in ("x86_64", "amd64") else "tensorflow>=2.19,<2.22"

INSTALL_REQUIRES = [
    "numpy>=2.0,<2.5",
    "scipy>=1.13,<1.18",
    "pandas>=2.2,<3.2",
    "dask[distributed]>=2025.1,<2026.9",
    "distributed>=2025.1,<2026.9",
    "gillespy2==1.8.3",
    "python-libsbml>=5.20,<6",
    "scikit-learn>=1.5,<1.10",
    _TF,
    "tsfresh>=0.21,<0.22",
    "bokeh>=3.6,<3.10",
    "zarr>=3.0,<3.5",
    "numba>=0.61,<0.69",
    "tqdm>=4.66",
    "pyyaml>=6.0",
]

EXTRAS = {
    "dev": [
        "pytest>=8",
        "pytest-timeout>=2.3",
        "playwright>=1.45",
        "nbclient>=0.10",
        "nbformat>=5.10",
        "ipykernel>=6.29",
        "arviz>=0.20",
        "ruff>=0.5",
        "mypy>=1.10",
    ],
    # benchmark-only: benchmarks/bench_peers.py compares against pyABC's ABC-SMC (issue 18)
    "bench": ["pyabc>=0.13,<0.14"],
    "docs": ["sphinx>=7.3", "sphinx-autodoc-typehints>=2.0", "myst-parser>=3.0"],
}

setup(
    name="sciope_abs",
    version=VERSION,
    description="Simulation-based exploration and inference on stochastic reaction networks, "
    "with NAS-learned mixture-density-network emulators, parallel on Dask.",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["sciope_abs", "sciope_abs.*"]),
    package_data={"sciope_abs": ["py.typed", "data/*.yaml"]},  # the demo config: `sciope-abs demo` from a wheel
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["sciope-abs=sciope_abs.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Bio-Informatics",
    ],
)
