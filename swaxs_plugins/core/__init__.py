"""The framework core: the plugin contract, registry, step base class, pipelines and executors.

The core knows no step: built-in steps are plugins like any facility's, found through entry points.
"""
