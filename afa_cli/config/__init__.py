"""The run configuration: its schema (schema.py) and its composition with Hydra (compose.py)."""

from afa_cli.config.compose import check_trainable, compose_config, group_options

__all__ = ["check_trainable", "compose_config", "group_options"]
