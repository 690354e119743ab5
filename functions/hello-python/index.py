"""The smallest Brisk function in Python: greets whoever the event names."""


def handler(event, context):
    name = event.get("name") if isinstance(event, dict) else None
    return {"message": f"Hello, {name if isinstance(name, str) and name else 'world'}!"}
