"""Turns the services' refusals into API answers, for every view in one place: 400 with field
errors, 409 for a write conflict (stale version in the body, record in use or busy), 412 for a
stale If-Match, 423 for
a record locked by an investigator's signature, 503 when a service the registry relies on failed (nothing stored)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from registry.queries import QueryTransitionRefused
from registry.services import EditConflict, RecordBusy, RecordInUse, RecordLocked, ServiceUnavailable


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        detail = {("non_field_errors" if key == "__all__" else key): value for key, value in detail.items()}
        exc = ValidationError(detail)
    elif isinstance(exc, EditConflict):
        # A client that named its version in If-Match gets the HTTP precondition answer.
        request = context.get("request")
        stale_header = request is not None and bool(request.headers.get("If-Match"))
        return Response(
            {"detail": str(exc), "current_version": exc.current_version},
            status=status.HTTP_412_PRECONDITION_FAILED if stale_header else status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, RecordLocked):
        signature = exc.signature
        return Response(
            {
                "detail": str(exc),
                "signed_by": signature.signer_name,
                "signed_at": signature.signed_at.isoformat(),
                "signature": signature.pk,
            },
            status=status.HTTP_423_LOCKED,
        )
    elif isinstance(exc, RecordInUse | RecordBusy | QueryTransitionRefused):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, ServiceUnavailable):
        return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "60"})
    return drf_exception_handler(exc, context)
