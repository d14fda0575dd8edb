"""Sweeps: a grid of training runs (grid) in a sweep folder whose sweep.yaml tracks every job
(state), each job one `afa train` process (runner) run locally (local) or through a Hydra launcher
(hydra_launch); started and resumed by launch; what they found (summary, plot). `afa sweep`
itself is afa_cli/commands/sweep.py."""
