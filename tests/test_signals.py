"""The exit status after a handled Ctrl-C is the one chosen, even when the interrupt
escaped an ``exec`` of source text on its way out (as it does when it lands in a lazy
import that builds a dataclass: the first optimizer step imports torch._dynamo)."""

import signal
import subprocess
import sys

import pytest

_SCRIPT = """
import sys
from reparam import _signals
try:
    exec("raise KeyboardInterrupt", {})
except KeyboardInterrupt:
    if sys.argv[1] == "handled":
        _signals.handled()
sys.exit(130)
"""


def _sigint_default() -> None:
    # as a user's shell starts a command (a background CI job inherits SIGINT ignored)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("how", "status"), [("handled", 130), ("unhandled", -signal.SIGINT)])
def test_handled_keeps_the_exit_status_chosen(how, status, tmp_path):
    # "unhandled" is the CPython behaviour that handled() undoes: killed by SIGINT at exit
    script = tmp_path / "interrupted.py"
    script.write_text(_SCRIPT)
    # run as `python -m reparam` is: a script file ends through another path, which exits
    # with sys.exit's status whatever the mark says
    done = subprocess.run([sys.executable, "-m", "interrupted", how], cwd=tmp_path,
                          capture_output=True, preexec_fn=_sigint_default, timeout=60)  # fmt: skip
    assert done.returncode == status, done.stderr
