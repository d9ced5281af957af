"""Reading raw data (NeXus/HDF5 paths, fabio images, compressed Eiger) and writing NeXus results."""
