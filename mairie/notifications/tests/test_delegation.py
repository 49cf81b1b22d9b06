from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from mairie.audit.models import AuditEntry
from mairie.dossiers.delegation import end_absence, resolve_assignee, set_absence
from mairie.dossiers.models import Absence
from mairie.organisations.models import Membership

DAY = dt.date(2026, 3, 10)


def _absence(world, user, delegate, start=DAY, end=DAY + dt.timedelta(days=4)):
    return Absence.objects.create(
        organisation=world.commune, user=user, delegate=delegate, starts_on=start, ends_on=end
    )


def test_without_absence_the_person_keeps_their_work(world):
    assert resolve_assignee(organisation=world.commune, user=world.agent, on=DAY) == (world.agent, None)


def test_absence_covering_the_day_gives_the_delegate(world):
    _absence(world, world.agent, world.secretary)
    assert resolve_assignee(organisation=world.commune, user=world.agent, on=DAY) == (
        world.secretary,
        world.agent,
    )
    # Both bounds are included.
    last = DAY + dt.timedelta(days=4)
    assert resolve_assignee(organisation=world.commune, user=world.agent, on=last)[0] == world.secretary


def test_absence_defaults_to_today(world):
    from django.utils import timezone

    today = timezone.localdate()
    _absence(world, world.agent, world.secretary, start=today, end=today)
    assert resolve_assignee(organisation=world.commune, user=world.agent) == (world.secretary, world.agent)


def test_absence_not_covering_the_day_changes_nothing(world):
    _absence(world, world.agent, world.secretary, start=DAY + dt.timedelta(days=1))
    assert resolve_assignee(organisation=world.commune, user=world.agent, on=DAY) == (world.agent, None)
    # An absence in another organisation does not count here.
    Absence.objects.create(
        organisation=world.other_commune,
        user=world.agent,
        delegate=world.other_agent,
        starts_on=DAY,
        ends_on=DAY,
    )
    assert resolve_assignee(organisation=world.commune, user=world.agent, on=DAY) == (world.agent, None)


def test_chain_of_absences_is_followed(world):
    _absence(world, world.agent, world.secretary)
    _absence(world, world.secretary, world.commune_admin)
    assert resolve_assignee(organisation=world.commune, user=world.agent, on=DAY) == (
        world.commune_admin,
        world.agent,
    )


def test_cycle_gives_the_work_back_to_the_person(world):
    _absence(world, world.agent, world.secretary)
    _absence(world, world.secretary, world.agent)
    assert resolve_assignee(organisation=world.commune, user=world.agent, on=DAY) == (world.agent, None)
    # A longer loop that does not come back to the start: A → B → C → B.
    _absence(world, world.mayor, world.agent)
    Absence.objects.filter(user=world.secretary).update(delegate=world.commune_admin)
    _absence(world, world.commune_admin, world.secretary)
    assert resolve_assignee(organisation=world.commune, user=world.mayor, on=DAY) == (world.mayor, None)


def test_delegate_who_left_the_organisation_ends_the_chain(world):
    _absence(world, world.agent, world.secretary)
    _absence(world, world.secretary, world.commune_admin)
    Membership.objects.filter(user=world.commune_admin, organisation=world.commune).update(is_active=False)
    assert resolve_assignee(organisation=world.commune, user=world.agent, on=DAY) == (
        world.secretary,
        world.agent,
    )


def _set(world, **overrides):
    values = {
        "organisation": world.commune,
        "user": world.agent,
        "delegate": world.secretary,
        "starts_on": DAY,
        "ends_on": DAY + dt.timedelta(days=2),
        "reason": "Congés",
        "actor": world.agent,
    }
    values.update(overrides)
    return set_absence(**values)


def test_set_absence_is_journaled(world):
    absence = _set(world)
    assert (absence.user, absence.delegate, absence.reason) == (world.agent, world.secretary, "Congés")
    entry = AuditEntry.objects.filter(organisation=world.commune, action="absence.set").get()
    assert "Karim Benali" in entry.summary and "Sylvie Marchand" in entry.summary
    assert "10/03/2026" in entry.summary


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"delegate": "agent"}, "delegate", "soi-même"),
        ({"delegate": "other_agent"}, "delegate", "membre actif de l'organisation"),
        ({"ends_on": DAY - dt.timedelta(days=1)}, "ends_on", "postérieure ou égale"),
    ],
)
def test_set_absence_refuses_invalid_values_in_french(world, overrides, field, message):
    values = {k: getattr(world, v) if k == "delegate" else v for k, v in overrides.items()}
    with pytest.raises(ValidationError) as caught:
        _set(world, **values)
    assert field in caught.value.error_dict
    assert message in " ".join(caught.value.messages)
    assert not Absence.objects.exists()


def test_set_absence_refuses_an_overlap(world):
    _set(world)
    with pytest.raises(ValidationError) as caught:
        _set(world, starts_on=DAY + dt.timedelta(days=2), ends_on=DAY + dt.timedelta(days=5))
    assert "chevauche une autre absence" in " ".join(caught.value.messages)
    assert "du 10/03/2026 au 12/03/2026" in " ".join(caught.value.messages)
    # Right after it is fine.
    _set(world, starts_on=DAY + dt.timedelta(days=3), ends_on=DAY + dt.timedelta(days=5))
    assert Absence.objects.count() == 2


def test_only_an_admin_declares_someone_elses_absence(world):
    with pytest.raises(PermissionDenied):
        _set(world, actor=world.secretary)
    absence = _set(world, actor=world.commune_admin)
    assert absence.user == world.agent
    assert _set(world, actor=None, starts_on=DAY + dt.timedelta(days=7), ends_on=DAY + dt.timedelta(days=7))


def test_end_absence(world):
    ongoing = _set(world)
    assert end_absence(absence=ongoing, actor=world.agent, today=DAY + dt.timedelta(days=1)) == ongoing
    ongoing.refresh_from_db()
    assert ongoing.ends_on == DAY
    future = _set(world, starts_on=DAY + dt.timedelta(days=10), ends_on=DAY + dt.timedelta(days=12))
    assert end_absence(absence=future, actor=world.agent, today=DAY + dt.timedelta(days=1)) is None
    assert not Absence.objects.filter(pk=future.pk).exists()
    actions = list(AuditEntry.objects.filter(action__startswith="absence.").values_list("action", flat=True))
    assert sorted(actions) == ["absence.cancel", "absence.end", "absence.set", "absence.set"]


# --- The « Mes absences » page -------------------------------------------------------------------------


def _url(world, name="notifications:absences", **kwargs):
    return reverse(name, kwargs={"slug": world.commune.slug, **kwargs})


def test_absence_page_declares_and_ends_an_absence(world, as_user):
    from django.utils import timezone

    today = timezone.localdate()
    client = as_user(world.agent)
    page = client.get(_url(world))
    assert page.status_code == 200
    assert "Mes absences" in page.text and "Sylvie Marchand" in page.text
    assert 'name="user"' not in page.text  # an agent declares their own absences only
    response = client.post(
        _url(world),
        {
            "delegate": world.secretary.pk,
            "starts_on": today.isoformat(),
            "ends_on": (today + dt.timedelta(days=3)).isoformat(),
            "reason": "Formation",
            "user": world.mayor.pk,  # ignored: not an admin
        },
    )
    assert response.status_code == 302
    absence = Absence.objects.get()
    assert (absence.user, absence.delegate, absence.reason) == (world.agent, world.secretary, "Formation")
    assert "Formation" in client.get(_url(world)).text
    assert "Je remplace" in as_user(world.secretary).get(_url(world)).text
    client = as_user(world.agent)
    response = client.post(_url(world, "notifications:absence_end", absence_id=absence.pk))
    assert response.status_code == 302
    assert not Absence.objects.exists()  # it started today: withdrawn


def test_absence_page_shows_french_errors(world, as_user):
    client = as_user(world.agent)
    response = client.post(
        _url(world), {"delegate": world.agent.pk, "starts_on": "2026-03-10", "ends_on": "2026-03-09"}
    )
    assert response.status_code == 400
    assert "soi-même" in response.text
    assert not Absence.objects.exists()


def test_delegate_from_another_commune_is_refused(world, as_user):
    client = as_user(world.agent)
    response = client.post(
        _url(world), {"delegate": world.other_agent.pk, "starts_on": "2026-03-10", "ends_on": "2026-03-12"}
    )
    assert response.status_code == 400
    assert "Sélectionnez un choix valide" in response.text
    assert not Absence.objects.exists()
    # Villeneuve's agent cannot even open Saint-Aubin's page, nor pick Saint-Aubin's people.
    intruder = as_user(world.other_agent)
    assert intruder.get(_url(world)).status_code == 404
    response = intruder.post(
        reverse("notifications:absences", kwargs={"slug": world.other_commune.slug}),
        {"delegate": world.secretary.pk, "starts_on": "2026-03-10", "ends_on": "2026-03-12"},
    )
    assert response.status_code == 400
    assert not Absence.objects.exists()


def test_admin_sets_and_ends_anyones_absence_others_cannot(world, as_user):
    admin = as_user(world.commune_admin)
    assert 'name="user"' in admin.get(_url(world)).text
    response = admin.post(
        _url(world),
        {
            "user": world.agent.pk,
            "delegate": world.secretary.pk,
            "starts_on": "2030-01-01",
            "ends_on": "2030-01-05",
        },
    )
    assert response.status_code == 302
    absence = Absence.objects.get(user=world.agent)
    assert "Karim Benali" in admin.get(_url(world)).text
    # The secretary (not an admin, not the absent person) cannot end it.
    other = as_user(world.secretary)
    assert other.post(_url(world, "notifications:absence_end", absence_id=absence.pk)).status_code == 403
    assert Absence.objects.filter(pk=absence.pk).exists()
    admin = as_user(world.commune_admin)
    assert admin.post(_url(world, "notifications:absence_end", absence_id=absence.pk)).status_code == 302
    assert not Absence.objects.filter(pk=absence.pk).exists()
