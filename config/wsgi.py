"""WSGI entry point."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Load the URL map, and with it every view, serializer and form, now rather than at the first request;
# then take everything loaded so far out of the cyclic garbage collector's sight. Those objects live as
# long as the process, and a collection that no longer rescans them is cheaper: reading a large
# cohort's courses, which makes a hundred thousand small objects, spends a good part of its time there.
get_resolver().url_patterns  # noqa: B018  (evaluated for its side effect: the imports)
gc.freeze()
