"""``python -m sandbox [options]``: run the sandbox server alone (see ``cli.py``)."""

import sys

from .cli import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
