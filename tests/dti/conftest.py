"""Fixtures for the DTI pipeline tests (plain pytest, no Django)."""

import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from imaging.dti.phantom import make_phantom  # noqa: E402


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


@pytest.fixture(scope="session")
def small_phantom():
    """40x40x24 phantom, 2 b0 + 20 directions at b=1000, SNR 30."""
    return make_phantom((40, 40, 24), n_b0=2, n_dirs=20, snr=30.0, seed=3)


@pytest.fixture(scope="session")
def small_phantom_files(small_phantom, tmp_path_factory):
    d = tmp_path_factory.mktemp("phantom")
    return small_phantom.save(str(d))
