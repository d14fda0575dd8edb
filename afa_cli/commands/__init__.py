"""The commands behind the CLI: each resolves its inputs, calls the library and returns a report
that the CLI renders."""
