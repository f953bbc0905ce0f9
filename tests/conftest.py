"""Shared pytest options: ``--runslow`` enables the long matrices marked ``slow``."""

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
