"""swaxs_plugins: scanning SAXS/WAXS imaging and SAXS tensor tomography as NeXus-in, NeXus-out plugins."""

__version__ = "0.1.0"
