from django.core.management import BaseCommand

from simulation.services import simulation_reset


class Command(BaseCommand):
    help = "Delete simulated ratings, rounds, runs and arrived viewers. Original ratings are never touched."

    def handle(self, *args, **options):
        summary = simulation_reset()
        self.stdout.write(
            f"deleted {summary.ratings:,} simulated ratings, {summary.rounds} rounds, {summary.runs} runs, "
            f"{summary.viewers} arrived viewers"
        )
