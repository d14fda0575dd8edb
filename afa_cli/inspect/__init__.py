"""`afa inspect-attention`: where a model looks, per sentence or over a dataset split, beside a
second model; shown in the terminal and written as HTML, PNG and JSON.

The attention shown is the policy AFA trains: `AttendingClassifier` + `word_attention`."""

from afa_cli.inspect.command import InspectRequest, inspect_attention, terminal_report
from afa_cli.inspect.inspected import AttentionSpec

__all__ = ["AttentionSpec", "InspectRequest", "inspect_attention", "terminal_report"]
