"""Collection rules for ``pytest tests src --doctest-modules`` (``make test``).

``reparam.pyro`` is an optional extra: where Pyro is not installed its modules cannot be
imported, so their doctests are not collected (tests/pyro skips itself the same way).
"""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("pyro") else ["src/reparam/pyro/*"]
