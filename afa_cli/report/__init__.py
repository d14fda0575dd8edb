"""`afa report`: finished runs read as a study (study), drawn (figures) and laid out as a
renderer-neutral document (document) that afa_cli/views shows on the terminal, as one HTML page
and as Markdown."""
