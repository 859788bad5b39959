"""Forms of the web pages: they parse and check input, and hand services typed values."""

from __future__ import annotations

from django import forms
from django.conf import settings

from recommender.engine.checks import LARGEST_ID, parse_float, parse_int
from recommender.models import Genre
from simulation import shifts
from simulation.models import SimulationRun
from simulation.services import SimulationParameters

MAX_ROUNDS = 50


class WholeNumberField(forms.IntegerField):
    """An integer typed as plain decimal digits, read by the product's one number parser
    (Django's own field would take "1_0" as 10)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        low = self.min_value if self.min_value is not None else -LARGEST_ID
        high = self.max_value if self.max_value is not None else LARGEST_ID
        try:
            return parse_int("value", str(value).strip(), minimum=low, maximum=high)
        except ValueError:
            raise forms.ValidationError(
                f"Enter a whole number from {low} to {high} (got {value!r}).", code="invalid"
            ) from None


class DecimalNumberField(forms.FloatField):
    """A number typed in plain decimal (no "nan", "inf" or "1_0"), read by the one parser."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_float("value", str(value).strip())
        except ValueError:
            raise forms.ValidationError(
                f"Enter a plain decimal number, e.g. 0.05 (got {value!r}).", code="invalid"
            ) from None


class ViewerSearchForm(forms.Form):
    q = WholeNumberField(
        label="Viewer id",
        min_value=0,
        max_value=2**63 - 1,  # what the database can store
        help_text="The viewer's id in the source data (MovieLens userId).",
        widget=forms.NumberInput(attrs={"autofocus": True, "placeholder": "e.g. 15"}),
    )


class ReviewForm(forms.Form):
    DECISIONS = [("approve", "Approve"), ("reject", "Reject")]

    decision = forms.ChoiceField(choices=DECISIONS)
    comment = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Why (kept in the event history)"}),
    )


def parse_shift(text: str, known_genres: set[str]) -> dict[str, float]:
    """ "Action=0.9, Comedy=1.1" -> {"Action": 0.9, "Comedy": 1.1}, by the one shift parser
    (simulation.shifts). Raises ValidationError naming each entry that is not GENRE=MULTIPLIER
    with a finite multiplier above 0, a genre given twice, and each unknown genre (with the
    known names)."""
    try:
        shift, errors = shifts.parse_shift(text), []
    except shifts.ShiftError as exc:
        shift, errors = exc.parsed, list(exc.problems)
    errors += shifts.unknown_genre_problems(shift, known_genres)
    if errors:
        known = ", ".join(sorted(known_genres)) or "none imported yet"
        raise forms.ValidationError([*errors, f"Known genres: {known}."])
    return shift


class SimulationForm(forms.Form):
    rounds = WholeNumberField(min_value=1, max_value=MAX_ROUNDS, initial=3)
    truth = forms.ChoiceField(
        choices=SimulationRun.Truth.choices,
        initial=SimulationRun.Truth.ORACLE,
        widget=forms.RadioSelect,
        label="True ratings",
    )
    shift = forms.CharField(
        required=False,
        label="Genre shifts",
        help_text="Multiply the true ratings of a genre's films, e.g. Action=0.9, Comedy=1.1.",
        widget=forms.TextInput(attrs={"placeholder": "Action=0.9"}),
    )
    shift_start = WholeNumberField(
        min_value=1, max_value=MAX_ROUNDS, initial=1, label="Shift from round"
    )
    arrivals = DecimalNumberField(
        min_value=0.0,
        max_value=1.0,
        label="Arrivals share",
        help_text="New viewers per round, as a share of the viewers so far.",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    popularity_penalty = forms.BooleanField(
        required=False,
        initial=True,
        help_text="Subtract a popularity penalty from the model's scores (more of the catalogue).",
    )
    seed = WholeNumberField(min_value=0, max_value=2**31 - 1, initial=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arrivals"].initial = settings.SIMULATION["ARRIVAL_SHARE"]

    def clean_shift(self) -> dict[str, float]:
        known = set(Genre.objects.values_list("name", flat=True))
        return parse_shift(self.cleaned_data["shift"], known)

    def clean(self):
        cleaned = super().clean()
        rounds, start = cleaned.get("rounds"), cleaned.get("shift_start")
        if cleaned.get("shift") and rounds and start and start > rounds:
            self.add_error("shift_start", f"the run has {rounds} rounds; start the shift by then")
        return cleaned

    def parameters(self) -> SimulationParameters:
        data = self.cleaned_data
        return SimulationParameters(
            rounds=data["rounds"],
            seed=data["seed"],
            truth=data["truth"],
            shift=data["shift"],
            shift_start=data["shift_start"],
            arrivals=data["arrivals"],
            # Off: no penalty at all; on: the configured transform and strength.
            popularity_alpha=None if data["popularity_penalty"] else 0.0,
        )
