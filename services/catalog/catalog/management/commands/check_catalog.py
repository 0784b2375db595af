from django.core.management.base import BaseCommand, CommandError

from catalog.integrity import catalog_check


class Command(BaseCommand):
    help = (
        "Verify the category tree and every price aggregate against a full recomputation; "
        "with --fix, rebuild the tree and replace the aggregates that differ."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="repair what is found")

    def handle(self, *args, fix: bool, **options):
        report = catalog_check(fix=fix)
        for problem in report.tree_problems + report.aggregate_problems:
            self.stdout.write(problem)
        if report.ok:
            self.stdout.write(self.style.SUCCESS("catalog consistent"))
        elif fix:
            self.stdout.write(
                self.style.WARNING(
                    f"repaired {len(report.tree_problems)} tree and "
                    f"{len(report.aggregate_problems)} aggregate problems"
                )
            )
        else:
            raise CommandError(
                f"{len(report.tree_problems)} tree and {len(report.aggregate_problems)} "
                "aggregate problems (run with --fix to repair)"
            )
