from prometheus_client import Counter, Histogram

EVENTS_CONSUMED = Counter(
    "notifier_events_consumed",
    "Events taken from the queue, by outcome (processed, duplicate, dead_lettered).",
    ["event_type", "outcome"],
)
DELIVERIES = Counter(
    "notifier_deliveries",
    "Delivery outcomes by channel and status (sent, failed, skipped, retry).",
    ["channel", "status"],
)
DELIVERY_LATENCY = Histogram(
    "notifier_delivery_latency_seconds",
    "From the event's occurred_at (the order's commit) to the provider accepting the message.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300, 1800, 3600),
)
