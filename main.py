"""OrderSync from a checkout or the built executable: ``python main.py [--demo | <command> …]``.

Everything happens in ``gui/launch.py`` (the installed ``ordersync`` command runs the same function).
"""

import sys

from gui.launch import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
