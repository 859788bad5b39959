"""The reviewer web UI: server-rendered pages (namespace "web")."""

from django.urls import path

from recommender.web.views import overview, simulations, versions, viewers

app_name = "web"
urlpatterns = [
    path("", overview.dashboard, name="dashboard"),
    path("tasks/<str:task_id>/", overview.task_status, name="task-status"),
    path("metrics/", overview.metrics, name="metrics"),
    path("viewers/", viewers.viewer_search, name="viewer-search"),
    path("viewers/<int:source_id>/", viewers.viewer_detail, name="viewer-detail"),
    path("models/", versions.model_list, name="model-list"),
    path("models/<int:version_id>/", versions.model_detail, name="model-detail"),
    path("models/<int:version_id>/review/", versions.model_review, name="model-review"),
    path("simulate/", simulations.simulate, name="simulate"),
    path("simulate/<int:run_id>/", simulations.simulation_detail, name="simulation-detail"),
]
