"""model.json and its bootstrap samples (model.samples.npz): written once by a fit, read
back into the same KeyFit and HierFit objects by every reader (crossover, plan, predict,
report), which fit again only where the file is missing or not current: other records or
another bootstrap setting than its fingerprint says. docs/model.md (model.json) has the
schema."""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collectives.records import RECORDS_FILE

from .entries import fit_entries, fit_samples, hier_entries, hier_fits, key_fits
from .fit import BOOTSTRAP, TIME_FIELD, KeyFit
from .tiers import HierFit

MODEL_FILE = "model.json"
SAMPLES_FILE = "model.samples.npz"
SCHEMA_VERSION = 2
"""2: entries carry theta, the tiered fits their scopes, and the file its fingerprint and samples file"""
READABLE_VERSIONS = (1, 2)
"""versions whose entries (fits, hierarchical) a reader of the entries alone (the exports) takes"""


class ModelFileError(ValueError):
    """model.json missing or unreadable; the message names the file and the fix."""


def model_path(path) -> Path:
    """model.json of a run directory, or the file itself."""
    path = Path(path)
    return path / MODEL_FILE if path.is_dir() else path


def read_document(path) -> tuple[dict, Path]:
    """(model.json's document, its path): its entries as written, for readers that need
    no fit objects (the exports); ModelFileError where it is missing or unreadable."""
    file = model_path(path)
    if not file.is_file():
        raise ModelFileError(f"{str(path)!r} holds no {MODEL_FILE}: run 'commscale fit {path}' first")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{str(file)!r} is not a readable {MODEL_FILE} ({exc}): write it again with "
                             f"'commscale fit {file.parent}'") from None
    if not isinstance(doc, dict) or doc.get("schema_version") not in READABLE_VERSIONS or "fits" not in doc:
        raise ModelFileError(f"{str(file)!r} is not a {MODEL_FILE} of schema_version "
                             f"{' or '.join(map(str, READABLE_VERSIONS))}: write it again with "
                             f"'commscale fit {file.parent}'")
    return doc, file


@dataclass(frozen=True)
class StoredModel:
    """A model.json read back: the fits as objects, and the file's own fields."""
    path: Path
    fits: list[KeyFit]
    hier: list[HierFit]
    fingerprint: str | None
    bootstrap: int

    @property
    def fitted(self) -> tuple[list[KeyFit], list[HierFit]]:
        return self.fits, self.hier


def fingerprint(runs, samples: int) -> str:
    """What a model depends on: the records of each run, in order, and the bootstrap
    setting (the schema version too, so an older file is never taken as current)."""
    h = hashlib.sha256(f"schema {SCHEMA_VERSION}; bootstrap {int(samples)}".encode())
    for run in runs:
        h.update(b"\0" + hashlib.sha256((Path(run) / RECORDS_FILE).read_bytes()).digest())
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_model(out: Path, runs, fits, hier, samples=BOOTSTRAP) -> Path:
    """OUT/model.json and OUT/model.samples.npz; returns model.json's path."""
    doc = {"schema_version": SCHEMA_VERSION, "runs": [str(r) for r in runs], "time_field": TIME_FIELD,
           "weighting": "relative", "bootstrap": samples, "fingerprint": fingerprint(runs, samples),
           "samples_file": SAMPLES_FILE, "fits": fit_entries(fits), "hierarchical": hier_entries(hier)}
    buf = io.BytesIO()
    np.savez_compressed(buf, **fit_samples(fits, hier))
    _atomic_write(Path(out) / SAMPLES_FILE, buf.getvalue())
    path = Path(out) / MODEL_FILE
    _atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    return path


def _read_json(file: Path) -> dict | None:
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _stored(file: Path, doc: dict) -> StoredModel | None:
    """The fits of a model.json document already read, with its samples; None where the
    samples file is missing or either is unreadable or of another schema version."""
    if doc.get("schema_version") != SCHEMA_VERSION:
        return None
    try:
        with np.load(file.parent / doc["samples_file"]) as npz:
            samples = {name: npz[name] for name in npz.files}
        return StoredModel(file, key_fits(doc["fits"], samples), hier_fits(doc["hierarchical"], samples),
                           doc.get("fingerprint"), int(doc["bootstrap"]))
    except (OSError, ValueError, KeyError, StopIteration):
        return None


def load_model(path) -> StoredModel | None:
    """model.json (a file, or the directory holding it) with its samples as objects; None
    where either file is missing, unreadable or of another schema version."""
    file = model_path(path)
    doc = _read_json(file)
    return None if doc is None else _stored(file, doc)


def current_model(places, runs, samples: int = BOOTSTRAP) -> StoredModel | None:
    """The first model.json among `places` (directories) fitted on exactly these runs'
    records with this bootstrap setting; None where none is. The fingerprint is compared
    before the samples are read and the fits rebuilt."""
    want = fingerprint(runs, samples)
    for place in places:
        if place is None:
            continue
        file = Path(place) / MODEL_FILE
        doc = _read_json(file) if file.is_file() else None
        if doc is not None and doc.get("fingerprint") == want:
            stored = _stored(file, doc)
            if stored is not None:
                return stored
    return None
