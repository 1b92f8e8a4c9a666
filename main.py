"""OrderSync: the GUI by default, command-line sub-commands for headless runs."""

import sys

from core.cli import main

if __name__ == "__main__":
    sys.exit(main())
