"""gunicorn's settings, the same wherever the registry is served: `scripts/run.sh`, the image, the
compose file and the web benchmark (`gunicorn -c config/gunicorn.py config.wsgi:application`).

A setting given on gunicorn's command line still wins (the image binds 0.0.0.0:8000 that way).
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# One worker process per core, each with threads that serve other requests while one waits for the
# database: 2 workers x 4 threads on this project's 2-core reference machine. Each thread holds a
# database connection (DATABASE_CONN_MAX_AGE): PostgreSQL's max_connections must exceed workers x threads
# plus the Celery worker processes, over every machine.
cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
workers = int(os.environ.get("WEB_WORKERS") or 0) or cores
threads = int(os.environ.get("WEB_THREADS") or 4)
accesslog = "-"
# In the registry's var folder, so two registries on one machine do not share one.
control_socket = os.path.join(os.environ.get("REGISTRY_VAR_DIR") or "var", "gunicorn.ctl")
