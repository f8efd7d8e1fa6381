"""Turns the services' refusals into API answers: 400 with field errors, 409, 412."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from registry.services import EditConflict, RecordInUse


class PreconditionFailed(Exception):
    """An If-Match header named a version that is no longer current."""

    def __init__(self, conflict):
        self.conflict = conflict


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        detail = {("non_field_errors" if key == "__all__" else key): value for key, value in detail.items()}
        exc = ValidationError(detail)
    elif isinstance(exc, PreconditionFailed):
        return Response(
            {"detail": str(exc.conflict), "current_version": exc.conflict.current_version},
            status=status.HTTP_412_PRECONDITION_FAILED,
        )
    elif isinstance(exc, EditConflict):
        return Response({"detail": str(exc), "current_version": exc.current_version}, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, RecordInUse):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
