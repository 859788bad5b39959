import numpy as np
import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recommender.engine.model import SVDConfig
from recommender.models import DriftReport, Film, ModelVersionEvent, Rating, ScoredList, Viewer
from recommender.selectors.scoring import scored_list_arrays
from recommender.services.registry import model_version_train
from recommender.services.scoring import scoring_run_create
from tests.champions import damage_artifact
from tests.users import VIEWER_ID, client_for

pytestmark = pytest.mark.django_db

CONFIG = SVDConfig(n_factors=20, n_epochs=10, seed=3)


@pytest.fixture
def users(bundled_subset, users):
    """The named users of tests/users.py, made after the import: vic's viewer is the imported
    viewer VIEWER_ID."""
    return users


@pytest.fixture
def champion(users, artifact_dir):
    return model_version_train(actor="command:test", config=CONFIG)


@pytest.fixture
def served_run(champion):
    return scoring_run_create(actor="command:test")


def get(user: User | None, path: str, **params):
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client.get(path, params)


def recommendations_path(viewer_id: int) -> str:
    return f"/api/v1/viewers/{viewer_id}/recommendations/"


def stored_list(run, viewer_id: int):
    return scored_list_arrays(ScoredList.objects.get(run=run, viewer__source_id=viewer_id))


# --- recommendations ---------------------------------------------------------------------------


def test_the_list_is_the_stored_scored_list_of_the_served_run(served_run, users):
    films, scores, predicted = stored_list(served_run, 42)

    response = get(users["reviewer"], recommendations_path(42))

    assert response.status_code == 200
    body = response.json()
    assert body["viewer_id"] == 42 and body["source"] == "model"
    assert body["computed"] == "scoring_run" and body["scoring_run_id"] == served_run.pk
    assert body["model_version_id"] == served_run.model_version_id
    assert len(body["films"]) == 10, "10 films unless n says otherwise"
    assert [f["film_id"] for f in body["films"]] == films[:10].tolist()
    assert [f["predicted_rating"] for f in body["films"]] == [float(p) for p in predicted[:10]]
    assert [f["score"] for f in body["films"]] == [float(s) for s in scores[:10]]
    assert [f["rank"] for f in body["films"]] == list(range(1, 11))
    film = Film.objects.get(source_id=films[0])
    assert body["films"][0]["title"] == film.title and body["films"][0]["year"] == film.year
    assert body["films"][0]["genres"] == sorted(film.genres.values_list("name", flat=True))


def test_n_sets_the_list_length_from_1_to_100(served_run, users):
    films, _, _ = stored_list(served_run, 42)
    for n in (1, 37, 100):
        body = get(users["reviewer"], recommendations_path(42), n=n).json()
        assert [f["film_id"] for f in body["films"]] == films[:n].tolist()


@pytest.mark.parametrize("n", ["0", "101", "abc", "", "1.5", "-1", " 5", "1_0", "9" * 40])
def test_an_n_outside_1_to_100_or_not_an_integer_is_a_400_naming_n(reviewer, n):
    response = get(reviewer, recommendations_path(42), n=n)

    assert response.status_code == 400
    assert response.json() == {
        "error": f"query parameter n must be an integer from 1 to 100, got {n!r}"
    }


def test_an_unknown_viewer_is_a_404(served_run, users):
    response = get(users["reviewer"], recommendations_path(99999))

    assert response.status_code == 404
    assert response.json() == {"error": "viewer 99999 not found"}


def test_a_viewer_account_reads_its_own_list(served_run, users):
    films, _, _ = stored_list(served_run, VIEWER_ID)

    response = get(users["viewer"], recommendations_path(VIEWER_ID), n=5)

    assert response.status_code == 200
    assert [f["film_id"] for f in response.json()["films"]] == films[:5].tolist()


def test_it_refuses_a_viewer_account_another_viewers_list(served_run, users):
    for other in (16, 99999):  # an unknown id too: whether it exists is not the account's business
        response = get(users["viewer"], recommendations_path(other))
        assert response.status_code == 403
        assert response.json() == {
            "error": f"account vic may read only viewer {VIEWER_ID}'s recommendations"
        }


def test_it_refuses_an_account_that_is_neither_a_viewer_nor_a_reviewer(served_run, users):
    response = get(users["plain"], recommendations_path(VIEWER_ID))

    assert response.status_code == 403
    assert response.json() == {"error": "account paul is linked to no viewer and is not a reviewer"}


def test_reviewers_and_staff_read_any_viewers_list(served_run, users):
    for role in ("reviewer", "staff"):
        assert get(users[role], recommendations_path(77)).status_code == 200


def test_films_the_viewer_rated_since_the_run_are_not_recommended_again(served_run, users):
    films, _, _ = stored_list(served_run, VIEWER_ID)
    viewer = Viewer.objects.get(source_id=VIEWER_ID)
    Rating.objects.bulk_create(
        Rating(
            viewer=viewer, film=Film.objects.get(source_id=f), score=4.5, rated_at=timezone.now()
        )
        for f in films[:2].tolist()
    )

    body = get(users["viewer"], recommendations_path(VIEWER_ID), n=10).json()

    assert body["computed"] == "on_the_fly" and body["scoring_run_id"] is None
    assert [f["film_id"] for f in body["films"]][:8] == films[2:10].tolist()


def test_without_a_champion_recommendations_are_a_503(users):
    response = get(users["reviewer"], recommendations_path(42))

    assert response.status_code == 503
    assert response.json() == {"error": "no champion model yet: train one first (manage.py train)"}


def test_a_damaged_model_file_is_a_503_that_does_not_show_the_servers_paths(champion, users):
    damage_artifact(champion.artifact_path)

    response = get(users["reviewer"], recommendations_path(42))

    assert response.status_code == 503
    error = response.json()["error"]
    assert "failed its integrity or format check" in error
    assert champion.artifact_path not in error and champion.artifact_sha256 not in error


# --- authentication and the error shape ---------------------------------------------------------


def test_anonymous_requests_are_refused_with_a_json_401(served_run):
    for path in (recommendations_path(42), "/api/v1/champion/", "/api/v1/metrics/"):
        response = get(None, path)
        assert response.status_code == 401
        assert response.json() == {"error": "Authentication credentials were not provided."}
        assert response["WWW-Authenticate"] == "Token"


def test_a_token_authenticates_and_a_wrong_one_is_refused(served_run, users):
    token = Token.objects.create(user=users["viewer"])
    client = APIClient()

    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(recommendations_path(VIEWER_ID)).status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    refused = client.get(recommendations_path(VIEWER_ID))
    assert refused.status_code == 401 and refused.json() == {"error": "Invalid token."}


def test_a_logged_in_session_authenticates_too(served_run, users):
    client = APIClient()
    client.force_login(users["viewer"])

    assert client.get(recommendations_path(VIEWER_ID)).status_code == 200


def test_unknown_endpoints_and_methods_answer_json_errors(served_run, users):
    client = APIClient()
    client.force_authenticate(users["reviewer"])

    missing = client.get("/api/v1/no-such-thing/")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no API endpoint at /api/v1/no-such-thing/"}
    no_slash = client.get("/api/v1/champion")
    assert no_slash.status_code == 404
    assert no_slash.json() == {
        "error": "no API endpoint at /api/v1/champion: did you mean /api/v1/champion/ ?"
    }
    posted = client.post("/api/v1/champion/")
    assert posted.status_code == 405 and posted.json() == {"error": 'Method "POST" not allowed.'}


# --- champion -------------------------------------------------------------------------------------


def test_the_champion_endpoint_gives_its_config_and_benchmark(champion, users):
    response = get(users["reviewer"], "/api/v1/champion/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == champion.pk and body["status"] == "champion"
    assert body["config"] == champion.hyperparameters and body["config"]["n_factors"] == 20
    assert body["trained_at"].startswith(champion.created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert body["benchmark"]["overall"] == champion.metrics["overall"]
    assert body["benchmark"]["overall"]["r2"] == pytest.approx(champion.r2)
    assert body["benchmark"]["per_genre"]["Action"] == champion.metrics["per_genre"]["Action"]
    assert body["benchmark"]["ranking"]["k"] == 10
    assert body["benchmark"]["ranking"]["ndcg_at_k"] == champion.metrics["ndcg_at_k"]
    assert body["training_rows"] == champion.training_rows > 0
    assert body["artifact_sha256"] == champion.artifact_sha256


def test_without_a_champion_the_champion_endpoint_is_a_404(reviewer):
    response = get(reviewer, "/api/v1/champion/")

    assert response.status_code == 404
    assert response.json() == {"error": "no champion model yet: train one first"}


# --- metric history and drift reports -------------------------------------------------------------


def test_the_metric_history_lists_each_rounds_figures_and_decisions(monitored_rounds, users):
    response = get(users["reviewer"], "/api/v1/metrics/")

    assert response.status_code == 200
    body = response.json()
    assert [r["round_id"] for r in body["rounds"]] == [r.pk for r in monitored_rounds]
    for shown, round_ in zip(body["rounds"], monitored_rounds, strict=True):
        stored = round_.metrics
        assert shown["round"] == round_.number and shown["simulation_run_id"] == round_.run_id
        assert shown["champion_version_id"] == round_.scoring_run.model_version_id
        assert shown["interactions"] == round_.interactions > 0
        for group in ("all", "existing"):
            accuracy = stored["accuracy"][group]
            assert shown["accuracy"][group]["r2"] == accuracy["overall"]["r2"]
            assert shown["accuracy"][group]["rmse"] == accuracy["overall"]["rmse"]
            assert shown["accuracy"][group]["per_genre"]["Action"] == {
                "n": accuracy["per_genre"]["Action"]["n"],
                "r2": accuracy["per_genre"]["Action"]["r2"],
            }
            for key in ("coverage", "diversity", "personalization", "viewers"):
                assert shown["lists"][group][key] == stored["lists"][group][key]
        assert shown["experience"] == stored["experience"]
        assert shown["experience"]["overall"]["n"] == round_.interactions
        report = DriftReport.objects.get(round=round_)
        assert shown["drift"] == {
            "report_id": report.pk,
            "retraining_required": report.retraining_required,
            "degraded": report.degraded,
        }
        cycle = stored["cycle"]
        if cycle["retrained"]:
            assert shown["retraining"]["decision"] == cycle["decision"]
            assert shown["retraining"]["challenger_id"] == cycle["challenger"]
        else:
            assert shown["retraining"] is None
    crowned = ModelVersionEvent.objects.filter(to_status="champion").order_by("at", "pk")
    assert [p["version_id"] for p in body["promotions"]] == [e.version_id for e in crowned]
    assert body["promotions"][0]["version_id"] == monitored_rounds[0].scoring_run.model_version_id


def test_a_round_monitored_twice_has_the_same_verdict_in_the_api_and_on_the_metric_page(
    monitored_rounds, users
):
    """The verdict of a round is the first drift report on it (the one the cycle acted on);
    a later re-check, here with the opposite finding, changes neither the API nor the page."""
    round_ = monitored_rounds[0]
    first = DriftReport.objects.get(round=round_)
    DriftReport.objects.create(
        model_version_id=first.model_version_id,
        round=round_,
        metrics=[],
        not_judged=[],
        retraining_required=not first.retraining_required,
        created_by="command:monitor",
    )
    assert DriftReport.objects.filter(round=round_).count() == 2

    shown = get(users["reviewer"], "/api/v1/metrics/").json()["rounds"][0]
    page = client_for(users["reviewer"])
    point = page.get(reverse("web:metrics")).context["history"].rounds[0]

    assert shown["round_id"] == point.pk == round_.pk
    assert shown["drift"] == {
        "report_id": first.pk,
        "retraining_required": first.retraining_required,
        "degraded": first.degraded,
    }
    assert (point.drift_required, point.degraded) == (first.retraining_required, first.degraded)


def test_the_metric_history_limit_keeps_the_newest_rounds(monitored_rounds, users):
    body = get(users["staff"], "/api/v1/metrics/", limit=1).json()

    assert [r["round_id"] for r in body["rounds"]] == [monitored_rounds[-1].pk]
    refused = get(users["staff"], "/api/v1/metrics/", limit=0)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "query parameter limit must be an integer from 1 to 500, got '0'"
    }


def test_monitoring_endpoints_refuse_a_viewer_account(monitored_rounds, users):
    report = DriftReport.objects.first()
    for path in (
        "/api/v1/metrics/",
        "/api/v1/drift-reports/",
        f"/api/v1/drift-reports/{report.pk}/",
    ):
        response = get(users["viewer"], path)
        assert response.status_code == 403
        assert response.json() == {"error": "only reviewers and staff may read this"}


def test_drift_reports_are_listed_newest_first_and_read_one_by_one(monitored_rounds, users):
    reports = list(DriftReport.objects.order_by("-created_at", "-pk"))

    listed = get(users["reviewer"], "/api/v1/drift-reports/").json()["drift_reports"]
    one = get(users["reviewer"], f"/api/v1/drift-reports/{reports[0].pk}/").json()

    assert [r["id"] for r in listed] == [r.pk for r in reports] and len(reports) == 2
    assert listed[0]["round_id"] == monitored_rounds[-1].pk
    assert listed[0]["degraded"] == reports[0].degraded
    assert one["metrics"] == reports[0].metrics and one["not_judged"] == reports[0].not_judged
    assert one["thresholds"]["genre_r2_drop"] == 0.1
    assert one["retraining_required"] == reports[0].retraining_required
    only_newest = get(users["reviewer"], "/api/v1/drift-reports/", limit=1).json()
    assert [r["id"] for r in only_newest["drift_reports"]] == [reports[0].pk]


def test_an_unknown_drift_report_is_a_404(reviewer):
    response = get(reviewer, "/api/v1/drift-reports/424242/")

    assert response.status_code == 404
    assert response.json() == {"error": "drift report 424242 not found"}


def test_predicted_ratings_survive_json_exactly(served_run, users):
    # float32 values go out as the shortest float64 repr; reading them back loses nothing.
    _, _, predicted = stored_list(served_run, 42)
    body = get(users["reviewer"], recommendations_path(42), n=100).json()
    assert np.array_equal(
        np.array([f["predicted_rating"] for f in body["films"]], dtype=np.float32),
        predicted[:100],
    )
