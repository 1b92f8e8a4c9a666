"""OrderSync's data files (icons, the default mapping, the demo's settings), shipped as package data."""
