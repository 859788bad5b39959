"""A model file that fails its integrity check is an operator's problem: a viewer's page says
recommendations are unavailable and shows no server path or hash; the log has the detail."""

from __future__ import annotations

import logging
import os

from recommender.engine.model import SVDConfig
from recommender.services.registry import model_version_train
from tests.champions import damage_artifact
from tests.users import VIEWER_ID, client_for, create_users


def test_a_viewers_page_says_unavailable_without_paths_or_hashes_and_logs_the_detail(
    bundled_subset, artifact_dir, caplog
):
    users = create_users()
    champion = model_version_train(
        actor="command:test", config=SVDConfig(n_factors=10, n_epochs=5, seed=0)
    )
    damage_artifact(champion.artifact_path)

    with caplog.at_level(logging.ERROR):
        response = client_for(users["viewer"]).get(f"/viewers/{VIEWER_ID}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Recommendations are unavailable right now" in page
    assert champion.artifact_path not in page
    assert champion.artifact_sha256 not in page
    assert os.path.basename(champion.artifact_path) not in page
    assert champion.artifact_sha256 in caplog.text or champion.artifact_path in caplog.text
