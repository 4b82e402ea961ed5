"""Two resolvers answering at once in one process each see their own request.

Powertools keeps the request on its router *class*, one per process: right in Lambda,
which gives a process one request at a time, wrong in the local gateway, whose warm
instances are threads of one process. There it made one customer's checkout from
another's body: a checkout answered with another email's open order, and a reservation
went missing (CI, twice). ``bonestore.api.http.Resolver`` keeps its own.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from bonestore.api.http import create_app


class Who(BaseModel):
    who: str


def event(who: str) -> dict[str, Any]:
    return {
        "resource": "/who",
        "path": "/who",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "X-Who": who},
        "multiValueHeaders": {"Content-Type": ["application/json"], "X-Who": [who]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"requestId": who, "stage": "test", "identity": {"sourceIp": "1.2.3.4"}},
        "body": json.dumps({"who": who}),
        "isBase64Encoded": False,
    }


def answer(response: dict[str, Any]) -> Any:
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def test_a_resolver_reads_its_own_request_while_another_resolves() -> None:
    first, second = create_app(enable_validation=True), create_app(enable_validation=True)
    first_inside, second_done = threading.Event(), threading.Event()
    # Powertools' validation parses the body from the same current_event before the route
    # runs; the route reads it again after the second request, as a handler reads headers.

    @first.post("/who")
    def first_route(body: Annotated[Who, Body()]) -> dict[str, Any]:
        first_inside.set()
        assert second_done.wait(10)  # the second request is resolved meanwhile
        event_now = first.current_event
        return {
            "body": body.who,
            "header": event_now.headers.get("X-Who"),
            "json": event_now.json_body["who"],
            "context": getattr(first.lambda_context, "name", None),
        }

    @second.post("/who")
    def second_route(body: Annotated[Who, Body()]) -> dict[str, Any]:
        return {"body": body.who, "header": second.current_event.headers.get("X-Who")}

    class Context:
        def __init__(self, name: str) -> None:
            self.name = name

    answers: list[dict[str, Any]] = []
    thread = threading.Thread(
        target=lambda: answers.append(first.resolve(event("alice"), Context("alice")))
    )
    thread.start()
    assert first_inside.wait(10)
    assert answer(second.resolve(event("bob"), Context("bob"))) == {"body": "bob", "header": "bob"}
    second_done.set()
    thread.join(10)
    assert answer(answers[0]) == {
        "body": "alice",
        "header": "alice",
        "json": "alice",
        "context": "alice",
    }
