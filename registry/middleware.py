"""Answers a write refused because the record is signed, for every page in one place: 423 with a page
saying who signed and when (the API answers it in registry/api/errors.py)."""

from django.shortcuts import render

from registry.services import RecordLocked


class RecordLockedMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, RecordLocked):
            return None
        signature = exception.signature
        context = {"message": str(exception), "signature": signature, "patient": signature.patient}
        return render(request, "registry/locked.html", context, status=423)
