"""Routes of the registry's REST API; config/urls.py mounts them under /api/v1/ with imaging's."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from registry.api import audit, quality, tokens, views

router = DefaultRouter()
router.register("patients", views.PatientViewSet, basename="api-patient")
router.register("harvests", views.HarvestViewSet, basename="api-harvest")
router.register("products", views.ProductViewSet, basename="api-product")
router.register("procedures", views.ProcedureViewSet, basename="api-procedure")
router.register("adverse-events", views.AdverseEventViewSet, basename="api-adverse-event")
router.register("visits", views.VisitViewSet, basename="api-visit")
router.register("instruments", views.InstrumentViewSet, basename="api-instrument")
router.register("scores", views.ScoreViewSet, basename="api-score")
router.register("access-log", audit.AccessLogViewSet, basename="api-access-log")
router.register("queries", quality.QueryViewSet, basename="api-query")

urlpatterns = [
    path("auth/token/", tokens.TokenObtainApi.as_view(), name="api-token"),
    path("auth/logout/", tokens.TokenRevokeApi.as_view(), name="api-logout"),
    path("auth/logout-all/", tokens.TokenRevokeAllApi.as_view(), name="api-logout-all"),
]
