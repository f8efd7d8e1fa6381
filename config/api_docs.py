"""The browsable API docs (Swagger UI from drf-spectacular-sidecar), in a page with no inline script.

drf-spectacular's own page writes Swagger UI's start-up code into an inline <script>, which the
Content-Security-Policy refuses. Here the start-up code is a static file (static/api/docs.js) and
the page hands it its settings as a JSON data block and data- attributes.
"""

from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerView


class ApiDocsView(SpectacularSwaggerView):
    template_name = "api/docs.html"

    @extend_schema(exclude=True)  # the docs page is not an operation of the API
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        # As Python objects, for json_script (which escapes them for a <script> data block).
        response.data["swagger_settings"] = spectacular_settings.SWAGGER_UI_SETTINGS
        response.data["oauth2_settings"] = spectacular_settings.SWAGGER_UI_OAUTH2_CONFIG
        return response
