"""A web endpoint in Python: reached at /fn/web-endpoint-python/…, or at any
path an http trigger gives it (/http/notes/:id). Keeps nothing: it shows how
the request arrives (method, path, query, params, body) and how the response
is shaped ({statusCode, headers, body})."""
import base64
import html
import json


def as_json(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def handler(event, context):
    method = event["method"]
    params = event.get("params") or {}
    if method == "GET":
        who = event["query"].get("name")
        who = who if isinstance(who, str) else "stranger"
        detail = f", id {html.escape(params['id'])}" if params.get("id") else ""
        return {
            "statusCode": 200,
            "headers": {"content-type": "text/html; charset=utf-8"},
            "body": f"<h1>Hello, {html.escape(who)}</h1><p>path {html.escape(event['path'])}{detail}</p>",
        }
    if method == "POST":
        raw = base64.b64decode(event["body"]).decode("utf-8") if event["isBase64Encoded"] else event["body"]
        try:
            note = json.loads(raw)
        except ValueError:
            return as_json(400, {"error": "send a JSON body"})
        return as_json(201, {"received": note, "id": params.get("id")})
    answer = as_json(405, {"error": f"{method} not allowed"})
    answer["headers"]["allow"] = "GET, POST"
    return answer
