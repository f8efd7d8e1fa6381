"""Routes of the research pages and exports."""

from django.urls import path

from research import views

urlpatterns = [
    path("research/", views.cohort_page, name="cohort"),
    path("research/linking/", views.linking_page, name="linking"),
    path("research/plots/<slug:name>.<str:fmt>", views.plot, name="plot"),
    path("research/exports/", views.export_log, name="export-log"),
]
api_urlpatterns = [
    path("export/cohort/", views.export_cohort, name="export-cohort"),
    path("export/dictionary/", views.export_dictionary, name="export-dictionary"),
    path("export/bids/", views.export_bids, name="export-bids"),
]
