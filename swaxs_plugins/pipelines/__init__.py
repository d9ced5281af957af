"""Default pipelines shipped with swaxs_plugins (YAML); copy one and edit it to make your own."""
