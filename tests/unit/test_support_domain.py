"""The support context's rules for cases the service opens itself (a failed refund)."""
from __future__ import annotations

import pytest

from chalicelib.support import domain


def system_case() -> domain.Case:
    return domain.open_case(case_id=domain.case_id_for("refund-failed:b1:k1"), traveler_id="t1",
                            traveler_email="t@example.com", traveler_name="T", subject="A refund did not go through",
                            body="The provider failed it.", at=10.0, booking_id="b1", booking_reference="ABC123",
                            author=domain.SYSTEM)


def test_a_system_case_waits_for_an_agent_with_the_systems_message_first():
    case = system_case()
    assert case.status == domain.OPEN and [m.author for m in case.messages] == [domain.SYSTEM]


def test_the_same_occurrence_names_the_same_valid_case_id():
    assert domain.case_id_for("x") == domain.case_id_for("x") != domain.case_id_for("y")
    assert domain.is_case_id(domain.case_id_for("x"))


def test_an_agent_answers_a_system_case_and_it_waits_on_the_traveler():
    change = domain.post_message(system_case(), domain.AGENT, "We refunded it again.", 11.0)
    assert change.status == domain.WAITING_ON_TRAVELER


def test_the_system_only_opens_cases_it_never_posts_to_one():
    with pytest.raises(ValueError):
        domain.post_message(system_case(), domain.SYSTEM, "again", 11.0)


def test_an_agent_does_not_open_cases():
    with pytest.raises(ValueError):
        domain.open_case(case_id=domain.new_case_id(), traveler_id="t1", traveler_email="t@example.com",
                         traveler_name="T", subject="s", body="b", at=1.0, author=domain.AGENT)


def test_only_an_agent_resolves_a_system_case():
    with pytest.raises(domain.CaseStateError):
        domain.resolve(system_case(), domain.TRAVELER, 11.0)
    assert domain.resolve(system_case(), domain.AGENT, 11.0).status == domain.RESOLVED
