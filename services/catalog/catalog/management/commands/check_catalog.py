from django.core.management.base import BaseCommand, CommandError

from catalog.integrity import catalog_check


class Command(BaseCommand):
    help = (
        "Verify the category tree, every price aggregate and the browse index against a full "
        "recomputation; with --fix, rebuild the tree and replace what differs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="repair what is found")

    def handle(self, *args, fix: bool, **options):
        report = catalog_check(fix=fix)
        for problem in report.tree_problems + report.aggregate_problems + report.listing_problems:
            self.stdout.write(problem)
        if report.ok:
            self.stdout.write(self.style.SUCCESS("catalog consistent"))
        elif fix:
            self.stdout.write(
                self.style.WARNING(
                    f"repaired {len(report.tree_problems)} tree, "
                    f"{len(report.aggregate_problems)} aggregate and "
                    f"{len(report.listing_problems)} browse index problems"
                )
            )
        else:
            raise CommandError(
                f"{len(report.tree_problems)} tree, {len(report.aggregate_problems)} aggregate "
                f"and {len(report.listing_problems)} browse index problems (run with --fix to "
                "repair)"
            )
