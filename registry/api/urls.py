"""Routes of the REST API (/api/v1/)."""
from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from registry.api import views

router = DefaultRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("harvests", views.HarvestViewSet, basename="harvest")
router.register("products", views.ProductViewSet, basename="product")
router.register("procedures", views.ProcedureViewSet, basename="procedure")
router.register("adverse-events", views.AdverseEventViewSet, basename="adverse-event")
router.register("visits", views.VisitViewSet, basename="visit")
router.register("instruments", views.InstrumentViewSet, basename="instrument")
router.register("scores", views.ScoreViewSet, basename="score")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    *router.urls,
]
