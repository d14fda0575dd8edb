"""afa: an experiment runner for AFA (Adversarial Feedback for Attention)."""

__version__ = "0.1.0"
