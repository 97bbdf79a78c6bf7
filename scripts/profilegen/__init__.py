"""The generator of ``profiles/`` (``scripts/build_profiles.py``), one module per kind of artefact."""
