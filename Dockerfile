# One image for the web server, the Celery workers and the beat scheduler: runtime requirements only
# (requirements.txt; the tests' requirements-dev.txt stays out), running as an unprivileged user.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libpq-dev \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# The compiler stays in the build stage; the image gets the virtualenv and the PostgreSQL client library.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH REGISTRY_VAR_DIR=/var/lib/registry
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 registry \
    && useradd --system --uid 10001 --gid registry --home-dir /var/lib/registry --shell /usr/sbin/nologin registry \
    && install -d -o registry -g registry /var/lib/registry /var/lib/registry/media
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . .
USER registry
RUN SECRET_KEY=build python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application", "--bind", "0.0.0.0:8000"]
