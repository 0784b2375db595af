"""SMS through Africa's Talking (its SDK), or any server speaking its HTTP API.

``AFRICASTALKING_BASE_URL``, when set, replaces Africa's Talking's API host (local stand-in,
tests). The SDK has no option for it: ``initialize()`` builds the SMS service with its own host,
which we then point elsewhere.
"""

import threading

import africastalking
import requests
from africastalking.Service import AfricasTalkingException
from django.conf import settings

from notifier.channels import PermanentDeliveryError, TransientDeliveryError

# Recipient statusCode values: 100 Processed, 101 Sent, 102 Queued are accepted; 500
# InternalServerError and 501 GatewayError are the provider's own trouble and worth a retry.
# The rest (403 InvalidPhoneNumber, 405 InsufficientBalance, 406 UserInBlacklist, ...) are final.
ACCEPTED_STATUS_CODES = {100, 101, 102}
TRANSIENT_STATUS_CODES = {500, 501}

_lock = threading.Lock()
_service_key: tuple | None = None
_service = None


def sms_service():
    """Return the SDK's SMS service for the current settings (initialised once per settings)."""
    global _service, _service_key
    key = (
        settings.AFRICASTALKING_USERNAME,
        settings.AFRICASTALKING_API_KEY,
        settings.AFRICASTALKING_BASE_URL,
    )
    with _lock:
        if _service_key != key:
            africastalking.initialize(
                settings.AFRICASTALKING_USERNAME, settings.AFRICASTALKING_API_KEY
            )
            service = africastalking.SMS
            if settings.AFRICASTALKING_BASE_URL:
                service._baseUrl = settings.AFRICASTALKING_BASE_URL.rstrip("/") + "/version1"
            _service, _service_key = service, key
        return _service


def sms_send(*, to: str, message: str) -> str:
    """Send one SMS; return Africa's Talking's message id."""
    try:
        reply = sms_service().send(
            message,
            [to],
            settings.AFRICASTALKING_SENDER_ID or None,
            timeout=(settings.SMS_CONNECT_TIMEOUT_SECONDS, settings.SMS_READ_TIMEOUT_SECONDS),
        )
    except ValueError as exc:  # the SDK refuses a malformed number before any request
        raise PermanentDeliveryError(f"invalid number: {exc}") from exc
    except AfricasTalkingException as exc:
        # Any non-2xx reply; the SDK keeps only the body, so a 4xx (bad credentials) is retried
        # like a 5xx until the attempts run out.
        raise TransientDeliveryError(f"Africa's Talking error reply: {str(exc)[:500]}") from exc
    except requests.RequestException as exc:
        raise TransientDeliveryError(f"Africa's Talking unreachable: {exc!r}") from exc
    if not isinstance(reply, dict):
        raise TransientDeliveryError(f"unexpected reply from Africa's Talking: {str(reply)[:500]}")
    data = reply.get("SMSMessageData") or {}
    recipients = data.get("Recipients") or []
    if not recipients:
        raise PermanentDeliveryError(f"no recipient accepted: {data.get('Message', reply)}")
    for recipient in recipients:
        code = recipient.get("statusCode")
        if code in ACCEPTED_STATUS_CODES:
            continue
        detail = f"{recipient.get('status')} ({code}) for {recipient.get('number')}"
        if code in TRANSIENT_STATUS_CODES:
            raise TransientDeliveryError(detail)
        raise PermanentDeliveryError(detail)
    return str(recipients[0].get("messageId", ""))
