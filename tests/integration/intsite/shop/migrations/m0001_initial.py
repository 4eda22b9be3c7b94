# The shop app's first migration. (Django loads any module in migrations/; this name is one that
# mypy accepts as a module name.)
from __future__ import annotations

from typing import Any, ClassVar

from django.db import migrations, models


class Migration(migrations.Migration):  # type: ignore[misc, unused-ignore]  # Django is untyped
    initial = True
    dependencies: ClassVar[list[tuple[str, str]]] = []
    operations: ClassVar[list[Any]] = [
        migrations.CreateModel(
            name="Item",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                ("thread", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="ItemLog",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("item_name", models.CharField(max_length=100)),
                ("receiver", models.CharField(max_length=10)),
                ("thread", models.BigIntegerField()),
            ],
        ),
    ]
