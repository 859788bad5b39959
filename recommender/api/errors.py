"""One error shape for the whole API: {"error": "<what is wrong, and where>"}.

The service layer raises its own errors (an unknown viewer, no champion, a model file that
fails its check); they are translated to HTTP here, once, so views stay thin and every
endpoint answers the same way.
"""

from __future__ import annotations

import logging

from django.http import JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.views import exception_handler

from recommender.engine.artifact import ArtifactError
from recommender.services.recommendations import UnknownViewerError
from recommender.services.scoring import NoChampionError

logger = logging.getLogger(__name__)


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "the recommender cannot answer right now"
    default_code = "service_unavailable"


class BadQueryParameter(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "a query parameter is wrong"
    default_code = "bad_query_parameter"


def api_exception_handler(exc: Exception, context: dict):
    """DRF's handler, with the services' errors mapped to HTTP and every body {"error": ...}.
    Anything else (a bug) is left to Django, which logs and reports it as a 500."""
    response = exception_handler(_as_api_exception(exc), context)
    if response is not None:
        response.data = {"error": error_message(response.data)}
    return response


def _as_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, UnknownViewerError):
        return NotFound(str(exc))
    if isinstance(exc, NoChampionError):
        return ServiceUnavailable(str(exc))
    if isinstance(exc, ArtifactError):
        # The full message names a server path and hashes: for the log, not for API clients.
        logger.error("serving a request failed on the champion's model file: %s", exc)
        return ServiceUnavailable(
            "the champion's model file failed its integrity or format check; "
            "an operator must restore or retrain it (details in the server log)"
        )
    return exc


def error_message(data: object) -> str:
    """One line from whatever DRF put in a response body: {"detail": ...}, field errors
    {"name": ["..."]} or a list of messages."""
    if isinstance(data, dict):
        if set(data) == {"detail"}:
            return str(data["detail"])
        return "; ".join(f"{key}: {error_message(value)}" for key, value in data.items())
    if isinstance(data, list | tuple):
        return "; ".join(error_message(item) for item in data)
    return str(data)


def server_error(request, *args, **kwargs):
    """Django's handler500 for the whole site: inside /api/ an unexpected error is answered in
    the API's shape, {"error": ...}, like every other API error; elsewhere it is the site's
    HTML page. Django has logged the exception with its traceback before calling this; the
    answer names nothing internal."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": "internal server error: the failure was logged for the operators"},
            status=500,
        )
    return defaults.server_error(request, *args, **kwargs)
