"""Routes of the registry's pages."""

from django.contrib.auth import views as auth_views
from django.urls import path

from registry import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("patients/", views.patient_list, name="patient-list"),
    path("patients/new/", views.record_create, {"kind": "patients"}, name="patient-create"),
    path("patients/<int:pk>/", views.patient_detail, name="patient-detail"),
    path(
        "patients/<int:patient_pk>/assessments/new/",
        views.visit_create_with_assessments,
        name="visit-create-with-assessments",
    ),
    path("patients/<int:patient_pk>/<slug:kind>/new/", views.record_create, name="record-create"),
    path("records/<slug:kind>/<int:pk>/edit/", views.record_edit, name="record-edit"),
    path("records/<slug:kind>/<int:pk>/delete/", views.record_delete, name="record-delete"),
    path("records/<slug:kind>/<int:pk>/history/", views.record_history, name="record-history"),
    path("visits/due/", views.due_visits, name="due-visits"),
    path("visits/<int:pk>/assessments/", views.visit_assessments, name="visit-assessments"),
    path("access-log/", views.access_log, name="access-log"),
    path("queries/", views.query_list, name="query-list"),
    path("queries/<int:pk>/", views.query_detail, name="query-detail"),
    path("queries/<int:pk>/<slug:step>/", views.query_step, name="query-step"),
    path("records/<slug:kind>/<int:pk>/query/", views.query_create, name="query-create"),
    path("visits/<int:pk>/sign/", views.visit_sign, name="visit-sign"),
    path("patients/<int:pk>/sign/", views.patient_sign, name="patient-sign"),
    path("signatures/<int:pk>/unlock/", views.signature_unlock, name="signature-unlock"),
]
