"""Every training job of a search goes through one executor for the whole search: the
QS-NAS walk's candidates (not a new pool or Ray connection per candidate) and every
``--strategy bo`` trial (which trained in-process whatever ``--executor`` said)."""

import pytest

import search.executors as executors
from search.executors import InlineExecutor
from search.qsnas import SearchConfig, run_bo, run_search


class Recording(InlineExecutor):
    """An inline executor that records what it runs and whether it was shut down."""

    def __init__(self, log):
        self.log = log
        log["made"] += 1

    def submit(self, fn, /, *args, **kwargs):
        self.log["jobs"].append((fn.__name__, args[1], args[2]))  # (name, q, s)
        return super().submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self.log["shut"] += 1


@pytest.fixture
def log(monkeypatch):
    log = {"made": 0, "shut": 0, "jobs": []}
    monkeypatch.setattr(executors, "make_executor", lambda *a, **k: Recording(log))
    return log


def config(**kw):
    return SearchConfig(target_acc=0.8, dataset="digits", q_samples=(2, 4),
                        s_samples=(0.25, 0.5), s_min=0.25, s_max=0.5, epochs=1,
                        progress=False, **kw)


def test_the_walk_trains_every_network_through_one_executor(log):
    result, _ = run_search(config(max_candidates=3), rtl_images=0)
    assert log["made"] == log["shut"] == 1
    trained = [(x["q"], x["s"]) for x in result["samples"]]
    assert sorted((q, s) for _, q, s in log["jobs"]) == sorted(trained)
    assert {name for name, _, _ in log["jobs"]} == {"train_point"}


def test_bo_trials_run_on_the_executor(log):
    result, _ = run_bo(config(), n_trials=3, rtl_images=0)
    assert log["made"] == log["shut"] == 1
    assert len(log["jobs"]) == result["trained"] >= 1
    assert sorted((q, s) for _, q, s in log["jobs"]) == sorted(
        (x["q"], x["s"]) for x in result["samples"])
