"""Transactional outbox: events written in the same transaction as the change they describe.

Add ``"ecomms_common.outbox"`` to INSTALLED_APPS, then inside the business transaction::

    with transaction.atomic():
        order = Order.objects.create(...)
        outbox_enqueue(envelope=Envelope(event_type="order.placed", ...))

A relay process publishes the rows afterwards (``python manage.py relay_outbox``, see
``ecomms_common.outbox.relay``); an event is never sent for a change that rolled back.
"""
