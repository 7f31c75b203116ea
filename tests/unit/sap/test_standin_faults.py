"""The stand-in's scripted faults: SAP down answers every request, before any counted fault."""

from __future__ import annotations

from sapstandin.faults import Fault, FaultScript


def test_sap_down_answers_before_the_counted_faults_scripted_earlier() -> None:
    # GIVEN a 429 storm scripted first, then SAP down
    script = FaultScript()
    script.add(Fault(kind="status", status=429, count=2))
    script.add(Fault(kind="down", seconds=60))
    # WHEN requests come while SAP is down
    hits = [script.take("/sap/opu/odata/sap/API_MKT_CONTACT/$batch") for _ in range(3)]
    # THEN the outage answers them all, and the storm still waits for after the outage
    assert [fault.kind for fault in hits if fault] == ["down", "down", "down"]
    assert [f["kind"] for f in script.pending()] == ["status", "down"]


def test_a_counted_fault_hits_only_its_path_and_is_used_up() -> None:
    script = FaultScript()
    script.add(Fault(kind="status", status=503, count=1, path_contains="$batch"))
    assert script.take("/sap/opu/odata/sap/API_MKT_CONTACT/$metadata") is None
    assert script.take("/sap/opu/odata/sap/API_MKT_CONTACT/$batch") is not None
    assert script.take("/sap/opu/odata/sap/API_MKT_CONTACT/$batch") is None
