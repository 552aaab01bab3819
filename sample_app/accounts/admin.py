from django.contrib import admin

from .models import Organization, Profile


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "industry", "city", "created_at"]
    search_fields = ["name", "slug"]
    list_filter = ["industry"]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role"]
    raw_id_fields = ["user", "organization"]
