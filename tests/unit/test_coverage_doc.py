from pathlib import Path

from cloudlet.coverage import render


def test_coverage_doc_is_current():
    doc = Path(__file__).resolve().parents[2] / "docs" / "coverage.md"
    assert doc.read_text() == render(), "docs/coverage.md is stale: run `cloudlet coverage --write`"


def test_limits_name_implemented_operations():
    from cloudlet.coverage import implemented
    from cloudlet.services import PROVIDERS, provider_class

    for service in PROVIDERS:
        stray = set(provider_class(service).limits) - set(implemented(service))
        assert not stray, f"{service}: limits for operations it does not implement: {sorted(stray)}"
