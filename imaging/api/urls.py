"""Routes of the imaging API; config/urls.py mounts them under /api/v1/ with the registry's."""

from rest_framework.routers import SimpleRouter

from imaging.api import views

router = SimpleRouter()
router.register("scans", views.ScanViewSet, basename="api-scan")
router.register("roi-measurements", views.RoiViewSet, basename="api-roi-measurement")
