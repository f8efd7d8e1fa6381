"""Exceptions raised by the DTI pipeline."""

from __future__ import annotations

__all__ = ["DiffusionInputError"]


class DiffusionInputError(ValueError):
    """A diffusion input (image, b-values, b-vectors, labels) is unusable.

    Parameters
    ----------
    field : str
        Which input is at fault: ``"dwi"``, ``"bval"``, ``"bvec"``,
        ``"labels"`` or ``"label_names"``. A web form can attach the message to
        this field.
    message : str
        A sentence a radiographer or radiologist can act on (what is wrong and
        what to do about it), without a stack trace.

    Notes
    -----
    Subclasses :class:`ValueError` so that generic callers that catch bad
    values still catch it. ``str(err)`` is ``"<field>: <message>"``.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def to_dict(self) -> dict:
        """JSON-serialisable ``{"field": ..., "message": ...}``."""
        return {"field": self.field, "message": self.message}
