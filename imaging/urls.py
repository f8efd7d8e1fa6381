"""Routes of the imaging pages and protected media."""

from django.urls import path

from imaging import views

urlpatterns = [
    path("imaging/", views.worklist, name="worklist"),
    path("imaging/visits/<int:visit_pk>/upload/", views.scan_upload, name="scan-upload"),
    path("imaging/scans/<int:pk>/", views.scan_detail, name="scan-detail"),
    path("imaging/scans/<int:pk>/status/", views.scan_status, name="scan-status"),
    path("imaging/scans/<int:pk>/review/", views.scan_review, name="scan-review"),
    path("imaging/scans/<int:pk>/comparability/", views.scan_comparability, name="scan-comparability"),
    path("imaging/scans/<int:pk>/labels/", views.scan_labels, name="scan-labels"),
    path("imaging/scans/<int:pk>/carried-regions/", views.scan_carried_regions, name="scan-carried-regions"),
    path("imaging/scans/<int:pk>/rois/", views.scan_manual_roi, name="scan-manual-roi"),
    path("imaging/scans/<int:pk>/reprocess/", views.scan_reprocess, name="scan-reprocess"),
    path("media/<path:path>", views.media, name="media"),
]
