"""Every model has a working admin page; status changes only through the lifecycle services."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from recommender.models import ModelVersion
from tests.users import create_reviewer

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
def superuser(client):
    """Django's superuser, logged in: every admin page and action is open to it."""
    user = User.objects.create_superuser("admin", password="x")
    client.force_login(user)
    return user


@pytest.mark.parametrize("name", CHANGELISTS)
def test_every_changelist_renders_with_filters_and_search(client, superuser, bundled_subset, name):
    response = client.get(reverse(f"admin:{name}_changelist"), {"q": "1"})
    assert response.status_code == 200


def test_the_admin_action_approves_a_pending_challenger_through_the_service(client, superuser):
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


def may_change_versions(user: User) -> User:
    """`user` (staff) given the admin's model permissions on versions."""
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_modelversion", "change_modelversion"])
    )
    return User.objects.get(pk=user.pk)


def staff_reviewer() -> User:
    """stella: staff and a reviewer, with the admin's model permissions on versions."""
    return may_change_versions(create_reviewer("stella", is_staff=True))


def test_the_review_actions_are_offered_only_to_reviewers(client, staff):
    changelist = reverse("admin:recommender_modelversion_changelist")
    ModelVersion.objects.create(status="pending_review", created_by="test")

    offered = {}
    for user in (may_change_versions(staff), staff_reviewer()):
        client.force_login(user)
        form = client.get(changelist).context["action_form"]  # None when no action is offered
        actions = {name for name, _ in form.fields["action"].choices} if form else set()
        offered[user.username] = actions & {"approve", "decline"}

    assert offered == {"sam": set(), "stella": {"approve", "decline"}}


def test_staff_who_may_not_review_change_nothing_by_posting_the_action(client, staff):
    pending = ModelVersion.objects.create(status="pending_review", created_by="test")
    client.force_login(may_change_versions(staff))

    for action in ("approve", "decline"):
        response = client.post(
            reverse("admin:recommender_modelversion_changelist"),
            {"action": action, "_selected_action": [pending.pk]},
            follow=True,
        )
        assert response.status_code == 200

    assert ModelVersion.objects.get(pk=pending.pk).status == "pending_review"
    assert not pending.events.exists()


def test_the_action_itself_refuses_an_account_that_may_not_review(rf, monkeypatch, staff):
    """Django filters the actions by permission; the action checks the policy as well."""
    pending = ModelVersion.objects.create(status="pending_review", created_by="test")
    request = rf.post("/admin/recommender/modelversion/")
    request.user = staff
    model_admin = admin.site._registry[ModelVersion]
    said = []
    monkeypatch.setattr(model_admin, "message_user", lambda request, text, level: said.append(text))

    model_admin.approve(request, ModelVersion.objects.filter(pk=pending.pk))

    assert said == ["sam may not review challengers"]
    assert ModelVersion.objects.get(pk=pending.pk).status == "pending_review"


def test_a_staff_reviewer_approves_through_the_action(client):
    pending = ModelVersion.objects.create(status="pending_review", created_by="test")
    client.force_login(staff_reviewer())

    client.post(
        reverse("admin:recommender_modelversion_changelist"),
        {"action": "approve", "_selected_action": [pending.pk]},
    )

    assert ModelVersion.objects.get(pk=pending.pk).status == "champion"
    assert pending.events.last().actor == "user:stella"


@pytest.mark.parametrize(
    "query",
    [{}, {"origin__exact": "original"}, {"score": "4.0"}, {"q": "15"}],
    ids=["all", "filtered", "by score", "searched"],
)
def test_the_rating_list_counts_no_ratings_on_postgresql(
    client, superuser, bundled_subset, postgresql, monkeypatch, query
):
    """At 26M ratings COUNT(*) takes seconds: the change list takes the planner's estimate
    instead (here every estimate counts as large, as the bundled subset is small)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from recommender import admin_paging
    from recommender.models import Rating

    monkeypatch.setattr(admin_paging, "EXACT_BELOW", 0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE recommender_rating")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:recommender_rating_changelist"), query)
    assert response.status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts == []
    # Nor a DISTINCT over every rating (Django's own filter of a float field does that).
    assert not [q for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()]
    estimate = response.context["cl"].result_count
    if "q" in query:  # a join's estimate is rougher: only that there is one
        assert estimate > 0
    else:
        exact = Rating.objects.filter(**query).count()
        assert 0.5 * exact <= estimate <= 2 * exact


def test_the_rating_list_counts_exactly_where_counting_is_cheap(client, superuser, bundled_subset):
    from recommender.models import Rating

    response = client.get(reverse("admin:recommender_rating_changelist"))
    assert response.context["cl"].result_count == Rating.objects.count()


def test_the_rating_search_finds_a_viewer_s_and_a_film_s_ratings_by_id(
    client, superuser, bundled_subset
):
    from django.db.models import Q

    from recommender.models import Rating

    response = client.get(reverse("admin:recommender_rating_changelist"), {"q": "15"})
    expected = Rating.objects.filter(Q(viewer__source_id=15) | Q(film__source_id=15)).count()
    assert expected > 0 and response.context["cl"].result_count == expected
    for term in ("abc", "99999999999999999999"):
        response = client.get(reverse("admin:recommender_rating_changelist"), {"q": term})
        assert response.status_code == 200 and response.context["cl"].result_count == 0
