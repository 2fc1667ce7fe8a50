"""The sandbox's message-template registry, in the shape ``GET /message_templates`` returns."""

from __future__ import annotations

from typing import Any

DEFAULT_TEMPLATES: list[dict[str, Any]] = [
    {
        "id": "900000000000001", "name": "hello_world", "language": "en_US", "status": "APPROVED",
        "category": "UTILITY", "parameter_format": "POSITIONAL",
        "components": [{"type": "BODY", "text": "Hello World"}],
    },
    {
        "id": "900000000000002", "name": "weekly_report", "language": "en_US", "status": "APPROVED",
        "category": "UTILITY", "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "Hi {{1}}, your weekly report for {{2}} is ready."},
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
        ],
    },
    {
        "id": "900000000000003", "name": "order_shipped", "language": "en_US", "status": "APPROVED",
        "category": "UTILITY", "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "DOCUMENT"},
            {"type": "BODY", "text": "Hi {{1}}, your order total {{2}} ships {{3}}."},
            {"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Got it"},
                {"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}"},
            ]},
        ],
    },
    {
        "id": "900000000000004", "name": "delivery_update", "language": "en", "status": "APPROVED",
        "category": "UTILITY", "parameter_format": "NAMED",
        "components": [{"type": "BODY", "text": "Hi {{first_name}}, your delivery arrives {{eta}}."}],
    },
    {
        "id": "900000000000005", "name": "spring_promo", "language": "en_US", "status": "PAUSED",
        "category": "MARKETING", "parameter_format": "POSITIONAL",
        "components": [{"type": "BODY", "text": "Spring sale: {{1}} off!"}],
    },
    {
        "id": "900000000000006", "name": "hitl_question", "language": "en_US", "status": "APPROVED",
        "category": "UTILITY", "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "Airflow needs your answer: {{1}}"},
            {"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Approve"},
                {"type": "QUICK_REPLY", "text": "Reject"},
            ]},
        ],
    },
]  # fmt: skip
