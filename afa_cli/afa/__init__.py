"""The AFA method in pure torch: word-level attention policy, masker, discriminator, objective, and
its settings (config.py). Nothing here reads files or knows about Hydra, models or runs."""
