"""Backbones: where the weights come from (sources.py: package, GGUF file, folder, hub), loading
them on afa's attention kernel, optionally with LoRA adapters (loading.py), the query position
whose attention row is the policy (query.py), and reading one layer's attention there on every
forward pass (classifier.py). Every change afa makes to transformers' own modules is in
hf_patches.py, each checked against what it expects."""

from afa_cli.models.classifier import AttendingClassifier, num_layers
from afa_cli.models.loading import ADAPTER_CONFIG, load_checkpoint, load_pretrained
from afa_cli.models.query import QUERY_FIRST, QUERY_LAST, query_position_kind, query_positions
from afa_cli.models.sources import resolve_source

__all__ = ["ADAPTER_CONFIG", "QUERY_FIRST", "QUERY_LAST", "AttendingClassifier", "load_checkpoint",
           "load_pretrained", "num_layers", "query_position_kind", "query_positions",
           "resolve_source"]
