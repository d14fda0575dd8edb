"""conf/ is installed as the package afa_cli.conf (see setup.py): the config groups are read with
importlib.resources, from a checkout and from an installed wheel alike."""
