"""Platform-wide write operations that belong to no single app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from mgmt.crypto import DecryptionFailed, encrypted_fields, rotate_str


@dataclass(frozen=True)
class ReencryptResult:
    label: str  # "app.model.field"
    rewritten: int
    failed: list[str]  # primary keys whose value no configured key decrypts


@transaction.atomic
def encrypted_fields_reencrypt(*, dry_run: bool = False) -> list[ReencryptResult]:
    """Rewrite every encrypted value with the current key (after a key was added in front).

    Works on the stored cipher text with plain SQL, so the clear text never
    passes through a model instance, `save()` or a signal.
    """
    results = []
    quote = connection.ops.quote_name
    for model, field_name in encrypted_fields():
        field = model._meta.get_field(field_name)
        table, column, pk = (quote(model._meta.db_table), quote(field.column), quote(model._meta.pk.column))
        rewritten, failed = 0, []
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
            rows = cursor.fetchall()
            for row_pk, stored in rows:
                try:
                    fresh = rotate_str(stored)
                except DecryptionFailed:
                    failed.append(str(row_pk))
                    continue
                if not dry_run:
                    cursor.execute(
                        f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",  # noqa: S608
                        [fresh, row_pk],
                    )
                rewritten += 1
        results.append(ReencryptResult(f"{model._meta.label_lower}.{field_name}", rewritten, failed))
    return results
