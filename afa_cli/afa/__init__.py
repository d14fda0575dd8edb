"""The AFA method in pure torch: word-level attention policy, masker, discriminator, objective.
Nothing here reads files or knows about configs, models or runs."""
