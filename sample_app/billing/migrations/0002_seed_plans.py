from django.db import migrations

PLANS = [
    ("starter", "Starter", 900, 20),
    ("growth", "Growth", 2900, 200),
    ("scale", "Scale", 7900, None),
]


def create_plans(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for code, name, price_cents, invoice_limit in PLANS:
        Plan.objects.update_or_create(
            code=code, defaults={"name": name, "price_cents": price_cents, "invoice_limit": invoice_limit}
        )


def remove_plans(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.filter(code__in=[code for code, *_ in PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(create_plans, remove_plans)]
