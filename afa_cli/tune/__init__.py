"""Hyperparameter search: an Optuna search over a search space (space: conf/tune/<name>.yaml) for
one or two validation metrics (objectives). A tune folder holds how the search was set up (state:
tune.yaml) and the study (study: study.db, or a --storage several workers share: storage,
shared); each trial is one `afa train` process and run folder, claimed by the process that runs
it (claims), run by the sweep's job runner and pruned from its validation curve (search);
started, joined and resumed by launch; what it found (report). `afa tune` itself is
afa_cli/commands/tune.py."""
