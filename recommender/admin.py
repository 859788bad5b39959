from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q

from recommender.access import may_review
from recommender.admin_paging import EstimatedCountPaginator
from recommender.models import (
    HALF_STAR_SCORES,
    DriftReport,
    Film,
    Genre,
    ModelVersion,
    ModelVersionEvent,
    Rating,
    ScoringRun,
    Viewer,
)
from recommender.services.lifecycle import (
    IllegalTransitionError,
    model_version_approve,
    model_version_decline,
)


class LargeTableAdmin(admin.ModelAdmin):
    """A change list over a table of millions of rows: an estimated row count instead of
    COUNT(*) (admin_paging), and no second count of the unfiltered table."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(Genre)
class GenreAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Film)
class FilmAdmin(LargeTableAdmin):
    list_display = ["source_id", "title", "year", "tmdb_id", "imdb_id"]
    list_filter = ["genres"]
    search_fields = ["title", "source_id", "tmdb_id", "imdb_id"]
    filter_horizontal = ["genres"]


@admin.register(Viewer)
class ViewerAdmin(LargeTableAdmin):
    list_display = ["source_id", "origin", "account"]
    list_filter = ["origin"]
    # An exact id (an index lookup), not a substring of every id cast to text.
    search_fields = ["=source_id", "account__username"]
    raw_id_fields = ["account"]


class ScoreFilter(admin.SimpleListFilter):
    """The half-star scores as fixed choices: Django's default filter for a float field
    looks them up with SELECT DISTINCT over every rating (seconds at 26M) on each view."""

    title = "score"
    parameter_name = "score"

    def lookups(self, request, model_admin):
        return [(str(score), str(score)) for score in HALF_STAR_SCORES]

    def queryset(self, request, queryset):
        if self.value() in {str(score) for score in HALF_STAR_SCORES}:
            return queryset.filter(score=float(self.value()))
        return queryset


@admin.register(Rating)
class RatingAdmin(LargeTableAdmin):
    list_display = ["viewer", "film", "score", "rated_at", "origin", "round"]
    list_filter = ["origin", ScoreFilter]
    # A viewer's or a film's id (get_search_results); a substring search would read all
    # 26M ratings.
    search_fields = ["=viewer__source_id", "=film__source_id"]
    search_help_text = "A viewer's or a film's id."
    raw_id_fields = ["viewer", "film", "round"]
    list_select_related = ["viewer", "film", "round"]

    def get_search_results(self, request, queryset, search_term):
        """The ratings of the viewer or the film with this id, looked up first, so the
        condition is on the rating's own indexed columns (Django's OR across the two joins
        reads every rating)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if not term.lstrip("-").isdigit() or abs(int(term)) >= 2**63:
            return queryset.none(), False
        viewer = Viewer.objects.filter(source_id=int(term)).values_list("pk", flat=True).first()
        film = Film.objects.filter(source_id=int(term)).values_list("pk", flat=True).first()
        return queryset.filter(Q(viewer_id=viewer) | Q(film_id=film)), False


class ModelVersionEventInline(admin.TabularInline):
    model = ModelVersionEvent
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "actor", "reason", "at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "rmse", "r2", "training_rows", "created_at", "decided_by"]
    list_filter = ["status", "algorithm"]
    search_fields = ["decision_reason", "decided_by", "created_by"]
    # Status changes go through the lifecycle services (locks, legality, event log), never a form.
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    inlines = [ModelVersionEventInline]
    actions = ["approve", "decline"]

    def has_add_permission(self, request):
        return False

    def has_review_permission(self, request) -> bool:
        """The approve/decline actions are offered (and run) only for reviewers."""
        return may_review(request.user)

    @admin.action(
        description="Approve the selected challengers pending review (promote)",
        permissions=["review"],
    )
    def approve(self, request, queryset):
        self._review(request, queryset, model_version_approve, "approved")

    @admin.action(
        description="Reject the selected challengers pending review", permissions=["review"]
    )
    def decline(self, request, queryset):
        self._review(request, queryset, model_version_decline, "rejected")

    def _review(self, request, queryset, service, verb):
        if not may_review(request.user):  # Django filters the actions too; this says why
            self.message_user(
                request, f"{request.user.get_username()} may not review challengers", messages.ERROR
            )
            return
        for version in queryset:
            try:
                service(version_id=version.pk, reviewer=request.user, comment="in the admin")
                self.message_user(request, f"v{version.pk} {verb}", messages.SUCCESS)
            except (IllegalTransitionError, PermissionDenied) as exc:
                self.message_user(request, str(exc), messages.ERROR)


@admin.register(ScoringRun)
class ScoringRunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "viewers", "started_at", "finished_at", "created_by"]
    list_filter = ["status"]
    search_fields = ["created_by", "error"]
    readonly_fields = [f.name for f in ScoringRun._meta.fields]


@admin.register(DriftReport)
class DriftReportAdmin(admin.ModelAdmin):
    list_display = ["__str__", "model_version", "round", "retraining_required", "created_at"]
    list_filter = ["retraining_required"]
    search_fields = ["created_by"]
    readonly_fields = [f.name for f in DriftReport._meta.fields]
