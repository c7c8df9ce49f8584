"""A workload or training file read as a mapping: JSON, or YAML when PyYAML is there."""
from __future__ import annotations

import json
from pathlib import Path


class SpecError(ValueError):
    """A workload file that cannot be read; the message names the file and the fix."""


def read_spec(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SpecError(f"{path} is YAML and PyYAML is not installed: pip install pyyaml, or write it as JSON")
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}): fix the file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}): fix the file") from None
