from django.core.management.base import BaseCommand

from notifier.dead_letters import dead_letters_list, dead_letters_replay


class Command(BaseCommand):
    help = "List the notifier's dead letters, or replay them onto the queue they died in."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="Show dead letters without removing them.")
        listing.add_argument("--limit", type=int, default=100)
        replay = actions.add_parser("replay", help="Put dead letters back on their queue.")
        replay.add_argument("--limit", type=int, default=None)
        replay.add_argument("--message-id", default=None, help="Only the message with this id.")

    def handle(self, *args, action: str, **options) -> None:
        if action == "list":
            letters = dead_letters_list(limit=options["limit"])
            for letter in letters:
                body = letter.body[:200].decode(errors="replace")
                self.stdout.write(
                    f"{letter.message_id}\t{letter.queue}\t{letter.reason}\t"
                    f"{letter.routing_key}\t{body}"
                )
            self.stdout.write(f"{len(letters)} dead letters")
        else:
            replayed = dead_letters_replay(limit=options["limit"], message_id=options["message_id"])
            self.stdout.write(f"replayed {replayed} dead letters")
