"""The `cloudlet` command (the console script and `python -m cloudlet`).

A plain `cloudlet start` runs without importing click (fast.py); every other command line is
click's (commands.py).
"""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["start"]:
        from cloudlet.cli.fast import start

        code = start(args[1:])
        if code is not None:
            sys.exit(code)
    from cloudlet.cli.commands import cli

    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
