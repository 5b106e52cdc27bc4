"""JSON logs through structlog; a redaction step keeps secrets and personal data out of them."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

# Keys whose values never reach a log line, at any depth.
REDACTED_KEYS = frozenset({
    "password", "new_password", "password_hash", "token", "access_token", "refresh_token",
    "secret", "secret_key", "authorization", "cookie", "set-cookie", "email", "paypal_email",
    "ip", "client_ip", "remote_addr", "x-forwarded-for", "username",
    "account_number", "routing_number", "tin", "ach", "legal_name", "holder_name",
})
REDACTED = "[redacted]"


def _redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: REDACTED if str(key).lower() in REDACTED_KEYS else _redact_value(item)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def redact(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return _redact_value(event_dict)


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]


def json_formatter() -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it, then close theirs)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Routes structlog and the standard library (uvicorn, alembic) through one JSON format."""
    structlog.configure(
        # Below the level nothing runs: filter first, then the shared steps.
        processors=[structlog.stdlib.filter_by_level, *_shared_processors(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream) if stream else _StderrHandler()
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log carries client IPs and query strings: ours replaces it.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The payment SDKs log every request's URL at INFO: Stripe account ids (which payouts
    # keep encrypted) and transfer groups. Their warnings and errors still come through.
    for name in ("stripe", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
