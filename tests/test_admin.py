"""Every model has a working admin page; status changes only through the lifecycle services."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from recommender.models import ModelVersion

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "recommender_genre",
    "recommender_film",
    "recommender_viewer",
    "recommender_rating",
    "recommender_modelversion",
    "recommender_scoringrun",
    "recommender_driftreport",
    "simulation_simulationrun",
    "simulation_simulationround",
]


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("admin", password="x")
    client.force_login(user)
    return user


@pytest.mark.parametrize("name", CHANGELISTS)
def test_every_changelist_renders_with_filters_and_search(client, staff, bundled_subset, name):
    response = client.get(reverse(f"admin:{name}_changelist"), {"q": "1"})
    assert response.status_code == 200


def test_the_admin_action_approves_a_pending_challenger_through_the_service(client, staff):
    old = ModelVersion.objects.create(status="champion", created_by="test")
    pending = ModelVersion.objects.create(status="pending_review", created_by="test")
    challenger = ModelVersion.objects.create(status="challenger", created_by="test")

    response = client.post(
        reverse("admin:recommender_modelversion_changelist"),
        {"action": "approve", "_selected_action": [pending.pk, challenger.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert ModelVersion.objects.get(pk=pending.pk).status == "champion"
    assert ModelVersion.objects.get(pk=old.pk).status == "retired"
    assert ModelVersion.objects.get(pk=challenger.pk).status == "challenger"
    messages = [str(m) for m in response.context["messages"]]
    assert f"v{pending.pk} approved" in messages
    assert any("not pending_review" in m for m in messages)
    assert pending.events.last().actor == "user:admin"
