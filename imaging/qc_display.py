"""The quality-control report of a result as a radiologist reads it, in the page's language: each
check's name, its value with numbers written the page's way, its flag, and its notes translated.

The pipeline (imaging/dti/qc.py) writes each note as an English template marked for translation
with its values; here the template is looked up in the catalogue and filled with the values written
in the active language. A result stored before notes existed, or stored damaged, shows its English
message as it was stored; nothing in a stored result can make the page fail.
"""

import string

from django.utils import formats
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy

QC_NAMES = {
    "b0_count": gettext_lazy("b0 volumes"),
    "n_directions": gettext_lazy("Diffusion directions"),
    "b_values": gettext_lazy("b-values"),
    "snr": gettext_lazy("SNR in the brain mask"),
    "brain_mask": gettext_lazy("Brain mask"),
    "fa_finite": gettext_lazy("FA defined in the mask"),
    "fit_residual": gettext_lazy("Mean fit residual"),
    "nonphysical_eigenvalues": gettext_lazy("Non-physical eigenvalues"),
    "fa_histogram": gettext_lazy("FA histogram"),
    "motion": gettext_lazy("Motion"),
    "noise_sigma_mppca": gettext_lazy("Noise (MP-PCA)"),
    "gradient_table": gettext_lazy("Gradient table"),
}
FLAGS = {
    "pass": pgettext_lazy("quality-control flag", "pass"),
    "warn": pgettext_lazy("quality-control flag", "warn"),
    "fail": pgettext_lazy("quality-control flag", "fail"),
}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _separators(text):
    """Python's number text ("1,234.5") with the active language's separators ("1.234,5")."""
    table = {".": formats.get_format("DECIMAL_SEPARATOR"), ",": formats.get_format("THOUSAND_SEPARATOR")}
    return text.translate(str.maketrans(table))


class _LocalFormatter(string.Formatter):
    """``str.format`` that writes numbers with the active language's decimal separator."""

    def format_field(self, value, format_spec):
        text = format(value, format_spec)
        return _separators(text) if _is_number(value) else text


FORMATTER = _LocalFormatter()


def number(value, decimals=None):
    """A number in the page's language: 1000.0 -> "1000", 0.5 -> "0.5" / "0,5"; with ``decimals``, fixed."""
    if decimals is None and isinstance(value, float) and value.is_integer():
        value = int(value)
    return formats.number_format(value, decimals)


def _note_text(note):
    """One note in the page's language; None if the note is not one the pipeline writes."""
    if not isinstance(note, dict) or not isinstance(note.get("text"), str) or not isinstance(note.get("values"), dict):
        return None
    template, values = note["text"], note["values"]
    for text in (gettext(template), template):  # a translation with a wrong field falls back to English
        try:
            return FORMATTER.format(text, **values)
        except (KeyError, IndexError, ValueError, TypeError):
            continue
    return None


def note_text(item):
    """The item's explanation: its notes translated, or else the English message it was stored with."""
    notes = item.get("notes")
    if isinstance(notes, list) and notes:
        texts = [_note_text(note) for note in notes]
        if all(text is not None for text in texts):
            return "; ".join(texts)
    return str(item.get("message") or "")


def qc_value(name, value):
    """A QC value as a radiologist reads it (a value of an unexpected kind is shown as stored)."""
    if name == "b_values" and isinstance(value, list):
        return ", ".join(
            f"b={number(shell[0])} ×{number(shell[1])}"
            for shell in value
            if isinstance(shell, list) and len(shell) == 2 and all(_is_number(v) for v in shell)
        )
    if name == "brain_mask" and isinstance(value, dict):
        voxels, fraction = value.get("voxels"), value.get("fraction")
        return gettext("%(voxels)s voxels (%(percent)s %%)") % {
            "voxels": number(voxels) if _is_number(voxels) else "—",
            "percent": number(100 * fraction if _is_number(fraction) else 0, 0),
        }
    if name == "gradient_table" and isinstance(value, dict) and _is_number(value.get("coherence")):
        if value.get("table") in (None, "x y z") or not _is_number(value.get("best")):
            return gettext("coherence %(coherence)s") % {"coherence": number(round(value["coherence"], 3), 3)}
        return gettext("coherence %(coherence)s; %(table)s: %(best)s") % {
            "coherence": number(round(value["coherence"], 3), 3),
            "table": str(value["table"]),
            "best": number(round(value["best"], 3), 3),
        }
    if name == "nonphysical_eigenvalues" and _is_number(value):
        return f"{number(100 * value, 2)} %"
    if isinstance(value, float):
        return _separators(f"{value:.3g}")
    if _is_number(value):
        return number(value)
    return value if value is None or isinstance(value, str) else str(value)


def histogram_svg(value):
    """SVG bars of the FA histogram (bin_edges, counts), FA 0 to 1 from left to right."""
    counts = value.get("counts") or []
    if not isinstance(counts, list) or not all(_is_number(c) and c >= 0 for c in counts) or not any(counts):
        return ""
    width, height, bar = 200, 40, 200 / len(counts)
    top = max(counts) ** 0.5  # square-root scale, so the few white-matter voxels still show
    scaled = [height * count**0.5 / top for count in counts]
    bars = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}"/>'
        for i, h in enumerate(scaled)
    )
    label = gettext("FA histogram of the brain mask, FA from %(low)s to %(high)s") % {
        "low": number(0),
        "high": number(1),
    }
    return format_html(
        '<svg class="histogram" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">{}</svg>'
        '<span class="histogram-axis"><span>{}</span><span>{}</span></span>',
        width,
        height,
        width,
        height,
        label,
        mark_safe(bars),
        number(0),
        number(1),
    )


def qc_items(qc):
    """The rows of the QC table: name, value, flag (its code and its word), note; in the page's language."""
    items = []
    stored = qc.get("items")
    for name, item in (stored if isinstance(stored, dict) else {}).items():
        if not isinstance(item, dict):
            continue
        value = item.get("value")
        flag = item.get("flag")
        items.append(
            {
                "code": name,
                "flag": flag if flag in FLAGS else "",
                "flag_label": FLAGS.get(flag, ""),
                "message": note_text(item),
                "name": QC_NAMES.get(name, name.replace("_", " ").capitalize()),
                "value": histogram_svg(value)
                if name == "fa_histogram" and isinstance(value, dict)
                else qc_value(name, value),
            }
        )
    return items


# Each difference of a scan's acquisition (imaging.dti.acquisition), in words.
DIFFERENCES = {
    "b_values": gettext_lazy("b-values %(value)s s/mm², %(expected)s expected"),
    "directions": gettext_lazy("directions per shell %(value)s, %(expected)s expected"),
    "voxel_size": gettext_lazy("voxel size %(value)s mm, %(expected)s expected"),
    "matrix": gettext_lazy("matrix %(value)s, %(expected)s expected"),
    "manufacturer": gettext_lazy("manufacturer %(value)s, %(expected)s expected"),
    "model": gettext_lazy("scanner model %(value)s, %(expected)s expected"),
    "field_strength": gettext_lazy("field strength %(value)s T, %(expected)s expected"),
    "repetition_time": gettext_lazy("TR %(value)s ms, %(expected)s expected"),
    "echo_time": gettext_lazy("TE %(value)s ms, %(expected)s expected"),
}


def _quantity(value):
    """A stored value of an acquisition in the page's language: numbers with its decimal separator,
    lists joined with ×."""
    if isinstance(value, list):
        return " × ".join(_quantity(v) for v in value) or "—"
    if _is_number(value):
        return number(value)
    return str(value)


def difference_text(difference):
    """One difference in the page's language (one of an unknown kind is shown by its code)."""
    if not isinstance(difference, dict):
        return ""
    template = DIFFERENCES.get(difference.get("item"))
    values = {"value": _quantity(difference.get("value")), "expected": _quantity(difference.get("expected"))}
    if template is None:
        return f"{difference.get('item')}: {values['value']}"
    return str(template) % values


def acquisition_text(acquisition):
    """A scan's acquisition in one line: shells (b and volumes), voxel size, matrix, scanner."""
    parts = []
    shells = acquisition.get("shells")
    if isinstance(shells, list):
        parts.append(
            ", ".join(f"b={number(s[0])} ×{number(s[1])}" for s in shells if isinstance(s, list) and len(s) == 2)
        )
    if isinstance(acquisition.get("voxel_size"), list):
        parts.append(f"{_quantity(acquisition['voxel_size'])} mm")
    if isinstance(acquisition.get("matrix"), list):
        parts.append(_quantity(acquisition["matrix"]))
    scanner = " ".join(str(acquisition[key]) for key in ("manufacturer", "model") if acquisition.get(key))
    if _is_number(acquisition.get("field_strength")):
        scanner += f" {number(acquisition['field_strength'])} T"
    if scanner.strip():
        parts.append(scanner.strip())
    return "; ".join(part for part in parts if part)


def protocol_items(scan):
    """The QC row "protocol": the scan's acquisition, and each way it differs from the protocol and
    from the patient's baseline scan ("warn"), in the page's language; none before the scan is processed."""
    acquisition = scan.acquisition if isinstance(scan.acquisition, dict) else {}
    if not acquisition.get("shells"):
        return []
    found = scan.comparability if isinstance(scan.comparability, dict) else {}
    notes = []
    to_protocol = [difference_text(d) for d in found.get("protocol") or []]
    if to_protocol:
        notes.append(
            gettext("Protocol %(name)s: %(differences)s")
            % {"name": found.get("protocol_name") or "", "differences": "; ".join(to_protocol)}
        )
    to_baseline = [difference_text(d) for d in found.get("baseline") or []]
    if to_baseline:
        notes.append(
            gettext("Baseline scan %(id)s: %(differences)s")
            % {"id": found.get("baseline_scan"), "differences": "; ".join(to_baseline)}
        )
    if not to_protocol and found.get("protocol_name"):
        notes.append(gettext("As the protocol %(name)s says.") % {"name": found["protocol_name"]})
    if not to_baseline and found.get("baseline_scan"):
        notes.append(gettext("Acquired like the baseline scan %(id)s.") % {"id": found["baseline_scan"]})
    if not notes:
        notes.append(gettext("No protocol set and no baseline scan to compare with."))
    flag = "warn" if to_protocol or to_baseline else "pass"
    return [
        {
            "code": "protocol",
            "flag": flag,
            "flag_label": FLAGS[flag],
            "message": " ".join(notes),
            "name": gettext("Acquisition protocol"),
            "value": acquisition_text(acquisition),
        }
    ]
