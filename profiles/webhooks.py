"""The signed status webhook (profiles.automation.connectors.webhook describes the format)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from profiles.automation.connectors import webhook as connectors


@csrf_exempt  # authenticated by the HMAC signature, not a session
@require_POST
def status_webhook(request: HttpRequest, connector_id: int) -> JsonResponse:
    status, payload = connectors.handle_webhook(
        connector_id,
        timestamp=request.headers.get(connectors.TIMESTAMP_HEADER, ""),
        signature=request.headers.get(connectors.SIGNATURE_HEADER, ""),
        body=request.body,
    )
    return JsonResponse(payload, status=status)
