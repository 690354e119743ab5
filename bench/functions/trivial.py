# The trivial function of the benchmark in Python: no work, so what is
# measured is the platform's own cost per invocation (beside trivial.mjs).
def handler(event, context):
    return {"ok": True, "n": event.get("n", 0)}
