import time

from django.core.management import BaseCommand

from recommender.management.progress import progress_bar
from recommender.selectors.tasks import running_tasks, task_progress


def describe(progress) -> str:
    line = f"task {progress.task_id}"
    if progress.name:
        line += f" ({progress.name})"
    line += f": {progress.state}"
    if progress.stage:
        line += f", {progress.stage}"
    line += f", {progress.percent} %"
    if progress.started_at:
        line += f", started {progress.started_at:%Y-%m-%d %H:%M:%S}"
    if progress.finished_at:
        line += f", finished {progress.finished_at:%H:%M:%S}"
    if progress.result is not None:
        line += f"\nresult: {progress.result}"
    if progress.error:
        line += f"\nerror: {progress.error}"
    return line


class Command(BaseCommand):
    help = "Print a task's state, stage and progress (or every running task, without an id)."

    def add_arguments(self, parser):
        parser.add_argument("task_id", nargs="?", help="the id printed by a command's --async")
        parser.add_argument(
            "--follow", action="store_true", help="show a progress bar until the task finishes"
        )

    def handle(self, *args, task_id, follow, **options):
        if task_id is None:
            running = running_tasks()
            for progress in running:
                self.stdout.write(describe(progress))
            if not running:
                self.stdout.write("no task is running")
            return
        progress = task_progress(task_id)
        if follow and not progress.finished:
            with progress_bar("task", enabled=True) as report:
                while not progress.finished:
                    report(progress.stage or progress.state.lower(), progress.percent / 100)
                    time.sleep(0.5)
                    progress = task_progress(task_id)
        self.stdout.write(describe(progress))
        if progress.state == "PENDING":
            self.stdout.write(
                "(PENDING: queued and not started yet, or an id no worker has reported on)"
            )
