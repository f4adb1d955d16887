"""The signed status webhook (profiles.automation.connectors.webhook describes the format),
and the endpoint of Microsoft Graph's change notifications
(profiles.automation.connectors.m365).

Every answer is JSON, refusals included: a wrong method, a body that is not
declared as JSON, a body over the size limit (refused before it is read)."""

from functools import partial

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from profiles.automation.connectors import m365
from profiles.automation.connectors import webhook as connectors
from profiles.automation.tasks import presences_notified

# Graph sends at most 1,000 notifications in one POST, each well under 1 KB.
GRAPH_MAX_BODY_BYTES = 1_000_000
GRAPH_MAX_TOKEN = 1024


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


@csrf_exempt  # authenticated by the subscription's clientState, not a session
def graph_notifications(request: HttpRequest, connector_id: int) -> HttpResponse:
    """Graph's validation request (answer the validationToken, as
    text/plain, at once) and its change and lifecycle notifications (202;
    the presence is read in a task, so Graph gets its answer in time)."""
    if request.method != "POST":
        response = HttpResponse("Use POST.\n", status=405, content_type="text/plain")
        response["Allow"] = "POST"
        return response
    token = request.GET.get("validationToken")
    if token is not None:
        if not m365.accepts_notifications(connector_id):
            return HttpResponse("No change notifications for this connector.\n", status=404, content_type="text/plain")
        if not token or len(token) > GRAPH_MAX_TOKEN:
            return HttpResponse("Bad validationToken.\n", status=400, content_type="text/plain")
        return HttpResponse(token, content_type="text/plain; charset=utf-8")
    if request.content_type != "application/json":
        return HttpResponse("Send the notifications as application/json.\n", status=415, content_type="text/plain")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return HttpResponse("Content-Length must be a number.\n", status=400, content_type="text/plain")
    if declared > GRAPH_MAX_BODY_BYTES:
        return HttpResponse("The body is too large.\n", status=413, content_type="text/plain")
    body = request.read(GRAPH_MAX_BODY_BYTES + 1)
    if len(body) > GRAPH_MAX_BODY_BYTES:
        return HttpResponse("The body is too large.\n", status=413, content_type="text/plain")
    status, graph_ids = m365.handle_notifications(connector_id, body)
    if graph_ids:
        transaction.on_commit(partial(presences_notified.delay, connector_id, graph_ids))
    return HttpResponse(status=status)
