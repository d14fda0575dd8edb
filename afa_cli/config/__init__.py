"""The run configuration: its schema (schema.py) and its composition with Hydra (compose.py)."""

from afa_cli.config.compose import compose_config, compose_for_run, group_options

__all__ = ["compose_config", "compose_for_run", "group_options"]
