"""Action.type's choices come from the action-type registry
(profiles.actions.action_type_choices), a callable: a new action type is one
registry entry and needs no migration. No database change."""

from django.db import migrations, models

import profiles.actions


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0010_on_call_profile"),
    ]

    operations = [
        migrations.AlterField(
            model_name="action",
            name="type",
            field=models.CharField(choices=profiles.actions.action_type_choices, max_length=32),
        ),
    ]
