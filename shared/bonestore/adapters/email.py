"""Customer emails through Amazon SES (API v2, ``SendEmail`` with Simple content).

:class:`SesEmailSender` satisfies the ``EmailSender`` port (``bonestore.service.ports``)
and creates its ``sesv2`` client on the first send (cold
starts of functions that never email pay nothing). Logs name the recipient masked.
Locally the embedded AWS (moto) accepts the same call and keeps the message, which
``bonestore serve`` shows at ``/_dev/outbox``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bonestore.domain.email import EmailMessage
from bonestore.domain.errors import UpstreamUnavailable
from bonestore.domain.privacy import mask_email

log = logging.getLogger("bonestore.email")


def _sesv2_client() -> Any:
    from bonestore.adapters.aws import aws_client

    return aws_client("sesv2")


class SesEmailSender:
    """:class:`EmailSender` on SES v2. ``sender`` is a verified identity (template's)."""

    def __init__(
        self,
        sender: str,
        *,
        client_factory: Callable[[], Any] = _sesv2_client,
        configuration_set: str | None = None,
    ) -> None:
        self.sender = sender
        self.configuration_set = configuration_set
        self._client_factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def send(self, message: EmailMessage) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [message.to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": message.text, "Charset": "UTF-8"},
                        "Html": {"Data": message.html, "Charset": "UTF-8"},
                    },
                }
            },
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.send_email(**request)
        except (ClientError, BotoCoreError) as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
            log.warning(
                "email not sent",
                extra={"kind": message.kind, "to": mask_email(message.to), "error": code},
            )
            raise UpstreamUnavailable(f"The email could not be sent ({code}).") from error
        message_id = str(response.get("MessageId", ""))
        log.info(
            "email sent",
            extra={"kind": message.kind, "to": mask_email(message.to), "message_id": message_id},
        )
        return message_id
