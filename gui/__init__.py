"""OrderSync's desktop front end: PySide6 widgets and Qt models over the engine in core/."""
