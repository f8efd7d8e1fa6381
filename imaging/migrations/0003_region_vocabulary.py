"""Regions become a controlled vocabulary: the Region table, seeded with the tracts used in CP
follow-up, and ROI measurements pointing at it. Region text typed before (and label names) is
mapped to a code where it names a known region; text that names none stays, for the clinical
roles only, in `region_text` (scan label names keep it as it was)."""

import re

import django.db.models.deletion
from django.db import migrations, models

# code, English name, Spanish name, other spellings people typed (compared lower-case, words only)
REGIONS = [
    (
        "cst-l",
        "Corticospinal tract, left",
        "Tracto corticoespinal izquierdo",
        ["cst left", "left cst", "cst l", "l cst"],
    ),
    (
        "cst-r",
        "Corticospinal tract, right",
        "Tracto corticoespinal derecho",
        ["cst right", "right cst", "cst r", "r cst"],
    ),
    (
        "plic-l",
        "Posterior limb of the internal capsule, left",
        "Brazo posterior de la cápsula interna izquierda",
        ["plic left", "left plic", "plic l", "l plic"],
    ),
    (
        "plic-r",
        "Posterior limb of the internal capsule, right",
        "Brazo posterior de la cápsula interna derecha",
        ["plic right", "right plic", "plic r", "r plic"],
    ),
    ("cp-l", "Cerebral peduncle, left", "Pedúnculo cerebral izquierdo", ["cp left", "left cerebral peduncle"]),
    ("cp-r", "Cerebral peduncle, right", "Pedúnculo cerebral derecho", ["cp right", "right cerebral peduncle"]),
    ("cr-l", "Corona radiata, left", "Corona radiada izquierda", ["cr left", "left corona radiata"]),
    ("cr-r", "Corona radiata, right", "Corona radiada derecha", ["cr right", "right corona radiata"]),
    ("cc-genu", "Genu of the corpus callosum", "Rodilla del cuerpo calloso", ["genu", "cc genu", "genu cc"]),
    ("cc-body", "Body of the corpus callosum", "Tronco del cuerpo calloso", ["body cc", "cc body"]),
    ("cc-splenium", "Splenium of the corpus callosum", "Esplenio del cuerpo calloso", ["splenium", "splenium cc"]),
    ("wm", "Whole white matter", "Sustancia blanca completa", ["white matter", "whole wm"]),
]
FK_HELP = "From the region vocabulary; empty for a label the label image left unnamed."


def words(text):
    return " ".join(re.sub(r"[^a-z0-9]+", " ", str(text).lower()).split())


def spellings():
    """Every known spelling (as words) -> code."""
    known = {}
    for code, name_en, _name_es, others in REGIONS:
        for spelling in [code, name_en, *others]:
            known[words(spelling)] = code
    return known


def seed_regions(apps, schema_editor):
    Region = apps.get_model("imaging", "Region")
    for code, name_en, name_es, _others in REGIONS:
        Region.objects.update_or_create(code=code, defaults={"name_en": name_en, "name_es": name_es, "builtin": True})


def map_typed_regions(apps, schema_editor):
    Region = apps.get_model("imaging", "Region")
    RoiMeasurement = apps.get_model("imaging", "RoiMeasurement")
    Scan = apps.get_model("imaging", "Scan")
    known = spellings()
    regions = {region.code: region for region in Region.objects.all()}
    for roi in RoiMeasurement.objects.exclude(region_text=""):
        code = known.get(words(roi.region_text))
        if code:
            roi.region, roi.region_text = regions[code], ""
            roi.save(update_fields=["region", "region_text"])
    for scan in Scan.objects.exclude(label_names={}):
        names = {label: known.get(words(name), name) for label, name in scan.label_names.items()}
        if names != scan.label_names:
            scan.label_names = names
            scan.save(update_fields=["label_names"])


class Migration(migrations.Migration):
    dependencies = [("imaging", "0002_role_permissions")]

    operations = [
        migrations.CreateModel(
            name="Region",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "code",
                    models.SlugField(
                        help_text="Stable, e.g. cst-l; used in the API.",
                        max_length=32,
                        unique=True,
                        verbose_name="code",
                    ),
                ),
                ("name_en", models.CharField(max_length=200, verbose_name="name (English)")),
                ("name_es", models.CharField(blank=True, max_length=200, verbose_name="name (Spanish)")),
                ("builtin", models.BooleanField(default=False, editable=False, verbose_name="built in")),
            ],
            options={"verbose_name": "region", "verbose_name_plural": "regions", "ordering": ["code"]},
        ),
        migrations.RunPython(seed_regions, migrations.RunPython.noop),
        migrations.RenameField(model_name="roimeasurement", old_name="region", new_name="region_text"),
        migrations.RenameField(model_name="historicalroimeasurement", old_name="region", new_name="region_text"),
        migrations.AlterField(
            model_name="roimeasurement",
            name="region_text",
            field=models.CharField(blank=True, max_length=100, verbose_name="region (as typed)"),
        ),
        migrations.AlterField(
            model_name="historicalroimeasurement",
            name="region_text",
            field=models.CharField(blank=True, max_length=100, verbose_name="region (as typed)"),
        ),
        migrations.AddField(
            model_name="roimeasurement",
            name="region",
            field=models.ForeignKey(
                blank=True,
                help_text=FK_HELP,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="imaging.region",
                verbose_name="region",
            ),
        ),
        migrations.AddField(
            model_name="historicalroimeasurement",
            name="region",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text=FK_HELP,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="imaging.region",
                verbose_name="region",
            ),
        ),
        migrations.AlterModelOptions(
            name="roimeasurement",
            options={
                "ordering": ["scan", "region__code", "label", "id"],
                "verbose_name": "ROI measurement",
                "verbose_name_plural": "ROI measurements",
            },
        ),
        migrations.RunPython(map_typed_regions, migrations.RunPython.noop),
    ]
