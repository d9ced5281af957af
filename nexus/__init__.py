"""NeXus application definitions (NXDL) that swaxs_plugins outputs follow; installed as package data."""
