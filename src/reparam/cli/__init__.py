"""The ``reparam`` command line: the entry point, the parser and one module per command.

``reparam compare`` (:mod:`.compare`) measures gradient estimators; ``reparam vae``,
``bnn``, ``flow`` and ``vi`` (:mod:`.vae`, :mod:`.bnn`, :mod:`.flow`, :mod:`.vi`) train
and evaluate the models (``vae eval|sample`` in :mod:`.vae_eval`, ``bnn uci`` in
:mod:`.bnn_uci`, the two modes of ``flow fit`` in :mod:`.flow_density` and
:mod:`.flow_target`); :mod:`._common` holds the plumbing they share (run directories,
argument types, error reporting) and :mod:`._driver` the one body of the three training
commands.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

__all__ = ["attach_negative_values", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``reparam`` and its subcommands."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="reparam",
        description="The reparameterization trick as a first-class, measurable tool.",
    )
    parser.add_argument("--version", action="version", version=f"reparam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from .bnn import add_bnn_parser
    from .bnn_uci import add_uci_parser
    from .compare import add_compare_parser
    from .flow import add_flow_parser
    from .vae import add_vae_parser
    from .vae_eval import add_eval_parsers
    from .vi import add_vi_parser

    add_compare_parser(sub)
    add_eval_parsers(add_vae_parser(sub))  # train, then eval and sample
    add_uci_parser(add_bnn_parser(sub))  # train and eval, then uci
    add_flow_parser(sub)
    add_vi_parser(sub)
    return parser


_NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def attach_negative_values(argv: Sequence[str]) -> list[str]:
    """``--opt -1e-3`` → ``--opt=-1e-3``: argparse takes a value that starts with ``-`` and
    is not a plain negative number (``-1e-3``, ``-inf``, ``-1,10``) for an option and says
    "expected one argument"; attached, the option's own check names what is wrong."""
    out: list[str] = []
    for token in argv:
        previous = out[-1] if out else ""
        if (
            _NEGATIVE_VALUE.match(token)
            and previous.startswith("--")
            and "=" not in previous
            and previous != "--"
        ):
            out[-1] = f"{previous}={token}"
        else:
            out.append(token)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``reparam`` command line; return the exit status (bad input: exit 2)."""
    from .. import _signals

    parser = build_parser()
    args = parser.parse_args(attach_negative_values(sys.argv[1:] if argv is None else argv))
    args.check(parser, args)
    try:
        with _signals.installed():  # SIGTERM is handled as Ctrl-C is
            return args.run(args)
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): silence the flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt as exc:  # a signal outside a command's own handling
        _signals.handled()
        print(f"reparam: interrupted by {_signals.signal_name(exc)}", file=sys.stderr)
        return _signals.exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
