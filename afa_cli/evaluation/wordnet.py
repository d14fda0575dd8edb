"""WordNet 3.0 synonyms for the synonym attack, read straight from WordNet's database files
(index.*, data.*, *.exc; the format is wndb(5WN)) in a folder or in NLTK's wordnet.zip.

Where: $AFA_WORDNET_DIR when set (and then only there), else Debian's /usr/share/wordnet
(`apt-get install wordnet-base`), else NLTK's data path (`python -m nltk.downloader wordnet`).
The files are read here rather than through NLTK's WordNetCorpusReader: that reader needs
`lexnames` and `index.sense`, which Debian does not ship, a copy of NLTK's own wordnet to map
versions, and (NLTK 3.10) a folder on nltk.data.path; the database format has not changed since
2006, and the lookup below gives what `wordnet.synsets(word)` and `lemma_names()` give. Debian's
wordnet-base is Princeton's own release kept by a distribution, where PyPI's WordNet data
packages are little-used repackagings, so it is the source `make install` installs."""

from __future__ import annotations

import os
import re
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from afa_cli.errors import UserError

WORDNET_DIR_VARIABLE = "AFA_WORDNET_DIR"
DEBIAN_DIR = Path("/usr/share/wordnet")
INSTALL = ("apt-get install wordnet-base (or pip install nltk && "
           "python -m nltk.downloader wordnet)")
POS_FILES = ("noun", "verb", "adj", "adv")          # NLTK's order for synsets(word)
FILES = tuple(f"{kind}.{pos}" for pos in POS_FILES for kind in ("index", "data")) + \
    tuple(f"{pos}.exc" for pos in POS_FILES)
# Morphy's detachment rules (WordNet's morph.c, as NLTK has them).
SUFFIXES = {
    "noun": (("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
             ("shes", "sh"), ("men", "man"), ("ies", "y")),
    "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
             ("ing", "e"), ("ing", "")),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}
SINGLE_WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")
SYNTACTIC_MARKER = re.compile(r"\([a-z]+\)$")      # adjectives' "(a)", "(p)", "(ip)"


class WordNet:
    """WordNet's lemmas, their synsets and the exception lists, loaded whole (about 30 MB)."""

    def __init__(self, read: Callable[[str], bytes], where: str):
        try:
            raw = {name: read(name) for name in FILES}
            self.data = {pos: raw[f"data.{pos}"] for pos in POS_FILES}
            self.index = {pos: _index(raw[f"index.{pos}"]) for pos in POS_FILES}
            self.exceptions = {pos: {line.split()[0]: line.split()[1:] for line in
                                     raw[f"{pos}.exc"].decode().splitlines() if line.strip()}
                               for pos in POS_FILES}
        except (OSError, KeyError, ValueError, IndexError) as err:   # missing, or not WordNet's
            name = Path(getattr(err, "filename", None) or "").name
            raise UserError(f"synonym attacks need WordNet: {where} is not a whole WordNet 3.0 "
                            f"({name or err}); {INSTALL}") from None
        self.where = where

    def base_forms(self, word: str, pos: str) -> list[str]:
        """NLTK's _morphy: the word and its exception-list bases (or, without an exception,
        its forms with one suffix rule applied) that WordNet has as lemmas of `pos`."""
        forms = self.exceptions[pos].get(word) or [word[: -len(old)] + new
                                                   for old, new in SUFFIXES[pos]
                                                   if word.endswith(old)]
        return list(dict.fromkeys(f for f in [word, *forms] if f in self.index[pos]))

    def lemma_names(self, pos: str, offset: int) -> list[str]:
        """The lemmas of the synset at `offset` of data.<pos>, as WordNet spells them."""
        data = self.data[pos]
        fields = data[offset: data.index(b"\n", offset)].decode().split()
        count = int(fields[3], 16)
        return [SYNTACTIC_MARKER.sub("", fields[4 + 2 * i]) for i in range(count)]

    def synonyms(self, word: str) -> list[str]:
        """Single-word lemmas of every synset of the (lowercase) word, in any part of speech,
        lowercased, sorted, without the word itself or its base forms ("movies": "film", not
        "movie"); multiword lemmas (`motion_picture`) are left out, as TextAttack's
        WordSwapWordNet leaves them out."""
        word = word.lower()
        names, own = set(), {word}
        for pos in POS_FILES:
            for form in self.base_forms(word, pos):
                own.add(form)
                for offset in self.index[pos][form]:
                    names.update(name.lower() for name in self.lemma_names(pos, offset))
        return sorted(n for n in names - own if SINGLE_WORD.fullmatch(n))


def _index(raw: bytes) -> dict[str, tuple[int, ...]]:
    """index.<pos>: lemma -> its synsets' offsets. A line: lemma pos synset_cnt p_cnt
    [ptr_symbol...] sense_cnt tagsense_cnt synset_offset..."""
    index = {}
    for line in raw.decode().splitlines():
        if line.startswith(" ") or not line:
            continue                    # the licence at the top
        fields = line.split()
        count, pointers = int(fields[2]), int(fields[3])
        index[fields[0]] = tuple(int(f) for f in fields[6 + pointers: 6 + pointers + count])
    return index


def nltk_data_path() -> list[Path]:
    """Where NLTK looks for its data (nltk.data.path without importing nltk)."""
    roots = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    roots += ["~/nltk_data", f"{sys.prefix}/nltk_data", f"{sys.prefix}/share/nltk_data",
              f"{sys.prefix}/lib/nltk_data", "/usr/share/nltk_data", "/usr/local/share/nltk_data",
              "/usr/lib/nltk_data", "/usr/local/lib/nltk_data"]
    return [Path(p).expanduser() for p in roots]


def find_wordnet() -> tuple[Callable[[str], bytes], str]:
    """How to read WordNet's files, and where they are; one line naming the install when
    there is none."""
    setting = os.environ.get(WORDNET_DIR_VARIABLE)
    if setting:
        folder = Path(setting).expanduser()
        if not (folder / "index.noun").is_file():
            raise UserError(f"synonym attacks need WordNet: {WORDNET_DIR_VARIABLE}={setting} has "
                            f"no index.noun (set it to WordNet's dict folder, or unset it); "
                            f"{INSTALL}")
        return _folder_reader(folder), str(folder)
    if (DEBIAN_DIR / "index.noun").is_file():
        return _folder_reader(DEBIAN_DIR), str(DEBIAN_DIR)
    for root in nltk_data_path():
        folder, archive = root / "corpora" / "wordnet", root / "corpora" / "wordnet.zip"
        if (folder / "index.noun").is_file():
            return _folder_reader(folder), str(folder)
        if archive.is_file():
            return _zip_reader(archive), str(archive)
    raise UserError(f"synonym attacks need WordNet: {INSTALL}")


def _folder_reader(folder: Path) -> Callable[[str], bytes]:
    return lambda name: (folder / name).read_bytes()


def _zip_reader(archive: Path) -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        with zipfile.ZipFile(archive) as handle:
            return handle.read(f"wordnet/{name}")
    return read


_LOADED: dict[str, WordNet] = {}


def load_wordnet() -> WordNet:
    """The WordNet that find_wordnet finds, loaded once per location and process."""
    read, where = find_wordnet()
    if where not in _LOADED:
        _LOADED[where] = WordNet(read, where)
    return _LOADED[where]
