"""Metrics: the registry every table reads (registry) and the scores themselves (scoring)."""

# Texts scored at once by eval, suites, predict and inspect (--batch-size); here, where the CLI
# reads it without loading torch.
EVAL_BATCH_SIZE = 64
