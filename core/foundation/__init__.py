"""The foundation every room uses, importing nothing else of core: settings (``config``), the monday
token (``token``), logs, the user's errors and their exit codes (``exceptions``), resource files, and the
Windows console."""
