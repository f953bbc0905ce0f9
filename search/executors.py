"""Where the search's training jobs run: local processes, or Ray tasks.

Every training job is `search.qsnas.train_point` submitted through a
`concurrent.futures.Executor`, so the search does not know where it runs:

- ``local``: this process (``--jobs 1``) or a `ProcessPoolExecutor` of ``--jobs``;
- ``ray``: `RayExecutor`, each job one Ray task (`ray.remote`), on the cluster at
  ``--ray-address HOST:PORT`` or on a Ray runtime started here when there is none.

A job's result is the training cache's (`model.train`, keyed by the run's config hash),
so both give the same results for the same jobs; the workers are handed this process's
``QSNAS_CACHE`` (and ``PYTHONPATH``), so on one machine, or with the cache on a file
system every node mounts, they share it. docs/scale-out.md has the cluster setup.
"""

from __future__ import annotations

import concurrent.futures as cf
import os

from common.cli import UserError

EXECUTORS = ("local", "ray")


class InlineExecutor(cf.Executor):
    """Runs each job at submit time in this process (``--jobs 1``)."""

    def submit(self, fn, /, *args, **kwargs):
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # handed to the caller through the future
            future.set_exception(e)
        return future


class RayExecutor(cf.Executor):
    """A `concurrent.futures.Executor` whose jobs are Ray tasks.

    ``submit(fn, *args)`` runs ``ray.remote(fn)`` with ``num_cpus`` CPUs per task and
    returns the task's `ObjectRef.future()`. Connects to ``address`` (``"HOST:PORT"`` of a
    running head), or starts a local Ray runtime (``local_cpus`` CPUs, default all) when
    ``address`` is None; a runtime or connection it made is closed by `shutdown`, one the
    caller made (``ray.init`` before) is left open.
    """

    def __init__(self, address: str | None = None, num_cpus: int = 1,
                 local_cpus: int | None = None):
        if address is not None:
            _token_auth_if_available()  # before Ray reads its configuration
        try:
            import ray
        except ImportError:
            raise UserError('--executor ray needs Ray: pip install -e ".[ray]"') from None
        self._ray = ray
        self._num_cpus = num_cpus
        env = {k: os.environ[k] for k in ("QSNAS_CACHE", "PYTHONPATH", "QSNAS_THREADS")
               if k in os.environ}
        from model.train import cache_root

        env["QSNAS_CACHE"] = str(cache_root().absolute())  # the same cache entries
        # Every task gets the environment, also on a runtime someone else started.
        self._runtime_env = {"env_vars": env}
        self._owned = not ray.is_initialized()
        if self._owned:
            try:
                # "local": a new runtime here, never a head some earlier `ray start` left
                # recorded in /tmp/ray (ray.init(address=None) would join that one)
                ray.init(address=address or "local",
                         num_cpus=local_cpus if address is None else None,
                         include_dashboard=False if address is None else None,
                         logging_level="ERROR", log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise UserError(f"cannot reach the Ray cluster at {address}: {e} (a head "
                                f"with token authentication needs its token here: "
                                f"RAY_AUTH_TOKEN or ~/.ray/auth_token)") from None
        self._remote = {}

    def submit(self, fn, /, *args, **kwargs):
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self._ray.remote(fn).options(
                num_cpus=self._num_cpus, runtime_env=self._runtime_env)
        return remote.remote(*args, **kwargs).future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()


def _token_auth_if_available() -> None:
    """Use Ray's token authentication when a token is at hand and the user chose no mode.

    ``ray start --head`` (Ray ≥ 2.52) enables token authentication and writes the token
    to ``~/.ray/auth_token``, while a client without ``RAY_AUTH_MODE=token`` sends none
    and is refused ("InvalidAuthToken"). A head without authentication ignores the token.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(token_file):
        os.environ["RAY_AUTH_MODE"] = "token"


def check_address(address: str | None) -> str | None:
    """``HOST:PORT`` (or None), or a one-line `UserError`."""
    if address is None:
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray-address must be HOST:PORT, not {address!r}")
    return address


def make_executor(kind: str, jobs: int, address: str | None = None,
                  threads: int = 1) -> cf.Executor:
    """The executor ``kind`` (`EXECUTORS`): local with ``jobs`` processes, or Ray tasks
    of ``threads`` CPUs each (the torch threads every job uses)."""
    if kind == "ray":
        return RayExecutor(address, num_cpus=threads)
    if address is not None:
        raise UserError("--ray-address needs --executor ray")
    return cf.ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else InlineExecutor()
