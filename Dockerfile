# One image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_ROOT=/app/staticfiles

# scikit-surprise compiles a C extension at install time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies from pyproject.toml first, so code changes don't reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir recsite recommender simulation \
    && touch recsite/__init__.py recommender/__init__.py simulation/__init__.py \
    && pip install . \
    && pip uninstall -y film-recommender \
    && rm -rf recsite recommender simulation build
COPY manage.py ./
COPY recsite recsite
COPY recommender recommender
COPY simulation simulation
COPY templates templates
COPY static static
COPY data data

RUN useradd --create-home --uid 10001 app \
    && mkdir -p /app/var /app/staticfiles \
    && chown -R app /app/var /app/staticfiles
USER app

# Static files are collected at build time and served by WhiteNoise. collectstatic reads no
# secret; the build-only values never reach a running container.
RUN DEBUG=0 SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret-build-only \
    ALLOWED_HOSTS=build DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput -v0

EXPOSE 8000
CMD ["gunicorn", "recsite.wsgi", "--preload", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-"]
