"""afa_cli's floors: a module imports from its own floor and the floors below it, never from one
above, so data flows one way (docs/ARCHITECTURE.md). A module stands on the floor of its first
name under afa_cli, so a module and the package it may grow into (runs.py, runs/) share one."""

from import_graph import PACKAGE, module_files, project_imports

# Lowest first.
FLOORS = [
    # what every floor may use: the version, errors, paths as shown, files written whole,
    # progress of long work, word lists, the process and its device
    ("__init__", "errors", "paths", "files", "progress", "lexicon", "machine", "distributed"),
    # renderer-neutral sections and their renderers: they draw what they are given and know no
    # metric or model names
    ("views",),
    # the method and the attention kernels: pure torch
    ("afa", "fast_dropout", "attention_kernels"),
    # labelled text, then the models that read it; neither knows of training or runs
    ("data",),
    ("models",),
    # the scores of a split and the registry of every metric
    ("metrics",),
    # what a person watching long work sees
    ("display",),
    # configs composed onto the schema: the method's options, the metric to rank by
    ("config",),
    # a run folder's files (its config read back onto the schema), and runs grouped into variants
    ("runs", "variants"),
    ("tracking",),
    ("training",),
    # a trained checkpoint loaded back, with its config, to score or inspect it
    ("checkpoint",),
    # what is read from trained runs: suites' measurements, attention reports
    ("evaluation", "inspect"),
    ("sweep",),
    ("tune", "report"),
    # each command resolves its inputs, calls the floors below and returns a report
    ("commands",),
    ("cli", "__main__"),
]


def floor_of(module: str) -> str:
    """The floor name of an afa_cli module: its first name under afa_cli."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


LEVEL = {name: level for level, floor in enumerate(FLOORS) for name in floor}


def test_every_module_stands_on_one_floor():
    names = [name for floor in FLOORS for name in floor]
    assert len(names) == len(set(names)), "a name on two floors"
    unplaced = sorted({m for m in module_files() if floor_of(m) not in LEVEL})
    assert not unplaced, f"modules on no floor of FLOORS: {', '.join(unplaced)}"


def points_up(importer: str, imported: str) -> bool:
    """Whether the import climbs a floor (a module on no floor fails the floor test instead)."""
    below, above = LEVEL.get(floor_of(importer)), LEVEL.get(floor_of(imported))
    return below is not None and above is not None and below < above


def test_no_module_imports_from_a_floor_above_its_own():
    upward = [f"{i.importer} line {i.line} imports {i.imported} "
              f"({floor_of(i.importer)} is below {floor_of(i.imported)})"
              for i in project_imports() if points_up(i.importer, i.imported)]
    assert not upward, (f"{len(upward)} imports point up a floor of {PACKAGE}:\n"
                        + "\n".join(upward))
