"""Text processing on a storage trigger, in Python: when a text object is
created in a bucket, count its lines, words and characters and the most
frequent words, and write the report to the `reports` bucket as
`<bucket>/<key>.json`; when the object is deleted, delete its report. The
output goes to another bucket so that writing it does not trigger the
function again."""
import collections
import json
import re

REPORTS = "reports"
WORD = re.compile(r"[\w']+")


def handler(event, context):
    report_key = f"{event['bucket']}/{event['key']}.json"
    if event["event"] == "deleted":
        return {"report": report_key, "deleted": context.objects.delete(REPORTS, report_key)}
    data = context.objects.get(event["bucket"], event["key"])
    if data is None:
        return {"skipped": f"{event['bucket']}/{event['key']} is gone already"}
    text = data.decode("utf-8")
    words = [w for w in WORD.findall(text.lower()) if w.replace("_", "")]
    counts = collections.Counter(words)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    report = {
        "source": {"bucket": event["bucket"], "key": event["key"], "size": event["size"]},
        "lines": 0 if text == "" else len(re.split(r"\r?\n", text)),
        "words": len(words),
        "characters": len(text),
        "top": [{"word": w, "count": c} for w, c in top],
    }
    context.objects.put(REPORTS, report_key, json.dumps(report), content_type="application/json")
    return {"report": report_key, "words": report["words"]}
