"""Generate bmefhir's FHIR R4 conformance resources into ``profiles/``.

The CodeSystems are built from the code's own vocabulary (``bmefhir.concepts``,
``bmefhir.anatomy`` and the differential candidates), the PlanDefinition from the
knowledge base YAML, the NamingSystems and tag CodeSystems from the URLs the
renderer writes and the CapabilityStatement from what the client requests, so the
published artefacts cannot drift from what the adapter does;
``tests/test_profiles.py`` regenerates them and compares byte for byte.

One module per kind of artefact (``scripts/profilegen/``): ``terminology``
(CodeSystems, ValueSets, ConceptMap), ``identifiers`` (NamingSystems, tag
CodeSystems), ``structures`` (extension, profiles, examples), ``knowledge``
(PlanDefinition), ``capability`` (CapabilityStatement). Why this is Python and
not FHIR Shorthand compiled by SUSHI: docs/profiles.md.

Usage::

    .venv/bin/python scripts/build_profiles.py            # writes profiles/
    .venv/bin/python scripts/build_profiles.py --out DIR  # writes elsewhere

Output files are ``{ResourceType}-{id}.json`` (examples under ``examples/``),
pretty-printed with sorted keys and a trailing newline. Nothing here reads a
clock: re-running is a no-op.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profilegen.capability import capability_statement
from profilegen.common import REPO, Json, render
from profilegen.identifiers import naming_systems, tag_code_systems
from profilegen.knowledge import plan_definition
from profilegen.structures import (
    clinical_impression_profile,
    diagnostic_report_profile,
    example_observation,
    imaging_finding_profile,
    laterality_extension,
    provenance_profile,
    risk_assessment_profile,
)
from profilegen.terminology import (
    FALLBACK_CANDIDATES,
    LATERALITY,
    PRESENT_ABSENT,
    code_system,
    code_systems,
    concept_map,
    load_candidates,
    value_set_all,
    value_set_enumerated,
    verified_snomed,
)

from bmefhir.concepts import FINDING_CONCEPTS

__all__ = ["FALLBACK_CANDIDATES", "build", "build_resources", "load_candidates", "main", "verified_snomed"]


def build_resources() -> list[Json]:
    """Every conformance resource, in upload order (terminology before profiles)."""
    candidates = load_candidates()
    systems = code_systems({code: display for code, (display, _) in candidates.items()})
    out: list[Json] = [code_system(*spec) for spec in systems]
    out += tag_code_systems()
    out += [value_set_all(rid, title) for rid, title, _, _ in systems]
    out.append(
        value_set_enumerated(
            "present-absent",
            "Present or absent",
            "SNOMED CT qualifier values for a finding looked for and seen (Present) or not seen (Absent).",
            PRESENT_ABSENT,
        )
    )
    out.append(value_set_enumerated("laterality", "Laterality", "SNOMED CT laterality qualifier values.", LATERALITY))
    out.append(concept_map(candidates, verified_snomed()))
    out += naming_systems()
    out += [
        laterality_extension(),
        imaging_finding_profile(),
        diagnostic_report_profile(),
        clinical_impression_profile(),
        risk_assessment_profile(),
        provenance_profile(),
    ]
    out.append(plan_definition())
    out.append(capability_statement())
    return out


def build(out_dir: Path) -> list[Path]:
    """Write all resources and examples under ``out_dir``; returns the files written."""
    files: dict[Path, Json] = {out_dir / f"{r['resourceType']}-{r['id']}.json": r for r in build_resources()}
    for key in FINDING_CONCEPTS:
        obs = example_observation(key)
        files[out_dir / "examples" / f"Observation-{obs['id']}.json"] = obs
    written: list[Path] = []
    for path, resource in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render(resource)
        # Leave unchanged files alone so re-runs do not touch mtimes.
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "profiles", help="output folder")
    args = parser.parse_args(argv)
    paths = build(args.out)
    print(f"{len(paths)} files in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
