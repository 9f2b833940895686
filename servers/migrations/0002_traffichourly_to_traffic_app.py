"""TrafficHourly now belongs to the traffic app: the model leaves this app's state only.

The table `servers_traffichourly` and its rows stay where they are; traffic 0001 takes it over.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("servers", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="TrafficHourly")],
            database_operations=[],
        )
    ]
