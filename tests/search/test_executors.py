"""--executor ray: the training jobs as Ray tasks give the local executor's results.

Against a real local Ray runtime of 2 CPUs: a small search (digits, 2 × 2 samples, 1 QAT
epoch) runs once with local processes and once on Ray, each with its own empty training
cache; the chosen design, every sample and the cache entries (their keys) are equal, and
Ray's state API lists the training tasks as finished.
"""

import os

import pytest

from common.files import temporary_environ
from search.qsnas import SearchConfig, run_search

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")


def search(executor: str, cache):
    cfg = SearchConfig(target_acc=0.8, dataset="digits", q_samples=(2, 4),
                       s_samples=(0.25, 0.5), s_min=0.25, s_max=0.5, epochs=1,
                       executor=executor, progress=False)
    with temporary_environ(QSNAS_CACHE=str(cache)):
        return run_search(cfg, rtl_images=0)[0]  # (search.json, chosen network)


@pytest.fixture(scope="module")
def ray_runtime():
    ray.init(num_cpus=2, include_dashboard=True, logging_level="ERROR",  # state API
             runtime_env={"env_vars": {k: os.environ[k] for k in ("PYTHONPATH",)
                                       if k in os.environ}})
    yield
    ray.shutdown()


def test_ray_tasks_choose_what_local_processes_choose(tmp_path, ray_runtime):
    from ray.util.state import list_tasks

    local = search("local", tmp_path / "local")
    on_ray = search("ray", tmp_path / "ray")
    assert on_ray["chosen"] == local["chosen"]
    def measured(samples):  # training times differ from run to run
        return [{k: v for k, v in x.items() if not k.endswith("_seconds")} for x in samples]

    assert measured(on_ray["samples"]) == measured(local["samples"])
    assert sorted(os.listdir(tmp_path / "ray")) == sorted(os.listdir(tmp_path / "local"))
    import time

    for _ in range(120):  # task events reach the state API asynchronously, one by one
        tasks = [t for t in list_tasks(limit=1000) if t.name.endswith("train_point")]
        if len(tasks) >= on_ray["trained"] and {t.state for t in tasks} == {"FINISHED"}:
            break
        time.sleep(0.5)
    # the 4 samples and the walk's candidates, each trained once, as Ray tasks
    assert len(tasks) == on_ray["trained"] >= 4 and {t.state for t in tasks} == {"FINISHED"}


def test_a_bad_ray_address_is_one_line(capsys):
    from common.cli import run_cli
    from search.__main__ import main

    status = run_cli(main, ["--target-acc", "0.9", "--executor", "ray", "--ray-address",
                            "nowhere"], prog="search")
    assert status == 2
    assert capsys.readouterr().err == ("search: error: --ray-address must be HOST:PORT, not "
                                       "'nowhere'\n")
