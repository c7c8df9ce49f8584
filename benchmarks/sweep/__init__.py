"""The measuring engine: config, plan, harness (one point), sweep (groups x points -> records),
resume, meta.json, the live table."""
