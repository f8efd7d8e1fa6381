"""URL map: pages, the REST API, its schema and docs, the admin, language switching."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from config.api_docs import ApiDocsView
from imaging.api.urls import router as imaging_router
from registry.api.urls import router as api_router
from research.urls import api_urlpatterns as research_api_urls

api_router.registry.extend(imaging_router.registry)
handler500 = "config.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("registry.api.urls")),
    path("api/v1/", include(api_router.urls)),
    path("api/v1/", include(research_api_urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("", include("imaging.urls")),
    path("", include("research.urls")),
    path("", include("registry.urls")),
]
