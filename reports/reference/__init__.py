"""Is my number normal? The reference set of published runs (entries.py, data/published.json,
built by build.py from the manifest benchmarks/published/reference_sources.json), a run's own
facts (facts.py) and where it sits among comparable published runs (match.py). docs/normal.md."""
