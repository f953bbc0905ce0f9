"""Shared pytest options (``--runslow`` enables the long matrices marked ``slow``) and the
private caches every test runs with."""

from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="run the slow matrices (full training grid, full RTL matrix)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow matrix: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _private_caches(tmp_path_factory):
    """Point the training and hardware-build caches away from the user's.

    ``QSNAS_TEST_CACHE`` names a folder to keep them in between runs (CI or a developer
    who wants warm caches); otherwise they live in this session's temporary folder.
    """
    import os

    from common.files import temporary_environ

    root = os.environ.get("QSNAS_TEST_CACHE")
    base = Path(root) if root else tmp_path_factory.mktemp("caches")
    with temporary_environ(QSNAS_CACHE=str(base / "runs"), QSNAS_RTL_CACHE=str(base / "rtl")):
        yield base
