"""The operator and configurator groups (api/roles.py says what each may do)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from api.roles import roles_sync

    roles_sync(apps=apps, using=schema_editor.connection.alias)


def delete_roles(apps, schema_editor):
    from api.roles import ROLES

    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(
        name__in=[role.name for role in ROLES]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("api", "0001_portal_access"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0001_initial"),
        ("mappings", "0001_initial"),
        ("staging", "0002_outbox"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
