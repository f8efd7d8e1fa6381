"""Each result records the sha256 of its maps, previews and results.json (imaging.storage).

Results stored before this migration get an empty record and no checksum is computed here: reading
every stored map (perhaps from S3) would hold up the deployment for as long as the storage takes to
read. Such a file is instead checked the first time it is served, exported or looked at on the scan
page (or by `manage.py verify_results`): its structure is tested (gzip CRC-32 and length, PNG chunk
CRCs, JSON) and, when it is sound, its sha256 is recorded and required from then on.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0004_scan_processing_claim"),
    ]

    operations = [
        migrations.AddField(
            model_name="diffusionresult",
            name="checksums",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Map or preview name -> sha256 of the stored file, checked before it is served or exported.",
            ),
        ),
    ]
