"""The web container's health check: the sign-in page answers through gunicorn on port 8000.

It asks as the proxy would (a host from ALLOWED_HOSTS, X-Forwarded-Proto: https), so neither the
host check nor the HTTPS redirect turns a healthy server into a failure.
"""

import os
import sys
import urllib.request

host = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0].strip().lstrip(".")
if not host or "*" in host:
    host = "localhost"
request = urllib.request.Request("http://127.0.0.1:8000/login/", headers={"Host": host, "X-Forwarded-Proto": "https"})
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as error:
    print(f"unhealthy: {error}", file=sys.stderr)
    sys.exit(1)
