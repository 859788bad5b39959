from django.contrib import admin

from simulation.models import SimulationRound, SimulationRun


class SimulationRoundInline(admin.TabularInline):
    model = SimulationRound
    extra = 0
    can_delete = False
    fields = ["number", "interactions", "arrivals", "shift_active", "scoring_run", "window_start"]
    readonly_fields = fields


@admin.register(SimulationRun)
class SimulationRunAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "truth",
        "seed",
        "rounds_planned",
        "status",
        "created_at",
        "created_by",
    ]
    list_filter = ["status", "truth"]
    search_fields = ["created_by", "error"]
    readonly_fields = [f.name for f in SimulationRun._meta.fields]
    fieldsets = [
        (
            "What was asked for",
            {"fields": ["seed", "truth", "rounds_planned", "parameters", "created_by"]},
        ),
        ("Progress", {"fields": ["status", "created_at", "finished_at", "error"]}),
        (
            "State picked up while running",
            {
                "fields": [
                    "time_origin",
                    "sigma_calibrated",
                    "oracle_artifact_path",
                    "oracle_artifact_sha256",
                    "task_id",
                ]
            },
        ),
    ]
    inlines = [SimulationRoundInline]


@admin.register(SimulationRound)
class SimulationRoundAdmin(admin.ModelAdmin):
    list_display = ["__str__", "interactions", "arrivals", "shift_active", "created_at"]
    list_filter = ["shift_active", "run"]
    readonly_fields = [f.name for f in SimulationRound._meta.fields]
