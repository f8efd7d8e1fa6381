"""The API's model permissions: read from the view's model, without building the view's queryset."""

import pytest

from registry.api.permissions import RoleModelPermissions
from registry.api.views import PatientViewSet
from registry.roles import HEMATOLOGY, RESEARCH


class PatientsWithoutQueryset(PatientViewSet):
    def get_queryset(self):
        raise AssertionError("the permission check built the view's queryset")


@pytest.mark.parametrize(("role", "method", "allowed"), [(HEMATOLOGY, "post", True), (RESEARCH, "post", False)])
def test_a_record_view_s_permission_is_decided_by_its_model_alone(rf, make_user, role, method, allowed):
    request = getattr(rf, method)("/api/v1/patients/")
    request.user = make_user(role)

    assert RoleModelPermissions().has_permission(request, PatientsWithoutQueryset()) is allowed


def test_research_reads_patients_through_the_same_check(rf, make_user):
    request = rf.get("/api/v1/patients/")
    request.user = make_user(RESEARCH)

    assert RoleModelPermissions().has_permission(request, PatientsWithoutQueryset())
