"""Where a model looks, per sentence or over a dataset split, beside a second model: loading
(inspected), inspection (sentences, corpus, rollout), reports (report), the document built once
from a report (document), its JSON (export) and PNG (figure). `afa inspect-attention` itself is
afa_cli/commands/inspect.py.

The attention shown is the policy AFA trains: `AttendingClassifier` + `word_attention`."""
