"""Test helpers shipped with bmefhir (example bundles and their expected conclusions)."""

from bmefhir.testing.examples import (
    ExampleCase,
    ExamplesError,
    Expectation,
    examples_dir,
    list_examples,
    list_text_examples,
    load_bundle,
)

__all__ = [
    "ExampleCase",
    "ExamplesError",
    "Expectation",
    "examples_dir",
    "list_examples",
    "list_text_examples",
    "load_bundle",
]
