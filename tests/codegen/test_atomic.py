"""An interrupted build leaves no partial output and says so in one line."""

import os
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_build_leaves_nothing(tmp_path, sig):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("QSNAS_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "codegen", "build", "--q", "2", "--s", "0.5", "--dataset",
         "digits", "--epochs", "1", "--images", "2", "--out", str(out), "--no-synth"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell's background job inherits SIGINT ignored, and Python keeps it so: give
        # the build the default disposition, as a foreground command has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 600
    seen = ""
    while "[4/9]" not in seen:  # interrupt once generation has started writing files
        line = proc.stdout.readline()
        assert line or proc.poll() is None, proc.stderr.read()
        seen += line
        assert time.monotonic() < deadline
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "codegen: interrupted; no partial output was left"
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())
