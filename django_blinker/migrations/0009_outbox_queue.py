from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_blinker", "0008_outbox_marks"),
    ]

    operations = [
        # The same index, one column longer: the relay also takes the events waiting out a
        # failed publish from it, soonest due first (relay_rows.claim_ahead).
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(
                fields=["backend", "published_at", "next_attempt_at"],
                name="django_blinker_outbox_queue",
            ),
        ),
        migrations.RemoveIndex(model_name="outboxevent", name="django_blinker_outbox_newest"),
    ]
