"""The commands behind the CLI: each resolves its inputs, calls the library and returns a report
that the CLI renders."""

# Texts scored at once by eval, suites, predict and inspect (--batch-size); here, where the CLI
# reads it without loading torch.
EVAL_BATCH_SIZE = 64
