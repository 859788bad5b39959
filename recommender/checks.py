"""System checks of the product's own deployment needs (`manage.py check`, run by runserver,
migrate and `check --deploy`)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, register


# Not tagged "staticfiles": collectstatic runs those checks first, and must run to fix this.
@register("deployment")
def static_files_are_collected(app_configs, **kwargs) -> list[Error]:
    """With DEBUG=0 the static files are served from the manifest collectstatic writes; without
    it every HTML page answers 500 (WhiteNoise's manifest storage cannot resolve a single
    `{% static %}`), while Django's own deploy checks stay silent."""
    backend = settings.STORAGES.get("staticfiles", {}).get("BACKEND", "")
    if "Manifest" not in backend:
        return []
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if manifest.is_file():
        return []
    return [
        Error(
            "the static files have not been collected, so every page would answer 500",
            hint=f"run `python manage.py collectstatic --noinput` (STATIC_ROOT={settings.STATIC_ROOT})",
            id="recommender.E001",
        )
    ]
