"""Trackers: TensorBoard, MLflow and Weights & Biases runs beside metrics.jsonl, which stays the
source of truth. `logger=...` chooses them (config.schema.LoggerConfig); a training feeds them as
sinks (training.sinks.TrackerSink), `afa log` replays finished runs into them (commands/log.py).

    scalars.py       how an afa event and config become a tracker's metrics and parameters
    tracker.py       Tracker: start (or continue), log, finish; what every tracker shares
    backends.py      which trackers exist, loading them, checking them before anything is written
    tensorboard.py   mlflow.py   wandb.py     one Tracker each; only these import their library
"""
