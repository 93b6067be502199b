from pathlib import Path

from cloudlet.coverage import render


def test_coverage_doc_is_current():
    doc = Path(__file__).resolve().parents[2] / "docs" / "coverage.md"
    assert doc.read_text() == render(), "docs/coverage.md is stale: run `cloudlet coverage --write`"
