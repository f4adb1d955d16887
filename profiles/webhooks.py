"""The signed status webhook (profiles.automation.connectors.webhook describes the format).

Every answer is JSON, refusals included: a wrong method, a body that is not
declared as JSON, a body over the size limit (refused before it is read)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from profiles.automation.connectors import webhook as connectors


@csrf_exempt  # authenticated by the HMAC signature, not a session
def status_webhook(request: HttpRequest, connector_id: int) -> JsonResponse:
    if request.method != "POST":
        response = JsonResponse({"error": "Use POST."}, status=405)
        response["Allow"] = "POST"
        return response
    if request.content_type != "application/json":
        return JsonResponse({"error": "Send the body as Content-Type: application/json."}, status=415)
    limit = connectors.MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return JsonResponse({"error": "Content-Length must be a number."}, status=400)
    if declared > limit:
        return JsonResponse({"error": f"The body is larger than {limit} bytes."}, status=413)
    body = request.read(limit + 1)
    if len(body) > limit:
        return JsonResponse({"error": f"The body is larger than {limit} bytes."}, status=413)
    status, payload = connectors.handle_webhook(
        connector_id,
        timestamp=request.headers.get(connectors.TIMESTAMP_HEADER, ""),
        signature=request.headers.get(connectors.SIGNATURE_HEADER, ""),
        body=body,
    )
    return JsonResponse(payload, status=status)
